"""The time-to-convert hazard model: recovery, censoring, conditioning on age, contract.

``sklearn.utils.estimator_checks.parametrize_with_checks`` is not run: its checks call
``fit(X, y)``, and a time-to-event model needs durations and event codes (``fit(X,
durations, events)``). The contract checks that make sense are written out below.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from crm_predict.data.loading import load_task_data
from crm_predict.data.schema import NEGATIVE, OPEN, POSITIVE
from crm_predict.data.survival import survival_data
from crm_predict.evaluate.metrics import expected_calibration_error
from crm_predict.exceptions import ConfigError, DataValidationError
from crm_predict.models.timing.model import TimeToConvertModel
from tests.helpers import synthetic_task

FIELDS = ["source", "region", "industry", "budget_band", "decision_maker"]
N_LEADS, SEED = 8000, 5


@pytest.fixture(scope="module")
def task():
    config = synthetic_task(n_leads=N_LEADS, seed=SEED)
    data = load_task_data(config)
    return config, data, survival_data(data, config)


def lead_features(frame: pd.DataFrame) -> pd.DataFrame:
    """A few CRM fields as LightGBM reads them (the full pipeline is tested in train)."""
    X = pd.DataFrame({c: frame[c].astype(str).astype("category") for c in FIELDS})
    bands = pd.cut(frame["employees"], [-np.inf, 50, 250, 1000, np.inf], right=False)
    X["size_band"] = bands.cat.rename_categories(["small", "mid", "large", "enterprise"])
    X["pricing_page_visits"] = frame["pricing_page_visits"].astype(float)
    return X


@pytest.fixture(scope="module")
def fitted(task):
    """Trained on the first 80% of leads by creation date, like the time-ordered split."""
    _, data, surv = task
    X = lead_features(data.frame)
    n_train = int(0.8 * len(X))
    model = TimeToConvertModel(random_state=0).fit(
        X.iloc[:n_train], surv.durations[:n_train], surv.events[:n_train]
    )
    return model, X, n_train


def truth_for(data) -> pd.DataFrame:
    from crm_predict.data.synthetic.leads import make_leads

    truth = make_leads(N_LEADS, SEED).truth
    assert (truth["lead_id"].to_numpy() == data.frame["lead_id"].to_numpy()).all()
    return truth


def test_survival_data_codes_open_won_lost(task):
    _, data, surv = task
    assert surv.usable.all()
    outcome = data.outcome.to_numpy()
    assert (surv.events[outcome == POSITIVE] == 1).all()
    assert (surv.events[outcome == NEGATIVE] == 2).all()
    assert (surv.events[outcome == OPEN] == 0).all()
    open_ = outcome == OPEN
    np.testing.assert_allclose(surv.durations[open_], surv.follow_up[open_])
    assert (surv.durations[~open_] <= surv.follow_up[~open_]).all()


def test_calibrated_within_30_60_90_days_against_the_planted_truth(task, fitted):
    _, data, _ = task
    model, X, n_train = fitted
    truth = truth_for(data).iloc[n_train:]
    pred = model.predict_horizons(X.iloc[n_train:])
    for h in (30, 60, 90):
        converted = (truth["converts"] & (truth["days_to_close"] <= h)).to_numpy().astype(int)
        assert expected_calibration_error(converted, pred[f"p_convert_{h}d"].to_numpy()) <= 0.03


def test_enterprise_converts_more_often_and_more_slowly_than_small(task, fitted):
    _, data, _ = task
    model, X, _ = fitted
    pred = model.predict_horizons(X)
    band = X["size_band"].astype(str)
    ent, small = pred[band == "enterprise"], pred[band == "small"]
    assert ent["p_ever"].mean() > small["p_ever"].mean() + 0.05
    assert ent["median_days"].median() > small["median_days"].median() + 15
    assert ent["p_convert_30d"].mean() < small["p_convert_30d"].mean()


def _young_crm(task, days: int = 150):
    """Leads created in the last ``days`` before as_of: many still open (censored)."""
    _, data, surv = task
    young = np.flatnonzero(surv.follow_up <= days)
    return young, lead_features(data.frame.iloc[young]).reset_index(drop=True)


def test_dropping_open_leads_biases_horizon_probabilities_and_censoring_does_not(task):
    """A young CRM (leads of the last 150 days, a third still open), against the truth.

    Dropping open leads, as scores trained on closed leads do, keeps the fast closers: the
    closed-only rate of converting within h days is too high, and even the same hazard
    model fitted without the open leads overstates the 60- and 90-day chances. Censoring them
    does neither."""
    _, data, surv = task
    young, X = _young_crm(task, days=150)
    d, e = surv.durations[young], surv.events[young]
    assert (e == 0).mean() > 0.3, "the scenario needs many open leads"
    truth = truth_for(data).iloc[young]
    censored = TimeToConvertModel(random_state=0).fit(X, d, e).predict_horizons(X)
    closed = e != 0
    dropped = (
        TimeToConvertModel(random_state=0).fit(X[closed], d[closed], e[closed]).predict_horizons(X)
    )
    bias = {}
    for h in (30, 60, 90):
        actual = (truth["converts"] & (truth["days_to_close"] <= h)).mean()
        closed_rate = ((e[closed] == 1) & (d[closed] <= h)).mean()
        bias[h] = (
            censored[f"p_convert_{h}d"].mean() - actual,
            dropped[f"p_convert_{h}d"].mean() - actual,
            closed_rate - actual,
        )
        assert abs(bias[h][0]) < 0.01, bias
        assert bias[h][2] > 0.02, bias
    for h in (60, 90):
        assert bias[h][1] > 0.01 and bias[h][1] > 2 * abs(bias[h][0]), bias


def test_conditional_on_age_equals_the_ratio_formula(fitted):
    model, X, _ = fitted
    rows = X.iloc[:40]
    ages = np.array([0.0, 3.5, 10.0, 21.0, 45.2, 90.0, 400.0, 800.0] * 5)
    pred = model.predict_horizons(rows, age=ages)
    horizons = (30, 60, 90)
    for i, d in enumerate(ages[:8]):
        row = rows.iloc[[i]]
        times = [d, *(d + h for h in horizons)]
        F = model.cumulative_incidence(row, times)[0]
        G = model.cumulative_incidence(row, times, competing=True)[0]
        survived = 1.0 - F[0] - G[0]
        if survived < 1e-6:  # the ratio of two differences of ~1 loses its precision here
            continue
        expected = (F[1:] - F[0]) / survived
        got = pred.iloc[i][[f"p_convert_{h}d" for h in horizons]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-8)
    # A lead's chance of converting within 30 days from now rises and then falls with age
    # only as its hazards do; at age 0 it is the unconditional curve.
    np.testing.assert_allclose(
        model.predict_horizons(rows).to_numpy(),
        model.predict_horizons(rows, age=np.zeros(len(rows))).to_numpy(),
    )


def test_a_lead_open_longer_has_had_its_early_chance(fitted):
    """Past the minimum sales cycle, a lead still open converts later (fewer within 30 days
    at age 0 than at age 14, when the first 14 days held no conversions at all)."""
    model, X, _ = fitted
    rows = X.iloc[:300]
    at_0 = model.predict_horizons(rows, age=np.zeros(len(rows)))
    at_14 = model.predict_horizons(rows, age=np.full(len(rows), 14.0))
    assert (at_14["p_convert_30d"] > at_0["p_convert_30d"]).mean() > 0.9
    old = model.predict_horizons(rows, age=np.full(len(rows), 200.0))
    assert old["p_ever"].mean() < at_0["p_ever"].mean()


def test_an_outcome_dated_after_as_of_changes_nothing(task):
    config, data, surv = task
    open_ = np.flatnonzero(data.outcome.to_numpy() == OPEN)
    frame = data.frame.copy()
    outcome = data.outcome.copy()
    frame.loc[open_, config.time.closed] = data.as_of + pd.Timedelta(days=9)
    outcome.iloc[open_[::2]] = POSITIVE
    outcome.iloc[open_[1::2]] = NEGATIVE
    late = dataclasses.replace(data, frame=frame, outcome=outcome)
    again = survival_data(late, config)
    np.testing.assert_array_equal(again.events, surv.events)
    np.testing.assert_allclose(again.durations, surv.durations)
    X = lead_features(data.frame).iloc[:2000]
    fit = TimeToConvertModel(random_state=0, n_estimators=40, validation_fraction=0)
    a = clone(fit).fit(X, surv.durations[:2000], surv.events[:2000]).predict_horizons(X)
    b = clone(fit).fit(X, again.durations[:2000], again.events[:2000]).predict_horizons(X)
    pd.testing.assert_frame_equal(a, b)


def test_time_columns_are_required_by_config_key(task):
    config, data, _ = task
    no_close = config.model_copy(update={"time": config.time.model_copy(update={"closed": None})})
    with pytest.raises(ConfigError, match=r"time\.closed"):
        survival_data(data, no_close)


def test_bad_dates_are_named_with_column_key_and_ids(task):
    config, data, _ = task
    frame = data.frame.copy()
    won = np.flatnonzero(data.outcome.to_numpy() == POSITIVE)[:3]
    frame.loc[won, "closed_at"] = frame.loc[won, "created_at"] - pd.Timedelta(days=2)
    with pytest.raises(DataValidationError, match=r"closed_at.*time\.closed.*before") as err:
        survival_data(dataclasses.replace(data, frame=frame), config)
    assert frame.loc[won[0], "lead_id"] in str(err.value)
    frame = data.frame.copy()
    frame.loc[won, "closed_at"] = pd.NaT
    with pytest.raises(DataValidationError, match="no close date"):
        survival_data(dataclasses.replace(data, frame=frame), config)


def test_a_few_bad_close_dates_are_set_aside_and_counted_many_are_refused(task):
    config, data, _ = task
    closed = np.flatnonzero(np.isin(data.outcome.to_numpy(), (POSITIVE, NEGATIVE)))
    frame = data.frame.copy()
    frame.loc[closed[:2], "closed_at"] = frame.loc[closed[:2], "created_at"] - pd.Timedelta(days=1)
    surv = survival_data(dataclasses.replace(data, frame=frame), config, set_aside=True)
    assert not surv.usable[closed[:2]].any() and surv.usable[closed[2:]].all()
    assert any(n.startswith("2 closed records are set aside") for n in surv.notes)
    frame.loc[closed[: len(closed) // 4], "closed_at"] = pd.NaT
    with pytest.raises(DataValidationError, match="no close date"):
        survival_data(dataclasses.replace(data, frame=frame), config, set_aside=True)


@pytest.mark.parametrize(
    ("durations", "events", "entry", "message"),
    [
        ([5.0, 6.0, 7.0], [0, 1, 3], None, "events must be"),
        ([5.0, -1.0, 7.0], [0, 1, 2], None, "zero or more"),
        ([5.0, np.nan, 7.0], [0, 1, 2], None, "missing"),
        ([5.0, 6.0, 7.0], [0, 1, 2], [0.0, 9.0, 0.0], "after its event"),
        ([5.0, 6.0], [0, 1], None, "2 values for 3"),
        ([5.0, 6.0, 7.0], [0, 2, 2], None, "no record reached the event"),
    ],
)
def test_bad_fit_input_is_refused(durations, events, entry, message):
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=message):
        TimeToConvertModel(validation_fraction=0).fit(X, durations, events, entry)


def test_bad_settings_and_ages_are_refused(fitted):
    model, X, _ = fitted
    X1 = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="max_days"):
        TimeToConvertModel(period_days=7, max_days=3).fit(X1, [1, 2], [1, 0])
    with pytest.raises(ValueError, match="age"):
        model.predict_horizons(X.iloc[:2], age=[-1.0, 0.0])
    with pytest.raises(ValueError, match="lacks the fitted columns"):
        model.predict_horizons(X.iloc[:2].drop(columns="source"))


def test_contract_row_order_unseen_levels_and_probability_bounds(fitted):
    model, X, _ = fitted
    rows = X.iloc[:200]
    pred = model.predict_horizons(rows)
    assert pred.index.equals(rows.index)
    shuffled = rows.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(model.predict_horizons(shuffled), pred.loc[shuffled.index])
    cols = ["p_convert_30d", "p_convert_60d", "p_convert_90d", "p_ever"]
    values = pred[cols].to_numpy()
    assert ((values >= 0) & (values <= 1)).all()
    assert (np.diff(values, axis=1) >= -1e-12).all()
    assert (pred["median_days"] > 0).all() and (pred["expected_days"] > 0).all()
    unseen = rows.head(3).copy()
    unseen["source"] = pd.Categorical(["carrier pigeon"] * 3)
    scored = model.predict_horizons(unseen)
    assert np.isfinite(scored[cols].to_numpy()).all()


def test_fit_returns_self_and_clones_with_its_params():
    X = pd.DataFrame({"x": np.arange(60.0)})
    d = np.arange(60.0) % 40 + 1
    e = np.arange(60) % 3
    model = TimeToConvertModel(n_estimators=5, validation_fraction=0, horizons=(14,))
    assert model.fit(X, d, e) is model
    assert clone(model).get_params() == model.get_params()
    assert list(model.predict_horizons(X.head(1)).columns)[0] == "p_convert_14d"
    churn = TimeToConvertModel(n_estimators=5, validation_fraction=0, event_name="churn")
    assert "p_churn_30d" in churn.fit(X, d, e).predict_horizons(X.head(1)).columns
