"""CX and customer-value metrics against hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crm_predict.churn import cx as cx


def test_nps_counts_promoters_minus_detractors():
    # 3 promoters (10, 9, 9), 2 passives (8, 7), 3 detractors (6, 2, 0) of 8 answers.
    assert cx.nps([10, 9, 9, 8, 7, 6, 2, 0]) == pytest.approx(100 * (3 - 3) / 8)
    # 2 promoters, 1 passive, 1 detractor: (2 - 1) / 4 = 25 %.
    assert cx.nps([9, 10, 7, 6]) == pytest.approx(25.0)
    assert cx.nps([10] * 5) == 100.0
    assert cx.nps([0, 6]) == -100.0


def test_nps_boundaries_of_the_bands():
    # 6 is a detractor, 7 and 8 passives, 9 a promoter.
    assert cx.nps([6]) == -100.0
    assert cx.nps([7, 8]) == 0.0
    assert cx.nps([9]) == 100.0


def test_unanswered_scores_are_not_respondents():
    assert cx.nps([10, np.nan, 0, None]) == 0.0
    assert cx.csat(pd.Series([5, np.nan])) == 100.0


@pytest.mark.parametrize("metric", [cx.nps, cx.csat, cx.ces])
def test_no_respondents_is_nan(metric):
    assert math.isnan(metric([]))
    assert math.isnan(metric([np.nan, np.nan]))


@pytest.mark.parametrize(
    ("metric", "scores", "fragment"),
    [
        (cx.nps, [10, 11], "from 0 to 10, got 11"),
        (cx.nps, [-1], "got -1"),
        (cx.nps, [7.5], "whole numbers"),
        (cx.csat, [0, 3], "from 1 to 5, got 0"),
        (cx.csat, [6], "got 6"),
        (cx.ces, [5, 9], "from 1 to 5, got 9"),
        (cx.nps, ["ten"], "must be numbers"),
    ],
)
def test_out_of_range_scores_raise(metric, scores, fragment):
    with pytest.raises(ValueError, match=fragment):
        metric(scores)


def test_error_names_the_field():
    with pytest.raises(ValueError, match="survey_csat"):
        cx.csat([9], name="survey_csat")


def test_csat_share_of_four_and_five():
    # 4 and 5 are satisfied: 3 of 5.
    assert cx.csat([5, 4, 4, 3, 1]) == pytest.approx(60.0)
    assert cx.csat([7, 6, 2], satisfied_from=6, scale=(1, 7)) == pytest.approx(200 / 3)


def test_ces_mean():
    assert cx.ces([5, 4, 3, 1, 2]) == pytest.approx(3.0)
    assert cx.ces([7, 1], scale=(1, 7)) == pytest.approx(4.0)


@pytest.fixture
def customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f"],
            "signup_date": pd.to_datetime(
                ["2024-01-01", "2024-01-01", "2024-02-01", "2024-03-10", "2024-01-15", "2024-01-01"]
            ),
            "churn_date": pd.to_datetime(
                [None, "2024-03-15", "2024-03-31", "2024-03-20", "2024-02-20", "2024-03-01"]
            ),
            "segment": ["x", "x", "y", "y", "x", "y"],
        }
    )


def test_churn_rate_counts_only_the_starting_base(customers):
    # Base on 2024-03-01: a, b, c (e left in February; f churned on the start day itself;
    # d signed up later). Of a, b, c: b and c churned by 03-31 -> 2 / 3. d churning in
    # March does not count: it was not there at the start.
    rate = cx.churn_rate(customers, "2024-03-01", "2024-03-31")
    assert rate == pytest.approx(2 / 3)
    assert cx.retention_rate(customers, "2024-03-01", "2024-03-31") == pytest.approx(1 / 3)


def test_churn_on_the_last_day_counts(customers):
    assert cx.churn_rate(customers, "2024-03-01", "2024-03-30") == pytest.approx(1 / 3)


def test_no_customers_at_period_start_is_nan(customers):
    assert math.isnan(cx.churn_rate(customers, "2023-06-01", "2023-12-31"))
    assert math.isnan(cx.retention_rate(customers, "2023-06-01", "2023-12-31"))


def test_period_end_before_start_raises(customers):
    with pytest.raises(ValueError, match="before its start"):
        cx.churn_rate(customers, "2024-03-01", "2024-02-01")


def test_missing_date_column_is_named(customers):
    with pytest.raises(ValueError, match="'cancelled_at'"):
        cx.churn_rate(customers, "2024-03-01", "2024-03-31", churn="cancelled_at")


def test_revenue_churn_counts_downgrades_not_upgrades_or_new_customers():
    start = pd.Series({"a": 100.0, "b": 200.0, "c": 100.0, "d": 100.0})
    # a downgrades by 40, b churns (200 lost), c upgrades (+50, not netted), d unchanged,
    # "n" is new (ignored). Lost = 40 + 200 = 240 of a 500 base.
    end = pd.Series({"a": 60.0, "c": 150.0, "d": 100.0, "n": 1000.0})
    assert cx.revenue_churn_rate(start, end) == pytest.approx(240 / 500)


def test_revenue_churn_without_starting_revenue_is_nan():
    assert math.isnan(cx.revenue_churn_rate(pd.Series(dtype=float), pd.Series({"n": 10.0})))


def test_revenue_churn_rejects_negative_revenue():
    with pytest.raises(ValueError, match="negative"):
        cx.revenue_churn_rate(pd.Series({"a": -5.0}), pd.Series({"a": 0.0}))


def test_clv_undiscounted_is_margin_times_lifetime():
    assert cx.clv(80.0 - 30.0, 24) == pytest.approx(1200.0)
    np.testing.assert_allclose(cx.clv(np.array([10.0, 20.0]), np.array([5, 2])), [50.0, 40.0])


def test_clv_discounted_by_hand():
    # L = 4 -> r = 0.75; d = 0.05: 100 * 1.05 / (1.05 - 0.75) = 350.
    assert cx.clv(100.0, 4, discount_rate=0.05) == pytest.approx(350.0)
    # Discounting lowers the value, and vanishes as d -> 0.
    assert cx.clv(100.0, 4, discount_rate=1e-9) == pytest.approx(400.0)


def test_clv_rejects_lifetimes_below_one_period():
    with pytest.raises(ValueError, match="at least 1"):
        cx.clv(100.0, 0.5)


def test_cac_and_ratio():
    assert cx.cac(9_000.0, 30) == pytest.approx(300.0)
    assert math.isnan(cx.cac(9_000.0, 0))
    assert cx.clv_to_cac(1200.0, 300.0) == pytest.approx(4.0)
    assert math.isnan(cx.clv_to_cac(1200.0, 0.0))
    with pytest.raises(ValueError):
        cx.cac(-1.0, 3)


def test_metric_by_segment_hand_computed():
    surveys = pd.DataFrame(
        {"region": ["EU", "EU", "EU", "US", "US", "APAC"], "nps": [10, 9, 0, 6, 8, np.nan]}
    )
    out = cx.metric_by_segment(surveys, "region", "nps", cx.nps).set_index("region")
    assert out.loc["EU", "value"] == pytest.approx(100 * (2 - 1) / 3)
    assert out.loc["US", "value"] == pytest.approx(-50.0)
    assert out.loc["EU", "n"] == 3
    # A segment with no answers shows up with n = 0 and NaN, not an error.
    assert out.loc["APAC", "n"] == 0 and math.isnan(out.loc["APAC", "value"])


def test_metric_by_month_groups_calendar_months():
    surveys = pd.DataFrame(
        {
            "answered_at": pd.to_datetime(["2024-01-02", "2024-01-31", "2024-02-01"]),
            "ces": [2, 4, 5],
        }
    )
    out = cx.metric_by_month(surveys, "answered_at", "ces", cx.ces)
    assert [str(m) for m in out["month"]] == ["2024-01", "2024-02"]
    assert out["value"].tolist() == pytest.approx([3.0, 5.0])


def test_churn_by_month_and_segment(customers):
    out = cx.churn_by_month(customers, "2024-03", "2024-03", by="segment").set_index("segment")
    # Base on Feb 29: x -> a, b (e left in Feb); y -> c, f. March: b (x), c and f (y).
    assert out.loc["x", "customers_at_start"] == 2 and out.loc["x", "churned"] == 1
    assert out.loc["y", "churn_rate"] == pytest.approx(1.0)
    assert out.loc["x", "retention_rate"] == pytest.approx(0.5)


def test_churn_by_month_empty_month_is_nan(customers):
    out = cx.churn_by_month(customers, "2023-11", "2024-01")
    assert out["customers_at_start"].tolist() == [0, 0, 0]
    assert out["churn_rate"].isna().all()
