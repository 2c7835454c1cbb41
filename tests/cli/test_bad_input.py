"""Messy real exports through every command: a clear message or a correct result, never a
traceback, a silent misreading or a lost file (issue 20).

One tiny model is trained once for the module; each case writes its own files, runs one
command through the CLI and asserts the exit code, the message (naming the column, row id
or option) and that no input or earlier output changed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crm_predict.cli.app import app
from crm_predict.config import parse_config
from crm_predict.data.synthetic.leads import make_leads
from crm_predict.scoring.task_models import TaskModels
from crm_predict.training.train import train_task

runner = CliRunner()
AS_OF = "2025-01-01"
COLUMNS = ["lead_id", "status", "created_at", "closed_at", "source", "region", "employees"]
TASK = {
    "name": "tiny",
    "id_column": "lead_id",
    "target": {"column": "status", "positive": ["won"], "negative": ["lost"], "open": ["open"]},
    "time": {"created": "created_at", "closed": "closed_at"},
    "features": {"categorical": ["source", "region"], "numeric": ["employees"]},
    "gbm": {"params": {"n_estimators": 15}, "folds": 1},
    "split": {"method": "stratified"},
}


def _training_table(n: int = 400) -> pd.DataFrame:
    leads = make_leads(n, 3).leads[COLUMNS].copy()
    for col in ("created_at", "closed_at"):
        leads[col] = leads[col].dt.strftime("%Y-%m-%d")
    leads["employees"] = leads["employees"].astype(str)
    return leads.astype(object).where(leads.notna(), None)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Train once; ``load_task_models`` answers every --model with it, alone."""
    folder = tmp_path_factory.mktemp("model")
    path = folder / "train.csv"
    _training_table().to_csv(path, index=False)
    cfg = parse_config({**TASK, "source": {"path": str(path)}}, origin="test")
    bundle = train_task(cfg, models=("gbm",), quiet=True).models["gbm"].bundle
    patch = pytest.MonkeyPatch()
    import crm_predict.tracking as tracking

    models = TaskModels(bundle, label="tiny v1")
    patch.setattr(tracking, "load_task_models", lambda uri, tracking_uri=None, **kw: models)
    yield bundle
    patch.undo()


def open_leads(n: int = 12) -> pd.DataFrame:
    """A clean lead list as text: ids L0.., ISO dates, every field the model reads."""
    t = _training_table(60).head(n).drop(columns=["status", "closed_at"])
    t["lead_id"] = [f"L{i:03d}" for i in range(n)]
    t["created_at"] = [f"2024-{1 + i % 12:02d}-{13 + i % 15:02d}" for i in range(n)]
    return t.reset_index(drop=True)


