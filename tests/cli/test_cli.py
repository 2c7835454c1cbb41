"""The command line: help for every command, validate on real exports, errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crm_predict.cli.app import app
from tests.helpers import small_demo_config

runner = CliRunner()
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")


def _commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_top_level_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "validate", "train"):
        assert command in result.output


@needs_shared
def test_validate_maven_reports_the_real_mess():
    result = runner.invoke(app, ["validate", "configs/maven_opportunities.yaml"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "8,800 records" in out
    assert "'GTXPro' → 'GTX Pro' (1,480 rows)" in out
    assert "2,089 open (censored, not negatives)" in out
    assert "joins[accounts]: 1,425 rows have no account" in out
    assert "close_date" in out and "leakage suspects" in out


@needs_shared
def test_validate_xeducation_reports_placeholders_and_leaky_fields():
    result = runner.invoke(app, ["validate", "configs/xeducation_leads.yaml"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "placeholder 'Select' read as missing" in out
    assert "Tags: alone separates the outcomes" in out
    assert "not used by the model" in out


def test_a_bad_config_is_a_message_and_exit_code_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsource: {path: leads.csv}\nid_colum: lead_id\n")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "unknown key 'id_colum'" in result.output
    assert "did you mean 'id_column'" in result.output
    assert "Traceback" not in result.output


def test_missing_column_names_the_config_key(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,status,source\nL1,won,web\nL2,lost,ad\n")
    cfg = tmp_path / "task.yaml"
    cfg.write_text(
        "name: t\nsource: {path: leads.csv}\nid_column: lead_id\n"
        "target: {column: status, positive: [won], negative: [lost]}\n"
        "features: {categorical: [source, region]}\n"
    )
    result = runner.invoke(app, ["validate", str(cfg)])
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "column 'region' is missing" in out
    assert "features.categorical" in out


@pytest.mark.slow
def test_train_writes_metrics_json_and_registers(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = runner.invoke(
        app, ["train", str(small_demo_config(tmp_path, 4000)), "--output", str(tmp_path), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("gbm", "logreg", "segments", "split", "model_uri", "registered_model_uri"):
        assert key in metrics
    assert metrics["registered_model_uri"] == "models:/leads_demo@champion"
    assert (tmp_path / "mlflow.db").is_file()
    assert "Holdout metrics" in result.output
    tail = [line for line in result.output.splitlines() if line.strip()][-3:]
    assert tail[0].startswith("champion: ")
    assert tail[1].startswith("registered: models:/leads_demo@champion in sqlite:///")
    assert tail[2].startswith("next: crm-predict report --model models:/leads_demo@champion")
