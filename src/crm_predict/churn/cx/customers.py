"""Customer and revenue churn: who was a customer when, churn and retention rates.

Periods are half-open ``(start, end]``, as in :mod:`crm_predict.churn.cx`: a customer
who churns on ``start`` is not in the starting base; one who churns on ``end`` churned
within the period. A period without customers gives NaN.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


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
