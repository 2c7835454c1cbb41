"""Holdout evaluation numbers and plots, checked against hand-worked examples and properties."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve

from crm_predict.evaluate.metrics import (
    DEFAULT_GRADE_CUTOFFS,
    assign_grades,
    calibration_table,
    classification_metrics,
    evaluate_predictions,
    expected_calibration_error,
    grade_table,
    lift_table,
    segment_metrics,
)
from crm_predict.evaluate.plots import plot_calibration, plot_lift

METRIC_KEYS = {
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "ece",
    "lift_top_decile",
    "capture_top_decile",
    "n",
    "positive_rate",
}

# Two bins of width 0.5. Low bin: p 0.1, 0.3 (mean 0.2), outcomes 0, 1 (rate 0.5), gap 0.3,
# weight 2/6. High bin: p 0.6..0.9 (mean 0.75), outcomes 1, 1, 1, 0 (rate 0.75), gap 0.
# ECE = 2/6 * 0.3 + 4/6 * 0 = 0.1.
SIX_Y = [0, 1, 1, 1, 1, 0]
SIX_P = [0.1, 0.3, 0.6, 0.7, 0.8, 0.9]


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


# --- calibration ------------------------------------------------------------------------


def test_ece_matches_hand_computation() -> None:
    assert expected_calibration_error(SIX_Y, SIX_P, n_bins=2) == pytest.approx(0.1)


def test_calibration_table_matches_hand_computation() -> None:
    table = calibration_table(SIX_Y, SIX_P, n_bins=2)

    assert list(table.columns) == ["bin_low", "bin_high", "n", "mean_predicted", "observed_rate"]
    assert table["bin_low"].tolist() == pytest.approx([0.0, 0.5])
    assert table["bin_high"].tolist() == pytest.approx([0.5, 1.0])
    assert table["n"].tolist() == [2, 4]
    assert table["mean_predicted"].tolist() == pytest.approx([0.2, 0.75])
    assert table["observed_rate"].tolist() == pytest.approx([0.5, 0.75])


def test_calibration_table_lists_only_non_empty_bins() -> None:
    table = calibration_table([0, 1, 1], [0.05, 0.52, 0.58], n_bins=10)

    assert table["bin_low"].tolist() == pytest.approx([0.0, 0.5])
    assert table["n"].tolist() == [1, 2]


def test_calibration_bins_agree_with_sklearn_calibration_curve(rng) -> None:
    # Rounding to the 0.1 grid puts many predictions exactly on bin edges.
    p = np.round(rng.uniform(size=500), 1)
    y = rng.binomial(1, p)

    table = calibration_table(y, p, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")

    np.testing.assert_allclose(table["observed_rate"], prob_true)
    np.testing.assert_allclose(table["mean_predicted"], prob_pred)
    assert table["n"].sum() == len(y)


def test_ece_of_a_calibrated_sample_is_small(rng) -> None:
    p = rng.uniform(size=200_000)
    y = rng.binomial(1, p)

    assert expected_calibration_error(y, p) < 0.02


def test_ece_of_an_overconfident_sample_is_large(rng) -> None:
    # Scores spread over [0, 1] while only 10% convert whatever the score.
    p = rng.uniform(size=20_000)
    y = rng.binomial(1, 0.1, size=p.size)

    assert expected_calibration_error(y, p) > 0.3


# --- lift -------------------------------------------------------------------------------


def test_lift_table_matches_hand_computation() -> None:
    # Ranked by p: 0.95(1) 0.85(1) | 0.7(0) 0.6(0) | 0.5(0) 0.4(1) | 0.3 0.2 | 0.1 0.05.
    p = [0.05, 0.95, 0.5, 0.85, 0.1, 0.3, 0.6, 0.2, 0.4, 0.7]
    y = [0, 1, 0, 1, 0, 0, 0, 0, 1, 0]

    table = lift_table(y, p, n_groups=5)

    assert list(table.columns) == [
        "group",
        "n",
        "positives",
        "rate",
        "lift",
        "cumulative_capture",
    ]
    assert table["group"].tolist() == [1, 2, 3, 4, 5]
    assert table["n"].tolist() == [2, 2, 2, 2, 2]
    assert table["positives"].tolist() == [2, 0, 1, 0, 0]
    assert table["rate"].tolist() == pytest.approx([1.0, 0.0, 0.5, 0.0, 0.0])
    assert table["lift"].tolist() == pytest.approx([1 / 0.3, 0.0, 0.5 / 0.3, 0.0, 0.0])
    assert table["cumulative_capture"].tolist() == pytest.approx([2 / 3, 2 / 3, 1, 1, 1])


def test_lift_table_breaks_ties_by_input_order() -> None:
    y = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]

    first = lift_table(y, [0.5] * 10, n_groups=10)
    last = lift_table(y[::-1], [0.5] * 10, n_groups=10)

    assert first["positives"].tolist() == [1] + [0] * 9
    assert last["positives"].tolist() == [0] * 9 + [1]


def test_lift_table_spreads_uneven_rows_and_accounts_for_everything(rng) -> None:
    p = rng.uniform(size=103)
    y = rng.binomial(1, p)

    table = lift_table(y, p, n_groups=10)

    assert table["n"].tolist() == [11, 11, 11] + [10] * 7
    assert table["positives"].sum() == y.sum()
    assert table["cumulative_capture"].iloc[-1] == pytest.approx(1.0)
    assert table["cumulative_capture"].is_monotonic_increasing


def test_lift_table_without_conversions_gives_nan_lift_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = lift_table([0] * 10, np.linspace(0, 1, 10), n_groups=5)

    assert table["rate"].tolist() == [0.0] * 5
    assert table["lift"].isna().all()
    assert table["cumulative_capture"].isna().all()


def test_lift_table_needs_a_row_per_group() -> None:
    with pytest.raises(ValueError, match="10 groups needs at least 10 rows"):
        lift_table([0, 1, 1], [0.1, 0.5, 0.9], n_groups=10)


# --- headline metrics -------------------------------------------------------------------


def test_classification_metrics_keys_and_hand_checked_values() -> None:
    # 20 leads, 4 conversions; the two highest scores convert, so the top decile (2 rows)
    # converts at 1.0 against 0.2 overall and holds half of all conversions.
    p = np.linspace(0.01, 0.99, 20)
    y = np.zeros(20, dtype=int)
    y[[0, 7, 18, 19]] = 1

    metrics = classification_metrics(y, p)

    assert set(metrics) == METRIC_KEYS
    assert metrics["n"] == 20
    assert metrics["positive_rate"] == pytest.approx(0.2)
    assert metrics["lift_top_decile"] == pytest.approx(5.0)
    assert metrics["capture_top_decile"] == pytest.approx(0.5)
    assert metrics["brier"] == pytest.approx(np.mean((p - y) ** 2))
    expected_log_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert metrics["log_loss"] == pytest.approx(expected_log_loss)
    assert metrics["ece"] == pytest.approx(expected_calibration_error(y, p))
    # The positives at ranks 19, 18, 7 and 0 outrank 16, 16, 6 and 0 of the 16 negatives.
    assert metrics["roc_auc"] == pytest.approx((16 + 16 + 6 + 0) / 64)


def test_classification_metrics_of_a_random_score_has_auc_near_half(rng) -> None:
    y = rng.binomial(1, 0.3, size=20_000)
    p = rng.uniform(size=y.size)

    metrics = classification_metrics(y, p)

    assert metrics["roc_auc"] == pytest.approx(0.5, abs=0.02)
    assert metrics["pr_auc"] == pytest.approx(y.mean(), abs=0.02)
    assert metrics["lift_top_decile"] == pytest.approx(1.0, abs=0.1)


def test_classification_metrics_of_a_perfect_ranking() -> None:
    metrics = classification_metrics([0] * 8 + [1] * 2, np.linspace(0.05, 0.95, 10))

    assert metrics["roc_auc"] == 1.0
    assert metrics["pr_auc"] == 1.0


def test_log_loss_is_finite_for_certain_wrong_predictions() -> None:
    y = [1, 0] * 5
    p = [0.0, 1.0] * 5

    assert classification_metrics(y, p)["log_loss"] == pytest.approx(-math.log(1e-15), rel=1e-3)


@pytest.mark.parametrize("outcome", [0, 1])
def test_one_class_gives_nan_auc_and_the_rest(outcome: int) -> None:
    p = np.linspace(0.05, 0.95, 10)
    y = np.full(10, outcome)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = classification_metrics(y, p)

    assert math.isnan(metrics["roc_auc"])
    assert math.isnan(metrics["pr_auc"])
    assert metrics["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert math.isfinite(metrics["log_loss"])
    assert math.isfinite(metrics["ece"])
    assert metrics["positive_rate"] == outcome


def test_lists_arrays_and_series_give_the_same_metrics() -> None:
    p = np.linspace(0.01, 0.99, 12)
    y = [0, 1] * 6
    index = [f"L-{i}" for i in range(12)]

    from_lists = classification_metrics(y, p.tolist())
    from_arrays = classification_metrics(np.array(y), p)
    from_series = classification_metrics(
        pd.Series(y, index=index, dtype="Int64"), pd.Series(p, index=index)
    )

    assert from_arrays == pytest.approx(from_lists)
    assert from_series == pytest.approx(from_lists)


# --- input validation -------------------------------------------------------------------


def test_p_outside_unit_interval_is_rejected_naming_the_rows() -> None:
    p = pd.Series([0.2, 1.3, 0.5, -0.1], index=["L-1", "L-2", "L-3", "L-4"])

    with pytest.raises(ValueError, match=r"2 values outside \[0, 1\] \(rows L-2, L-4\)"):
        classification_metrics([0, 1, 0, 1], p)


def test_nan_in_p_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"p has 1 missing \(NaN\) value \(row 1\)"):
        calibration_table([0, 1, 0], [0.2, np.nan, 0.4])


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="y_true has 3 rows but p has 2"):
        expected_calibration_error([0, 1, 0], [0.2, 0.4])


@pytest.mark.parametrize(
    ("y_true", "p", "message"),
    [
        ([0, 2, 1], [0.1, 0.2, 0.3], r"1 value other than 0 or 1 \(row 1\)"),
        ([], [], "empty"),
        ([0, 1], [[0.1], [0.2]], "one-dimensional"),
        ([0, 1], ["low", "high"], "p must be numeric"),
    ],
)
def test_other_bad_inputs_are_rejected(y_true, p, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(y_true, p)


# --- grades -----------------------------------------------------------------------------


def test_assign_grades_puts_each_cutoff_in_its_own_grade() -> None:
    a, b, c = DEFAULT_GRADE_CUTOFFS["A"], DEFAULT_GRADE_CUTOFFS["B"], DEFAULT_GRADE_CUTOFFS["C"]
    p = [1.0, a, a - 1e-9, b, b - 1e-9, c, c - 1e-9, 0.0]

    assert assign_grades(p).tolist() == ["A", "A", "B", "B", "C", "C", "D", "D"]


def test_assign_grades_uses_custom_cutoffs() -> None:
    grades = assign_grades([0.95, 0.5, 0.2, 0.05], cutoffs={"A": 0.9, "B": 0.1, "C": 0.06})

    assert grades.tolist() == ["A", "B", "B", "D"]


@pytest.mark.parametrize(
    ("cutoffs", "message"),
    [
        ({"A": 0.4, "B": 0.6, "C": 0.2}, "strictly decreasing"),
        ({"A": 0.6, "B": 0.4, "C": 0.4}, "strictly decreasing"),
        ({"A": 60, "B": 40, "C": 20}, r"in \[0, 1\]"),
        ({"A": 0.6, "B": 0.4}, "exactly the keys"),
        ({"A": 0.6, "B": 0.4, "C": 0.2, "E": 0.1}, "exactly the keys"),
    ],
)
def test_invalid_cutoffs_are_rejected(cutoffs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        assign_grades([0.5], cutoffs=cutoffs)


def test_grade_table_counts_rates_and_keeps_empty_grades() -> None:
    # No lead lands in C (0.2 <= p < 0.4).
    y = [1, 1, 0, 1, 0, 0, 0]
    p = [0.9, 0.7, 0.6, 0.5, 0.45, 0.1, 0.0]

    table = grade_table(y, p)

    assert list(table.columns) == ["grade", "n", "share", "predicted_rate", "observed_rate"]
    assert table["grade"].tolist() == ["A", "B", "C", "D"]
    assert table["n"].tolist() == [3, 2, 0, 2]
    assert table["share"].tolist() == pytest.approx([3 / 7, 2 / 7, 0, 2 / 7])
    assert table["predicted_rate"].tolist() == pytest.approx(
        [0.7333333, 0.475, np.nan, 0.05], nan_ok=True
    )
    assert table["observed_rate"].tolist() == pytest.approx([2 / 3, 0.5, np.nan, 0.0], nan_ok=True)


# --- segments ---------------------------------------------------------------------------


@pytest.fixture
def segment_data(rng) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    # source: 60 web, 35 event, 5 partner (thin), 10 missing (thin at min_rows=30).
    source = ["web"] * 60 + ["event"] * 35 + ["partner"] * 5 + [None] * 10
    region = pd.Categorical(
        ["north"] * 50 + ["south"] * 40 + [np.nan] * 20,
        categories=["north", "south", "unused"],
    )
    segments = pd.DataFrame({"source": source, "region": region})
    p = rng.uniform(0.05, 0.95, size=len(segments))
    y = rng.binomial(1, p)
    y[60:95] = 0  # every event lead failed: one class, but enough rows
    return segments, y, p


def test_segment_metrics_rows_order_and_rates(segment_data) -> None:
    segments, y, p = segment_data

    table = segment_metrics(segments, y, p, min_rows=30)

    assert list(table.columns) == [
        "field",
        "level",
        "n",
        "positives",
        "observed_rate",
        "predicted_rate",
        "roc_auc",
        "brier",
        "ece",
    ]
    # Fields in column order, then largest level first; unused categories are not listed.
    assert list(zip(table["field"], table["level"], table["n"], strict=True)) == [
        ("source", "web", 60),
        ("source", "event", 35),
        ("source", "(missing)", 10),
        ("source", "partner", 5),
        ("region", "north", 50),
        ("region", "south", 40),
        ("region", "(missing)", 20),
    ]
    web = table.iloc[0]
    assert web["positives"] == y[:60].sum()
    assert web["observed_rate"] == pytest.approx(y[:60].mean())
    assert web["predicted_rate"] == pytest.approx(p[:60].mean())
    assert web["brier"] == pytest.approx(np.mean((p[:60] - y[:60]) ** 2))
    assert web["ece"] == pytest.approx(expected_calibration_error(y[:60], p[:60]))
    assert 0 <= web["roc_auc"] <= 1


def test_segment_metrics_thin_and_one_class_levels(segment_data) -> None:
    segments, y, p = segment_data

    table = segment_metrics(segments, y, p, min_rows=30).set_index(["field", "level"])

    thin = table.loc[("source", "partner")]
    assert thin["n"] == 5
    assert thin["predicted_rate"] == pytest.approx(p[95:100].mean())
    assert thin[["roc_auc", "brier", "ece"]].isna().all()
    missing = table.loc[("source", "(missing)")]
    assert missing["observed_rate"] == pytest.approx(y[100:].mean())
    assert math.isnan(missing["roc_auc"])
    one_class = table.loc[("source", "event")]
    assert one_class["positives"] == 0
    assert math.isnan(one_class["roc_auc"])
    assert one_class["brier"] == pytest.approx(np.mean(p[60:95] ** 2))


def test_segment_metrics_rejects_mismatched_rows() -> None:
    with pytest.raises(ValueError, match="segments has 2 rows but y_true and p have 3"):
        segment_metrics(pd.DataFrame({"source": ["a", "b"]}), [0, 1, 0], [0.1, 0.2, 0.3])


# --- everything at once -----------------------------------------------------------------


def test_evaluate_predictions_bundles_the_tables(segment_data) -> None:
    segments, y, p = segment_data
    cutoffs = {"A": 0.8, "B": 0.5, "C": 0.3}

    result = evaluate_predictions(y, p, segments=segments, cutoffs=cutoffs)

    assert set(result) == {"metrics", "grades", "calibration", "lift", "segments"}
    assert result["metrics"] == pytest.approx(classification_metrics(y, p), nan_ok=True)
    pd.testing.assert_frame_equal(result["grades"], grade_table(y, p, cutoffs))
    pd.testing.assert_frame_equal(result["calibration"], calibration_table(y, p))
    pd.testing.assert_frame_equal(result["lift"], lift_table(y, p))
    pd.testing.assert_frame_equal(result["segments"], segment_metrics(segments, y, p))


def test_evaluate_predictions_without_segments_gives_an_empty_table() -> None:
    result = evaluate_predictions([0, 1] * 10, np.linspace(0.05, 0.95, 20))

    assert result["segments"].empty
    assert "roc_auc" in result["segments"].columns


# --- plots ------------------------------------------------------------------------------


@pytest.mark.parametrize("plot", [plot_calibration, plot_lift])
def test_plot_without_axes_makes_a_figure(plot) -> None:
    ax = plot([0, 1] * 10, np.linspace(0.05, 0.95, 20))

    assert isinstance(ax, Axes)
    assert isinstance(ax.figure, Figure)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    ax.figure.savefig(io.BytesIO(), format="png")


@pytest.mark.parametrize("plot", [plot_calibration, plot_lift])
def test_plot_overlays_a_second_model_on_the_same_axes(plot) -> None:
    y = [0, 1] * 10
    ax = Figure().subplots()

    first = plot(y, np.linspace(0.05, 0.95, 20), ax=ax, label="gbm")
    n_lines = len(ax.lines)
    second = plot(y, np.linspace(0.3, 0.7, 20), ax=ax, label="bayes")

    assert first is ax
    assert second is ax
    assert len(ax.lines) == n_lines + 1
    assert [text.get_text() for text in ax.get_legend().get_texts()][-2:] == ["gbm", "bayes"]


def test_gains_curve_runs_from_origin_to_all_conversions() -> None:
    ax = plot_lift([1, 0, 0, 1, 0, 0, 0, 0, 0, 0], np.linspace(0.9, 0.0, 10), n_groups=5)

    curve = ax.lines[-1]
    assert curve.get_xdata().tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert curve.get_ydata().tolist() == pytest.approx([0, 0.5, 1, 1, 1, 1])
