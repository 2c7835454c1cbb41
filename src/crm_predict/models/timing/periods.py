"""Record-period rows for discrete-time hazard models: one row per period at risk.

A record is at risk from the period of its entry age to the period of its event or
censoring. Its last row carries its outcome (1 event of interest, 2 competing outcome);
every other row, and the last one of a record still open, is labelled 0 (still open at the
period's end). A record censored part-way through a period contributes that period with a
weight equal to the observed share of it (the actuarial correction).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_predict.data.survival import CENSORED, COMPETING, EVENT

PERIOD_FEATURE = "_period_index"


def as_array(values, name: str, n: int) -> np.ndarray:
    """``values`` as a float vector of ``n`` non-missing entries, or a ValueError naming it."""
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} values for {n} records")
    if np.isnan(arr).any():
        raise ValueError(f"{name} has missing values; every record needs one")
    return arr


def event_codes(events, n: int) -> np.ndarray:
    """Outcome codes 0 (open, censored), 1 (event) or 2 (competing) as ints, checked."""
    raw = np.asarray(events)
    if raw.dtype == bool:
        raw = raw.astype(int)
    codes = np.asarray(raw, dtype=float).reshape(-1)
    if codes.shape[0] != n:
        raise ValueError(f"events has {codes.shape[0]} values for {n} records")
    bad = ~np.isin(codes, (CENSORED, EVENT, COMPETING))
    if bad.any():
        raise ValueError(
            "events must be 0 (still open, censored), 1 (event of interest) or 2 "
            f"(competing outcome); found {sorted(set(codes[bad].tolist()))[:5]}"
        )
    return codes.astype(int)


def expand_periods(
    X: pd.DataFrame,
    durations,
    events,
    entry=None,
    period_days: int = 7,
    n_periods: int = 53,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Expand records into record-period rows.

    Parameters
    ----------
    X : DataFrame
        One row per record.
    durations : array-like of float
        Days from creation to the event, the competing outcome or censoring.
    events : array-like of int or bool
        0 still open (censored), 1 event of interest, 2 competing outcome.
    entry : array-like of float, optional
        Age in days at which each record was first seen open (delayed entry).
    period_days : int
        Length of one period in days.
    n_periods : int
        Periods with their own index; later ones keep the last index.

    Returns
    -------
    rows : DataFrame
        ``X``'s columns repeated per period at risk, plus :data:`PERIOD_FEATURE`.
    labels : ndarray
        0 still open at the period's end, 1 event in the period, 2 competing outcome.
    weights : ndarray
        1, or the observed share of the period for a record censored inside it.
    record : ndarray
        Position in ``X`` of the record each row belongs to.

    Examples
    --------
    >>> X = pd.DataFrame({"x": [1.0, 2.0]})
    >>> rows, labels, weights, record = expand_periods(X, [10.0, 3.5], [1, 0])
    >>> labels.tolist(), weights.tolist(), record.tolist()
    ([0, 1, 0], [1.0, 1.0, 0.5], [0, 0, 1])
    """
    n = len(X)
    t = as_array(durations, "durations", n)
    e = event_codes(events, n)
    start = np.zeros(n) if entry is None else as_array(entry, "entry", n)
    if (t < 0).any() or (start < 0).any():
        raise ValueError("durations and entry ages must be zero or more days")
    if (start > t).any():
        raise ValueError("a record cannot enter (be first seen open) after its event")
    p = float(period_days)
    first = np.floor(start / p).astype(np.int64)
    end_period = np.floor(t / p).astype(np.int64)
    frac = t / p - end_period
    # Censored records: whole periods survived, plus the partly observed last one.
    partial = (e == CENSORED) & (frac > 1e-9)
    last = np.where(e == CENSORED, end_period - 1 + partial, end_period)
    count = np.maximum(last - first + 1, 0)
    record = np.repeat(np.arange(n), count)
    offset = np.arange(len(record)) - np.repeat(np.cumsum(count) - count, count)
    period = first[record] + offset
    is_last = offset == count[record] - 1
    labels = np.where(is_last & (e[record] != CENSORED), e[record], CENSORED)
    weights = np.where(is_last & partial[record], frac[record], 1.0)
    rows = X.iloc[record].reset_index(drop=True)
    rows[PERIOD_FEATURE] = np.minimum(period, n_periods - 1).astype(float)
    return rows, labels.astype(int), weights, record
