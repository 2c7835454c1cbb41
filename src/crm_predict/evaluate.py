"""Holdout evaluation: ranking, calibration, lift, lead grades and per-segment numbers.

Every trained model is judged with the same numbers. Inputs are the true outcomes
(``y_true``, 0 or 1 per lead) and the predicted conversion probabilities (``p``), as lists,
NumPy arrays or pandas Series, matched row for row. Bad input (lengths that differ, ``p``
missing or outside [0, 1], outcomes other than 0 or 1) raises ``ValueError`` naming the rows:
Series index labels, which are usually lead ids, or else positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

DEFAULT_GRADE_CUTOFFS: dict[str, float] = {"A": 0.6, "B": 0.4, "C": 0.2}
"""Lowest probability for grades A, B and C; anything below the C cut-off is D."""

GRADES = ("A", "B", "C", "D")
"""Lead grades, best first."""

# The label CategoricalEncoder gives missing values, so raw and encoded segments read alike;
# kept here so evaluation does not import the feature pipeline.
_MISSING = "(missing)"

_SEGMENT_COLUMNS = [
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

_LOG_LOSS_EPS = 1e-15


def expected_calibration_error(y_true: ArrayLike, p: ArrayLike, n_bins: int = 10) -> float:
    """Share-weighted mean gap between observed rate and mean prediction per bin.

    Bins are ``n_bins`` equal-width intervals on [0, 1]; a prediction on an inner edge
    falls in the lower bin, as in :func:`sklearn.calibration.calibration_curve`. Empty
    bins carry no weight.

    Parameters
    ----------
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    n_bins : int
        Number of equal-width bins.

    Returns
    -------
    float
        0 for a perfectly calibrated model; at most 1.

    Examples
    --------
    >>> y, p = [0, 1, 1, 1, 1, 0], [0.1, 0.3, 0.6, 0.7, 0.8, 0.9]
    >>> round(expected_calibration_error(y, p, n_bins=2), 3)
    0.1
    """
    y, prob = _check_inputs(y_true, p)
    return _ece(y, prob, n_bins)


def calibration_table(y_true: ArrayLike, p: ArrayLike, n_bins: int = 10) -> pd.DataFrame:
    """Observed conversion rate against mean prediction in equal-width probability bins.

    Parameters
    ----------
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    n_bins : int
        Number of equal-width bins on [0, 1].

    Returns
    -------
    pandas.DataFrame
        Columns ``bin_low, bin_high, n, mean_predicted, observed_rate``; one row per
        non-empty bin, lowest bin first.

    Examples
    --------
    >>> calibration_table([0, 1, 1], [0.1, 0.3, 0.8], n_bins=2)[["n", "observed_rate"]]
       n  observed_rate
    0  2            0.5
    1  1            1.0
    """
    y, prob = _check_inputs(y_true, p)
    return _calibration_bins(y, prob, n_bins)


def lift_table(y_true: ArrayLike, p: ArrayLike, n_groups: int = 10) -> pd.DataFrame:
    """Conversion rate by rank group: how much better the top of the list is than average.

    Leads are sorted by ``p``, highest first; tied predictions keep their input order, so
    the table is reproducible. The ranked list is cut into ``n_groups`` groups whose sizes
    differ by at most one row (earlier groups take the extra rows).

    Parameters
    ----------
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    n_groups : int
        Number of groups; 10 gives deciles. Needs at least that many rows.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, n, positives, rate, lift, cumulative_capture``; group 1 holds the
        highest predictions. ``lift`` is the group rate over the overall rate and
        ``cumulative_capture`` the share of all conversions found in groups 1 to this one;
        both are NaN when no lead converted.

    Examples
    --------
    >>> table = lift_table([1, 0, 0, 0], [0.9, 0.2, 0.4, 0.1], n_groups=2)
    >>> table[["group", "rate", "lift", "cumulative_capture"]]
       group  rate  lift  cumulative_capture
    0      1   0.5   2.0                 1.0
    1      2   0.0   0.0                 1.0
    """
    y, prob = _check_inputs(y_true, p)
    return _lift(y, prob, n_groups)


def classification_metrics(y_true: ArrayLike, p: ArrayLike) -> dict[str, float]:
    """The headline numbers of one model on one holdout.

    Parameters
    ----------
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.

    Returns
    -------
    dict of str to float
        ``roc_auc`` and ``pr_auc`` (ranking; NaN when only one outcome occurs), ``brier``,
        ``log_loss`` (p clipped to [1e-15, 1 - 1e-15]) and ``ece`` (calibration),
        ``lift_top_decile`` and ``capture_top_decile`` (from :func:`lift_table`), ``n``
        (rows) and ``positive_rate``.

    Raises
    ------
    ValueError
        On bad input, or with fewer than 10 rows (the top decile needs one).

    Examples
    --------
    >>> m = classification_metrics([0, 0, 0, 0, 0, 0, 0, 0, 1, 1], [i / 10 for i in range(10)])
    >>> m["roc_auc"], m["lift_top_decile"], m["positive_rate"]
    (1.0, 5.0, 0.2)
    """
    y, prob = _check_inputs(y_true, p)
    both_classes = 0 < y.sum() < len(y)
    top = _lift(y, prob, 10).iloc[0]
    return {
        "roc_auc": float(roc_auc_score(y, prob)) if both_classes else np.nan,
        "pr_auc": float(average_precision_score(y, prob)) if both_classes else np.nan,
        "brier": float(brier_score_loss(y, prob)),
        "log_loss": float(
            log_loss(y, np.clip(prob, _LOG_LOSS_EPS, 1 - _LOG_LOSS_EPS), labels=[0, 1])
        ),
        "ece": _ece(y, prob, 10),
        "lift_top_decile": float(top["lift"]),
        "capture_top_decile": float(top["cumulative_capture"]),
        "n": len(y),
        "positive_rate": float(y.mean()),
    }


def assign_grades(p: ArrayLike, cutoffs: Mapping[str, float] | None = None) -> np.ndarray:
    """Turn probabilities into the A-D grades sales teams work from.

    Parameters
    ----------
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    cutoffs : mapping of str to float, optional
        Lowest probability for grades ``"A"``, ``"B"`` and ``"C"``, strictly decreasing;
        defaults to :data:`DEFAULT_GRADE_CUTOFFS`. A cut-off itself belongs to its grade.

    Returns
    -------
    numpy.ndarray of str
        ``"A"``, ``"B"``, ``"C"`` or ``"D"`` per lead.

    Raises
    ------
    ValueError
        If the cut-offs are not exactly A, B and C, strictly decreasing within [0, 1].

    Examples
    --------
    >>> assign_grades([0.75, 0.6, 0.45, 0.2, 0.05]).tolist()
    ['A', 'A', 'B', 'C', 'D']
    """
    a, b, c = _check_cutoffs(cutoffs)
    prob = _check_p(p)
    return np.select([prob >= a, prob >= b, prob >= c], list(GRADES[:3]), default=GRADES[3])


def grade_table(
    y_true: ArrayLike, p: ArrayLike, cutoffs: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Size, predicted and observed conversion rate of each lead grade.

    Parameters
    ----------
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    cutoffs : mapping of str to float, optional
        Grade cut-offs as in :func:`assign_grades`.

    Returns
    -------
    pandas.DataFrame
        Columns ``grade, n, share, predicted_rate, observed_rate``; always four rows, A to
        D. A grade nobody falls in has ``n`` 0 and NaN rates.

    Examples
    --------
    >>> grade_table([1, 0, 0, 0], [0.7, 0.5, 0.1, 0.05])[["grade", "n", "observed_rate"]]
      grade  n  observed_rate
    0     A  1            1.0
    1     B  1            0.0
    2     C  0            NaN
    3     D  2            0.0
    """
    y, prob = _check_inputs(y_true, p)
    grades = assign_grades(prob, cutoffs)
    rows = []
    for grade in GRADES:
        mask = grades == grade
        n = int(mask.sum())
        rows.append(
            {
                "grade": grade,
                "n": n,
                "share": n / len(prob),
                "predicted_rate": float(prob[mask].mean()) if n else np.nan,
                "observed_rate": float(y[mask].mean()) if n else np.nan,
            }
        )
    return pd.DataFrame(rows)


