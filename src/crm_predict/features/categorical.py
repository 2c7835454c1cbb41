"""Categorical CRM fields: rare levels grouped, missing kept, unseen levels scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from crm_predict.features._base import as_frame

MISSING = "(missing)"
OTHER = "(other)"


class CategoricalEncoder(TransformerMixin, BaseEstimator):
    """Encode text fields as pandas categoricals with a fixed, learned set of levels.

    Levels seen fewer than ``min_count`` times are grouped into ``"(other)"``; so are levels
    first seen at scoring time, which therefore score like the rare group instead of failing.
    Missing values become their own level ``"(missing)"`` because "not answered" is often a
    signal in CRM data.

    Parameters
    ----------
    min_count : int
        Levels with fewer training rows are grouped into ``"(other)"``.

    Attributes
    ----------
    categories_ : dict of str to list of str
        The levels kept per column, ``"(other)"`` and ``"(missing)"`` last.
    feature_names_in_ : ndarray of str
        Input columns.

    Examples
    --------
    >>> import pandas as pd
    >>> enc = CategoricalEncoder(min_count=2).fit(pd.DataFrame({"source": ["web", "web", "ad"]}))
    >>> enc.transform(pd.DataFrame({"source": ["web", "tv", None]}))["source"].tolist()
    ['web', '(other)', '(missing)']
    """

    def __init__(self, min_count: int = 20) -> None:
        self.min_count = min_count

    def fit(self, X, y=None) -> CategoricalEncoder:
        """Learn the levels of every column."""
        frame = as_frame(X)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.categories_ = {}
        for col in frame.columns:
            counts = _text(frame[col]).value_counts()
            kept = sorted(counts.index[counts >= self.min_count])
            self.categories_[col] = [*kept, OTHER, MISSING]
        return self

    def transform(self, X) -> pd.DataFrame:
        """Map every value to a learned level; return categorical columns."""
        check_is_fitted(self, "categories_")
        frame = as_frame(X)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {frame.shape[1]} features, but CategoricalEncoder is expecting "
                f"{self.n_features_in_} features as input"
            )
        frame.columns = self.feature_names_in_
        out = {}
        for col, levels in self.categories_.items():
            text = _text(frame[col])
            known = text.isin(levels[:-2])
            value = text.where(known, OTHER).where(text.notna(), MISSING)
            out[col] = pd.Categorical(value.astype(object), categories=levels)
        return pd.DataFrame(out, index=frame.index)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Return the output names: the input column names."""
        check_is_fitted(self, "categories_")
        return np.asarray(self.feature_names_in_, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


def _text(s: pd.Series) -> pd.Series:
    return s.astype("object").where(s.notna(), None).map(
        lambda v: v if v is None else str(v), na_action="ignore"
    )
