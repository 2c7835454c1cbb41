"""Has the positive rate moved over time? Training period vs its recent months vs holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd

Z_LIMIT = 3.0
"""Two-proportion z beyond which a change of rate is more than sampling error (p < 0.003)."""
RECENT_DAYS = 182
"""The recent part of the training period, when it holds 5–50% of the training records."""


def _z(k1: float, n1: int, k2: float, n2: int) -> float:
    """Two-proportion z statistic (pooled standard error)."""
    pooled = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float((k2 / n2 - k1 / n1) / se) if se > 0 else 0.0


def _months(days: float) -> str:
    months = round(days / 30.4)
    return f"{months} months" if months >= 2 else f"{round(days)} days"


def base_rate_drift(
    train_dates: pd.Series,
    train_y: np.ndarray,
    test_y: np.ndarray,
    noun: str = "convert",
    recent_days: int = RECENT_DAYS,
) -> dict:
    """Compare the positive rate early in training, late in training and on the holdout.

    Parameters
    ----------
    train_dates : Series
        Creation dates of the training records.
    train_y, test_y : ndarray
        0/1 outcomes of the training and holdout records.
    noun : str
        The verb of the outcome (``convert``, ``churn``) for the message.
    recent_days : int
        Length of the recent period; the latest 20% of training records are used instead
        when that period holds under 5% or over 50% of them.

    Returns
    -------
    dict
        ``before``, ``recent`` and ``holdout`` (rate and records), ``recent_days``,
        ``z_recent`` and ``z_holdout`` (against ``before``), ``drifted`` and ``message``
        (plain words; empty when nothing moved beyond sampling error).

    Examples
    --------
    >>> dates = pd.Series(pd.date_range("2024-01-01", periods=1000, freq="D"))
    >>> y = np.r_[np.zeros(700), np.ones(50), np.zeros(250)].astype(int)
    >>> base_rate_drift(dates, y, np.ones(100, dtype=int))["drifted"]
    True
    """
    dates = pd.to_datetime(pd.Series(train_dates)).to_numpy()
    train_y = np.asarray(train_y, dtype=float)
    test_y = np.asarray(test_y, dtype=float)
    end = dates.max()
    recent = dates > end - np.timedelta64(recent_days, "D")
    if not 0.05 <= recent.mean() <= 0.5:
        order = np.argsort(dates, kind="stable")
        recent = np.zeros(len(dates), dtype=bool)
        recent[order[-max(1, len(dates) // 5) :]] = True
    span = (end - dates[recent].min()) / np.timedelta64(1, "D")
    groups = {"before": train_y[~recent], "recent": train_y[recent], "holdout": test_y}
    out: dict = {
        k: {"rate": float(v.mean()) if len(v) else None, "records": len(v)}
        for k, v in groups.items()
    }
    out["recent_days"] = round(float(span))
    before = groups["before"]
    zs = {}
    for k in ("recent", "holdout"):
        v = groups[k]
        ok = len(before) and len(v)
        zs[k] = _z(before.sum(), len(before), v.sum(), len(v)) if ok else 0.0
        out[f"z_{k}"] = round(zs[k], 2)
    moved = [k for k in ("recent", "holdout") if abs(zs[k]) > Z_LIMIT]
    out["drifted"] = bool(moved)
    out["message"] = ""
    if moved:
        rate = {k: out[k]["rate"] for k in groups}
        parts = []
        if "recent" in moved:
            parts.append(
                f"the last {_months(span)} of training {noun} at {rate['recent']:.0%} vs "
                f"{rate['before']:.0%} before"
            )
        if "holdout" in moved:
            parts.append(
                f"the most recent (holdout) records {noun} at {rate['holdout']:.0%} vs "
                f"{rate['before']:.0%} in the earlier training records"
            )
        out["message"] = (
            "The outcome rate has moved over time: "
            + "; ".join(parts)
            + ". Probabilities are calibrated to the training period; set "
            "calibration.recent_days to anchor them to the most recent months."
        )
    return out
