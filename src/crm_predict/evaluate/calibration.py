"""Calibration and lift: predictions against outcomes in probability bins and rank groups.

Inputs are checked by :mod:`crm_predict.evaluate.inputs`: true outcomes (``y_true``, 0 or 1
per lead) and predicted conversion probabilities (``p``), matched row for row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from crm_predict.evaluate.inputs import check_outcomes


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
    y, prob = check_outcomes(y_true, p)
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
    y, prob = check_outcomes(y_true, p)
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
    y, prob = check_outcomes(y_true, p)
    return _lift(y, prob, n_groups)


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
