"""Numeric and count CRM fields: made numeric, skewed counts log-transformed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from crm_predict.features._base import check_frame, input_names


class NumericTransformer(TransformerMixin, BaseEstimator):
    """Cast fields to float and apply ``log1p`` to the non-negative, right-skewed ones.

    Missing values stay missing: LightGBM learns a direction for them, and the baseline's
    imputer adds an indicator. A log-transformed column is renamed ``<field>__log1p`` so
    that explanations still map it to its CRM field.

    Parameters
    ----------
    skew_threshold : float
        Sample skewness above which a non-negative column is log-transformed.
        ``None`` never transforms.

    Attributes
    ----------
    log_columns_ : list of str
        Columns that get ``log1p``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = NumericTransformer().fit(pd.DataFrame({"visits": [0, 0, 1, 1, 2, 50]}))
    >>> t.get_feature_names_out().tolist()
    ['visits__log1p']
    """

    def __init__(self, skew_threshold: float | None = 1.0) -> None:
        self.skew_threshold = skew_threshold

    def fit(self, X, y=None) -> NumericTransformer:
        """Decide, per column, whether to log-transform it."""
        frame = _floats(check_frame(self, X, reset=True))
        self.log_columns_ = []
        if self.skew_threshold is not None:
            for col in frame.columns:
                s = frame[col].dropna()
                if len(s) > 2 and s.min() >= 0 and s.skew() > self.skew_threshold:
                    self.log_columns_.append(col)
        return self

    def transform(self, X) -> pd.DataFrame:
        """Return float columns, log-transformed where learned."""
        check_is_fitted(self, "log_columns_")
        frame = _floats(check_frame(self, X, reset=False))
        out = frame.copy()
        for col in self.log_columns_:
            out[col] = np.log1p(frame[col].clip(lower=0))
        out.columns = self.get_feature_names_out()
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Return ``<field>`` or ``<field>__log1p`` per input column."""
        check_is_fitted(self, "log_columns_")
        logs = set(self.log_columns_)
        return np.asarray(
            [f"{c}__log1p" if c in logs else c for c in input_names(self)], dtype=object
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        # Text is parsed value by value (numbers written as text), not cast with np.asarray.
        tags.input_tags.string = True
        return tags


def _floats(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda s: pd.to_numeric(s, errors="coerce")).astype(float)
