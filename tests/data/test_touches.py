"""Touch tables read per chunk (Parquet, SQL) give the same touches and scores as whole reads."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from crm_predict.config import ActivitySpec, SQLSource
from crm_predict.data import touches as touch_source
from crm_predict.data.synthetic.leads import make_leads
from crm_predict.data.touches import (
    FrameTouches,
    ParquetTouches,
    SQLTouches,
    open_touches,
)
from crm_predict.exceptions import DataValidationError
from crm_predict.scoring.batch import score_leads
from crm_predict.training.train import train_task
from tests.helpers import synthetic_task

AS_OF = pd.Timestamp("2025-01-01")
MISSING = ["", "N/A", "Select"]


@pytest.fixture(scope="module")
def bundle():
    return train_task(synthetic_task(n_leads=1500, seed=7), quiet=True).models["gbm"].bundle


@pytest.fixture(scope="module")
def crm():
    return make_leads(1500, 7)


def _spec(**source) -> ActivitySpec:
    return ActivitySpec(
        **source,
        id_column="lead_id",
        time_column="timestamp",
        type_column="type",
        direction_column="direction",
    )


def _sqlite(frame: pd.DataFrame, path: Path, table: str = "acts") -> str:
    with sqlite3.connect(path) as conn:
        frame.to_sql(table, conn, index=False)
    return f"sqlite:///{path}"


def _with_touches(bundle, **source):
    """The same model, reading its touch table from ``source`` (``path=`` or ``sql=``)."""
    spec = bundle.config.activities.model_copy(
        update={"synthetic": None, "path": None, "sql": None, **source}
    )
    return dataclasses.replace(bundle, config=bundle.config.model_copy(update={"activities": spec}))


def _tables(acts: pd.DataFrame, folder: Path) -> dict[str, dict]:
    """The touch table as CSV (read whole), Parquet and SQLite (read per chunk)."""
    acts.to_csv(folder / "acts.csv", index=False)
    acts.to_parquet(folder / "acts.parquet", index=False)
    url = _sqlite(acts, folder / "acts.db")
    return {
        "csv": {"path": folder / "acts.csv"},
        "parquet": {"path": folder / "acts.parquet"},
        "sqlite": {"sql": SQLSource(url=url, query="SELECT * FROM acts;")},
    }


def _score(bundle, leads: Path, out: Path, as_of: str) -> bytes:
    score_leads(bundle, out, as_of=as_of, source=leads, chunksize=150)
    return out.read_bytes()


@pytest.mark.parametrize("as_of", ["2025-01-01", "2024-11-15"])
def test_parquet_and_sql_touch_tables_give_the_same_score_file_as_a_whole_read(
    bundle, crm, tmp_path, monkeypatch, as_of
):
    monkeypatch.setattr(touch_source, "SQL_BATCH", 40)  # several statements per chunk
    leads = tmp_path / "open_leads.csv"
    crm.leads[crm.leads["status"] == "open"].to_csv(leads, index=False)
    files = {
        name: _score(_with_touches(bundle, **src), leads, tmp_path / f"{name}.csv", as_of)
        for name, src in _tables(crm.activities, tmp_path).items()
    }
    assert files["parquet"] == files["csv"]
    assert files["sqlite"] == files["csv"]
    # The touches do move the scores: a table with half of them gives another file.
    half = tmp_path / "half"
    half.mkdir()
    fewer = _tables(crm.activities.iloc[::2], half)["parquet"]
    assert _score(_with_touches(bundle, **fewer), leads, half / "out.csv", as_of) != files["csv"]


def test_integer_lead_ids_in_the_touch_table_match_text_ids(bundle, crm, tmp_path):
    leads = crm.leads[crm.leads["status"] == "open"].copy()
    leads["lead_id"] = leads["lead_id"].str[1:].astype(int)
    acts = crm.activities.assign(lead_id=crm.activities["lead_id"].str[1:].astype(int))
    path = tmp_path / "open_leads.csv"
    leads.to_csv(path, index=False)
    tables = _tables(acts, tmp_path)
    files = {
        name: _score(_with_touches(bundle, **src), path, tmp_path / f"{name}.csv", "2025-01-01")
        for name, src in tables.items()
    }
    assert files["parquet"] == files["csv"]
    assert files["sqlite"] == files["csv"]
    ids = leads["lead_id"].astype(str).head(50).tolist()
    for name in ("parquet", "sqlite"):
        got = open_touches(_spec(**tables[name]), MISSING, AS_OF).touches_for(ids)
        assert len(got) > 0 and set(got["lead_id"]) <= set(ids)


@pytest.fixture
def odd_touches() -> pd.DataFrame:
    """Touches on the edges: at and after as_of, undated, placeholders, padded text."""
    return pd.DataFrame(
        {
            "lead_id": ["L1", "L1", "L1", "L2", "L2", "L3", "L4", "L1"],
            "timestamp": pd.to_datetime(
                [
                    "2024-12-01 09:00",
                    "2025-01-01 00:00",  # at as_of: not before it
                    "2025-03-01",
                    "2024-11-30",
                    None,
                    "2024-06-01",
                    "2024-01-01",
                    "2024-12-31 23:59",
                ],
                format="ISO8601",
            ),
            "type": ["call", "email", "call", " meeting ", "call", "N/A", "email", "Select"],
            "direction": ["out", "in", "out", "out", "in", "out", "in", "out"],
            "notes": ["x"] * 8,
        }
    )


def _sources(frame: pd.DataFrame, folder: Path) -> dict[str, object]:
    frame.to_parquet(folder / "t.parquet", index=False)
    url = _sqlite(frame, folder / "t.db")
    return {
        "frame": FrameTouches(_spec(path=folder / "t.csv"), MISSING, AS_OF, frame),
        "parquet": open_touches(_spec(path=folder / "t.parquet"), MISSING, AS_OF),
        "sql": open_touches(
            _spec(sql=SQLSource(url=url, query="SELECT * FROM acts")), MISSING, AS_OF
        ),
    }


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["lead_id", "timestamp", "type", "direction"]
    return frame[cols].sort_values(cols[:2]).reset_index(drop=True)


def test_every_source_returns_the_same_clean_touches_before_as_of(
    odd_touches, tmp_path, monkeypatch
):
    monkeypatch.setattr(touch_source, "SQL_BATCH", 2)
    sources = _sources(odd_touches, tmp_path)
    assert isinstance(sources["parquet"], ParquetTouches)
    assert isinstance(sources["sql"], SQLTouches)
    assert sources["parquet"].time_filter is not None and not sources["parquet"].trim
    ids = ["L1", "L2", "L3", "L9"]
    expected = _sorted(sources["frame"].touches_for(ids))
    assert expected["lead_id"].tolist() == ["L1", "L1", "L2", "L3"]
    assert (expected["timestamp"] < AS_OF).all()
    # Text stripped, placeholders ("Select", "N/A") read as missing.
    assert expected["type"].isna().tolist() == [False, True, False, True]
    assert expected["type"].iloc[2] == "meeting"
    for name in ("parquet", "sql"):
        got = sources[name].touches_for(ids)
        assert list(got.columns) == ["lead_id", "timestamp", "type", "direction"]
        pd.testing.assert_frame_equal(_sorted(got), expected, obj=name)
        assert sources[name].touches_for(["nobody"]).empty


def test_parquet_dates_stored_as_text_and_padded_ids_match_a_whole_read(odd_touches, tmp_path):
    raw = odd_touches.assign(
        timestamp=odd_touches["timestamp"].dt.strftime("%Y-%m-%d %H:%M"),
        lead_id=odd_touches["lead_id"].str.pad(4),
    )
    raw.to_parquet(tmp_path / "t.parquet", index=False)
    whole = FrameTouches(_spec(path=tmp_path / "t.csv"), MISSING, AS_OF, raw)
    chunked = open_touches(_spec(path=tmp_path / "t.parquet"), MISSING, AS_OF)
    assert chunked.time_filter is None  # text dates: filtered after parsing
    assert chunked.trim  # padded ids: stripped in the scan
    ids = ["L1", "L2"]
    pd.testing.assert_frame_equal(
        _sorted(chunked.touches_for(ids)), _sorted(whole.touches_for(ids))
    )
    assert len(whole.touches_for(ids)) == 3


def test_sql_ids_are_bound_in_the_columns_own_type(odd_touches, tmp_path):
    acts = odd_touches.assign(lead_id=[7, 7, 7, 8, 8, 9, 10, 7])
    url = _sqlite(acts, tmp_path / "t.db")
    # "+ 0" leaves the column without SQLite's type affinity: text ids would match nothing.
    query = "SELECT lead_id + 0 AS lead_id, timestamp, type, direction FROM acts"
    src = open_touches(_spec(sql=SQLSource(url=url, query=query)), MISSING, AS_OF)
    assert src.id_kind == "int"
    assert sorted(src.touches_for(["7", "8", "L1"])["lead_id"]) == ["7", "7", "8"]
    assert src.touches_for(["007"]).empty  # "007" is not the text of 7, as in a whole read
    acts.to_parquet(tmp_path / "t.parquet", index=False)
    in_parquet = open_touches(_spec(path=tmp_path / "t.parquet"), MISSING, AS_OF)
    assert in_parquet.id_kind == "int"
    assert sorted(in_parquet.touches_for(["7", "8", "007"])["lead_id"]) == ["7", "7", "8"]


@pytest.mark.parametrize("kind", ["csv", "parquet", "sql"])
def test_a_missing_touch_column_names_the_column_and_its_config_key(odd_touches, tmp_path, kind):
    raw = odd_touches.drop(columns=["direction"])
    if kind == "csv":
        raw.to_csv(tmp_path / "t.csv", index=False)
        spec = _spec(path=tmp_path / "t.csv")
    elif kind == "parquet":
        raw.to_parquet(tmp_path / "t.parquet", index=False)
        spec = _spec(path=tmp_path / "t.parquet")
    else:
        spec = _spec(sql=SQLSource(url=_sqlite(raw, tmp_path / "t.db"), query="SELECT * FROM acts"))
    with pytest.raises(DataValidationError) as err:
        open_touches(spec, MISSING, AS_OF)
    assert "column 'direction' is missing from activities" in str(err.value)
    assert "activities.direction_column" in str(err.value)


def test_a_failing_touch_query_says_so(tmp_path):
    url = _sqlite(pd.DataFrame({"a": [1]}), tmp_path / "t.db")
    spec = _spec(sql=SQLSource(url=url, query="SELECT * FROM no_such_table"))
    with pytest.raises(DataValidationError, match="activities query failed.*no_such_table"):
        open_touches(spec, MISSING, AS_OF)


def test_a_table_in_memory_or_in_csv_is_read_once(odd_touches, tmp_path):
    odd_touches.to_csv(tmp_path / "t.csv", index=False)
    assert isinstance(open_touches(_spec(path=tmp_path / "t.csv"), MISSING, AS_OF), FrameTouches)
    given = open_touches(_spec(path=tmp_path / "t.parquet"), MISSING, AS_OF, odd_touches)
    assert isinstance(given, FrameTouches)  # a frame passed in wins over the config's file
    assert len(given.touches_for(["L1"])) == 2


def test_ids_a_small_integer_column_cannot_hold_match_nothing(odd_touches, tmp_path):
    acts = odd_touches.assign(lead_id=pd.array([7, 7, 7, 8, 8, 9, 10, 7], dtype="uint16"))
    acts.to_parquet(tmp_path / "t.parquet", index=False)
    src = open_touches(_spec(path=tmp_path / "t.parquet"), MISSING, AS_OF)
    assert sorted(src.touches_for(["7", "-1", "70000", "1e3"])["lead_id"]) == ["7", "7"]
