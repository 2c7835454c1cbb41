"""Contract tests (house rule 6), looped over every conversion model a task trains.

Every model — calibrated LightGBM, the Bayesian model (sampler mocked, house rule 5) and the
logistic baseline — gives probabilities in [0, 1] in the input's row order, scores unseen
and missing categories, and scores identically after a pickle round trip and after an MLflow
pyfunc round trip through the registry.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from crm_predict.data.synthetic.leads import make_leads
from crm_predict.explain.contributions import contributions
from crm_predict.scoring.batch import score_leads
from crm_predict.scoring.scorer import Scorer
from crm_predict.scoring.task_models import TaskModels
from crm_predict.tracking import (
    companion_uri,
    export_model,
    load_bundle,
    load_model,
    load_task_models,
    log_training,
)

MODELS = ["gbm", "bayes", "logreg"]
REGISTERED = ["bayes", "gbm"]
"""Models registered whatever the champion (the baseline is registered only as champion)."""


def registered(result, name: str) -> str:
    """The registered model name: the task's for the champion, ``<task>-<model>`` otherwise."""
    task = result.config.name
    return task if name == result.champion else f"{task}-{name}"


@pytest.fixture(scope="module")
def result(leads_with_bayes):
    return leads_with_bayes


@pytest.fixture(scope="module")
def rows(result):
    return result.test_frame().head(60).reset_index(drop=True)


