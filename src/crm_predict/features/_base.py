"""Helpers shared by the feature builders."""

from __future__ import annotations

import numpy as np
import pandas as pd


def as_frame(X, columns: list[str] | None = None) -> pd.DataFrame:
    """Return ``X`` as a DataFrame; arrays get string column names ``x0, x1, …``."""
    if isinstance(X, pd.DataFrame):
        return X if columns is None else X[columns]
    arr = np.asarray(X, dtype=object)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-d table, got an array of shape {arr.shape}")
    frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    return frame if columns is None else frame[columns]


def days_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Days from ``earlier`` to ``later`` as floats (NaN where either is missing)."""
    delta = pd.to_datetime(later) - pd.to_datetime(earlier)
    return delta / pd.Timedelta(days=1)
