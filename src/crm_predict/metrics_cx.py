"""Customer-experience and customer-value metrics: NPS, CSAT, CES, churn, revenue churn, CLV, CAC.

Each metric is a small function with its formula in the docstring. Conventions shared by
all of them:

* **Missing answers are not respondents.** NaN scores are dropped before counting.
* **No respondents, no customers: NaN.** A metric over nobody is undefined, not 0: it is
  returned as ``nan`` so that a by-segment or by-month table shows a blank for an empty
  group instead of failing or inventing a value. Check with ``math.isnan``.
* **Out-of-range scores raise** :class:`ValueError` naming the field, the allowed range and
  the first offending values: a CSAT of 7 on a 1–5 scale is an export problem to fix, not a
  number to average.
* Periods are half-open ``(start, end]``: a customer who churns on ``start`` is not in the
  starting base; one who churns on ``end`` churned within the period.

Examples
--------
>>> nps([10, 9, 8, 3])
25.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "nps",
    "csat",
    "ces",
    "customers_at",
    "churn_rate",
    "retention_rate",
    "revenue_churn_rate",
    "clv",
    "cac",
    "clv_to_cac",
    "metric_by_segment",
    "metric_by_month",
    "churn_by_month",
]


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


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        raise ValueError(f"column {column!r} is missing from the customer table")
    return pd.to_datetime(frame[column])


def customers_at(
    customers: pd.DataFrame,
    date: Any,
    signup: str = "signup_date",
    churn: str = "churn_date",
) -> pd.Series:
    """Boolean mask of customers present at ``date``: signed up on or before it, not churned.

    Examples
    --------
    >>> c = pd.DataFrame({"signup_date": ["2024-01-01", "2024-06-01"],
    ...                   "churn_date": ["2024-03-01", None]})
    >>> customers_at(c, "2024-02-01").tolist()
    [True, False]
    """
    when = pd.Timestamp(date)
    gone = _dates(customers, churn)
    return (_dates(customers, signup) <= when) & (gone.isna() | (gone > when))


def churn_rate(
    customers: pd.DataFrame,
    start: Any,
    end: Any,
    signup: str = "signup_date",
    churn: str = "churn_date",
) -> float:
    """Share of the customers present at ``start`` who churned in ``(start, end]``.

    .. math:: \\mathrm{churn} = \\frac{\\#\\{i \\in B : \\mathrm{start} < c_i \\le
       \\mathrm{end}\\}}{|B|}, \\quad B = \\{i : \\mathrm{signup}_i \\le \\mathrm{start}
       < c_i\\}

    Customers who sign up during the period are not in the base ``B`` (nor counted if
    they churn), so the rate is not flattered by growth.

    Parameters
    ----------
    customers : DataFrame
        One row per customer with ``signup`` and ``churn`` date columns (churn NaT = active).
    start, end : date-like
        The period.
    signup, churn : str
        Column names.

    Returns
    -------
    float
        From 0 to 1; NaN when nobody was a customer at ``start``.

    Examples
    --------
    >>> c = pd.DataFrame({
    ...     "signup_date": ["2024-01-01", "2024-01-01", "2024-01-01", "2024-02-15"],
    ...     "churn_date": ["2024-02-10", None, "2024-03-20", "2024-02-20"]})
    >>> churn_rate(c, "2024-02-01", "2024-02-29")  # 1 of the 3 there on Feb 1st
    0.3333333333333333
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    if t1 < t0:
        raise ValueError(f"period end {t1:%Y-%m-%d} is before its start {t0:%Y-%m-%d}")
    base = customers_at(customers, t0, signup, churn)
    if not base.any():
        return float("nan")
    gone = _dates(customers, churn)[base]
    return float((gone <= t1).sum() / base.sum())


def retention_rate(
    customers: pd.DataFrame,
    start: Any,
    end: Any,
    signup: str = "signup_date",
    churn: str = "churn_date",
) -> float:
    """Share of the customers present at ``start`` still there at ``end``: ``1 − churn``.

    Examples
    --------
    >>> c = pd.DataFrame({"signup_date": ["2024-01-01"] * 4,
    ...                   "churn_date": ["2024-02-10", None, None, None]})
    >>> retention_rate(c, "2024-02-01", "2024-02-29")
    0.75
    """
    return 1.0 - churn_rate(customers, start, end, signup, churn)


def revenue_churn_rate(start_revenue: pd.Series, end_revenue: pd.Series) -> float:
    """Gross revenue churn: recurring revenue lost from the starting base, downgrades included.

    .. math:: \\mathrm{revenue\\ churn} = \\frac{\\sum_{i \\in B} \\max(R^0_i - R^1_i,
       0)}{\\sum_{i \\in B} R^0_i}

    ``B`` are the customers in ``start_revenue``. A churned customer (absent from
    ``end_revenue`` or NaN there) has :math:`R^1_i = 0`; a downgrade loses the difference;
    upgrades are not netted against losses (that would be net revenue churn); customers who
    only appear in ``end_revenue`` are new and ignored.

    Parameters
    ----------
    start_revenue : Series
        Recurring revenue per period (e.g. MRR) at the start, indexed by customer id.
    end_revenue : Series
        The same at the end, indexed by customer id.

    Returns
    -------
    float
        From 0 to 1; NaN when the starting base has no revenue.

    Examples
    --------
    >>> r0 = pd.Series({"a": 100.0, "b": 50.0, "c": 50.0})
    >>> r1 = pd.Series({"a": 80.0, "c": 70.0, "new": 500.0})  # a downgraded, b churned
    >>> revenue_churn_rate(r0, r1)  # (20 + 50) / 200
    0.35
    """
    r0 = pd.to_numeric(start_revenue, errors="raise").astype(float)
    if (r0 < 0).any():
        raise ValueError("recurring revenue cannot be negative (start_revenue)")
    r1 = pd.to_numeric(end_revenue, errors="raise").astype(float)
    r1 = r1[~r1.index.duplicated(keep="last")].reindex(r0.index).fillna(0.0)
    total = float(r0.sum())
    if total <= 0:
        return float("nan")
    return float((r0 - r1).clip(lower=0.0).sum() / total)


