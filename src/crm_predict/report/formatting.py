"""Numbers as people read them in the report: percentages, counts, points, words, dates."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from crm_predict.explain.reasons import percent

_AUC_WORDS = [(0.9, "Excellent"), (0.8, "Good"), (0.7, "Fair"), (0.6, "Weak")]


def is_missing(value: Any) -> bool:
    """Whether a value is absent: None or a float NaN.

    Parameters
    ----------
    value : object
        A number from a model card or a table.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_missing(None), is_missing(float("nan")), is_missing(0.0)
    (True, True, False)
    """
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def pct(value: Any) -> str:
    """A share as people read it: ``0.234`` → ``23%``, ``0.042`` → ``4.2%``.

    Examples
    --------
    >>> pct(0.234), pct(0.042), pct(None)
    ('23%', '4.2%', '–')
    """
    return "–" if is_missing(value) else percent(float(value))


def num(value: Any) -> str:
    """A count with thousands separators.

    Examples
    --------
    >>> num(12345.0), num(float("nan"))
    ('12,345', '–')
    """
    return "–" if is_missing(value) else f"{round(float(value)):,}"


def pts(value: Any) -> str:
    """A probability gap in percentage points; ``–`` (too few leads) when missing.

    Examples
    --------
    >>> pts(0.0312)
    '3.1 pts'
    """
    return "too few leads" if is_missing(value) else f"{float(value) * 100:.1f} pts"


def auc_word(auc: float | None) -> str:
    """Words for a ROC AUC.

    Examples
    --------
    >>> auc_word(0.83)
    'Good'
    """
    if is_missing(auc):
        return "Unknown"
    return next((w for cut, w in _AUC_WORDS if auc >= cut), "Poor")


def date_text(value: Any) -> str:
    """``2025-01-01`` → ``1 Jan 2025``.

    Examples
    --------
    >>> date_text("2025-01-01")
    '1 Jan 2025'
    """
    if value is None or value == "":
        return "–"
    ts = pd.Timestamp(value)
    return f"{ts.day} {ts:%b %Y}"