def segment_metrics(
    segments: pd.DataFrame, y_true: ArrayLike, p: ArrayLike, min_rows: int = 30
) -> pd.DataFrame:
    """Rates, ranking and calibration for every level of every segment field.

    Parameters
    ----------
    segments : pandas.DataFrame
        One column per segment field (e.g. ``source``, ``region``), matched to ``y_true``
        and ``p`` by position, not index. Missing values form the level ``"(missing)"``;
        levels are shown as text. Only levels that occur are listed.
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    min_rows : int
        Levels with fewer rows get NaN ``roc_auc``, ``brier`` and ``ece``: too few leads to
        judge. ``roc_auc`` is also NaN when a level has only one outcome.

    Returns
    -------
    pandas.DataFrame
        Columns ``field, level, n, positives, observed_rate, predicted_rate, roc_auc,
        brier, ece``; fields in column order, then largest level first (ties by level).

    Examples
    --------
    >>> seg = pd.DataFrame({"source": ["web", "web", None]})
    >>> segment_metrics(seg, [1, 0, 1], [0.8, 0.3, 0.6], min_rows=2)[["level", "n", "roc_auc"]]
           level  n  roc_auc
    0        web  2      1.0
    1  (missing)  1      NaN
    """
    y, prob = _check_inputs(y_true, p)
    if len(segments) != len(y):
        raise ValueError(
            f"segments has {len(segments)} rows but y_true and p have {len(y)}; "
            "they must match row for row"
        )
    rows: list[dict[str, Any]] = []
    for field, column in segments.items():
        levels = column.astype(object).where(column.notna(), _MISSING).astype(str).to_numpy()
        positions = pd.Series(levels).groupby(levels, sort=False).indices
        field_rows = [
            _segment_row(str(field), str(level), y[idx], prob[idx], min_rows)
            for level, idx in positions.items()
        ]
        rows += sorted(field_rows, key=lambda row: (-row["n"], row["level"]))
    return pd.DataFrame(rows, columns=_SEGMENT_COLUMNS)


