"""Loading a task's tables: one readable error listing every problem, or clean typed data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from crm_predict.config import parse_config
from crm_predict.data import io as crm_io
from crm_predict.data.loading import load_task_data
from crm_predict.exceptions import CRMPredictError, DataValidationError


def lead_table(**changes) -> pd.DataFrame:
    """Six well-formed leads as a CRM would export them (all text); ``changes`` overrides."""
    table = {
        "lead_id": ["L1", "L2", "L3", "L4", "L5", "L6"],
        "created_at": [
            "2024-01-02",
            "2024-01-05",
            "2024-02-01",
            "2024-02-03",
            "2024-03-01",
            "2024-03-09",
        ],
        "source": ["web", "referral", "web", "event", "referral", "web"],
        "employees": ["10", "200", "35", "1200", "80", "15"],
        "status": ["won", "lost", "open", "won", "lost", "lost"],
        "account": ["Acme", "Globex", "Initech", "Acme", "Umbrella", "Globex"],
    }
    table.update(changes)
    return pd.DataFrame(table)


def accounts_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account": ["Acme", "Globex", "Initech", "Hooli"],
            "sector": ["technolgy", "retail", "technolgy", "finance"],
            "revenue": [10.5, 3.2, 7.7, 99.0],
        }
    )


def task(path: Path, **changes) -> dict:
    raw = {
        "name": "leads",
        "source": {"path": str(path)},
        "id_column": "lead_id",
        "target": {"column": "status", "positive": ["won"], "negative": ["lost"], "open": ["open"]},
        "time": {"created": "created_at"},
        "features": {"categorical": ["source"], "numeric": ["employees"]},
        "missing_values": ["", "Select", "N/A"],
    }
    raw.update(changes)
    return raw


def write_csv(tmp_path: Path, frame: pd.DataFrame, name: str = "leads.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def load(tmp_path: Path, frame: pd.DataFrame, **changes):
    return load_task_data(parse_config(task(write_csv(tmp_path, frame), **changes)))


def problems_of(tmp_path: Path, frame: pd.DataFrame, **changes) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        load(tmp_path, frame, **changes)
    err = info.value
    # One error whose text lists every problem, one line each.
    assert f"{len(err.problems)} problem" in str(err)
    for problem in err.problems:
        assert problem in str(err)
    return err.problems


def only(problems: list[str], needle: str) -> str:
    hits = [p for p in problems if needle in p]
    assert len(hits) == 1, problems
    return hits[0]


# --- a clean table -------------------------------------------------------------------------


def test_clean_table_loads_typed(tmp_path):
    data = load(tmp_path, lead_table(extra_crm_field=["a", "b", "c", "d", "e", "f"]))
    frame = data.frame
    assert list(frame["lead_id"]) == ["L1", "L2", "L3", "L4", "L5", "L6"]
    assert pd.api.types.is_datetime64_any_dtype(frame["created_at"])
    assert frame["employees"].dtype == float
    assert frame.loc[3, "employees"] == 1200.0
    assert list(data.outcome) == [
        "positive",
        "negative",
        "open",
        "positive",
        "negative",
        "negative",
    ]
    assert data.label.tolist()[:2] == [1.0, 0.0] and pd.isna(data.label[2])
    # No as_of configured: the day after the latest date in the data, never the clock.
    assert data.as_of == pd.Timestamp("2024-03-10")
    assert data.activities is None


def test_configured_as_of_wins(tmp_path):
    data = load(tmp_path, lead_table(), time={"created": "created_at", "as_of": "2024-06-30"})
    assert data.as_of == pd.Timestamp("2024-06-30")


def test_unknown_extra_columns_are_ignored(tmp_path):
    frame = lead_table(notes=["free text"] * 6, Weird_Col=[None, "1", "x", "", "2", "?"])
    data = load(tmp_path, frame)
    assert len(data.frame) == 6


def test_numeric_ids_become_text(tmp_path):
    data = load(tmp_path, lead_table(lead_id=[101, 102, 103, 104, 105, 106]))
    assert data.frame["lead_id"].tolist() == ["101", "102", "103", "104", "105", "106"]


def test_placeholders_and_blanks_become_missing(tmp_path):
    frame = lead_table(
        source=["Select", "", "N/A", " web ", "referral", " Select "],
        employees=["N/A", "200", "", "1200", "Select", "15"],
    )
    data = load(tmp_path, frame)
    source = data.frame["source"]
    assert source.isna().tolist() == [True, True, True, False, False, True]
    assert source[3] == "web"  # stripped
    employees = data.frame["employees"]
    assert employees.isna().tolist() == [True, False, True, False, True, False]


def test_placeholders_are_those_of_the_config(tmp_path):
    frame = lead_table(source=["Select", "web", "web", "web", "web", "web"])
    data = load(tmp_path, frame, missing_values=[""])
    assert data.frame["source"][0] == "Select"


# --- bad input: one error listing everything -----------------------------------------------


def test_missing_column_names_the_column_and_the_config_key(tmp_path):
    features = {"categorical": ["source", "regoin"], "numeric": ["employees", "budget"]}
    problems = problems_of(tmp_path, lead_table(region=["EU"] * 6), features=features)
    regoin = only(problems, "'regoin'")
    assert "features.categorical" in regoin
    assert "did you mean 'region'?" in regoin
    assert "leads.csv" in regoin
    assert "features.numeric" in only(problems, "'budget'")


def test_missing_target_and_time_columns_name_their_keys(tmp_path):
    frame = lead_table().drop(columns=["status", "created_at"])
    problems = problems_of(tmp_path, frame)
    assert "target.column" in only(problems, "'status'")
    assert "time.created" in only(problems, "'created_at'")


def test_missing_id_column_is_named(tmp_path):
    problems = problems_of(tmp_path, lead_table().drop(columns=["lead_id"]))
    assert "id_column" in only(problems, "'lead_id'")


def test_unparseable_dates_name_rows_and_count(tmp_path):
    frame = lead_table(
        created_at=["2024-01-02", "yesterday", "2024-02-01", "2024-13-45", "2024-03-01", ""]
    )
    problem = only(problems_of(tmp_path, frame), "created_at")
    assert "time.created" in problem
    assert "2 values are not dates" in problem
    assert "L2" in problem and "L4" in problem
    assert "L1" not in problem and "L6" not in problem  # a blank is missing, not bad
    assert "'yesterday'" in problem


def test_unparseable_numbers_name_rows_and_count(tmp_path):
    frame = lead_table(employees=["10", "many", "35", "1,2,3", "80", "lots"])
    problem = only(problems_of(tmp_path, frame), "employees")
    assert "features.numeric" in problem
    assert "3 values are not numbers" in problem
    for row in ("L2", "L4", "L6"):
        assert row in problem
    assert "L1" not in problem


def test_many_bad_rows_are_counted_and_a_few_shown(tmp_path):
    n = 12
    frame = pd.DataFrame(
        {
            "lead_id": [f"X{i:02d}" for i in range(n)],
            "created_at": ["2024-01-01"] * n,
            "source": ["web"] * n,
            "employees": ["?"] * 9 + ["1"] * 3,
            "status": ["won", "lost"] * (n // 2),
        }
    )
    problem = only(problems_of(tmp_path, frame), "employees")
    assert "9 values are not numbers" in problem
    assert "X00" in problem and "and 4 more" in problem
    assert "X08" not in problem


def test_duplicate_ids_are_listed_with_their_counts(tmp_path):
    frame = lead_table(lead_id=["L1", "L2", "L1", "L4", "L2", "L1"])
    problem = only(problems_of(tmp_path, frame), "more than once")
    assert "id_column 'lead_id'" in problem
    assert "2 ids" in problem
    assert "L1 ×3" in problem and "L2 ×2" in problem


def test_missing_ids_give_row_numbers(tmp_path):
    frame = lead_table(lead_id=["L1", "", "L3", "L4", "N/A", "L6"])
    problem = only(problems_of(tmp_path, frame), "no id")
    assert "2 rows have no id" in problem
    assert "2, 5" in problem


def test_empty_table_is_reported(tmp_path):
    frame = lead_table().iloc[0:0]
    problems = problems_of(tmp_path, frame)
    assert problems == ["the table has no rows"]


def test_empty_file_is_reported(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataValidationError, match="the file is empty"):
        load_task_data(parse_config(task(path)))


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(DataValidationError, match="file not found"):
        load_task_data(parse_config(task(tmp_path / "nope.csv")))


def test_target_with_one_class_is_reported(tmp_path):
    frame = lead_table(status=["won", "won", "open", "won", "won", "open"])
    problem = only(problems_of(tmp_path, frame), "both classes")
    assert "target.column 'status'" in problem
    assert "positive" in problem


def test_target_with_only_open_records_is_reported(tmp_path):
    frame = lead_table(status=["open"] * 6)
    assert "found only: none" in only(problems_of(tmp_path, frame), "both classes")


def test_unmapped_target_values_are_listed_with_counts(tmp_path):
    frame = lead_table(status=["won", "Won ", "lost", "maybe", "maybe", ""])
    problem = only(problems_of(tmp_path, frame), "not listed")
    assert "target.column 'status'" in problem
    assert "'maybe' (2 rows)" in problem
    assert "<blank>" not in problem
    blank = only(problems_of(tmp_path, frame), "no value")
    assert "target.column 'status': 1 rows have no value" in blank
    # Surrounding spaces are stripped before mapping: "Won " is not "won" but is "Won".
    assert "'Won'" in problem


def test_every_problem_is_listed_at_once(tmp_path):
    frame = lead_table(
        lead_id=["L1", "L1", "L3", "L4", "L5", "L6"],
        created_at=["2024-01-02", "soon", "2024-02-01", "2024-02-03", "2024-03-01", "later"],
        employees=["10", "200", "many", "1200", "80", "15"],
        status=["won", "lost", "open", "won", "lost", "unsure"],
    )
    features = {"categorical": ["source", "regoin"], "numeric": ["employees"]}
    problems = problems_of(tmp_path, frame, features=features)
    assert len(problems) == 5
    only(problems, "'regoin'")
    only(problems, "more than once")
    only(problems, "not dates")
    only(problems, "not numbers")
    only(problems, "'unsure'")


# --- recode and joins ----------------------------------------------------------------------


def join_task(tmp_path: Path, frame: pd.DataFrame, accounts: pd.DataFrame, **join) -> dict:
    leads = write_csv(tmp_path, frame)
    acc = write_csv(tmp_path, accounts, "accounts.csv")
    spec = {"name": "accounts", "path": str(acc), "key": "account", **join}
    return task(
        leads,
        joins=[spec],
        features={"categorical": ["source", "sector"], "numeric": ["employees", "revenue"]},
        recode={"sector": {"technolgy": "technology"}, "source": {"web": "website"}},
    )


def test_join_adds_columns_and_notes_unmatched_keys(tmp_path):
    frame = lead_table(account=["Acme", "Globex", "Initech", "Acme", "Umbrella", ""])
    data = load_task_data(parse_config(join_task(tmp_path, frame, accounts_table())))
    got = data.frame.set_index("lead_id")
    assert got.loc["L1", "revenue"] == 10.5
    assert got.loc["L2", "sector"] == "retail"
    # Left join: the unmatched and the blank keys keep their rows, with missing fields.
    assert len(got) == 6
    assert pd.isna(got.loc["L5", "sector"]) and pd.isna(got.loc["L6", "revenue"])
    unmatched = [n for n in data.notes if "not found in accounts" in n]
    assert len(unmatched) == 1
    assert "'Umbrella' (1)" in unmatched[0] and "1 rows" in unmatched[0]
    assert any("joins[accounts]: 1 rows have no account" in n for n in data.notes)


def test_recode_applies_to_main_and_joined_tables_and_is_counted(tmp_path):
    data = load_task_data(parse_config(join_task(tmp_path, lead_table(), accounts_table())))
    got = data.frame.set_index("lead_id")
    assert got.loc["L1", "sector"] == "technology"
    assert got.loc["L3", "sector"] == "technology"
    assert "technolgy" not in set(got["sector"].dropna())
    assert set(got["source"]) == {"website", "referral", "event"}
    source_note = only(data.notes, "source.source")
    assert "'web' → 'website'" in source_note and "(3 rows)" in source_note
    sector_note = only(data.notes, "accounts.sector")
    assert "'technolgy' → 'technology'" in sector_note and "(2 rows)" in sector_note


def test_join_right_key_and_column_subset(tmp_path):
    accounts = accounts_table().rename(columns={"account": "company"})
    accounts["secret"] = "x"
    raw = join_task(
        tmp_path, lead_table(), accounts, right_key="company", columns=["sector", "revenue"]
    )
    data = load_task_data(parse_config(raw))
    assert "secret" not in data.frame.columns
    assert "company" not in data.frame.columns
    assert data.frame.set_index("lead_id").loc["L4", "revenue"] == 10.5


def test_join_problems_name_the_join(tmp_path):
    accounts = accounts_table().rename(columns={"account": "company"})
    with pytest.raises(DataValidationError) as info:
        load_task_data(parse_config(join_task(tmp_path, lead_table(), accounts)))
    problem = only(info.value.problems, "from accounts")
    assert "'account'" in problem and "joins[accounts].right_key" in problem


def test_join_with_duplicate_keys_is_reported(tmp_path):
    accounts = pd.concat([accounts_table(), accounts_table().iloc[[1]]])
    with pytest.raises(DataValidationError) as info:
        load_task_data(parse_config(join_task(tmp_path, lead_table(), accounts)))
    problem = only(info.value.problems, "not unique")
    assert "joins[accounts]" in problem and "Globex" in problem


def test_join_key_missing_from_main_table(tmp_path):
    frame = lead_table().drop(columns=["account"])
    with pytest.raises(DataValidationError) as info:
        load_task_data(parse_config(join_task(tmp_path, frame, accounts_table())))
    assert "joins[accounts].key" in only(info.value.problems, "'account'")


# --- activities ----------------------------------------------------------------------------


def test_activities_are_typed_and_checked(tmp_path):
    acts = pd.DataFrame(
        {
            "lead": ["L1", "L1", "L2", "L9"],
            "when": ["2024-01-03", "2024-01-04 10:30", "2024-01-06", "2024-04-01"],
            "kind": ["call", "email", "call", None],
        }
    )
    path = write_csv(tmp_path, acts, "acts.csv")
    spec = {"path": str(path), "id_column": "lead", "time_column": "when", "type_column": "kind"}
    data = load(tmp_path, lead_table(), activities=spec)
    assert pd.api.types.is_datetime64_any_dtype(data.activities["when"])
    assert data.activities["lead"].tolist() == ["L1", "L1", "L2", "L9"]
    # The latest activity moves the data's "today".
    assert data.as_of == pd.Timestamp("2024-04-02")

    acts.loc[2, "when"] = "someday"
    write_csv(tmp_path, acts, "acts.csv")
    with pytest.raises(DataValidationError) as info:
        load(tmp_path, lead_table(), activities=spec)
    problem = only(info.value.problems, "someday")
    assert "activities.time_column" in problem and "L2" in problem

    bad = {**spec, "type_column": "channel"}
    with pytest.raises(DataValidationError) as info:
        load(tmp_path, lead_table(), activities=bad)
    assert "activities.type_column" in only(info.value.problems, "'channel'")


# --- the same table from every source format -----------------------------------------------


def typed_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4"],
            "created_at": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-02-01", "2024-02-03"]),
            "source": ["web", None, "ad", "web"],
            "employees": [10.0, 20.0, None, 40.0],
            "status": ["won", "lost", "open", "lost"],
        }
    )


def test_csv_parquet_excel_and_sqlite_load_the_same(tmp_path):
    table = typed_table()
    table.to_csv(tmp_path / "t.csv", index=False)
    table.to_parquet(tmp_path / "t.parquet", index=False)
    table.to_excel(tmp_path / "t.xlsx", index=False, engine="openpyxl")
    with sqlite3.connect(tmp_path / "t.db") as con:
        table.to_sql("leads", con, index=False)
    sources = {
        "csv": {"path": str(tmp_path / "t.csv")},
        "parquet": {"path": str(tmp_path / "t.parquet")},
        "excel": {"path": str(tmp_path / "t.xlsx")},
        "sqlite": {
            "sql": {"url": f"sqlite:///{tmp_path / 't.db'}", "query": "SELECT * FROM leads"}
        },
    }
    loaded = {
        k: load_task_data(parse_config(task(Path("x"), source=s))) for k, s in sources.items()
    }
    reference = loaded["csv"]
    assert reference.frame["lead_id"].tolist() == ["L1", "L2", "L3", "L4"]
    assert reference.frame["created_at"][1] == pd.Timestamp("2024-01-05")
    assert pd.isna(reference.frame["source"][1]) and pd.isna(reference.frame["employees"][2])
    for name, data in loaded.items():
        pd.testing.assert_frame_equal(data.frame, reference.frame, obj=name)
        pd.testing.assert_series_equal(data.outcome, reference.outcome, obj=name)
        assert data.as_of == reference.as_of


def test_failing_sql_query_is_a_data_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    raw = task(Path("x"), source={"sql": {"url": url, "query": "SELECT * FROM nowhere"}})
    with pytest.raises(DataValidationError, match="query failed: .*no such table: nowhere"):
        load_task_data(parse_config(raw))


def test_unknown_suffix_needs_a_declared_format(tmp_path):
    path = tmp_path / "leads.dat"
    lead_table().to_csv(path, index=False)
    with pytest.raises(CRMPredictError, match="format"):
        load_task_data(parse_config(task(path)))
    data = load_task_data(
        parse_config(task(Path("x"), source={"path": str(path), "format": "csv"}))
    )
    assert len(data.frame) == 6


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_iter_file_yields_every_row_in_bounded_chunks(tmp_path, suffix):
    table = pd.DataFrame({"lead_id": [f"L{i}" for i in range(23)], "x": range(23)})
    path = crm_io.write_table(table, tmp_path / f"t{suffix}")
    chunks = list(crm_io.iter_file(path, chunksize=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 3]
    # CSV and Excel cells come back as text (schema types them); Parquet keeps its types.
    assert pd.to_numeric(pd.concat(chunks)["x"]).tolist() == list(range(23))


# --- atomic writes -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_write_table_round_trips(tmp_path, suffix):
    table = pd.DataFrame({"lead_id": ["a", "b"], "score": [0.25, 0.75]})
    path = crm_io.write_table(table, tmp_path / "out" / f"scores{suffix}")
    back = crm_io.read_file(path)
    assert back["lead_id"].tolist() == ["a", "b"]
    assert pd.to_numeric(back["score"]).tolist() == [0.25, 0.75]
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_write_table_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "scores.csv"
    target.write_text("lead_id,score\nold,1.0\n", encoding="utf-8")

    def half_write(self, path, *args, **kwargs):
        Path(path).write_text("lead_id,score\nnew,0.", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_write)
    with pytest.raises(OSError, match="disk full"):
        crm_io.write_table(pd.DataFrame({"lead_id": ["new"], "score": [0.5]}), target)
    assert target.read_text(encoding="utf-8") == "lead_id,score\nold,1.0\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_write_table_failure_leaves_no_file_behind_when_target_is_new(tmp_path, monkeypatch):
    def half_write(self, path, *args, **kwargs):
        Path(path).write_text("partial", encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_write)
    with pytest.raises(KeyboardInterrupt):
        crm_io.write_table(pd.DataFrame({"a": [1]}), tmp_path / "new.csv")
    assert list(tmp_path.iterdir()) == []
