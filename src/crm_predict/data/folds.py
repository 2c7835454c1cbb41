"""Validation folds that move forward in time (rolling origin)."""

from __future__ import annotations

import numpy as np


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
