"""Batch scoring: rejected rows, unseen levels, atomic output, identical re-runs, formats."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_predict.data.synthetic.leads import make_leads
from crm_predict.exceptions import CRMPredictError
from crm_predict.explain.contributions import field_contributions
from crm_predict.scoring.batch import rejected_path, score_leads
from crm_predict.tracking import log_training

AS_OF = "2025-01-01"


@pytest.fixture(scope="module")
def trained(leads_model):
    return leads_model


@pytest.fixture(scope="module")
def bundle(trained):
    return trained.models["gbm"].bundle


@pytest.fixture(scope="module")
def leads(tmp_path_factory) -> Path:
    frame = make_leads(3000, 7).leads
    path = tmp_path_factory.mktemp("leads") / "open_leads.csv"
    frame[frame["status"] == "open"].to_csv(path, index=False)
    return path


def test_every_lead_gets_a_grade_rank_and_reasons(bundle, leads, tmp_path):
    out = tmp_path / "scored.csv"
    summary = score_leads(bundle, out, as_of=AS_OF, source=leads, model_label="t v1")
    scored = pd.read_csv(out)
    n = len(pd.read_csv(leads))
    assert summary.rows_scored == len(scored) == n
    assert scored["rank"].tolist() == list(range(1, n + 1))
    assert scored["p_convert"].is_monotonic_decreasing
    assert set(scored["grade"]) <= {"A", "B", "C", "D"}
    # A lead has a first reason each way exactly when some field pushes that way by the floor.
    floor = bundle.config.reason_min_points
    up, down = scored["reason_for_1_points"], scored["reason_against_1_points"]
    assert (scored["reason_for_1"].notna() == (up >= floor)).all() and (up >= floor).any()
    assert (scored["reason_against_1"].notna() == (down <= -floor)).all()
    assert (down <= -floor).any()
    assert (scored["model"] == "t v1").all()
    assert (scored["scored_at"] == "2025-01-01T00:00:00").all()
    assert "p_low" not in scored.columns


def test_bad_rows_are_rejected_with_reasons_and_the_rest_scored(bundle, leads, tmp_path):
    frame = pd.read_csv(leads).head(20).astype({"employees": object, "created_at": object})
    frame.loc[0, "lead_id"] = None
    frame.loc[1, "employees"] = "about fifty"
    frame.loc[2, "created_at"] = "last tuesday"
    frame.loc[3, "lead_id"] = frame.loc[4, "lead_id"]
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    out = tmp_path / "scored.csv"
    summary = score_leads(bundle, out, as_of=AS_OF, source=bad, chunksize=7)
    rejected = pd.read_csv(rejected_path(out))
    assert summary.rows_rejected == len(rejected) == 4
    reasons = " | ".join(rejected["reason"])
    assert "missing lead_id" in reasons
    assert "employees: 'about fifty' is not a number" in reasons
    assert "created_at: 'last tuesday' is not a date" in reasons
    assert "duplicate lead_id" in reasons
    assert summary.rows_scored == 16 == len(pd.read_csv(out))


def test_a_blank_number_is_missing_as_in_training_not_a_bad_row(bundle, leads, tmp_path):
    """Exports write a missing number as a blank (telco's TotalCharges is ' '): training reads
    it as missing, so scoring must too, and score it like an empty cell."""
    frame = pd.read_csv(leads).head(6).astype({"employees": object})
    frame.loc[[0, 1], "employees"] = " "
    blank, empty = tmp_path / "blank.csv", tmp_path / "empty.csv"
    frame.to_csv(blank, index=False)
    frame.assign(employees=frame["employees"].replace(" ", None)).to_csv(empty, index=False)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    summary = score_leads(bundle, a, as_of=AS_OF, source=blank)
    score_leads(bundle, b, as_of=AS_OF, source=empty)
    assert summary.rows_rejected == 0 and summary.rows_scored == 6
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))


def test_unseen_categories_are_scored(bundle, leads, tmp_path):
    frame = pd.read_csv(leads).head(10)
    frame["source"] = "a channel nobody has seen"
    frame["region"] = None
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "scored.csv"
    summary = score_leads(bundle, out, as_of=AS_OF, source=path)
    assert summary.rows_scored == 10
    assert pd.read_csv(out)["p_convert"].between(0, 1).all()


def test_rerun_gives_identical_bytes(bundle, leads, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    score_leads(bundle, a, as_of=AS_OF, source=leads, chunksize=100)
    score_leads(bundle, b, as_of=AS_OF, source=leads, chunksize=100)
    assert a.read_bytes() == b.read_bytes()


def test_csv_parquet_excel_and_sqlite_inputs_give_identical_scores(bundle, leads, tmp_path):
    frame = pd.read_csv(leads)
    frame.to_parquet(tmp_path / "leads.parquet", index=False)
    frame.to_excel(tmp_path / "leads.xlsx", index=False)
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        frame.to_sql("leads", conn, index=False)
    runs = {
        "csv": {"source": leads},
        "parquet": {"source": tmp_path / "leads.parquet"},
        "excel": {"source": tmp_path / "leads.xlsx"},
        "sqlite": {"sql_url": f"sqlite:///{db}", "query": "SELECT * FROM leads"},
    }
    scores = {}
    for name, kwargs in runs.items():
        out = tmp_path / f"{name}.csv"
        score_leads(bundle, out, as_of=AS_OF, **kwargs)
        scores[name] = pd.read_csv(out)
    for name in ("parquet", "excel", "sqlite"):
        pd.testing.assert_frame_equal(scores[name], scores["csv"], check_exact=False, rtol=1e-9)


def test_parquet_output(bundle, leads, tmp_path):
    out = tmp_path / "scored.parquet"
    score_leads(bundle, out, as_of=AS_OF, source=leads)
    csv = tmp_path / "scored.csv"
    score_leads(bundle, csv, as_of=AS_OF, source=leads)
    # The same leads in the same order; the CSV is rounded for people, Parquet is not.
    full, shown = pd.read_parquet(out), pd.read_csv(csv)
    assert full["lead_id"].tolist() == shown["lead_id"].astype(str).tolist()
    np.testing.assert_allclose(full["p_convert"], shown["p_convert"], atol=5e-4)
    assert not np.allclose(full["p_convert"], full["p_convert"].round(3), rtol=0, atol=1e-9)


def test_grouped_contributions_add_up_to_the_raw_score_and_the_probability(trained):
    pipeline = trained.models["gbm"].pipeline
    frame = trained.test_frame()
    c = field_contributions(pipeline, frame)
    raw = pipeline[-1].raw_score(pipeline[:-1].transform(frame))
    np.testing.assert_allclose(c.base_log_odds + c.log_odds.sum(axis=1), raw, atol=1e-9)
    np.testing.assert_allclose(c.p_base + c.points.sum(axis=1), c.p, atol=1e-12)
    np.testing.assert_allclose(c.p, pipeline.predict_proba(frame)[:, 1], atol=1e-12)
    assert len(set(c.fields)) == len(c.fields)


@pytest.mark.slow
def test_killing_a_run_midway_leaves_no_output(trained, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uris = log_training(trained, workdir=tmp_path)
    frame = make_leads(3000, 7).leads
    many = pd.concat([frame] * 40, ignore_index=True)
    many["lead_id"] = [f"X{i:07d}" for i in range(len(many))]
    source = tmp_path / "many.csv"
    many.to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    cmd = [
        str(Path(sys.executable).parent / "crm-predict"),
        "score",
        "--model",
        uris["registered_model_uri"],
        "--tracking-uri",
        uris["tracking_uri"],
        "--input",
        str(source),
        "--output",
        str(out),
        "--as-of",
        AS_OF,
        "--chunksize",
        "2000",
        "--quiet",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(tmp_path.glob(".crm-predict-score-*")):
        time.sleep(0.05)
    time.sleep(1.0)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not out.exists()
    assert not list(tmp_path.glob(".scored.csv.*"))


def test_exported_bundle_scores_without_the_tracking_store(trained, leads, tmp_path, monkeypatch):
    from crm_predict.tracking import export_model, load_bundle

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = tmp_path / "store"
    store.mkdir()
    uris = log_training(trained, workdir=store)
    folder = export_model(
        uris["registered_model_uri"], tmp_path / "models" / "leads", uris["tracking_uri"]
    )
    (store / "mlflow.db").unlink()
    bundle, label = load_bundle(str(folder))
    assert label == "leads_test@champion v1 (exported)"
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    score_leads(bundle, a, as_of=AS_OF, source=leads)
    score_leads(trained.models["gbm"].bundle, b, as_of=AS_OF, source=leads)
    assert a.read_bytes() == b.read_bytes()


def test_scores_upsert_into_a_database_table(bundle, leads, tmp_path):
    db = f"sqlite:///{tmp_path / 'crm.db'}"
    out = tmp_path / "scored.csv"
    score_leads(bundle, out, as_of=AS_OF, source=leads, sql_url=db, sql_table="lead_scores")
    score_leads(bundle, out, as_of=AS_OF, source=leads, sql_url=db, sql_table="lead_scores")
    with sqlite3.connect(tmp_path / "crm.db") as conn:
        table = pd.read_sql_query("SELECT * FROM lead_scores", conn)
    assert len(table) == len(pd.read_csv(leads))
    assert table["lead_id"].is_unique


def test_a_chunk_where_every_row_is_rejected_is_skipped(bundle, leads, tmp_path):
    frame = pd.read_csv(leads).head(12).astype({"employees": object})
    frame.loc[:4, "employees"] = "n/a-ish"
    path = tmp_path / "first_chunk_bad.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "scored.csv"
    summary = score_leads(bundle, out, as_of=AS_OF, source=path, chunksize=5)
    assert summary.rows_rejected == 5
    assert summary.rows_scored == 7 == len(pd.read_csv(out))


def test_all_rows_rejected_is_an_error_that_points_at_the_reasons(bundle, leads, tmp_path):
    frame = pd.read_csv(leads).head(3).astype({"employees": object})
    frame["employees"] = "many"
    path = tmp_path / "all_bad.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "scored.csv"
    with pytest.raises(CRMPredictError, match="none of the 3 rows could be scored"):
        score_leads(bundle, out, as_of=AS_OF, source=path)
    assert not out.exists()
    assert len(pd.read_csv(rejected_path(out))) == 3
