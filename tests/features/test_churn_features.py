"""Churn features as of a date, churn labels within a horizon, and the synthetic customers."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from crm_predict.config import parse_config
from crm_predict.data.churn import churn_outcome
from crm_predict.data.loading import load_task_data
from crm_predict.data.synthetic.customers import make_customers, planted_churn_effects
from crm_predict.features.churn import ChurnFeatures

AS_OF = pd.Timestamp("2024-04-01")

# The generic checks feed anonymous numeric matrices; ChurnFeatures reads a customer table
# by column name (id and signup date), so every check that expects a fit on such a matrix
# fails with "the customer table lacks column(s) ['customer_id', 'signup_date']". Input
# validation checks (sparse, complex, empty, 1-d, NaN allowed) pass.
_NAMED_COLUMNS = "reads the customer table by column name (customer_id, signup_date)"
_NEEDS_NAMED = [
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_estimators_pickle(readonly_memmap=True)",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_general(readonly_memmap=True)",
    "check_transformer_preserve_dtypes",
]


@parametrize_with_checks(
    [ChurnFeatures(as_of="2024-01-01")],
    expected_failed_checks=lambda est: dict.fromkeys(_NEEDS_NAMED, _NAMED_COLUMNS),
    xfail_strict=True,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "signup_date": pd.to_datetime(["2023-01-01", "2024-03-01"]),
        }
    )


def _tables() -> dict[str, pd.DataFrame]:
    tickets = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "opened_at": pd.to_datetime(["2023-06-01", "2024-01-15", "2024-03-20", "2024-03-10"]),
            "closed_at": pd.to_datetime(["2023-06-02", "2024-01-16", None, "2024-04-05"]),
            "escalated": [False, True, False, False],
        }
    )
    surveys = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "survey": ["csat", "csat", "nps", "ces"],
            "score": [5, 2, 9, 4],
            "answered_at": pd.to_datetime(["2023-06-03", "2024-03-01", "2024-02-01", "2024-03-11"]),
        }
    )
    usage = pd.DataFrame(
        {
            "customer_id": ["a"] * 6,
            "recorded_at": pd.date_range("2023-10-01", periods=6, freq="MS"),
            "usage": [40, 40, 40, 10, 10, 10],
        }
    )
    changes = pd.DataFrame(
        {
            "customer_id": ["a"],
            "changed_at": pd.to_datetime(["2024-02-15"]),
            "old_revenue": [149.0],
            "new_revenue": [49.0],
        }
    )
    return {"tickets": tickets, "surveys": surveys, "usage": usage, "changes": changes}


def _features(tables, as_of=AS_OF) -> pd.DataFrame:
    X = _customers()
    return ChurnFeatures(**tables, as_of=as_of).fit(X).transform(X).set_index(X["customer_id"])


def test_hand_computed_features():
    out = _features(_tables())
    a, b = out.loc["a"], out.loc["b"]
    assert a["tenure_days"] == (AS_OF - pd.Timestamp("2023-01-01")).days
    # a: tickets on 01-15 (77 days before), 03-20 (12 days) and one in 2023.
    assert (a["tickets_30d"], a["tickets_90d"], a["tickets_total"]) == (1, 2, 3)
    assert a["days_since_last_ticket"] == pytest.approx(12.0)
    assert a["tickets_unresolved"] == 1 and a["tickets_escalated_90d"] == 1
    # b's ticket closes after as_of: still unresolved at as_of.
    assert b["tickets_unresolved"] == 1
    # CSAT fell from 5 to 2.
    assert (a["csat_latest"], a["csat_trend"], a["csat_answers"]) == (2, -3, 2)
    assert a["nps_latest"] == 9 and np.isnan(a["nps_trend"])
    assert np.isnan(a["ces_latest"]) and a["ces_answers"] == 0
    # Usage: last three 10, the three before 40.
    assert a["usage_last_3"] == 10
    assert a["usage_trend"] == pytest.approx(np.log1p(10) - np.log1p(40))
    assert a["revenue_change_90d"] == -100 and a["downgrades_90d"] == 1
    assert np.isnan(b["usage_last_3"]) and b["plan_changes_total"] == 0


def test_events_after_as_of_change_nothing():
    before = _features(_tables())
    later = _tables()
    after = AS_OF + pd.Timedelta(days=1)
    later["tickets"] = pd.concat(
        [
            later["tickets"],
            pd.DataFrame(
                {
                    "customer_id": ["a", "b"],
                    "opened_at": [after, AS_OF],
                    "closed_at": pd.NaT,
                    "escalated": True,
                }
            ),
        ],
        ignore_index=True,
    )
    later["surveys"] = pd.concat(
        [
            later["surveys"],
            pd.DataFrame(
                {"customer_id": ["a"], "survey": ["csat"], "score": [1], "answered_at": [after]}
            ),
        ],
        ignore_index=True,
    )
    later["usage"] = pd.concat(
        [
            later["usage"],
            pd.DataFrame({"customer_id": ["a"], "recorded_at": [after], "usage": [0]}),
        ],
        ignore_index=True,
    )
    later["changes"] = pd.concat(
        [
            later["changes"],
            pd.DataFrame(
                {
                    "customer_id": ["b"],
                    "changed_at": [after],
                    "old_revenue": [49.0],
                    "new_revenue": [9.0],
                }
            ),
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(_features(later), before)
    # ... while the same events dated before as_of do change the features.
    assert not _features(later, as_of=AS_OF + pd.Timedelta(days=2)).equals(before)


def test_per_customer_as_of_column_and_contract():
    X = _customers().assign(as_of=[AS_OF, pd.Timestamp("2024-01-01")])
    f = ChurnFeatures(**_tables())
    out = f.fit(X).transform(X)
    assert list(out.columns) == list(f.get_feature_names_out())
    assert out.loc[0, "tickets_total"] == 3 and out.loc[1, "tickets_total"] == 0
    assert not hasattr(clone(f), "feature_names_out_")
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(f)).transform(X), out)
    with pytest.raises(ValueError, match="as_of"):
        ChurnFeatures().fit(_customers())


def test_missing_event_column_is_named():
    bad = _tables()["tickets"].drop(columns="escalated")
    with pytest.raises(ValueError, match="escalated"):
        ChurnFeatures(tickets=bad, as_of=AS_OF).fit(_customers())


def test_churn_outcome_horizon_and_censoring():
    frame = pd.DataFrame(
        {
            "signup": pd.to_datetime(["2024-01-01"] * 4 + ["2024-12-01"]),
            "gone": pd.to_datetime([None, "2024-10-20", "2024-12-31", "2024-09-01", None]),
        }
    )

    def cfg(snapshot):
        return parse_config(
            {
                "name": "t",
                "source": {"path": "x.csv"},
                "id_column": "id",
                "target": {"column": "s", "positive": ["c"], "negative": ["a"]},
                "features": {},
                "churn": {"signup": "signup", "churn_date": "gone", "snapshot": snapshot},
            }
        )

    as_of = pd.Timestamp("2025-01-01")
    at_risk, outcome = churn_outcome(frame, cfg("2024-10-01"), as_of)
    # Row 3 left before the snapshot, row 4 signed up after it: not at risk. Row 2 churns
    # on 12-31, one day after the 90-day horizon (12-30): a negative.
    assert at_risk.tolist() == [True, True, True, False, False]
    assert outcome[at_risk].tolist() == ["negative", "positive", "negative"]
    # With the horizon past as_of, active customers are censored (row 4 signed up on the
    # snapshot day), a churner is still positive; row 1 left before this snapshot.
    at_risk, outcome = churn_outcome(frame, cfg("2024-12-01"), as_of)
    assert at_risk.tolist() == [True, False, True, False, True]
    assert outcome[at_risk].tolist() == ["open", "positive", "open"]


def test_synthetic_customers_are_deterministic_and_plausible():
    a, b = make_customers(800, seed=5), make_customers(800, seed=5)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    c = a.customers
    assert c["customer_id"].is_unique
    assert (c["churn_date"].dropna() < a.as_of).all()
    assert (c["status"] == "churned").eq(c["churn_date"].notna()).all()
    assert c.loc[c["status"] == "churned", "churn_reason"].notna().all()
    s = a.surveys
    assert s.loc[s["survey"] == "nps", "score"].between(0, 10).all()
    assert s.loc[s["survey"] != "nps", "score"].between(1, 5).all()
    # No event after a customer's churn date or the export date.
    gone = a.tickets["customer_id"].map(c.set_index("customer_id")["churn_date"])
    assert not (a.tickets["opened_at"] >= gone).any()
    assert (a.usage["recorded_at"] < a.as_of).all()
    assert planted_churn_effects()["contract"]["monthly"] == 0.0


def test_contract_changes_churn_in_the_synthetic_data():
    c = make_customers(3000, seed=2).customers
    rate = c.groupby("contract")["status"].apply(lambda s: (s == "churned").mean())
    assert rate["monthly"] > rate["annual"] > rate["two_year"]


def test_synthetic_source_feeds_churn_config():
    cfg = parse_config(
        {
            "name": "churn_t",
            "kind": "churn",
            "source": {"synthetic": {"table": "customers", "n_customers": 600, "seed": 3}},
            "id_column": "customer_id",
            "target": {"column": "status", "positive": ["churned"], "negative": ["active"]},
            "time": {"as_of": "2025-01-01"},
            "churn": {
                "signup": "signup_date",
                "churn_date": "churn_date",
                "tickets": {"synthetic": {"table": "tickets", "n_customers": 600, "seed": 3}},
                "usage": {
                    "synthetic": {"table": "usage", "n_customers": 600, "seed": 3},
                    "columns": {"usage": "logins"},
                },
            },
            "features": {"categorical": ["contract"]},
        }
    )
    assert cfg.churn.tickets.synthetic.dataset == "customers"
    data = load_task_data(cfg)
    assert set(data.tables) == {"tickets", "usage"}
    assert "usage" in data.tables["usage"].columns
    snap = pd.Timestamp("2025-01-01") - pd.Timedelta(days=90)
    assert (data.frame["signup_date"] <= snap).all()
    assert set(data.outcome.unique()) == {"positive", "negative"}


def test_synthetic_table_must_belong_to_its_dataset():
    with pytest.raises(Exception, match="no table 'tickets'"):
        parse_config(
            {
                "name": "x",
                "source": {"synthetic": {"dataset": "leads", "table": "tickets"}},
                "id_column": "id",
                "target": {"column": "s", "positive": ["a"], "negative": ["b"]},
                "features": {},
            }
        )
