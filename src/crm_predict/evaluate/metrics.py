"""Holdout evaluation: ranking, calibration, lift, lead grades and per-segment numbers.

Every trained model is judged with the same numbers. Inputs are the true outcomes
(``y_true``, 0 or 1 per lead) and the predicted conversion probabilities (``p``), as lists,
NumPy arrays or pandas Series, matched row for row. Bad input (lengths that differ, ``p``
missing or outside [0, 1], outcomes other than 0 or 1) raises ``ValueError`` naming the rows:
Series index labels, which are usually lead ids, or else positions.

The calibration and lift tables live in :mod:`crm_predict.evaluate.calibration`, the lead
grades in :mod:`crm_predict.evaluate.grades`; both are importable from here too.
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

from crm_predict.evaluate.calibration import (
    calibration_table,
    expected_calibration_error,
    lift_table,
)
from crm_predict.evaluate.grades import DEFAULT_GRADE_CUTOFFS, GRADES, assign_grades, grade_table
from crm_predict.evaluate.inputs import check_outcomes

__all__ = [
    "DEFAULT_GRADE_CUTOFFS",
    "GRADES",
    "assign_grades",
    "calibration_table",
    "classification_metrics",
    "evaluate_predictions",
    "expected_calibration_error",
    "grade_table",
    "lift_table",
    "segment_metrics",
]

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
    y, prob = check_outcomes(y_true, p)
    both_classes = 0 < y.sum() < len(y)
    top = lift_table(y, prob, 10).iloc[0]
    return {
        "roc_auc": float(roc_auc_score(y, prob)) if both_classes else np.nan,
        "pr_auc": float(average_precision_score(y, prob)) if both_classes else np.nan,
        "brier": float(brier_score_loss(y, prob)),
        "log_loss": float(
            log_loss(y, np.clip(prob, _LOG_LOSS_EPS, 1 - _LOG_LOSS_EPS), labels=[0, 1])
        ),
        "ece": expected_calibration_error(y, prob, 10),
        "lift_top_decile": float(top["lift"]),
        "capture_top_decile": float(top["cumulative_capture"]),
        "n": len(y),
        "positive_rate": float(y.mean()),
    }


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
    y, prob = check_outcomes(y_true, p)
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
        "ece": expected_calibration_error(y, prob, 10) if judged else np.nan,
    }
