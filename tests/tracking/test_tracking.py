"""MLflow tracking against a local SQLite store: runs, registry aliases, pyfunc round trip."""

from __future__ import annotations

import re

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from crm_predict.tracking import load_model, log_training, record_retrain, resolve_tracking_uri
from crm_predict.training.train import train_task
from tests.helpers import synthetic_task


@pytest.fixture(scope="module")
def result():
    return train_task(synthetic_task(n_leads=2000, seed=11), quiet=True)


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_default_store_is_sqlite_in_the_working_folder(store, monkeypatch):
    monkeypatch.chdir(store)
    assert resolve_tracking_uri() == f"sqlite:///{store.resolve() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert resolve_tracking_uri() == "http://127.0.0.1:9"
    assert resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_run_logs_config_fingerprint_metrics_and_figures(result, store):
    out = log_training(result, workdir=store)
    client = MlflowClient(out["tracking_uri"])
    run = client.get_run(out["run_id"])
    assert run.data.metrics["gbm_roc_auc"] == pytest.approx(result.models["gbm"].metrics["roc_auc"])
    assert "logreg_brier" in run.data.metrics
    assert run.data.params["data_rows"] == str(len(result.data.frame))
    assert len(run.data.params["data_hash"]) == 16
    assert "version_lightgbm" in run.data.params
    artifacts = {a.path for a in client.list_artifacts(out["run_id"])}
    assert {"config.json", "metrics.json", "calibration_curve.png", "lift_chart.png"} <= artifacts


def test_registered_champion_predicts_like_the_in_memory_pipeline(result, store):
    out = log_training(result, workdir=store)
    assert out["registered_model_uri"] == "models:/leads_test@champion"
    model = load_model(out["registered_model_uri"], tracking_uri=out["tracking_uri"])
    rows = result.test_frame().head(50)
    served = model.predict(rows)
    expected = result.models["gbm"].pipeline.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(served["p_convert"].to_numpy(), expected, rtol=1e-12)
    assert served["lead_id"].tolist() == rows["lead_id"].tolist()


def test_second_registration_is_a_challenger_and_keeps_the_champion(result, store):
    first = log_training(result, workdir=store)
    second = log_training(result, workdir=store)
    assert second["registered_model_uri"] == "models:/leads_test@challenger"
    client = MlflowClient(first["tracking_uri"])
    champion = client.get_model_version_by_alias("leads_test", "champion")
    assert str(champion.version) == first["registered_version"]
    assert second["registered_version"] != first["registered_version"]


def test_runs_have_readable_names_and_models_say_what_they_predict(result, store):
    first = log_training(result, workdir=store)
    client = MlflowClient(first["tracking_uri"])
    champion = result.champion
    name = client.get_run(first["run_id"]).info.run_name
    assert re.fullmatch(rf"train leads_test {champion} \d{{4}}-\d\d-\d\d \d\d:\d\d", name)
    model = client.get_registered_model("leads_test")
    assert model.description.startswith("Champion: version 1.")
    auc = result.models[champion].metrics["roc_auc"]
    for text in (model.description, client.get_model_version("leads_test", "1").description):
        assert "Predicts `p_convert`: the probability that a lead converts" in text
        assert "`status` becomes won rather than lost" in text
        assert "Task `leads_test`" in text and f"from run *{name}*" in text
        assert f"ROC AUC {auc:.3f}" in text
        assert f"Trained on {len(result.data.frame):,} leads" in text
    # A challenger leaves the registered model describing its champion; promoted, it is.
    second = record_retrain(result, {"decision": "promote"}, {}, promote=False, workdir=store)
    assert client.get_run(second["run_id"]).info.run_name.startswith("retrain leads_test ")
    assert client.get_registered_model("leads_test").description.startswith("Champion: version 1.")
    assert "retrain leads_test" in client.get_model_version("leads_test", "2").description
    third = record_retrain(result, {"decision": "promote"}, {}, promote=True, workdir=store)
    described = client.get_registered_model("leads_test").description
    assert described.startswith("Champion: version 3.")
    assert client.get_run(third["run_id"]).info.run_name in described


def test_served_model_takes_as_of_as_a_param_and_scores_unseen_levels(result, store):
    out = log_training(result, workdir=store)
    model = load_model(out["model_uri"], tracking_uri=out["tracking_uri"])
    rows = result.test_frame().head(3).drop(columns=["as_of"]).copy()
    rows["source"] = ["never seen before", "referral", "web form"]
    scored = model.predict(rows, params={"as_of": "2025-01-01"})
    assert scored["p_convert"].between(0, 1).all()


def test_a_model_that_is_not_there_is_a_clear_error_naming_what_is(result, store):
    from crm_predict.cli.app import app
    from crm_predict.exceptions import CRMPredictError
    from crm_predict.tracking import load_bundle

    log_training(result, workdir=store)
    uri = resolve_tracking_uri(None, store)
    with pytest.raises(CRMPredictError, match="registered models there: leads_test") as err:
        load_bundle("models:/leads_tset@champion", uri)
    assert "models:/leads_tset@champion" in str(err.value)
    with pytest.raises(CRMPredictError, match="alias nope not found"):
        load_bundle("models:/leads_test@nope", uri)

    from typer.testing import CliRunner

    args = ["monitor", "--model", "models:/leads_tset@champion", "--input", "leads.csv"]
    out = CliRunner().invoke(app, [*args, "--tracking-uri", uri])
    assert out.exit_code == 2
    said = " ".join(out.output.split())  # as read, whatever the console's width
    assert "registered models there" in said and "Traceback" not in said
