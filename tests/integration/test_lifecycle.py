"""Tune, monitor and retrain through the CLI against a real ``mlflow server`` over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from crm_predict.cli.app import app
from crm_predict.data.io import write_table
from crm_predict.data.synthetic.leads import NEW_SOURCE, make_leads
from tests.helpers import synthetic_task

pytestmark = pytest.mark.integration

N_LEADS, SEED = 2000, 21
FAST = {"max_estimators": 100, "early_stopping_rounds": 20, "startup_trials": 2}


def _config(folder: Path, name: str) -> Path:
    raw = synthetic_task(n_leads=N_LEADS, seed=SEED, name=name, tuning=FAST).model_dump(mode="json")
    raw["retrain"] = {"backtest_folds": 1}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _run(args: list[str]) -> object:
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_tune_logs_a_parent_run_and_a_nested_run_per_trial(mlflow_server, tmp_path):
    config = _config(tmp_path, "lifecycle_tune")
    args = ["tune", str(config), "--trials", "2", "--output", str(tmp_path)]
    result = _run([*args, "--tracking-uri", mlflow_server, "--quiet"])
    assert result.exit_code == 0, result.output
    overlay = tmp_path / "lifecycle_tune.tuned.yaml"
    assert overlay.is_file() and "extends: lifecycle_tune.yaml" in overlay.read_text()
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("lifecycle_tune")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("kind") == "tuning"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2
    assert {r.data.tags["optuna_trial"] for r in children} == {"0", "1"}
    assert parent.data.metrics["best_valid_log_loss"] == pytest.approx(
        min(
            r.data.metrics["valid_log_loss"] for r in children if "valid_log_loss" in r.data.metrics
        )
    )
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"best_params.json", overlay.name} <= artifacts


def test_retrain_then_monitor_over_http(mlflow_server, tmp_path):
    config = _config(tmp_path, "lifecycle_retrain")
    base = ["--tracking-uri", mlflow_server, "--output-dir", str(tmp_path)]
    first = _run(["retrain", str(config), *base])
    assert first.exit_code == 0, first.output
    assert "first champion" in first.output
    dry = _run(["retrain", str(config), "--dry-run", *base, "--quiet"])
    assert dry.exit_code == 0 and "dry run" in dry.output
    client = MlflowClient(mlflow_server)
    assert len(client.search_model_versions("name='lifecycle_retrain'")) == 1
    again = _run(["retrain", str(config), *base, "--quiet"])
    assert again.exit_code == 0, again.output
    assert "kept the champion" in again.output
    champion = client.get_model_version_by_alias("lifecycle_retrain", "champion")
    assert champion.version == "1"
    second = client.get_model_version("lifecycle_retrain", "2")
    assert second.tags["retrain_decision"] == "keep"
    run_artifacts = {a.path for a in client.list_artifacts(second.run_id)}
    assert {"model_card.json", "retrain_decision.json"} <= run_artifacts

    drifted = make_leads(N_LEADS, SEED, "2024-01-01").leads
    leads = tmp_path / "recent.csv"
    write_table(drifted[drifted["created_at"] >= pd.Timestamp("2024-09-01")], leads)
    out = tmp_path / "drift.json"
    model = ["--model", "models:/lifecycle_retrain@champion", "--input", str(leads)]
    flagged = _run(
        [
            "monitor",
            *model,
            "--as-of",
            "2025-01-01",
            "--tracking-uri",
            mlflow_server,
            "--fail-above",
            "0.25",
            "--json",
            str(out),
        ]
    )
    assert flagged.exit_code == 1, flagged.output
    data = json.loads(out.read_text())
    source = next(f for f in data["fields"] if f["field"] == "source")
    assert NEW_SOURCE in source["new_levels"] and source["psi"] > 0.25
    calm = _run(
        [
            "monitor",
            *model,
            "--as-of",
            "2025-01-01",
            "--tracking-uri",
            mlflow_server,
            "--fail-above",
            "100",
            "--quiet",
        ]
    )
    assert calm.exit_code == 0, calm.output
    report = tmp_path / "report.html"
    shown = _run(
        [
            "report",
            *model,
            "--as-of",
            "2025-01-01",
            "--tracking-uri",
            mlflow_server,
            "--output",
            str(report),
            "--drift",
            str(out),
        ]
    )
    assert shown.exit_code == 0, shown.output
    html = report.read_text()
    assert 'id="drift"' in html and NEW_SOURCE in html
