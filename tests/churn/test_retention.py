"""The retention list: churn scoring with lifetime, CLV, revenue at risk and CX reasons."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from crm_predict.churn.retention import (
    DAYS_PER_MONTH,
    NO_SIGNAL,
    churn_reasons,
    lifetime_from_horizon,
)
from crm_predict.data.synthetic.customers import make_customers
from crm_predict.models.timing.lifetime import expected_remaining_days
from crm_predict.scoring.batch import score_leads
from crm_predict.scoring.task_models import TaskModels
from crm_predict.training.churn_timing import churn_survival
from crm_predict.training.train import default_models, train_task
from tests.helpers import churn_task

AS_OF = "2025-01-01"
N, SEED = 1500, 5


@pytest.fixture(scope="module")
def trained():
    cfg = churn_task(N, SEED)
    return train_task(cfg, models=default_models(cfg), quiet=True)


@pytest.fixture(scope="module")
def customers_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("churn") / "customers.csv"
    make_customers(N, SEED).customers.to_csv(path, index=False)
    return path


def _score(bundle, source, tmp_path, timing=None, name="scored.parquet") -> pd.DataFrame:
    """The score file at full precision (Parquet; CSV is rounded for people), blanks as NaN."""
    out = tmp_path / name
    models = TaskModels(bundle, timing=timing, label="t")
    score_leads(models, out, as_of=AS_OF, source=source)
    return pd.read_parquet(out).replace("", np.nan)


@pytest.fixture(scope="module")
def scored(trained, customers_csv, tmp_path_factory) -> pd.DataFrame:
    tmp = tmp_path_factory.mktemp("scored")
    return _score(trained.models["gbm"].bundle, customers_csv, tmp, trained.timing.bundle)


def test_churn_configs_train_the_timing_model_on_tenure(trained):
    assert default_models(trained.config) == ("gbm", "bayes", "timing")
    card = trained.timing.bundle.card
    assert card["clock"] == "tenure" and card["event"] == "churn"
    surv = churn_survival(trained.data, trained.config)
    assert (surv.entry >= 0).all() and (surv.entry <= surv.durations).all()
    # Left truncation: everyone entered at the snapshot, 90 days before as_of.
    assert np.allclose(surv.follow_up, 90.0)
    ours = trained.timing.comparison.set_index("model")
    assert ours.loc["crm_predict", "c_index"] > ours.loc["Kaplan–Meier", "c_index"]


def test_score_file_is_a_ranked_retention_list(scored):
    cols = list(scored.columns)
    for col in ("p_churn", "expected_lifetime_months", "clv", "revenue_at_risk", "churn_reasons"):
        assert col in cols
    assert "p_convert" not in cols
    assert {"p_churn_30d", "p_churn_90d"} <= set(cols)
    assert (scored["lifetime_from"] == "time-to-churn model").all()
    p, clv, rar = scored["p_churn"], scored["clv"], scored["revenue_at_risk"]
    assert p.between(0, 1).all()
    # revenue_at_risk = p_churn × CLV (both written rounded to cents).
    assert np.allclose(rar, p * clv, atol=0.011)
    ranked = scored.sort_values("rank")
    assert ranked["revenue_at_risk"].is_monotonic_decreasing
    # Customers the model pushes toward churn say why; the top of the list always does.
    top = ranked.head(len(ranked) // 10)
    assert top["churn_reasons"].notna().all()
    has_push = scored["reason_for_1_field"].notna()
    assert (scored.loc[has_push, "churn_reasons"] != NO_SIGNAL).all()
    assert (scored.loc[~has_push, "churn_reasons"] == NO_SIGNAL).all()


def test_clv_is_contribution_times_expected_months(scored, customers_csv):
    raw = pd.read_csv(customers_csv).set_index("customer_id")
    got = scored.set_index("customer_id")
    margin = raw.loc[got.index, "monthly_revenue"] - raw.loc[got.index, "cost_to_serve"]
    months = got["expected_lifetime_months"].clip(lower=1.0)
    assert np.allclose(got["clv"], margin * months, rtol=1e-3, atol=0.05)


def test_lifetime_follows_the_planted_contract_effect(scored, customers_csv):
    raw = pd.read_csv(customers_csv).set_index("customer_id")
    life = scored.set_index("customer_id")["expected_lifetime_months"]
    by_contract = life.groupby(raw.loc[life.index, "contract"]).mean()
    assert by_contract["two_year"] > by_contract["monthly"]


def test_customers_already_gone_are_not_listed(customers_csv, scored):
    raw = pd.read_csv(customers_csv)
    gone = pd.to_datetime(raw["churn_date"]) <= pd.Timestamp(AS_OF)
    assert len(scored) == int((~gone).sum())
    assert set(scored["customer_id"]).isdisjoint(set(raw.loc[gone, "customer_id"]))


def test_unseen_categories_are_scored(trained, customers_csv, tmp_path):
    raw = pd.read_csv(customers_csv)
    active = raw.index[raw["status"] == "active"][:10]
    raw.loc[active, "plan"] = "platinum"
    raw.loc[active, "contract"] = "weekly"
    raw.loc[active, "region"] = "Mars"
    src = tmp_path / "odd.csv"
    raw.to_csv(src, index=False)
    out = _score(trained.models["gbm"].bundle, src, tmp_path, trained.timing.bundle)
    odd = out.set_index("customer_id").loc[raw.loc[active, "customer_id"]]
    assert len(odd) == 10
    assert odd["p_churn"].between(0, 1).all()
    assert np.isfinite(odd[["clv", "revenue_at_risk", "expected_lifetime_months"]]).all().all()
    rejected = pd.read_csv(tmp_path / "scored.rejected.csv")
    assert set(rejected["reason"]) == {"already churned (churn_date on or before as_of)"}


def test_without_timing_lifetime_comes_from_the_horizon(trained, customers_csv, tmp_path):
    bundle = trained.models["gbm"].bundle
    spec = bundle.config.churn.model_copy(update={"rank_by": "p_churn"})
    bundle = replace(bundle, config=bundle.config.model_copy(update={"churn": spec}))
    out = _score(bundle, customers_csv, tmp_path)
    assert (out["lifetime_from"] == "churn horizon").all()
    expected = lifetime_from_horizon(out["p_churn"], 90)
    assert np.allclose(out["expected_lifetime_months"], expected, atol=1e-3)
    assert out.sort_values("rank")["p_churn"].is_monotonic_decreasing
    assert np.allclose(out["revenue_at_risk"], out["p_churn"] * out["clv"], atol=0.011)


def test_horizon_lifetime_hand_computed():
    # p = 0.25 over 3 months: monthly hazard 1 − 0.75^(1/3) = 0.0914, lifetime 10.94.
    assert lifetime_from_horizon([0.25], 3 * DAYS_PER_MONTH)[0] == pytest.approx(10.94, abs=0.01)
    assert lifetime_from_horizon([0.0], 90)[0] == 120.0  # capped
    assert lifetime_from_horizon([1.0], 90)[0] == 1.0  # at least this month


class _ConstantHazard:
    """A stand-in hazard model: the same churn hazard ``h`` in every period."""

    def __init__(self, h: float, period_days: int = 30, max_days: int = 300) -> None:
        self.h, self.period_days, self.max_days = h, period_days, max_days

    def hazards(self, X):
        n = len(X)
        periods = int(np.ceil(self.max_days / self.period_days))
        return np.full((n, periods), self.h), np.zeros((n, periods))

    def cumulative_incidence(self, X, times, age=None, competing=False):
        t = np.asarray(times, dtype=float) / self.period_days
        cif = np.zeros(len(t)) if competing else 1.0 - (1.0 - self.h) ** t
        return np.tile(cif, (len(X), 1))


def test_expected_remaining_days_of_a_constant_hazard():
    h, p = 0.05, 30
    model = _ConstantHazard(h, p)
    stub = SimpleNamespace(
        model=model,
        pipeline=[SimpleNamespace(transform=lambda f: f), model],
        ages=lambda frame, as_of: np.zeros(len(frame)),
    )

    class _Pipe(list):
        def __getitem__(self, key):
            got = list.__getitem__(self, key)
            return got[0] if isinstance(key, slice) else got

    stub.pipeline = _Pipe(stub.pipeline)
    days = expected_remaining_days(stub, pd.DataFrame({"x": [1.0, 2.0]}), AS_OF)
    # Geometric lifetime, linear within periods: p (1 − h/2) / h, window plus tail.
    assert days == pytest.approx([p * (1 - h / 2) / h] * 2, rel=0.01)


def test_churn_reasons_speak_customer_experience():
    out = pd.DataFrame(
        {
            "reason_for_1_field": ["tickets_30d", "contract"],
            "reason_for_1": ["x", "Contract = monthly: such customers churn at 9%"],
            "reason_for_2_field": ["csat_latest", "usage_trend"],
            "reason_for_2": ["y", "z"],
            "reason_for_3_field": ["", ""],
            "reason_for_3": ["", ""],
        }
    )
    feats = pd.DataFrame(
        {
            "tickets_30d": [3.0, 0.0],
            "csat_latest": [2.0, np.nan],
            "csat_trend": [-3.0, np.nan],
            "usage_trend": [0.0, np.log(0.6)],
        }
    )
    got = churn_reasons(out, feats)
    assert got[0] == "3 tickets in 30 days; CSAT fell from 5 to 2"
    assert got[1] == (
        "Contract = monthly: such customers churn at 9%; usage down 40% on the 3 months before"
    )


def test_messages_call_the_rows_of_a_churn_task_customers():
    from tests.helpers import synthetic_task

    assert churn_task(200, 1).records == "customers"
    assert synthetic_task(n_leads=200).records == "leads"


def _flat_churn_task(**churn):
    """A flat customer export (telco-like): a churn flag, no signup or churn dates."""
    return churn_task(N, SEED, churn={"horizon_days": 30, "revenue": "monthly_revenue", **churn})


def test_a_flat_export_needs_no_dates_and_gets_a_retention_list(customers_csv, tmp_path):
    cfg = _flat_churn_task()
    assert cfg.churn_history is None
    assert default_models(cfg) == ("gbm", "bayes")
    result = train_task(cfg, quiet=True)
    labels = result.labels.dropna()
    assert len(labels) == N  # every customer is labelled by the flag, none set aside
    scored = _score(result.models["gbm"].bundle, customers_csv, tmp_path)
    assert len(scored) == N
    assert (scored["lifetime_from"] == "churn horizon").all()
    life = lifetime_from_horizon(scored["p_churn"], 30)
    np.testing.assert_allclose(scored["expected_lifetime_months"], life, atol=1e-3)
    revenue = make_customers(N, SEED).customers.set_index("customer_id")["monthly_revenue"]
    expected = revenue.loc[scored["customer_id"]].to_numpy() * np.maximum(life, 1.0)
    np.testing.assert_allclose(scored["clv"], expected, atol=0.01)
    np.testing.assert_allclose(
        scored["revenue_at_risk"], scored["p_churn"] * scored["clv"], atol=0.02
    )


@pytest.mark.parametrize(
    ("churn", "message"),
    [
        ({"signup": "signup_date"}, "both 'signup' and 'churn_date'"),
        ({"tickets": {"path": "t.csv"}}, "tickets need the customers' history"),
        ({"acquisition_cost": "acquisition_cost"}, "acquisition_cost need the customers'"),
    ],
)
def test_a_flat_export_rejects_what_needs_the_history(churn, message):
    from crm_predict.exceptions import ConfigError

    with pytest.raises(ConfigError, match=message):
        _flat_churn_task(**churn)
