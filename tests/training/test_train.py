"""Training: labels, splits, the calibrated LightGBM pipeline and its holdout evaluation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from crm_predict.config import load_config
from crm_predict.data.loading import load_task_data
from crm_predict.data.split import split_task, training_labels
from crm_predict.data.synthetic.leads import make_leads
from crm_predict.evaluate.metrics import expected_calibration_error
from crm_predict.training.selection import model_label
from crm_predict.training.train import METRIC_KEYS, train_task, write_metrics
from tests.helpers import synthetic_task


@pytest.fixture(scope="module")
def small_result(leads_model):
    return leads_model


def test_open_leads_are_never_labelled_negative():
    cfg = synthetic_task()
    data = load_task_data(cfg)
    labels = training_labels(data, cfg)
    is_open = data.outcome == "open"
    assert is_open.sum() > 0
    assert labels[is_open].isna().all()
    split = split_task(data, labels, cfg)
    used = np.r_[split.train, split.test]
    assert not is_open.to_numpy()[used].any()


def test_open_leads_count_as_negative_only_after_the_configured_age():
    cfg = synthetic_task(
        target={
            "column": "status",
            "positive": ["won"],
            "negative": ["lost"],
            "open": ["open"],
            "open_negative_after_days": 60,
        }
    )
    data = load_task_data(cfg)
    labels = training_labels(data, cfg)
    age = (data.as_of - data.frame["created_at"]) / pd.Timedelta(days=1)
    is_open = data.outcome == "open"
    assert (labels[is_open & (age > 60)] == 0).all()
    assert labels[is_open & (age <= 60)].isna().all()


def test_time_split_tests_on_the_most_recent_leads(small_result):
    created = small_result.data.frame["created_at"].to_numpy()
    split = small_result.split
    assert split.method == "time"
    assert created[split.train].max() <= created[split.test].min()
    share = len(split.test) / (len(split.test) + len(split.train))
    assert share == pytest.approx(0.2, abs=0.01)
    assert "time-ordered" in split.description


def test_without_a_creation_date_the_split_is_stratified_and_says_so():
    cfg = synthetic_task(time={})
    result = train_task(cfg, quiet=True)
    assert result.split.method == "stratified"
    assert "stratified" in result.summary()["split"]
    y = result.labels.to_numpy()
    rates = [y[result.split.train].mean(), y[result.split.test].mean()]
    assert rates[0] == pytest.approx(rates[1], abs=0.01)
    # exchangeable rows: LightGBM and the logistic part are cross-fitted over gbm.folds
    assert result.models["gbm"].metrics["fold_models"] == cfg.gbm.folds == 5


def test_a_time_split_chooses_on_rolling_folds_then_refits_on_every_training_row(small_result):
    model = small_result.models["gbm"]
    gbm = model.pipeline[-1]
    n_train = len(small_result.split.train)
    folds = gbm.oof_.folds
    assert len(folds) == 3
    # each fold validates forward in time: fitted only on rows before its block
    for fit_rows, valid_rows in folds:
        assert fit_rows.max() < valid_rows.min()
    assert folds[-1][1].max() == n_train - 1
    # the final model has seen every training row, the most recent included
    assert model.metrics["fold_models"] == 1
    assert model.metrics["trees"] == round(np.mean(gbm.fold_rounds_))
    assert gbm.linear_[0].named_transformers_["numbers"][-1].n_samples_seen_ == n_train
    assert model.metrics["blend_weight"] == gbm.weight_


def test_the_champion_is_the_model_with_the_best_out_of_fold_log_loss(small_result):
    selection = small_result.selection
    assert set(selection.log_loss) == {"gbm", "logreg"}
    best = min(selection.log_loss, key=selection.log_loss.get)
    assert selection.champion == best or "within one standard error" in selection.reason
    assert small_result.champion == selection.champion
    summary = small_result.summary()
    assert summary["champion"] == selection.champion
    assert summary["selection"]["rows"] == len(small_result.models["gbm"].pipeline[-1].oof_.y)
    assert summary["selection"]["reason"].startswith(model_label(selection.champion))
    assert set(selection.holdout) == {"gbm", "logreg"} - {selection.champion}


def test_summary_has_every_metric_for_model_and_baseline(small_result, tmp_path):
    path = write_metrics(small_result, tmp_path)
    summary = json.loads(path.read_text())
    for model in ("gbm", "logreg"):
        assert set(METRIC_KEYS) <= set(summary[model])
        assert 0.5 < summary[model]["roc_auc"] <= 1.0
    assert set(summary["segments"]) == {"source", "region"}
    assert summary["split_method"] == "time"


def test_predictions_keep_row_order_and_stay_in_unit_interval(small_result):
    pipe = small_result.models["gbm"].pipeline
    test = small_result.test_frame()
    p = pipe.predict_proba(test)[:, 1]
    shuffled = test.sample(frac=1.0, random_state=0)
    p_shuffled = pipe.predict_proba(shuffled)[:, 1]
    np.testing.assert_allclose(pd.Series(p, index=test.index)[shuffled.index], p_shuffled)
    assert ((p > 0) & (p < 1)).all()


def test_unseen_and_missing_categories_are_scored(small_result):
    pipe = small_result.models["gbm"].pipeline
    rows = small_result.test_frame().head(3).copy()
    rows["source"] = ["brand new channel", None, "referral"]
    rows["region"] = ["Antarctica", "Antarctica", None]
    p = pipe.predict_proba(rows)[:, 1]
    assert np.isfinite(p).all()


def test_training_is_reproducible():
    cfg = synthetic_task(n_leads=1500, seed=3)
    a = train_task(cfg, quiet=True)
    b = train_task(cfg, quiet=True)
    frame = a.test_frame()
    np.testing.assert_array_equal(
        a.models["gbm"].pipeline.predict_proba(frame),
        b.models["gbm"].pipeline.predict_proba(frame),
    )


@pytest.mark.slow
def test_demo_task_reaches_oracle_auc_and_is_calibrated():
    cfg = load_config("configs/leads_demo.yaml")
    result = train_task(cfg, quiet=True)
    truth = make_leads(20_000, 42).truth.set_index("lead_id")["p_convert"]
    test = result.test_frame()
    y = result.labels.to_numpy()[result.split.test]
    oracle = roc_auc_score(y, truth.loc[test["lead_id"]].to_numpy())
    p = result.models["gbm"].pipeline.predict_proba(test)[:, 1]
    assert roc_auc_score(y, p) == pytest.approx(oracle, abs=0.02)
    assert expected_calibration_error(y, p) <= 0.03
