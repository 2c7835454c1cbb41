"""Checks on the inputs of every evaluation: true outcomes and predicted probabilities.

Inputs are lists, NumPy arrays or pandas Series, matched row for row. Bad input (lengths
that differ, ``p`` missing or outside [0, 1], outcomes other than 0 or 1) raises
``ValueError`` naming the rows: Series index labels, which are usually lead ids, or else
positions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


def check_probabilities(p: ArrayLike) -> np.ndarray:
    """Predicted probabilities as a float array, or a ``ValueError`` naming the bad rows.

    Parameters
    ----------
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.

    Returns
    -------
    numpy.ndarray of float
        One-dimensional, no NaN, every value in [0, 1].

    Examples
    --------
    >>> check_probabilities([0.2, 0.9]).tolist()
    [0.2, 0.9]
    >>> check_probabilities(pd.Series([0.2, 1.5], index=["L-7", "L-8"]))
    Traceback (most recent call last):
    ...
    ValueError: p has 1 value outside [0, 1] (row L-8)
    """
    prob = _as_float_1d(p, "p")
    _reject(np.isnan(prob), p, "p has {count} missing (NaN) value{s}")
    _reject((prob < 0) | (prob > 1), p, "p has {count} value{s} outside [0, 1]")
    return prob


def check_outcomes(y_true: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """True outcomes and predicted probabilities, checked to match row for row.

    Parameters
    ----------
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.

    Returns
    -------
    y : numpy.ndarray of int64
        The outcomes, 0 or 1.
    prob : numpy.ndarray of float
        The probabilities, as from :func:`check_probabilities`.

    Raises
    ------
    ValueError
        On lengths that differ, no rows, outcomes other than 0 or 1, or bad ``p``.

    Examples
    --------
    >>> y, prob = check_outcomes([1, 0], [0.8, 0.1])
    >>> y.tolist(), prob.tolist()
    ([1, 0], [0.8, 0.1])
    """
    y = _as_float_1d(y_true, "y_true")
    prob = check_probabilities(p)
    if len(y) != len(prob):
        raise ValueError(
            f"y_true has {len(y)} rows but p has {len(prob)}; they must match row for row"
        )
    if len(y) == 0:
        raise ValueError("y_true and p are empty; there is nothing to evaluate")
    _reject(~np.isin(y, (0, 1)), y_true, "y_true has {count} value{s} other than 0 or 1")
    return y.astype(np.int64), prob


def _as_float_1d(values: ArrayLike, name: str) -> np.ndarray:
    try:
        if isinstance(values, pd.Series):
            # Nullable dtypes (Int64, boolean) hold pd.NA, which np.asarray cannot cast.
            array = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    return array


def _reject(bad: np.ndarray, values: ArrayLike, message: str) -> None:
    if not bad.any():
        return
    # Name the rows: Series index labels are usually lead ids, otherwise positions.
    labels = values.index[bad] if isinstance(values, pd.Series) else np.flatnonzero(bad)
    shown = ", ".join(map(str, labels[:5])) + (", ..." if len(labels) > 5 else "")
    s = "s" if len(labels) > 1 else ""
    raise ValueError(message.format(count=len(labels), s=s) + f" (row{s} {shown})")
