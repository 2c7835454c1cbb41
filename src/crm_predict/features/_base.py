"""Helpers shared by the feature builders."""

from __future__ import annotations

import pandas as pd
from sklearn.utils.validation import _check_feature_names_in, validate_data


def check_frame(estimator, X, *, reset: bool) -> pd.DataFrame:
    """Validate ``X`` the way scikit-learn does and return it as a DataFrame.

    Rejects sparse, complex, empty and 1-d input; on ``reset`` records ``n_features_in_``
    (and ``feature_names_in_`` for a DataFrame), otherwise checks ``X`` against them.
    Values are not converted: text, dates and missing values reach the transformer as
    they came. Columns are named as in fit (``x0, x1, …`` for arrays).
    """
    if isinstance(X, pd.DataFrame):
        # check_array cannot hold dates and numbers in one array: check the frame's shape
        # and names only, and leave its typed columns alone.
        validate_data(estimator, X, reset=reset, skip_check_array=True)
        if min(X.shape) == 0:
            raise ValueError(
                f"Found a table with {X.shape[0]} sample(s) and {X.shape[1]} feature(s) "
                f"(shape={X.shape}) while a minimum of 1 of each is required."
            )
        return X.set_axis(input_names(estimator), axis=1)
    checked = validate_data(estimator, X, reset=reset, dtype=None, ensure_all_finite=False)
    return pd.DataFrame(checked, columns=input_names(estimator)).infer_objects()


def input_names(estimator) -> list[str]:
    """The fitted input column names (``x0, x1, …`` when fitted on an array)."""
    return [str(c) for c in _check_feature_names_in(estimator, None)]


def days_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Days from ``earlier`` to ``later`` as floats (NaN where either is missing)."""
    delta = pd.to_datetime(later) - pd.to_datetime(earlier)
    return delta / pd.Timedelta(days=1)