@pytest.fixture(scope="module")
def registry(result, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        return log_training(result, workdir=tmp_path_factory.mktemp("mlflow"))


def scores(result, name: str, frame: pd.DataFrame) -> pd.DataFrame:
    return result.models[name].bundle.score_rows(frame)


@pytest.mark.parametrize("name", MODELS)
def test_probabilities_are_in_the_unit_interval_in_row_order(result, rows, name):
    out = scores(result, name, rows)
    p = out["p_convert"].to_numpy()
    assert out["lead_id"].tolist() == rows["lead_id"].astype(str).tolist()
    assert ((p > 0) & (p < 1)).all()
    assert result.models[name].bundle.grade_cutoffs == dict(result.config.grades)
    reversed_out = scores(result, name, rows.iloc[::-1])
    np.testing.assert_allclose(reversed_out["p_convert"].to_numpy()[::-1], p, rtol=1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_unseen_and_missing_categories_are_scored(result, rows, name):
    odd = rows.head(4).copy()
    odd["source"] = ["carrier pigeon", None, "carrier pigeon", "referral"]
    odd["region"] = ["Antarctica", "Antarctica", None, None]
    out = scores(result, name, odd)
    p = out["p_convert"].to_numpy()
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    if name == "bayes":
        width = (out["p_high"] - out["p_low"]).to_numpy()
        known = scores(result, name, rows.head(4))
        # an unseen source falls back to the population level, with a wider interval
        assert width[0] > (known["p_high"] - known["p_low"]).iloc[0]
        assert ((out["p_low"] <= out["p_convert"]) & (out["p_convert"] <= out["p_high"])).all()


@pytest.mark.parametrize("name", MODELS)
def test_pickle_round_trip_scores_identically(result, rows, name):
    bundle = pickle.loads(pickle.dumps(result.models[name].bundle))
    pd.testing.assert_frame_equal(bundle.score_rows(rows), scores(result, name, rows))


@pytest.mark.parametrize("name", REGISTERED)
def test_registered_pyfunc_scores_like_the_trained_bundle(result, rows, registry, name):
    uri = f"models:/{registered(result, name)}@champion"
    served = load_model(uri, tracking_uri=registry["tracking_uri"]).predict(rows)
    pd.testing.assert_frame_equal(served.reset_index(drop=True), scores(result, name, rows))


@pytest.mark.parametrize("name", REGISTERED)
def test_exported_model_folder_scores_like_the_trained_bundle(
    result, rows, registry, name, tmp_path
):
    uri = f"models:/{registered(result, name)}@champion"
    folder = export_model(uri, tmp_path / name, tracking_uri=registry["tracking_uri"])
    served = load_model(str(folder)).predict(rows)
    pd.testing.assert_frame_equal(served.reset_index(drop=True), scores(result, name, rows))


def test_score_file_carries_the_registered_bayesian_interval(result, registry, tmp_path):
    leads = make_leads(1500, 5).leads
    path = tmp_path / "open.csv"
    leads[leads["status"] == "open"].to_csv(path, index=False)
    uri = registry["tracking_uri"]
    main, _ = load_bundle(f"models:/{registered(result, 'gbm')}@champion", uri)
    companion = companion_uri("models:/leads_test@champion", "bayes", uri)
    assert companion == "models:/leads_test-bayes@champion"
    assert companion_uri("models:/leads_test@champion", "timing-none", uri) is None
    assert companion_uri(registry["model_uri"], "bayes", uri) is None  # not a registry alias
    interval, _ = load_bundle(companion, uri)
    with_interval, without = tmp_path / "a.csv", tmp_path / "b.csv"
    score_leads(TaskModels(main, bayes=interval), with_interval, as_of="2025-01-01", source=path)
    score_leads(main, without, as_of="2025-01-01", source=path)
    a, b = pd.read_csv(with_interval), pd.read_csv(without)
    assert {"p_low", "p_high"}.isdisjoint(b.columns)
    assert list(a.columns[a.columns.get_loc("p_convert") :][:3]) == ["p_convert", "p_low", "p_high"]
    assert (a["p_low"] < a["p_high"]).all()
    # the interval is around the probability written beside it (3 decimals in the CSV)
    assert (a["p_low"] <= a["p_convert"] + 5e-4).all()
    assert (a["p_convert"] <= a["p_high"] + 5e-4).all()
    pd.testing.assert_frame_equal(a.drop(columns=["p_low", "p_high"]), b)
    ids = a["lead_id"].astype(str)
    raw = interval.score_rows(_model_rows(main, path)).set_index("lead_id").loc[ids]
    p = main.score_rows(_model_rows(main, path)).set_index("lead_id").loc[ids, "p_convert"]
    # each bound keeps its log-odds distance from the Bayesian model's own probability
    for bound in ("p_low", "p_high"):
        distance = logit(raw[bound].to_numpy()) - logit(raw["p_convert"].to_numpy())
        expected = expit(logit(p.to_numpy()) + distance)
        np.testing.assert_allclose(a[bound], expected, rtol=0, atol=5e-4)


def test_task_models_load_once_with_their_registered_companions(
    result, registry, tmp_path, monkeypatch
):
    import crm_predict.tracking.pyfunc as pyfunc

    uri, task = registry["tracking_uri"], "models:/leads_test@champion"
    bayes_uri = "models:/leads_test-bayes@champion"
    loads = []
    real = pyfunc.load_model
    monkeypatch.setattr(pyfunc, "load_model", lambda *a: loads.append(a[0]) or real(*a))
    models = load_task_models(task, uri)
    assert loads == [task, bayes_uri]  # each model once
    assert models.sources == {"main": task, "bayes": bayes_uri}
    assert models.label == load_bundle(task, uri)[1]
    assert models.timing is None and models.config.name == "leads_test"
    assert hasattr(models.bayes.model, "predict_interval")
    alone = load_task_models(task, uri, companions=False)
    assert alone.bayes is None and alone.sources == {"main": task}
    gbm = f"models:/{registered(result, 'gbm')}@champion"
    given = load_task_models(gbm, uri, bayes_uri=bayes_uri, companions=False)
    assert given.sources == {"main": gbm, "bayes": bayes_uri}
    leads = make_leads(1500, 5).leads
    path = tmp_path / "open.csv"
    leads[leads["status"] == "open"].head(200).to_csv(path, index=False)
    scored = pd.read_csv(score_leads(given, tmp_path / "a.csv", "2025-01-01", source=path).output)
    assert (scored["model"] == given.label).all()
    assert {"p_low", "p_high"} <= set(scored.columns)


def _model_rows(bundle, path):
    return Scorer(bundle, "2025-01-01").frame(pd.read_csv(path))


@pytest.mark.parametrize("name", MODELS)
def test_contributions_add_up_to_the_score_and_reasons_follow_them(result, rows, name):
    pipeline = result.models[name].pipeline
    c = contributions(pipeline, rows)
    np.testing.assert_allclose(c.p_base + c.points.sum(axis=1), c.p, atol=1e-9)
    np.testing.assert_allclose(c.p, pipeline.predict_proba(rows)[:, 1], rtol=1e-9)
    out = scores(result, name, rows)
    top = c.points.argmax(axis=1)
    pushes_up = c.points.max(axis=1) >= result.config.reason_min_points / 100
    assert (out["reason_for_1_field"][pushes_up] == np.array(c.fields)[top][pushes_up]).all()


@pytest.mark.parametrize("name", REGISTERED)
def test_served_model_takes_dates_as_iso_strings(result, rows, registry, name):
    model = load_model(
        f"models:/{registered(result, name)}@champion", tracking_uri=registry["tracking_uri"]
    )
    dates = rows.select_dtypes("datetime").columns
    assert len(dates) >= 1
    as_text = rows.assign(**{c: rows[c].dt.strftime("%Y-%m-%dT%H:%M:%S") for c in dates})
    served = model.predict(as_text).reset_index(drop=True)
    pd.testing.assert_frame_equal(served, scores(result, name, rows))
