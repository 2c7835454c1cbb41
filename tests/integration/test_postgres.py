"""Score a lead list read from PostgreSQL and upsert the scores back, on a real server.

``postgres_url`` (session scope) runs ``initdb`` in a temporary folder and starts a
throwaway PostgreSQL server on 127.0.0.1 (as the ``postgres`` user when tests run as root,
since PostgreSQL refuses to run as root); it is stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from crm_predict.data.synthetic.leads import make_leads
from crm_predict.scoring.batch import score_leads
from tests.integration.servers import (
    HOST,
    free_port,
    skip_or_fail,
    start_watchdog,
    stop_group,
    wait_until,
)

pytestmark = pytest.mark.integration

AS_OF = "2025-01-01"
USER, DATABASE = "crm", "crm"
STARTUP_TIMEOUT_S = 60.0


def _pg_bin() -> Path | None:
    """The folder with ``initdb`` and ``postgres``: PATH first, then Debian's layout."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    candidates += [Path(p) for p in reversed(versions)]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


def _run_as() -> dict:
    """Popen arguments that drop root to the ``postgres`` user (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        skip_or_fail("tests run as root and there is no 'postgres' user to run PostgreSQL as")
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1; yields a SQLAlchemy URL to its database."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        skip_or_fail("psycopg2 is not installed: pip install -e '.[postgres]'")
    import sqlalchemy as sa

    folder = _pg_bin()
    if folder is None:
        skip_or_fail("PostgreSQL server binaries (initdb, postgres) not found")
    run_as = _run_as()
    # Not under pytest's tmp folder: that one is private to root, and the server may not be.
    root = Path(tempfile.mkdtemp(prefix="crm-predict-pg-"))
    data = root / "data"
    log = root / "postgres.log"
    if run_as:
        os.chown(root, run_as["user"], run_as["group"])
    proc = watchdog = None
    try:
        init = subprocess.run(
            [
                str(folder / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            cwd=root,
            **run_as,
        )
        if init.returncode != 0:
            pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        port = free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    str(folder / "postgres"),
                    "-D",
                    str(data),
                    "-h",
                    HOST,
                    "-p",
                    str(port),
                    "-k",
                    str(root),
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                ],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **run_as,
            )
        watchdog = start_watchdog(proc)
        admin = sa.create_engine(
            f"postgresql+psycopg2://{USER}@{HOST}:{port}/postgres",
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 2},
        )

        def accepting() -> bool:
            try:
                with admin.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
            except sa.exc.OperationalError:
                return False
            return True

        try:
            wait_until(accepting, proc, STARTUP_TIMEOUT_S, "PostgreSQL", log)
            with admin.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {DATABASE}"))
        finally:
            admin.dispose()
        yield f"postgresql+psycopg2://{USER}@{HOST}:{port}/{DATABASE}"
    finally:
        if proc is not None:
            # SIGINT is PostgreSQL's fast shutdown: end sessions, checkpoint, exit.
            stop_group(proc, watchdog, first=signal.SIGINT)
        with contextlib.suppress(OSError):
            shutil.rmtree(root)


@pytest.fixture(scope="module")
def bundle(leads_model):
    return leads_model.models["gbm"].bundle


@pytest.fixture(scope="module")
def open_leads() -> pd.DataFrame:
    leads = make_leads(3000, 7).leads
    return leads[leads["status"] == "open"].reset_index(drop=True)


def test_scores_from_postgres_match_the_csv_and_upsert_one_row_per_lead(
    postgres_url, bundle, open_leads, tmp_path
):
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            open_leads.to_sql("crm_leads", conn, index=False)
        csv = tmp_path / "open_leads.csv"
        open_leads.to_csv(csv, index=False)

        from_csv, from_db = tmp_path / "from_csv.csv", tmp_path / "from_db.csv"
        score_leads(bundle, from_csv, as_of=AS_OF, source=csv)
        db_run = {
            "sql_url": postgres_url,
            "query": "SELECT * FROM crm_leads ORDER BY lead_id",
            "sql_table": "lead_scores",
            "chunksize": 100,
        }
        summary = score_leads(bundle, from_db, as_of=AS_OF, **db_run)
        assert summary.rows_read == summary.rows_scored == len(open_leads)
        expected = pd.read_csv(from_csv)
        pd.testing.assert_frame_equal(pd.read_csv(from_db), expected, check_exact=False, rtol=1e-9)

        def table() -> pd.DataFrame:
            with engine.connect() as conn:
                query = sa.text("SELECT * FROM lead_scores ORDER BY lead_id")
                return pd.read_sql_query(query, conn)

        first = table()
        assert len(first) == len(open_leads)
        assert first["lead_id"].is_unique
        pd.testing.assert_series_equal(
            first["p_convert"],
            expected.sort_values("lead_id", ignore_index=True)["p_convert"],
            check_exact=False,
            rtol=1e-12,
        )

        # A second run on a later date replaces every row instead of adding to them.
        later = "2025-02-01"
        score_leads(bundle, tmp_path / "later.csv", as_of=later, **db_run)
        second = table()
        assert len(second) == len(open_leads)
        assert second["lead_id"].is_unique
        assert set(second["scored_at"]) == {pd.Timestamp(later).isoformat()}
        with engine.connect() as conn:
            assert not sa.inspect(conn).has_table("lead_scores__staging")
    finally:
        engine.dispose()


def test_touches_read_per_chunk_from_postgres_score_like_a_whole_csv(
    postgres_url, bundle, tmp_path, monkeypatch
):
    """Integer lead ids in a PostgreSQL touch table, text ids in the lead list."""
    import dataclasses

    import sqlalchemy as sa

    from crm_predict.config import SQLSource
    from crm_predict.data import touches as touch_source

    monkeypatch.setattr(touch_source, "SQL_BATCH", 100)  # several statements per chunk
    crm = make_leads(3000, 7)
    leads = crm.leads[crm.leads["status"] == "open"].copy()
    leads["lead_id"] = leads["lead_id"].str[1:].astype(int)
    acts = crm.activities.assign(lead_id=crm.activities["lead_id"].str[1:].astype(int))
    leads.to_csv(tmp_path / "leads.csv", index=False)
    acts.to_csv(tmp_path / "acts.csv", index=False)
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            acts.to_sql("crm_touches", conn, index=False, if_exists="replace")
            conn.execute(sa.text("CREATE INDEX ON crm_touches (lead_id)"))
    finally:
        engine.dispose()

    def scored(name: str, **source) -> bytes:
        spec = bundle.config.activities.model_copy(
            update={"synthetic": None, "path": None, "sql": None, **source}
        )
        config = bundle.config.model_copy(update={"activities": spec})
        out = tmp_path / f"{name}.csv"
        score_leads(
            dataclasses.replace(bundle, config=config),
            out,
            as_of=AS_OF,
            source=tmp_path / "leads.csv",
            chunksize=250,
        )
        return out.read_bytes()

    query = "SELECT * FROM crm_touches"
    from_db = scored("db", sql=SQLSource(url=postgres_url, query=query))
    assert from_db == scored("csv", path=tmp_path / "acts.csv")
