"""A quiet, consistent command line: --version, examples, one output name, library chatter
only with --verbose, no wrap when piped, the training headline, no store made by reading."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer.main
from typer.testing import CliRunner

from crm_predict import __version__
from crm_predict.cli.app import app
from crm_predict.cli.common import library_output, setup_output
from crm_predict.cli.summary import headline

runner = CliRunner()
DEMO_CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "leads_demo.yaml")
COMMANDS = sorted(typer.main.get_command(app).commands)
LIBRARY_LINE = re.compile(
    r"\bmlflow\.[a-z_.]+:|Successfully registered|Created version|CloudPickle|pytensor|arviz|"
    r"Warning:",
    re.I,
)


def test_version_prints_the_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"crm-predict {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_shows_an_example(command):
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"Example: crm-predict {command}" in " ".join(result.output.split())


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_flags_show_as_flags_in_every_help(command):
    args = [command, "--help"] if command else ["--help"]
    text = runner.invoke(app, args, terminal_width=200).output
    assert not re.search(r"<bool>|BOOLEAN", text, re.I), text
    assert re.search(r"--help\s+Show this\b", text), text
    if command:  # an option that takes a value still says what it is
        assert re.search(r"<(path|str)>", text), text


@pytest.mark.parametrize(
    ("command", "old"),
    [
        ("train", "--output-dir"),
        ("retrain", "--output-dir"),
        ("export", "--to"),
        ("demo", "--workdir"),
        ("monitor", "--json"),
        ("tune", "--output-dir"),
    ],
)
def test_one_output_name_the_old_one_hidden(command, old):
    text = runner.invoke(app, [command, "--help"], terminal_width=200).output
    assert "--output" in text
    assert not re.search(rf"{old}(?![\w-])", text)


@pytest.mark.parametrize(
    ("args", "folder", "overlay"),
    [
        (["--output", "{d}/runs"], "{d}/runs", None),
        (["-o", "{d}/runs", "--overlay", "{d}/best.yaml"], "{d}/runs", "{d}/best.yaml"),
        (["--output-dir", "{d}/runs"], "{d}/runs", None),  # the old name, hidden
        (["--output", "{d}/best.yaml"], ".", "{d}/best.yaml"),  # what --output meant before
        ([], ".", None),
    ],
)
def test_tune_writes_where_output_says(args, folder, overlay, tmp_path, monkeypatch):
    import crm_predict.lifecycle.tune as tune_module

    calls = []

    def fake_tune(config, **kwargs):
        calls.append(kwargs)
        raise SystemExit(0)

    monkeypatch.setattr(tune_module, "tune_task", fake_tune)
    argv = ["tune", DEMO_CONFIG, *(a.format(d=tmp_path) for a in args)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert calls[0]["workdir"] == Path(folder.format(d=tmp_path))
    assert calls[0]["output"] == (None if overlay is None else Path(overlay.format(d=tmp_path)))


def test_tune_output_and_its_old_name_must_agree(tmp_path):
    argv = ["tune", DEMO_CONFIG, "-o", "a", "--output-dir", "b"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert "give one" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["score", "--input", "{d}/leads.csv", "--output", "{d}/scored.csv"],
        ["report", "--input", "{d}/leads.csv", "--output", "{d}/report.html"],
        ["monitor", "--input", "{d}/leads.csv"],
        ["export", "--to", "{d}/models/leads"],
    ],
    ids=lambda a: a[0],
)
def test_a_command_that_only_reads_creates_no_store(args, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leads.csv").write_text("lead_id,source\nL1,web\n")
    argv = [a.format(d=tmp_path) for a in args] + ["--model", "models:/leads_demo@champion"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert f"no MLflow tracking store at {tmp_path / 'mlflow.db'}" in out
    assert "--tracking-uri" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv"]


def test_library_logs_and_warnings_are_off_unless_verbose():
    setup_output(False)
    with library_output(), warnings.catch_warnings(record=True) as seen:
        assert not logging.getLogger("mlflow").isEnabledFor(logging.INFO)
        assert not logging.getLogger("pytensor").isEnabledFor(logging.WARNING)
        warnings.warn("ArviZ is changing", FutureWarning, stacklevel=1)
        assert logging.getLogger("crm").isEnabledFor(logging.ERROR)
    assert not seen
    assert logging.getLogger("mlflow").isEnabledFor(logging.WARNING)  # restored
    before = logging.root.manager.disable
    setup_output(True)
    try:
        with library_output():
            assert logging.root.manager.disable == before
    finally:
        setup_output(False)


def test_headline_names_champion_baseline_store_and_what_next():
    summary = {
        "champion": "gbm",
        "gbm": {"roc_auc": 0.7155},
        "logreg": {"roc_auc": 0.7154},
        "registered_model_uri": "models:/leads_demo@champion",
    }
    store = "sqlite:////srv/crm/mlflow.db"
    lines = headline(summary, store, report=Path("/srv/crm/report.html"))
    assert lines == [
        "champion: gbm, holdout ROC AUC 0.716 vs 0.715 for the logistic baseline",
        f"registered: models:/leads_demo@champion in {store}",
        "open next: /srv/crm/report.html",
    ]
    after_train = headline(summary, store)
    assert after_train[-1].startswith("next: crm-predict report --model models:/leads_demo")


@pytest.mark.slow
def test_piped_demo_is_quiet_ends_with_the_headline_and_never_wraps(tmp_path):
    """``make demo`` through a pipe, as cron runs it: no line from MLflow, PyTensor or ArviZ,
    the headline last, long lines kept whole."""
    out = tmp_path / "a folder with a rather long name to pass eighty columns"
    proc = subprocess.run(
        [sys.executable, "-m", "crm_predict", "demo", "--output", str(out), "--n-leads", "2000"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert not [line for line in text.splitlines() if LIBRARY_LINE.search(line)]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines[-3].startswith("champion: ")
    assert lines[-2] == f"registered: models:/leads_demo@champion in sqlite:///{out / 'mlflow.db'}"
    assert lines[-1] == f"open next: {out / 'report.html'}"
    for name in ("leads.csv", "activities.csv", "leads_demo.yaml", "metrics.json", "scored.csv"):
        assert (out / name).is_file()
    assert json.loads((out / "metrics.json").read_text())["gbm"]["roc_auc"] > 0.6


@pytest.mark.parametrize("quiet", [True, False])
def test_score_quiet_prints_nothing(quiet, tmp_path, monkeypatch):
    import crm_predict.scoring.batch as batch
    import crm_predict.tracking as tracking
    from crm_predict.config import load_config

    models = SimpleNamespace(
        config=load_config(DEMO_CONFIG),
        sources={"timing": "models:/leads_demo-timing@champion", "bayes": "models:/b@c"},
    )
    monkeypatch.setattr(tracking, "load_task_models", lambda *a, **k: models)
    output = tmp_path / "scored.csv"
    summary = batch.ScoreSummary(3, 3, 0, output, None, 0.5)
    monkeypatch.setattr(batch, "score_leads", lambda *a, **k: summary)
    (tmp_path / "leads.csv").write_text("lead_id\nL1\n")
    argv = ["score", "--model", "m", "--input", str(tmp_path / "leads.csv")]
    argv += ["--output", str(output), "--as-of", "2025-01-01"]
    result = runner.invoke(app, argv + (["--quiet"] if quiet else []))
    assert result.exit_code == 0, result.output
    if quiet:
        assert result.output == ""
    else:
        assert "horizon columns from" in result.output and "scored 3 of 3" in result.output
