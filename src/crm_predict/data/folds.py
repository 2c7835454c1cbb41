"""Validation folds: rolling-origin blocks that move forward in time, or stratified k-fold."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold


def rolling_origin_folds(
    rows: np.ndarray, n_folds: int, block: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to ``n_folds`` blocks of ``block`` rows from the end of ``rows`` (time-ordered),
    each with every earlier row to fit on; folds with less than one block to fit on are
    dropped. Oldest first.

    Parameters
    ----------
    rows : ndarray
        Row positions, oldest first.
    n_folds : int
        Folds wanted.
    block : int
        Validation rows per fold.

    Returns
    -------
    list of (fit rows, validation rows)

    Examples
    --------
    >>> [(len(f), len(v)) for f, v in rolling_origin_folds(np.arange(10), 3, 2)]
    [(4, 2), (6, 2), (8, 2)]
    """
    folds = []
    for j in range(1, max(n_folds, 1) + 1):
        end, start = len(rows) - (j - 1) * block, len(rows) - j * block
        if start < block:
            break
        folds.append((rows[:start], rows[start:end]))
    return folds[::-1]


def fold_rows(
    y: np.ndarray,
    folds: int,
    time_ordered: bool = False,
    validation_fraction: float = 0.2,
    random_state: int = 42,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, validation rows) of each fold of :class:`~crm_predict.models.gbm.CalibratedLGBM`.

    Rolling-origin blocks when ``time_ordered`` (the rows are sorted by time), one trailing
    slice when ``folds`` is 1, stratified k-fold otherwise.

    Examples
    --------
    >>> [len(v) for _, v in fold_rows(np.tile([0, 1], 50), 3, time_ordered=True)]
    [20, 20, 20]
    """
    if not isinstance(folds, (int, np.integer)) or folds < 1:
        raise ValueError(f"folds must be a whole number of at least 1, not {folds!r}")
    n = len(y)
    n_valid = max(2, int(round(n * validation_fraction)))
    if time_ordered:
        rolling = rolling_origin_folds(np.arange(n), folds, n_valid)
        return rolling or [(np.arange(n - n_valid), np.arange(n - n_valid, n))]
    if folds == 1:
        return [(np.arange(n - n_valid), np.arange(n - n_valid, n))]
    smaller = int(np.bincount(y).min())
    if smaller < folds:
        raise ValueError(
            f"{folds} cross-fitting folds need at least {folds} rows of each "
            f"outcome; the rarer one has {smaller}: lower folds"
        )
    kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    return list(kfold.split(np.zeros(n), y))
