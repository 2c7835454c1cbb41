"""Is one model's ROC AUC really below another's on the same rows? DeLong's paired test."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def paired_auc(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """ROC AUC of two scores on the same rows and the standard error of their difference.

    DeLong, DeLong & Clarke-Pearson (1988), in the fast midrank form of Sun & Xu (2014):
    the two AUCs are correlated because they rank the same leads, and the paired standard
    error accounts for it.

    Parameters
    ----------
    y : ndarray
        0/1 outcomes.
    a, b : ndarray
        Two models' scores for the same rows.

    Returns
    -------
    (auc_a, auc_b, se)
        ``se`` is the standard error of ``auc_a − auc_b`` (NaN without both outcomes).

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    >>> auc_a, auc_b, se = paired_auc(y, np.arange(8.0), np.arange(8.0)[::-1])
    >>> round(auc_a, 4), round(auc_b, 4), se > 0
    (0.6875, 0.3125, True)
    """
    y = np.asarray(y).astype(bool)
    scores = np.vstack([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        return float("nan"), float("nan"), float("nan")
    tx = np.apply_along_axis(rankdata, 1, pos)
    ty = np.apply_along_axis(rankdata, 1, neg)
    tz = np.apply_along_axis(rankdata, 1, np.hstack([pos, neg]))
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    cov = np.cov(v01) / m + np.cov(v10) / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    return float(aucs[0]), float(aucs[1]), float(np.sqrt(max(var, 0.0)))
