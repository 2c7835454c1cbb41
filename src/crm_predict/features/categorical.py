"""Categorical CRM fields: rare levels grouped, missing kept, unseen levels scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from crm_predict.features._base import check_frame, input_names

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
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of str
        Input columns (when fitted on a DataFrame).

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
        frame = check_frame(self, X, reset=True)
        self.categories_ = {}
        for col in frame.columns:
            counts = _text(frame[col]).value_counts()
            # A raw level spelled like a reserved one would duplicate a category.
            kept = sorted(
                v for v in counts.index[counts >= self.min_count] if v not in (OTHER, MISSING)
            )
            self.categories_[col] = [*kept, OTHER, MISSING]
        return self

    def transform(self, X) -> pd.DataFrame:
        """Map every value to a learned level; return categorical columns."""
        check_is_fitted(self, "categories_")
        frame = check_frame(self, X, reset=False)
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
        return np.asarray(input_names(self), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        # Output is categorical text levels, whatever the input dtype.
        tags.transformer_tags.preserves_dtype = []
        return tags


def _text(s: pd.Series) -> pd.Series:
    text = s.astype("object").where(s.notna(), None)
    if pd.api.types.infer_dtype(text.to_numpy(), skipna=True) in ("string", "empty"):
        return text  # text already (a lead list is read as text): no call per cell
    return text.map(lambda v: v if v is None else str(v), na_action="ignore")