def evaluate_predictions(
    y_true: ArrayLike,
    p: ArrayLike,
    segments: pd.DataFrame | None = None,
    cutoffs: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Everything a holdout evaluation reports, in one call.

    Parameters
    ----------
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    segments : pandas.DataFrame, optional
        Segment fields for :func:`segment_metrics`.
    cutoffs : mapping of str to float, optional
        Grade cut-offs for :func:`grade_table`.

    Returns
    -------
    dict
        ``metrics`` (:func:`classification_metrics`), ``grades``, ``calibration``,
        ``lift`` and ``segments`` tables; ``segments`` has the segment columns and no rows
        when no segments are given.

    Examples
    --------
    >>> result = evaluate_predictions([0, 1] * 10, [0.3, 0.7] * 10)
    >>> sorted(result)
    ['calibration', 'grades', 'lift', 'metrics', 'segments']
    """
    return {
        "metrics": classification_metrics(y_true, p),
        "grades": grade_table(y_true, p, cutoffs),
        "calibration": calibration_table(y_true, p),
        "lift": lift_table(y_true, p),
        "segments": (
            pd.DataFrame(columns=_SEGMENT_COLUMNS)
            if segments is None
            else segment_metrics(segments, y_true, p)
        ),
    }


def _check_p(p: ArrayLike) -> np.ndarray:
    prob = _as_float_1d(p, "p")
    _reject(np.isnan(prob), p, "p has {count} missing (NaN) value{s}")
    _reject((prob < 0) | (prob > 1), p, "p has {count} value{s} outside [0, 1]")
    return prob


def _check_inputs(y_true: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = _as_float_1d(y_true, "y_true")
    prob = _check_p(p)
    if len(y) != len(prob):
        raise ValueError(
            f"y_true has {len(y)} rows but p has {len(prob)}; they must match row for row"
        )
    if len(y) == 0:
        raise ValueError("y_true and p are empty; there is nothing to evaluate")
    _reject(~np.isin(y, (0, 1)), y_true, "y_true has {count} value{s} other than 0 or 1")
    return y.astype(np.int64), prob


def _as_float_1d(values: ArrayLike, name: str) -> np.ndarray:
    try:
        if isinstance(values, pd.Series):
            # Nullable dtypes (Int64, boolean) hold pd.NA, which np.asarray cannot cast.
            array = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    return array


def _reject(bad: np.ndarray, values: ArrayLike, message: str) -> None:
    if not bad.any():
        return
    # Name the rows: Series index labels are usually lead ids, otherwise positions.
    labels = values.index[bad] if isinstance(values, pd.Series) else np.flatnonzero(bad)
    shown = ", ".join(map(str, labels[:5])) + (", ..." if len(labels) > 5 else "")
    s = "s" if len(labels) > 1 else ""
    raise ValueError(message.format(count=len(labels), s=s) + f" (row{s} {shown})")


def _check_cutoffs(cutoffs: Mapping[str, float] | None) -> tuple[float, float, float]:
    cut = DEFAULT_GRADE_CUTOFFS if cutoffs is None else cutoffs
    if set(cut) != set(GRADES[:3]):
        raise ValueError(f"grade cut-offs need exactly the keys 'A', 'B', 'C'; got {sorted(cut)}")
    a, b, c = (float(cut[grade]) for grade in GRADES[:3])
    if not 1 >= a > b > c >= 0:
        raise ValueError(
            "grade cut-offs must be strictly decreasing from A to C and lie in [0, 1]; "
            f"got A={a}, B={b}, C={c}"
        )
    return a, b, c


def _calibration_bins(y: np.ndarray, prob: np.ndarray, n_bins: int) -> pd.DataFrame:
    # Own binning, because calibration_curve does not return the bin sizes that ECE weights
    # need; the edge rule matches it (a test holds the two together).
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1; got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], prob)
    n = np.bincount(ids, minlength=n_bins)
    sum_p = np.bincount(ids, weights=prob, minlength=n_bins)
    sum_y = np.bincount(ids, weights=y, minlength=n_bins)
    kept = n > 0
    return pd.DataFrame(
        {
            "bin_low": edges[:-1][kept],
            "bin_high": edges[1:][kept],
            "n": n[kept],
            "mean_predicted": sum_p[kept] / n[kept],
            "observed_rate": sum_y[kept] / n[kept],
        }
    )


def _ece(y: np.ndarray, prob: np.ndarray, n_bins: int) -> float:
    bins = _calibration_bins(y, prob, n_bins)
    gap = (bins["observed_rate"] - bins["mean_predicted"]).abs()
    return float((gap * bins["n"]).sum() / len(y))


def _lift(y: np.ndarray, prob: np.ndarray, n_groups: int) -> pd.DataFrame:
    if not 1 <= n_groups <= len(y):
        raise ValueError(
            f"a lift table with {n_groups} groups needs at least {n_groups} rows "
            f"(and n_groups >= 1); got {len(y)} rows"
        )
    ranked = y[np.argsort(-prob, kind="stable")]
    sizes = np.full(n_groups, len(y) // n_groups)
    sizes[: len(y) % n_groups] += 1
    positives = np.bincount(np.repeat(np.arange(n_groups), sizes), weights=ranked)
    rate = positives / sizes
    overall = ranked.mean()
    total = ranked.sum()
    return pd.DataFrame(
        {
            "group": np.arange(1, n_groups + 1),
            "n": sizes,
            "positives": positives.astype(np.int64),
            "rate": rate,
            "lift": np.divide(rate, overall, out=np.full(n_groups, np.nan), where=overall > 0),
            "cumulative_capture": np.divide(
                np.cumsum(positives), total, out=np.full(n_groups, np.nan), where=total > 0
            ),
        }
    )


def _segment_row(
    field: str, level: str, y: np.ndarray, prob: np.ndarray, min_rows: int
) -> dict[str, Any]:
    n = len(y)
    positives = int(y.sum())
    judged = n >= min_rows
    return {
        "field": field,
        "level": level,
        "n": n,
        "positives": positives,
        "observed_rate": positives / n,
        "predicted_rate": float(prob.mean()),
        "roc_auc": float(roc_auc_score(y, prob)) if judged and 0 < positives < n else np.nan,
        "brier": float(brier_score_loss(y, prob)) if judged else np.nan,
        "ece": _ece(y, prob, 10) if judged else np.nan,
    }
