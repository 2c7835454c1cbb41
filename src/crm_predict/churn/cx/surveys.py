"""Survey scores: NPS, CSAT and CES, overall, per segment and per month.

Conventions as in :mod:`crm_predict.churn.cx`: missing answers are not respondents, no
respondents give NaN, and out-of-range scores raise :class:`ValueError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def _scores(values: Any, low: float, high: float, name: str, whole: bool = True) -> np.ndarray:
    """Answered scores as floats, NaN dropped; out-of-range or fractional values raise."""
    s = pd.Series(values, dtype="object") if not isinstance(values, pd.Series) else values
    num = pd.to_numeric(s, errors="coerce")
    bad_text = s.notna() & num.isna()
    if bad_text.any():
        shown = ", ".join(repr(v) for v in s[bad_text].unique()[:5])
        raise ValueError(f"{name}: scores must be numbers, got {shown}")
    arr = num.dropna().to_numpy(dtype=float)
    bad = (arr < low) | (arr > high) | ((arr != np.round(arr)) if whole else False)
    if np.any(bad):
        shown = ", ".join(f"{v:g}" for v in pd.unique(arr[bad])[:5])
        kind = "whole numbers " if whole else ""
        raise ValueError(f"{name}: scores must be {kind}from {low:g} to {high:g}, got {shown}")
    return arr


def nps(scores: Any, name: str = "nps") -> float:
    """Net Promoter Score from 0–10 answers to "how likely are you to recommend us?".

    .. math:: \\mathrm{NPS} = 100 \\cdot \\frac{\\#\\{s \\ge 9\\} - \\#\\{s \\le 6\\}}{n}

    Promoters answer 9–10, detractors 0–6, passives (7–8) count only in ``n``.

    Parameters
    ----------
    scores : array-like of int
        Answers from 0 to 10; NaN (not answered) is dropped.
    name : str
        Field name used in error messages.

    Returns
    -------
    float
        From -100 to 100; NaN when nobody answered.

    Raises
    ------
    ValueError
        A score outside 0–10 or not a whole number.

    Examples
    --------
    >>> nps([10, 9, 8, 7, 6, 0])  # 2 promoters, 2 detractors of 6
    0.0
    >>> nps([10, 10, 9, 3])  # (3 - 1) / 4
    50.0
    """
    s = _scores(scores, 0, 10, name)
    if s.size == 0:
        return float("nan")
    return float(100.0 * ((s >= 9).sum() - (s <= 6).sum()) / s.size)


def csat(
    scores: Any, satisfied_from: int = 4, scale: tuple[int, int] = (1, 5), name: str = "csat"
) -> float:
    """Customer satisfaction: the share of satisfied answers, in percent.

    .. math:: \\mathrm{CSAT} = 100 \\cdot \\frac{\\#\\{s \\ge 4\\}}{n}

    Parameters
    ----------
    scores : array-like of int
        Answers on ``scale``; NaN is dropped.
    satisfied_from : int
        Lowest satisfied answer (4 on the usual 1–5 scale).
    scale : (int, int)
        Lowest and highest allowed answer.
    name : str
        Field name used in error messages.

    Returns
    -------
    float
        From 0 to 100; NaN when nobody answered.

    Examples
    --------
    >>> csat([5, 4, 3, 1])
    50.0
    """
    s = _scores(scores, scale[0], scale[1], name)
    if s.size == 0:
        return float("nan")
    return float(100.0 * (s >= satisfied_from).sum() / s.size)


def ces(scores: Any, scale: tuple[int, int] = (1, 5), name: str = "ces") -> float:
    """Customer effort score: the mean answer to "how easy was it to get help?".

    .. math:: \\mathrm{CES} = \\frac{1}{n} \\sum_i s_i

    On the 1–5 scale used here a higher score means *less* effort (easier).

    Parameters
    ----------
    scores : array-like of int
        Answers on ``scale``; NaN is dropped.
    scale : (int, int)
        Lowest and highest allowed answer (use ``(1, 7)`` for the 7-point survey).
    name : str
        Field name used in error messages.

    Returns
    -------
    float
        The mean; NaN when nobody answered.

    Examples
    --------
    >>> ces([5, 4, 3])
    4.0
    """
    s = _scores(scores, scale[0], scale[1], name)
    return float(s.mean()) if s.size else float("nan")


def metric_by_segment(
    frame: pd.DataFrame, by: str | list[str], column: str, metric: Callable[..., float]
) -> pd.DataFrame:
    """Apply a score metric (``nps``, ``csat``, ``ces``) to ``column`` per segment.

    Returns
    -------
    DataFrame
        One row per segment: the segment field(s), ``n`` (answers) and ``value``.

    Examples
    --------
    >>> s = pd.DataFrame({"region": ["EU", "EU", "US"], "nps": [10, 0, 9]})
    >>> metric_by_segment(s, "region", "nps", nps)["value"].tolist()
    [0.0, 100.0]
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*keys, column] if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} missing from the table")
    rows = []
    for level, part in frame.groupby(keys, observed=True, dropna=False, sort=True):
        level = level if isinstance(level, tuple) else (level,)
        answers = part[column]
        rows.append(
            {
                **dict(zip(keys, level, strict=True)),
                "n": int(answers.notna().sum()),
                "value": metric(answers, name=column),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, "n", "value"])


def metric_by_month(
    frame: pd.DataFrame, time_column: str, column: str, metric: Callable[..., float]
) -> pd.DataFrame:
    """Apply a score metric to ``column`` per calendar month of ``time_column``.

    Examples
    --------
    >>> s = pd.DataFrame({"answered_at": ["2024-01-05", "2024-01-20", "2024-02-02"],
    ...                   "csat": [5, 2, 4]})
    >>> metric_by_month(s, "answered_at", "csat", csat)["value"].tolist()
    [50.0, 100.0]
    """
    if time_column not in frame.columns:
        raise ValueError(f"column {time_column!r} missing from the table")
    month = pd.to_datetime(frame[time_column]).dt.to_period("M").rename("month")
    out = metric_by_segment(frame.assign(month=month), "month", column, metric)
    return out
