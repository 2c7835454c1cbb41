"""The calibrated LightGBM + logistic blend: folds, blend weight, calibration, contract."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_info

from crm_predict.evaluate.calibration import expected_calibration_error
from crm_predict.explain.contributions import field_contributions
from crm_predict.explain.tree_cache import blend_ensemble
from crm_predict.models import gbm
from crm_predict.models.calibration import Calibration
from crm_predict.models.gbm import CalibratedLGBM

FAST = {"n_estimators": 200, "learning_rate": 0.1}


def additive(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Outcome linear on the log-odds scale in two numbers and a category."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "calls": rng.normal(size=n),
            "visits": rng.normal(size=n),
            "source": pd.Categorical(rng.choice(["web", "event", "referral"], n)),
        }
    )
    logit = 1.2 * X["calls"] - 0.8 * X["visits"] + 0.7 * (X["source"] == "referral") - 0.5
    return X, (rng.uniform(size=n) < expit(logit)).astype(int).to_numpy()


def interaction(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Outcome driven only by the product of two numbers: invisible to a linear model."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"calls": rng.normal(size=n), "visits": rng.normal(size=n)})
    logit = 2.5 * np.sign(X["calls"] * X["visits"])
    return X, (rng.uniform(size=n) < expit(logit)).astype(int).to_numpy()


def rows_trained_on(booster) -> int:
    """Rows under the first tree's root (all the booster's rows when bagging is off)."""
    return booster.booster_.dump_model()["tree_info"][0]["tree_structure"]["internal_count"]


def test_cross_fitting_fits_a_booster_per_fold_and_blends_by_validation_log_loss():
    X, y = additive(3000, 0)
    unbagged = {**FAST, "subsample": 1.0}
    model = CalibratedLGBM(params=unbagged, folds=4).fit(X, y)
    assert len(model.boosters_) == 4
    # every row trained three of the four boosters and validated the fourth
    assert [rows_trained_on(b) for b in model.boosters_] == [2250] * 4
    assert len(model.blend_log_loss_) == 21
    assert model.weight_ == min(model.blend_log_loss_, key=model.blend_log_loss_.get)
    # the logistic regression is refitted on every row once the weight is chosen
    assert model.linear_[0].named_transformers_["numbers"][-1].n_samples_seen_ == 3000
    one = CalibratedLGBM(params=unbagged).fit(X, y)
    # one slice: both models train on the first 80% and the last 20% validates them
    assert [rows_trained_on(b) for b in one.boosters_] == [2400]
    assert one.linear_[0].named_transformers_["numbers"][-1].n_samples_seen_ == 2400


def test_the_blend_weight_follows_the_data():
    linear = CalibratedLGBM(params=FAST, folds=3).fit(*additive(4000, 1))
    product = CalibratedLGBM(params=FAST, folds=3).fit(*interaction(4000, 1))
    assert linear.weight_ >= 0.5  # the logistic regression is the right model
    assert product.weight_ <= 0.1  # only the trees can see a product
    alone = CalibratedLGBM(params=FAST, folds=3, linear=False).fit(*additive(4000, 1))
    assert alone.weight_ == 0.0 and alone.linear_ is None


def test_time_ordered_rows_choose_on_rolling_folds_and_refit_on_every_row():
    X, y = additive(3000, 4)
    unbagged = {**FAST, "subsample": 1.0}
    model = CalibratedLGBM(params=unbagged, folds=3, time_ordered=True).fit(X, y)
    starts = [valid.min() for _, valid in model.oof_.folds]
    assert starts == [1200, 1800, 2400]  # three forward blocks of 600, the last one ends at 3000
    assert all(fit.max() < valid.min() for fit, valid in model.oof_.folds)
    assert len(model.oof_.y) == 1800 and len(model.fold_rounds_) == 3
    # one booster on every row, as many rounds as the folds kept on average
    assert [rows_trained_on(b) for b in model.boosters_] == [3000]
    assert model.boosters_[0].booster_.num_trees() == round(np.mean(model.fold_rounds_))
    assert model.linear_[0].named_transformers_["numbers"][-1].n_samples_seen_ == 3000


def test_a_drifted_base_rate_is_anchored_to_recent_rows_without_changing_the_ranking():
    X, y = additive(4000, 5)
    model = CalibratedLGBM(params=FAST, folds=3).fit(X, y)
    before = model.predict_proba(X)[:, 1]
    recent = np.arange(3000, 4000)
    y_recent = (np.random.default_rng(0).uniform(size=1000) < 0.7).astype(int)
    model.anchor(X.iloc[recent], y_recent)
    after = model.predict_proba(X)[:, 1]
    assert after[recent].mean() == pytest.approx(y_recent.mean(), abs=1e-6)
    assert model.offset_ > 0
    np.testing.assert_array_equal(
        np.argsort(before, kind="stable"), np.argsort(after, kind="stable")
    )
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(X)[:, 1], after)


@pytest.mark.parametrize(("folds", "time_ordered"), [(1, False), (5, False), (3, True)])
def test_probabilities_are_calibrated_on_fresh_rows(folds, time_ordered):
    X, y = additive(6000, 2)
    model = CalibratedLGBM(params=FAST, folds=folds, time_ordered=time_ordered).fit(X, y)
    fresh, y_fresh = additive(20000, 3)
    p = model.predict_proba(fresh)[:, 1]
    assert expected_calibration_error(y_fresh, p) <= 0.02
    # close to the planted probabilities, which no model can beat on average
    truth = expit(
        1.2 * fresh["calls"] - 0.8 * fresh["visits"] + 0.7 * (fresh["source"] == "referral") - 0.5
    )
    assert log_loss(y_fresh, p) <= log_loss(y_fresh, truth) + 0.01


def test_the_calibration_map_is_chosen_by_out_of_fold_log_loss_none_included():
    # Planted log-odds: the blend is a probability already, a map can only add noise.
    X, y = additive(4000, 5)
    model = CalibratedLGBM(params=FAST, folds=3, time_ordered=True).fit(X, y)
    assert set(model.calibration_loss_) == {"none", "sigmoid", "isotonic"}
    assert model.calibration_method_ == min(
        model.calibration_loss_, key=model.calibration_loss_.get
    )
    assert model.calibration_loss_["none"] < model.calibration_loss_["isotonic"]
    # A squashed score (log-odds divided by 4) needs the map that stretches it back.
    raw = model.oof_.raw / 4
    y_rows = model.oof_.y
    none = Calibration("none").fit(raw, y_rows).predict(raw)
    platt = Calibration("sigmoid").fit(raw, y_rows).predict(raw)
    np.testing.assert_allclose(none, expit(raw))
    assert log_loss(y_rows, platt) < log_loss(y_rows, none) - 0.01


@pytest.mark.slow
def test_cross_fitting_learns_more_from_a_small_export_than_one_slice():
    # A few hundred rows: one validation slice leaves a fifth of them out of every model.
    losses = {1: [], 5: []}
    for seed in range(4):
        X, y = additive(600, 10 + seed)
        fresh, y_fresh = additive(20000, 100 + seed)
        for folds in losses:
            p = CalibratedLGBM(params=FAST, folds=folds).fit(X, y).predict_proba(fresh)[:, 1]
            losses[folds].append(log_loss(y_fresh, p))
    assert np.mean(losses[5]) < np.mean(losses[1])


def test_same_seed_same_scores_and_pickle_round_trip():
    X, y = additive(1500, 4)
    a = CalibratedLGBM(params=FAST, folds=3, random_state=7).fit(X, y)
    b = CalibratedLGBM(params=FAST, folds=3, random_state=7).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    parsed = blend_ensemble(a.model_)  # parsed trees are a cache, not part of the model
    assert blend_ensemble(a.model_) is parsed
    saved = pickle.dumps(a)
    assert b"TreeEnsemble" not in saved
    restored = pickle.loads(saved)
    assert hasattr(a, "oof_") and not hasattr(restored, "oof_")  # pickling leaves `a` whole
    np.testing.assert_array_equal(restored.predict_proba(X), a.predict_proba(X))


def test_contributions_of_a_cross_fitted_blend_add_up_to_its_score():
    X, y = interaction(3000, 5)
    X["source"] = additive(3000, 5)[0]["source"]
    model = CalibratedLGBM(params=FAST, folds=3).fit(X, y)
    model.weight_ = model.model_.weight = 0.4  # both parts present, whatever the data chose
    pipeline = Pipeline([("features", "passthrough"), ("model", model)])
    c = field_contributions(pipeline, X.head(300))
    raw = model.raw_score(X.head(300))
    np.testing.assert_allclose(c.log_odds.sum(axis=1) + c.base_log_odds, raw, atol=1e-6)
    np.testing.assert_allclose(c.p_base + c.points.sum(axis=1), c.p, atol=1e-9)
    assert c.fields == ["calls", "visits", "source"]


def test_blas_runs_on_one_thread_while_fitting_and_as_before_after(monkeypatch):
    """Idle OpenBLAS threads spin on the cores LightGBM uses: fits keep BLAS to one thread."""

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    seen: list[set[int]] = []
    judge = gbm.recalibrated_log_loss

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return judge(*args, **kwargs)

    monkeypatch.setattr(gbm, "recalibrated_log_loss", spy)
    before = blas_threads()
    CalibratedLGBM(params=FAST, folds=2).fit(*additive(600, 1))
    assert seen and all(threads == {1} for threads in seen)
    assert blas_threads() == before


def test_bad_settings_and_data_are_clear_errors():
    X, y = additive(200, 6)
    with pytest.raises(ValueError, match="folds must be a whole number of at least 1"):
        CalibratedLGBM(folds=0).fit(X, y)
    rare = y.copy()
    rare[:] = 0
    rare[:3] = 1
    with pytest.raises(ValueError, match="5 cross-fitting folds need at least 5 rows of each"):
        CalibratedLGBM(folds=5).fit(X, rare)
    with pytest.raises(ValueError, match="exactly two classes"):
        CalibratedLGBM().fit(X, np.zeros(len(y), dtype=int))
    with pytest.raises(ValueError, match="5 validation rows of each outcome.*validation_fraction"):
        CalibratedLGBM().fit(X.head(40), y[:40])
    with pytest.raises(ValueError, match="calibration must be"):
        CalibratedLGBM(calibration="platt").fit(X, y)


# These checks fit 20 rows with 2 of one outcome: too few for 3 folds, let alone for the
# 5 validation rows of each outcome the blend weight and the calibrator need; fitting stops
# with a ValueError that says so. (One validation slice, folds=1, needs more rows still:
# its path is covered by the tests above.)
_TOO_FEW_ROWS = "2 rows of one outcome: fewer than the folds (clear ValueError)"
_TINY_CHECKS = (
    "check_dont_overwrite_parameters",
    "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_dict_unchanged",
    "check_fit2d_predict1d",
)


@parametrize_with_checks(
    [CalibratedLGBM(params={"n_estimators": 10}, folds=3)],
    expected_failed_checks=lambda _: dict.fromkeys(_TINY_CHECKS, _TOO_FEW_ROWS),
    xfail_strict=True,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
