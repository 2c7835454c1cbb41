"""Train, log and register against a real ``mlflow server`` over HTTP, then load it back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from crm_predict.cli.app import app
from crm_predict.tracking import load_model, log_training
from crm_predict.training.train import train_task
from tests.helpers import small_demo_config, synthetic_task

pytestmark = pytest.mark.integration


def test_train_register_and_load_champion_over_http(mlflow_server):
    result = train_task(synthetic_task(n_leads=2000, seed=5), quiet=True)
    out = log_training(result, tracking_uri=mlflow_server)
    assert out["tracking_uri"] == mlflow_server
    assert out["registered_model_uri"] == "models:/leads_test@champion"

    model = load_model(out["registered_model_uri"], tracking_uri=mlflow_server)
    rows = result.test_frame().head(100)
    served = model.predict(rows)
    expected = result.models["gbm"].pipeline.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(served["p_convert"].to_numpy(), expected, rtol=0, atol=1e-12)
    assert served["lead_id"].tolist() == rows["lead_id"].astype(str).tolist()

    client = MlflowClient(mlflow_server)
    run = client.get_run(out["run_id"])
    assert run.data.metrics["gbm_roc_auc"] == pytest.approx(result.models["gbm"].metrics["roc_auc"])
    # Artifacts went through the server's proxy, not to a path on this machine.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    artifacts = {a.path for a in client.list_artifacts(out["run_id"])}
    assert {"calibration_curve.png", "metrics.json"} <= artifacts
    champion = client.get_model_version_by_alias("leads_test", "champion")
    assert str(champion.version) == out["registered_version"]


def _train(uri: str, config: Path, output_dir: Path) -> dict:
    output_dir.mkdir()
    args = ["train", str(config), "--tracking-uri", uri, "--output-dir", str(output_dir), "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    path = output_dir / "metrics.json"
    assert path.is_file(), result.output
    return json.loads(path.read_text())


def test_cli_train_registers_champion_then_challenger(mlflow_server, tmp_path):
    first = _train(mlflow_server, small_demo_config(tmp_path, 4000), tmp_path / "first")
    keys = {"gbm", "logreg", "segments", "split", "model_uri", "registered_model_uri"}
    assert keys <= first.keys()
    assert first["registered_model_uri"] == "models:/leads_demo@champion"
    assert first["gbm"]["roc_auc"] > 0.6

    # Same task name again: a challenger, and the champion alias still points at the first.
    second = _train(mlflow_server, small_demo_config(tmp_path, 2000), tmp_path / "second")
    assert second["registered_model_uri"] == "models:/leads_demo@challenger"
    assert second["registered_version"] != first["registered_version"]

    client = MlflowClient(mlflow_server)
    champion = client.get_model_version_by_alias("leads_demo", "champion")
    challenger = client.get_model_version_by_alias("leads_demo", "challenger")
    assert str(champion.version) == first["registered_version"]
    assert str(challenger.version) == second["registered_version"]
    assert champion.run_id == first["run_id"] and challenger.run_id == second["run_id"]
