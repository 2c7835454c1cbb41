"""Keep the feature columns that come from chosen CRM fields."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from crm_predict.features.assemble import field_of


class FieldSelector(TransformerMixin, BaseEstimator):
    """Select the columns of a feature frame whose CRM field (see :func:`field_of`) is listed.

    Parameters
    ----------
    fields : list of str
        CRM fields to keep, e.g. ``["source", "employees"]`` keeps ``source``,
        ``employees__band`` and ``employees__log1p``.
    grouped_only : list of str, optional
        Fields of ``fields`` that enter only through their non-numeric columns (a size
        field through its band, not also its count: the two say the same thing).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"source": ["a"], "employees__log1p": [1.0], "owner": ["b"]})
    >>> FieldSelector(["source", "employees"]).fit(X).transform(X).columns.tolist()
    ['source', 'employees__log1p']
    """

    def __init__(self, fields: list[str] | None = None, grouped_only: list[str] | None = None):
        self.fields = fields
        self.grouped_only = grouped_only

    def fit(self, X: pd.DataFrame, y=None) -> FieldSelector:
        """Find the columns to keep; every listed field must produce at least one."""
        wanted = list(self.fields or [])
        grouped = set(self.grouped_only or [])
        self.columns_ = [
            c
            for c in X.columns
            if field_of(c) in wanted
            and not (field_of(c) in grouped and pd.api.types.is_numeric_dtype(X[c]))
        ]
        found = {field_of(c) for c in self.columns_}
        missing = [f for f in wanted if f not in found]
        if missing:
            raise ValueError(f"no feature comes from field(s) {missing}")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return the kept columns."""
        check_is_fitted(self, "columns_")
        return X[self.columns_]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The kept column names."""
        check_is_fitted(self, "columns_")
        return np.asarray(self.columns_, dtype=object)