def dayfirst(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["created_at"] = pd.to_datetime(out["created_at"]).dt.strftime("%d/%m/%Y")
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    # Hidden names are temporary files (a stale one is meant to go).
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


@dataclass
class Case:
    """One messy input: what to write, which command, what must come out."""

    name: str
    write: Callable[[Path], None]
    args: list[str]
    code: int
    says: list[str] = field(default_factory=list)
    check: Callable[[Path, str], None] | None = None
    never: list[str] = field(default_factory=list)


def csv(frame: pd.DataFrame, name: str = "leads.csv", **kw) -> Callable[[Path], None]:
    return lambda d: frame.to_csv(d / name, index=False, **kw)


def raw(text: str | bytes, name: str = "leads.csv") -> Callable[[Path], None]:
    def write(d: Path) -> None:
        data = text.encode("utf-8") if isinstance(text, str) else text
        (d / name).write_bytes(data)

    return write


def both(*writers: Callable[[Path], None]) -> Callable[[Path], None]:
    def write(d: Path) -> None:
        for w in writers:
            w(d)

    return write


SCORE = ["score", "--model", "m", "--input", "{d}/leads.csv", "--output", "{d}/scored.csv"]
SCORE += ["--as-of", AS_OF, "--quiet"]
REPORT = ["report", "--model", "m", "--input", "{d}/leads.csv", "--output", "{d}/r.html"]
REPORT += ["--as-of", AS_OF]
MONITOR = ["monitor", "--model", "m", "--input", "{d}/leads.csv", "--as-of", AS_OF, "--quiet"]


def scored(d: Path) -> pd.DataFrame:
    return pd.read_csv(d / "scored.csv", dtype=str, keep_default_na=False)


def rejected(d: Path) -> pd.DataFrame:
    return pd.read_csv(d / "scored.rejected.csv", dtype=str, keep_default_na=False)


def ids_exact(expected: list[str]) -> Callable[[Path, str], None]:
    def check(d: Path, out: str) -> None:
        assert sorted(scored(d)["lead_id"]) == sorted(expected)

    return check


def same_bytes_as_one_worker(d: Path, out: str) -> None:
    one = d / "one.csv"
    argv = [a.format(d=d) for a in SCORE[:6]] + [str(one), "--as-of", AS_OF, "--quiet"]
    result = runner.invoke(app, [*argv, "--workers", "1", "--chunksize", "5"])
    assert result.exit_code == 0, result.output
    assert (d / "scored.csv").read_bytes() == one.read_bytes()
    assert scored(d)["rank"].astype(int).tolist() == list(range(1, len(L) + 1))


def same_scores_as_iso(d: Path, out: str) -> None:
    runner.invoke(
        app,
        [a.format(d=d) for a in SCORE[:4]]
        + [str(d / "iso.csv"), "--output", str(d / "iso_scored.csv"), "--as-of", AS_OF, "--quiet"],
    )
    a = scored(d).set_index("lead_id")["p_convert"]
    b = pd.read_csv(d / "iso_scored.csv", dtype=str).set_index("lead_id")["p_convert"]
    assert a.sort_index().tolist() == b.sort_index().tolist()


def reasons_are(expected: list[str]) -> Callable[[Path, str], None]:
    def check(d: Path, out: str) -> None:
        assert rejected(d)["reason"].tolist() == expected

    return check


def all_of(*checks: Callable[[Path, str], None]) -> Callable[[Path, str], None]:
    def check(d: Path, out: str) -> None:
        for one in checks:
            one(d, out)

    return check


def nothing_registered(d: Path, out: str) -> None:
    assert not list(d.glob("**/mlflow.db"))


def reason_for(lead: str, text: str) -> Callable[[Path, str], None]:
    def check(d: Path, out: str) -> None:
        rej = rejected(d).set_index("lead_id")["reason"]
        assert text in rej[lead], rej.to_dict()
        assert lead not in set(scored(d)["lead_id"])

    return check


def _leads_with(**cells) -> pd.DataFrame:
    frame = open_leads()
    for key, value in cells.items():
        col, row = key.rsplit("_", 1)
        frame.loc[int(row), col] = value
    return frame


L = open_leads()
IDS = L["lead_id"].tolist()
ZEROS = L.assign(lead_id=[f"{i:06d}" for i in range(12)])
BIG = L.assign(lead_id=[str(123456789012345600 + i) for i in range(12)])
BIG.loc[5, "lead_id"] = None
HUNDRED = L.assign(lead_id=["100000", *[f"{i:06d}" for i in range(1, 11)], None])
MIXED = L.copy()
MIXED.loc[:5, "created_at"] = dayfirst(L).loc[:5, "created_at"]
AMBIGUOUS = L.assign(created_at=[f"0{1 + i % 9}/0{1 + (i + 3) % 9}/2024" for i in range(12)])
SERIAL = L.assign(created_at=[str(45300 + i) for i in range(12)])
TOTAL = pd.concat(
    [L, pd.DataFrame([{"lead_id": "Total", "employees": "99999999"}])], ignore_index=True
)
FOOTER = pd.concat(
    [
        L,
        pd.DataFrame(
            [
                {"lead_id": None, "source": None},
                {"lead_id": "Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved."},
                {"lead_id": "Generated By: Jane Doe 05/01/2024 10:12"},
            ]
        ),
    ],
    ignore_index=True,
)
FORMULA = L.copy()
FORMULA.loc[0, "lead_id"] = '=HYPERLINK("http://x")'
FORMULA.loc[1, "source"] = "+cmd|' /C calc'!A0"
FORMULA.loc[2, "lead_id"] = "@SUM(A1)"
FORMULA.loc[3, "employees"] = "-2+3+cmd|' /C calc'!A0"


def semicolon(frame: pd.DataFrame) -> Callable[[Path], None]:
    return csv(frame, sep=";")


def cp1252(frame: pd.DataFrame) -> Callable[[Path], None]:
    return csv(frame.assign(region=["Zürich Région"] * len(frame)), encoding="cp1252")


def title_row(d: Path) -> None:
    (d / "leads.csv").write_text("Leads export - Q1,,,,\n" + L.to_csv(index=False))


def excel_check(d: Path, out: str) -> None:
    back = pd.read_excel(d / "scored.xlsx", dtype=str)
    assert sorted(back["lead_id"]) == sorted(IDS)


def escaped(d: Path, out: str) -> None:
    ids = set(scored(d)["lead_id"])
    assert '\'=HYPERLINK("http://x")' in ids and "'@SUM(A1)" in ids
    rej = rejected(d)
    assert rej["employees"].tolist() == ["'-2+3+cmd|' /C calc'!A0"]


def not_escaped(d: Path, out: str) -> None:
    assert "@SUM(A1)" in set(scored(d)["lead_id"])


def umask_mode(d: Path, out: str) -> None:
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((d / "scored.csv").stat().st_mode) == 0o666 & ~mask


def stale(d: Path) -> None:
    csv(L)(d)
    (d / ".scored.csv.pid999999999.abcd.tmp").write_text("half")
    (d / ".crm-predict-score-pid999999999.x").mkdir()


def stale_gone(d: Path, out: str) -> None:
    left = [p.name for p in d.iterdir() if p.name.startswith(".")]
    assert left == [], left


def warned(text: str) -> Callable[[Path, str], None]:
    def check(d: Path, out: str) -> None:
        assert "warning:" in out and text in out

    return check


def monitor_has(field_name: str) -> Callable[[Path, str], None]:
    def check(d: Path, out: str) -> None:
        assert field_name in out

    return check


def report_ok(d: Path, out: str) -> None:
    assert (d / "r.html").stat().st_size > 1000


SCORE_CASES = [
    Case("ids-leading-zeros", csv(ZEROS), SCORE, 0, check=ids_exact(ZEROS["lead_id"].tolist())),
    Case(
        "ids-18-digits-one-blank",
        csv(BIG),
        SCORE,
        0,
        check=all_of(
            ids_exact([i for i in BIG["lead_id"] if isinstance(i, str)]),
            reasons_are(["missing lead_id"]),
        ),
    ),
    Case(
        "ids-100000-blank",
        csv(HUNDRED),
        SCORE,
        0,
        check=ids_exact(HUNDRED["lead_id"][:11].tolist()),
    ),
    Case(
        "ids-duplicate",
        csv(L.assign(lead_id=IDS[:11] + [IDS[0]])),
        SCORE,
        0,
        check=reasons_are(["duplicate lead_id"]),
    ),
    Case(
        "dates-dayfirst",
        both(csv(dayfirst(L)), csv(L, "iso.csv")),
        SCORE,
        0,
        check=same_scores_as_iso,
    ),
    Case(
        "dates-dayfirst-chunked",
        both(csv(dayfirst(L)), csv(L, "iso.csv")),
        [*SCORE, "--chunksize", "3"],
        0,
        check=same_scores_as_iso,
    ),
    Case(
        "dates-mixed",
        csv(MIXED),
        SCORE,
        2,
        ["created_at", "more than one format", "L000", "day/month/year"],
    ),
    Case(
        "dates-ambiguous",
        csv(AMBIGUOUS),
        SCORE,
        2,
        ["created_at", "day/month or month/day", "--date-format"],
    ),
    Case(
        "dates-ambiguous-declared",
        csv(AMBIGUOUS),
        [*SCORE, "--date-format", "dayfirst"],
        0,
        check=ids_exact(IDS),
    ),
    Case("dates-excel-serial", csv(SERIAL), SCORE, 2, ["created_at", "Excel serial", "45300"]),
    Case(
        "dates-excel-declared",
        csv(SERIAL),
        [*SCORE, "--date-format", "excel"],
        0,
        check=ids_exact(IDS),
    ),
    Case(
        "dates-year-2071",
        csv(_leads_with(created_at_4="2071-03-01")),
        SCORE,
        0,
        check=reason_for("L004", "2071-03-01 is after as_of"),
    ),
    Case(
        "dates-year-1900",
        csv(_leads_with(created_at_2="1900-01-01")),
        SCORE,
        0,
        check=reason_for("L002", "before 1990"),
    ),
    Case(
        "dates-not-a-date",
        csv(_leads_with(created_at_3="soon")),
        SCORE,
        0,
        check=reason_for("L003", "'soon' is not a date"),
    ),
    Case(
        "rows-total",
        csv(TOTAL),
        SCORE,
        0,
        check=all_of(reason_for("Total", "total row"), ids_exact(IDS)),
    ),
    Case(
        "rows-footer",
        csv(FOOTER),
        SCORE,
        0,
        check=all_of(
            ids_exact(IDS),
            reasons_are(
                [
                    "not a lead: a report footer ('Copyright (c) 2000-2024 salesforce.com, ')",
                    "not a lead: a report footer ('Generated By: Jane Doe 05/01/2024 10:12')",
                ]
            ),
        ),
    ),
    Case("rows-title-above-header", title_row, SCORE, 2, ["lead_id", "line 2", "title rows"]),
    Case(
        "header-trailing-space",
        csv(L.rename(columns={"source": "source "})),
        SCORE,
        0,
        check=warned("'source ' read as 'source'"),
    ),
    Case(
        "header-other-case",
        csv(L.rename(columns={"region": "Region"})),
        SCORE,
        0,
        check=warned("'Region' read as 'region'"),
    ),
    Case(
        "header-column-missing",
        csv(L.drop(columns=["employees"])),
        SCORE,
        0,
        check=warned("'employees' (features.numeric) is missing"),
    ),
    Case(
        "header-missing-strict",
        csv(L.drop(columns=["employees"])),
        [*SCORE, "--strict"],
        2,
        ["employees", "features.numeric", "--strict"],
    ),
    Case(
        "header-misnamed-strict",
        csv(L.rename(columns={"region": "Region"})),
        [*SCORE, "--strict"],
        2,
        ["'Region' read as 'region'"],
    ),
    Case(
        "header-no-id",
        csv(L.drop(columns=["lead_id"])),
        SCORE,
        2,
        ["column 'lead_id' is missing", "id_column"],
    ),
    Case(
        "number-inf",
        csv(_leads_with(employees_1="inf")),
        SCORE,
        0,
        check=reason_for("L001", "'inf' is not a number"),
    ),
    Case(
        "number-text",
        csv(_leads_with(employees_6="many")),
        SCORE,
        0,
        check=reason_for("L006", "'many' is not a number"),
    ),
    Case(
        "blank-id-text-in-cell",
        csv(pd.concat([L, pd.DataFrame([{"source": "see notes"}])], ignore_index=True)),
        SCORE,
        0,
        check=reasons_are(["missing lead_id"]),
    ),
    Case("file-empty", raw(b""), SCORE, 2, ["empty"]),
    Case("file-header-only", raw(",".join(L.columns) + "\n"), SCORE, 2, ["no rows"]),
    Case("file-missing", lambda d: None, SCORE, 2, ["not found"]),
    Case(
        "file-unknown-suffix",
        csv(L, "leads.dat"),
        [
            "score",
            "--model",
            "m",
            "--input",
            "{d}/leads.dat",
            "--output",
            "{d}/scored.csv",
            "--as-of",
            AS_OF,
        ],
        2,
        ["cannot tell the format"],
    ),
    Case("file-cp1252", cp1252(L), SCORE, 2, ["utf-8", "--encoding", "cp1252"]),
    Case(
        "file-cp1252-declared", cp1252(L), [*SCORE, "--encoding", "cp1252"], 0, check=ids_exact(IDS)
    ),
    Case("file-semicolon", semicolon(L), SCORE, 2, ["separated by ';'", "--sep"]),
    Case("file-semicolon-declared", semicolon(L), [*SCORE, "--sep", ";"], 0, check=ids_exact(IDS)),
    Case("file-bom", csv(L, encoding="utf-8-sig"), SCORE, 0, check=ids_exact(IDS)),
    Case(
        "file-bad-encoding-name",
        csv(L),
        [*SCORE, "--encoding", "klingon"],
        2,
        ["--encoding 'klingon'"],
    ),
    Case(
        "out-is-input",
        csv(L),
        [
            "score",
            "--model",
            "m",
            "--input",
            "{d}/leads.csv",
            "--output",
            "{d}/leads.csv",
            "--as-of",
            AS_OF,
        ],
        2,
        ["is the input file"],
    ),
    Case(
        "out-xlsx",
        csv(L),
        [
            "score",
            "--model",
            "m",
            "--input",
            "{d}/leads.csv",
            "--output",
            "{d}/scored.xlsx",
            "--as-of",
            AS_OF,
        ],
        0,
        check=excel_check,
    ),
    Case(
        "out-bad-suffix",
        csv(L),
        [
            "score",
            "--model",
            "m",
            "--input",
            "{d}/leads.csv",
            "--output",
            "{d}/scored.json",
            "--as-of",
            AS_OF,
        ],
        2,
        [".csv, .txt, .parquet"],
    ),
    Case(
        "out-folder-is-file",
        both(csv(L), raw("x", "afile")),
        [
            "score",
            "--model",
            "m",
            "--input",
            "{d}/leads.csv",
            "--output",
            "{d}/afile/s.csv",
            "--as-of",
            AS_OF,
        ],
        2,
        ["is a file, not a folder"],
    ),
    Case(
        "opt-bad-as-of",
        csv(L),
        [*SCORE[:-3], "--as-of", "2024-13-45"],
        2,
        ["--as-of '2024-13-45' is not a date"],
    ),
    Case("opt-chunksize-0", csv(L), [*SCORE, "--chunksize", "0"], 2, ["chunksize"]),
    Case(
        "opt-workers-0",
        csv(L),
        [*SCORE, "--workers", "0"],
        2,
        ["'--workers'", "greater than or equal to 1"],
    ),
    Case("opt-workers-negative", csv(L), [*SCORE, "--workers", "-2"], 2, ["'--workers'"]),
    Case("opt-workers-text", csv(L), [*SCORE, "--workers", "all"], 2, ["'--workers'"]),
    Case(
        "opt-workers-2",
        csv(L),
        [*SCORE, "--workers", "2", "--chunksize", "5"],
        0,
        check=same_bytes_as_one_worker,
    ),
    Case("safe-formulas", csv(FORMULA), SCORE, 0, check=escaped),
    Case("safe-formulas-off", csv(FORMULA), [*SCORE, "--no-escape-formulas"], 0, check=not_escaped),
    Case("safe-umask-mode", csv(L), SCORE, 0, check=umask_mode),
    Case("safe-stale-temps-removed", stale, SCORE, 0, check=stale_gone),
]


def _task_yaml(d: Path, extra: str = "", target: str = "", split: str = "stratified") -> None:
    target = target or "{column: status, positive: [won], negative: [lost], open: [open]}"
    (d / "task.yaml").write_text(
        f"name: tiny\nsource: {{path: {d}/train.csv}}\nid_column: lead_id\n"
        f"target: {target}\n"
        "time: {created: created_at, closed: closed_at}\n"
        "features: {categorical: [source, region], numeric: [employees]}\n"
        f"split: {{method: {split}}}\n" + extra
    )


T = _training_table(40)


def task(frame: pd.DataFrame, extra: str = "", **kw) -> Callable[[Path], None]:
    def write(d: Path) -> None:
        frame.to_csv(d / "train.csv", index=False, **kw)
        _task_yaml(d, extra)

    return write


def _t(**cells) -> pd.DataFrame:
    frame = T.copy()
    for key, value in cells.items():
        col, row = key.rsplit("_", 1)
        frame.loc[int(row), col] = value
    return frame


def _mixed_training() -> pd.DataFrame:
    frame = T.copy()
    day = pd.to_datetime(frame.loc[:9, "created_at"]).dt.strftime("%d/%m/%Y")
    frame.loc[:9, "created_at"] = day
    return frame


VALIDATE = ["validate", "{d}/task.yaml"]
TRAIN = ["train", "{d}/task.yaml", "--output-dir", "{d}/afile/out", "--quiet", "--no-register"]
DAYFIRST_T = T.assign(
    created_at=pd.to_datetime(T["created_at"]).dt.strftime("%d/%m/%Y"),
    closed_at=pd.to_datetime(T["closed_at"]).dt.strftime("%d/%m/%Y"),
)
ZEROS_T = T.assign(lead_id=[f"{i:05d}" for i in range(len(T))])
ZEROS_T.loc[1, "lead_id"] = "7"
ZEROS_T.loc[7, "lead_id"] = "00007"
NUMERIC_TARGET = T.assign(status=T["status"].map({"won": "1", "lost": "0", "open": None}))
early = T.copy()
early.loc[3, "closed_at"] = "2000-01-01"


def parquet(frame: pd.DataFrame) -> Callable[[Path], None]:
    return lambda d: frame.to_parquet(d / "leads.parquet", index=False)


def excel(frame: pd.DataFrame) -> Callable[[Path], None]:
    return lambda d: frame.to_excel(d / "leads.xlsx", index=False)


def same_day(d: Path) -> None:
    T.assign(created_at="2024-01-01", closed_at="2024-02-01").to_csv(d / "train.csv", index=False)
    _task_yaml(d, split="time")


def parquet_out(d: Path, out: str) -> None:
    assert sorted(pd.read_parquet(d / "scored.parquet")["lead_id"]) == sorted(IDS)


def declared_dayfirst(d: Path) -> None:
    task(AMBIGUOUS_T)(d)
    yaml = (d / "task.yaml").read_text()
    (d / "task.yaml").write_text(
        yaml.replace("closed: closed_at}", "closed: closed_at, date_format: dayfirst}")
    )


FLOAT_IDS = L.assign(lead_id=[100000.0 + i for i in range(11)] + [None])
AMBIGUOUS_T = T.assign(
    created_at=[f"0{1 + i % 9}/0{1 + (i + 3) % 9}/2023" for i in range(len(T))],
    closed_at=[f"0{1 + i % 9}/0{1 + (i + 5) % 9}/2024" for i in range(len(T))],
)


def _score_file(name: str, *extra: str) -> list[str]:
    return [
        "score",
        "--model",
        "m",
        "--input",
        f"{{d}}/{name}",
        "--output",
        "{d}/scored.csv",
        "--as-of",
        AS_OF,
        "--quiet",
        *extra,
    ]


def nested_out(d: Path, out: str) -> None:
    assert sorted(pd.read_csv(d / "new" / "day" / "s.csv", dtype=str)["lead_id"]) == sorted(IDS)


TABLE_CASES = [
    Case(
        "score-output-in-a-new-folder",
        csv(L),
        [*SCORE[:-4], "{d}/new/day/s.csv", "--as-of", AS_OF, "--quiet"],
        0,
        check=nested_out,
    ),
    Case(
        "score-parquet-float-ids",
        parquet(FLOAT_IDS),
        _score_file("leads.parquet"),
        0,
        check=ids_exact([str(100000 + i) for i in range(11)]),
    ),
    Case(
        "score-xlsx-leading-zeros",
        excel(ZEROS),
        _score_file("leads.xlsx"),
        0,
        check=ids_exact(ZEROS["lead_id"].tolist()),
    ),
    Case(
        "score-date-pattern",
        csv(L.assign(created_at=pd.to_datetime(L["created_at"]).dt.strftime("%d.%m.%Y"))),
        [*SCORE, "--date-format", "%d.%m.%Y"],
        0,
        check=ids_exact(IDS),
    ),
    Case(
        "score-parquet-output",
        csv(L),
        [*SCORE[:-4], "{d}/scored.parquet", "--as-of", AS_OF, "--quiet"],
        0,
        check=parquet_out,
    ),
    Case(
        "validate-same-date-time-split",
        same_day,
        VALIDATE,
        2,
        [
            "time.created 'created_at'",
            "every record has the date 2024-01-01",
            "split.method: stratified",
        ],
    ),
    Case(
        "validate-dates-ambiguous",
        task(AMBIGUOUS_T),
        VALIDATE,
        2,
        ["time.created 'created_at'", "day/month or month/day", "time.date_format"],
    ),
    Case("validate-dates-ambiguous-declared", declared_dayfirst, VALIDATE, 0, ["40 records"]),
    Case("report-title-row", title_row, REPORT, 2, ["line 2", "title rows"]),
    Case(
        "monitor-missing-strict",
        csv(L.drop(columns=["employees"])),
        [*MONITOR, "--strict"],
        2,
        ["'employees' (features.numeric) is missing"],
    ),
    Case(
        "validate-dates-mixed",
        task(_mixed_training()),
        VALIDATE,
        2,
        ["time.created 'created_at'", "more than one format"],
    ),
    Case("validate-dates-dayfirst", task(DAYFIRST_T), VALIDATE, 0, ["records"]),
    Case(
        "validate-ids-zeros-not-duplicates",
        task(ZEROS_T),
        VALIDATE,
        0,
        ["40 records"],
        never=["more than once"],
    ),
    Case(
        "validate-target-blank",
        task(_t(status_4=None)),
        VALIDATE,
        2,
        ["1 rows have no value", "L00"],
        never=["'0.0'", "<blank>"],
    ),
    Case(
        "validate-numeric-target-blank",
        both(
            task(NUMERIC_TARGET),
            lambda d: _task_yaml(d, target="{column: status, positive: ['1'], negative: ['0']}"),
        ),
        VALIDATE,
        2,
        ["rows have no value"],
        never=["'0.0'", "'1.0'"],
    ),
    Case(
        "validate-all-blank-numeric",
        task(T.assign(employees=None)),
        VALIDATE,
        2,
        ["features.numeric 'employees'", "every value is blank"],
    ),
    Case(
        "train-all-blank-numeric",
        both(task(T.assign(employees=None)), lambda d: (d / "afile").mkdir()),
        TRAIN,
        2,
        ["every value is blank"],
    ),
    Case(
        "validate-year-2071",
        task(_t(created_at_5="2071-01-01")),
        VALIDATE,
        2,
        ["time.created 'created_at'", "2071-01-01", "implausible"],
    ),
    Case(
        "validate-excel-serial",
        task(T.assign(created_at=[str(42000 + i) for i in range(40)])),
        VALIDATE,
        2,
        ["Excel serial", "time.date_format: excel"],
    ),
    Case(
        "validate-closed-before-created",
        task(early),
        VALIDATE,
        0,
        ["warning:", "close before they were created"],
    ),
    Case(
        "validate-inf",
        task(_t(employees_2="inf")),
        VALIDATE,
        2,
        ["features.numeric 'employees'", "'inf'"],
    ),
    Case("validate-semicolon", task(T, sep=";"), VALIDATE, 2, ["separated by ';'", "source.sep"]),
    Case(
        "validate-cp1252",
        task(T.assign(region="Zürich"), encoding="cp1252"),
        VALIDATE,
        2,
        ["source.encoding"],
    ),
    Case(
        "validate-empty-file",
        both(lambda d: (d / "train.csv").write_bytes(b""), lambda d: _task_yaml(d)),
        VALIDATE,
        2,
        ["empty"],
    ),
    Case(
        "validate-yaml-yes",
        both(
            task(T),
            lambda d: _task_yaml(d, target="{column: status, positive: [Yes], negative: [No]}"),
        ),
        VALIDATE,
        2,
        ["target.positive", "quote"],
    ),
    Case(
        "train-output-dir-under-a-file",
        both(task(T), raw("x", "afile")),
        TRAIN,
        2,
        ["is a file, not a folder"],
        check=nothing_registered,
    ),
    Case("report-dayfirst", both(csv(dayfirst(L))), REPORT, 0, check=report_ok),
    Case("report-total-and-footer", csv(FOOTER), REPORT, 0, check=report_ok),
    Case(
        "report-out-is-input",
        csv(L),
        ["report", "--model", "m", "--input", "{d}/leads.csv", "--output", "{d}/leads.csv"],
        2,
        ["must end in .html"],
    ),
    Case(
        "report-out-html-is-input",
        raw(L.to_csv(index=False), "leads.html"),
        ["report", "--model", "m", "--input", "{d}/leads.html", "--output", "{d}/leads.html"],
        2,
        ["is the input file"],
    ),
    Case("report-cp1252", cp1252(L), REPORT, 2, ["--encoding"]),
    Case(
        "report-cp1252-declared", cp1252(L), [*REPORT, "--encoding", "cp1252"], 0, check=report_ok
    ),
    Case("report-bad-as-of", csv(L), [*REPORT[:-2], "--as-of", "2024-13-45"], 2, ["is not a date"]),
    Case("report-empty", raw(b""), REPORT, 2, ["empty"]),
    Case("monitor-inf", csv(_leads_with(employees_1="inf")), MONITOR, 0, ["Drift against"]),
    Case(
        "monitor-missing-column",
        csv(L.drop(columns=["employees"])),
        MONITOR,
        0,
        check=all_of(warned("'employees'"), monitor_has("employees")),
    ),
    Case("monitor-total-row", csv(TOTAL), MONITOR, 0, ["12 leads"]),
    Case("monitor-cp1252", cp1252(L), MONITOR, 2, ["--encoding"]),
    Case(
        "monitor-semicolon-declared", semicolon(L), [*MONITOR, "--sep", ";"], 0, ["Drift against"]
    ),
    Case(
        "monitor-json-is-input",
        csv(L),
        [*MONITOR, "--json", "{d}/leads.csv"],
        2,
        ["must end in .json"],
    ),
    Case(
        "monitor-bad-as-of",
        csv(L),
        [*MONITOR[:-3], "--as-of", "soon", "--quiet"],
        2,
        ["--as-of 'soon'"],
    ),
    Case("monitor-dates-mixed", csv(MIXED), MONITOR, 2, ["created_at", "more than one format"]),
]

CASES = SCORE_CASES + TABLE_CASES


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_messy_input(case: Case, model, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    case.write(tmp_path)
    if case.code:
        (tmp_path / "scored.csv").write_text("earlier output\n")
    before = snapshot(tmp_path)
    result = runner.invoke(app, [a.format(d=tmp_path) for a in case.args])
    out = " ".join(result.output.split())
    assert "Traceback" not in out, out
    assert result.exception is None or isinstance(result.exception, SystemExit), out
    assert result.exit_code == case.code, out
    for text in case.says:
        assert text in out, out
    for text in case.never:
        assert text not in out, out
    after = snapshot(tmp_path)
    for name, data in before.items():
        assert after.get(name) == data, f"{name} changed or vanished"
    if case.check is not None:
        case.check(tmp_path, out)


def test_a_crash_keeps_the_previous_output_and_is_an_internal_error(model, tmp_path, monkeypatch):
    from crm_predict.scoring.scorer import Scorer

    csv(L)(tmp_path)
    (tmp_path / "scored.csv").write_text("yesterday's scores\n")

    def boom(self, chunk):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Scorer, "score", boom)
    result = runner.invoke(app, [a.format(d=tmp_path) for a in SCORE])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "internal error (RuntimeError: disk on fire)" in out and "report" in out
    assert (tmp_path / "scored.csv").read_text() == "yesterday's scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv", "scored.csv"]


def test_day_first_ids_and_dates_round_trip_exactly(model, tmp_path):
    frame = dayfirst(ZEROS).copy()
    frame.loc[3, "lead_id"] = "123456789012345678"
    frame.loc[4, "lead_id"] = None
    csv(frame)(tmp_path)
    csv(ZEROS.assign(lead_id=frame["lead_id"]), "iso.csv")(tmp_path)
    result = runner.invoke(app, [a.format(d=tmp_path) for a in SCORE])
    assert result.exit_code == 0, result.output
    assert sorted(scored(tmp_path)["lead_id"]) == sorted(
        i for i in frame["lead_id"] if isinstance(i, str)
    )
    same_scores_as_iso(tmp_path, "")