def clv(
    contribution: Any,
    expected_periods: Any,
    discount_rate: float = 0.0,
) -> Any:
    """Customer lifetime value: contribution per period × expected number of periods.

    .. math:: \\mathrm{CLV} = m \\cdot L \\quad (d = 0), \\qquad
       \\mathrm{CLV} = m \\sum_{t \\ge 0} \\frac{r^t}{(1 + d)^t} = m \\, \\frac{1 + d}{1 + d - r}

    with ``m`` the average contribution per period (revenue − cost to serve), ``L`` the
    expected number of periods (e.g. the expected remaining lifetime from a survival model)
    and, for the discounted form, a constant per-period retention ``r = 1 − 1/L`` (a
    geometric lifetime with mean ``L``, paid at the start of each period). Both forms agree
    when ``d = 0``.

    Parameters
    ----------
    contribution : float or array-like
        Average contribution per period.
    expected_periods : float or array-like
        Expected number of periods, at least 1.
    discount_rate : float
        Discount rate per period (0 = undiscounted).

    Returns
    -------
    float or ndarray
        Same shape as the broadcast inputs.

    Examples
    --------
    >>> clv(100.0, 10)
    1000.0
    >>> round(clv(100.0, 10, discount_rate=0.01), 2)  # 100 * 1.01 / (1.01 - 0.9)
    918.18
    """
    m = np.asarray(contribution, dtype=float)
    life = np.asarray(expected_periods, dtype=float)
    if np.any(life < 1):
        raise ValueError("expected_periods must be at least 1 (the current period)")
    if discount_rate < 0:
        raise ValueError(f"discount_rate must be >= 0, got {discount_rate}")
    if discount_rate == 0:
        out = m * life
    else:
        r = 1.0 - 1.0 / life
        out = m * (1.0 + discount_rate) / (1.0 + discount_rate - r)
    return float(out) if out.ndim == 0 else out


def cac(acquisition_spend: float, new_customers: int) -> float:
    """Customer acquisition cost: spend on acquiring customers ÷ customers acquired.

    .. math:: \\mathrm{CAC} = \\frac{\\text{acquisition spend}}{\\#\\text{new customers}}

    Returns
    -------
    float
        NaN when no customer was acquired.

    Examples
    --------
    >>> cac(12_000.0, 40)
    300.0
    """
    if acquisition_spend < 0 or new_customers < 0:
        raise ValueError("acquisition spend and new customers cannot be negative")
    return float(acquisition_spend / new_customers) if new_customers else float("nan")


def clv_to_cac(clv_value: float, cac_value: float) -> float:
    """CLV ÷ CAC: how many times a customer pays back what it cost to win (3+ is healthy).

    Returns
    -------
    float
        NaN when CAC is 0 or NaN (free customers have no meaningful ratio).

    Examples
    --------
    >>> clv_to_cac(900.0, 300.0)
    3.0
    """
    if pd.isna(cac_value) or cac_value == 0:
        return float("nan")
    if cac_value < 0:
        raise ValueError(f"CAC cannot be negative, got {cac_value}")
    return float(clv_value / cac_value)


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


def churn_by_month(
    customers: pd.DataFrame,
    start: Any,
    end: Any,
    by: str | None = None,
    signup: str = "signup_date",
    churn: str = "churn_date",
) -> pd.DataFrame:
    """Monthly customer churn and retention rates, optionally per segment.

    Each month is the period ``(last day of the previous month, last day of the month]``.

    Returns
    -------
    DataFrame
        ``month``, the segment field (if ``by``), ``customers_at_start``, ``churned``,
        ``churn_rate`` and ``retention_rate`` (NaN for a month without customers).

    Examples
    --------
    >>> c = pd.DataFrame({"signup_date": ["2023-12-01"] * 2,
    ...                   "churn_date": ["2024-01-15", None]})
    >>> churn_by_month(c, "2024-01", "2024-02")["churn_rate"].tolist()
    [0.5, 0.0]
    """
    months = pd.period_range(pd.Timestamp(start), pd.Timestamp(end), freq="M")
    groups = [(None, customers)] if by is None else customers.groupby(by, observed=True)
    rows = []
    for level, part in groups:
        for month in months:
            t0 = month.start_time.normalize() - pd.Timedelta(days=1)
            t1 = month.end_time.normalize()
            base = customers_at(part, t0, signup, churn)
            gone = _dates(part, churn)[base]
            rate = churn_rate(part, t0, t1, signup, churn)
            row = {"month": month}
            if by is not None:
                row[by] = level
            row.update(
                customers_at_start=int(base.sum()),
                churned=int((gone <= t1).sum()),
                churn_rate=rate,
                retention_rate=1.0 - rate,
            )
            rows.append(row)
    return pd.DataFrame(rows)
