"""Date-derived CRM features: lead age, creation calendar, company-size bands, pace."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from crm_predict.features._base import check_frame, days_between, input_names


class DateFeatures(TransformerMixin, BaseEstimator):
    """Age in days of each date field as of a reference date, and optionally its calendar.

    ``X``'s last column is the reference date (each row's ``as_of``); the others are date
    fields. Outputs per field: ``<field>__age_days`` (when ``age``), and
    ``<field>__weekday`` (0 = Monday) and ``<field>__month`` (when ``calendar``).

    Parameters
    ----------
    age : bool
        Emit the age in days.
    calendar : bool
        Emit weekday and month.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"created_at": pd.to_datetime(["2024-01-01"]),
    ...                   "as_of": pd.to_datetime(["2024-01-11"])})
    >>> DateFeatures().fit(X).transform(X).iloc[0].tolist()
    [10.0]
    """

    def __init__(self, age: bool = True, calendar: bool = False) -> None:
        self.age = age
        self.calendar = calendar

    def fit(self, X, y=None) -> DateFeatures:
        """Remember the field names."""
        frame = check_frame(self, X, reset=True)
        if frame.shape[1] < 2:
            raise ValueError(
                "DateFeatures needs date fields and a last reference-date column, "
                f"got {frame.shape[1]} feature(s)"
            )
        return self

    def transform(self, X) -> pd.DataFrame:
        """Compute ages and calendar parts."""
        check_is_fitted(self, "n_features_in_")
        frame = check_frame(self, X, reset=False)
        ref = _dates(frame.iloc[:, -1])
        out = {}
        for i, col in enumerate(input_names(self)[:-1]):
            d = _dates(frame.iloc[:, i])
            if self.age:
                out[f"{col}__age_days"] = days_between(ref, d).to_numpy(dtype=float)
            if self.calendar:
                out[f"{col}__weekday"] = d.dt.day_of_week.to_numpy(dtype=float)
                out[f"{col}__month"] = d.dt.month.to_numpy(dtype=float)
        return pd.DataFrame(out, index=frame.index, columns=self.get_feature_names_out())

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output names, ``<field>__<part>``."""
        check_is_fitted(self, "n_features_in_")
        parts = (["age_days"] if self.age else []) + (["weekday", "month"] if self.calendar else [])
        names = [f"{c}__{p}" for c in input_names(self)[:-1] for p in parts]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        # Dates and numbers written as text are parsed value by value.
        tags.input_tags.string = True
        return tags


class SizeBands(TransformerMixin, BaseEstimator):
    """Cut an employee count into company-size bands (a categorical ``<field>__band``).

    Parameters
    ----------
    edges : tuple of float
        Band boundaries; a value equal to an edge falls in the upper band.
    labels : tuple of str
        One label more than ``edges``.

    Examples
    --------
    >>> import pandas as pd
    >>> SizeBands().fit_transform(pd.DataFrame({"employees": [10, 500, None]}))[
    ...     "employees__band"].tolist()
    ['small', 'large', '(missing)']
    """

    def __init__(
        self,
        edges: tuple[float, ...] = (50, 250, 1000),
        labels: tuple[str, ...] = ("small", "mid", "large", "enterprise"),
    ) -> None:
        self.edges = edges
        self.labels = labels

    def fit(self, X, y=None) -> SizeBands:
        """Check the bands and remember the field names."""
        if len(self.labels) != len(self.edges) + 1:
            raise ValueError("SizeBands needs exactly one more label than edges")
        if list(self.edges) != sorted(self.edges):
            raise ValueError("SizeBands needs increasing edges")
        check_frame(self, X, reset=True)
        return self

    def transform(self, X) -> pd.DataFrame:
        """Return one categorical band column per input column."""
        check_is_fitted(self, "n_features_in_")
        frame = check_frame(self, X, reset=False)
        levels = [*self.labels, "(missing)"]
        out = {}
        for i, col in enumerate(input_names(self)):
            values = pd.to_numeric(frame.iloc[:, i], errors="coerce").to_numpy(dtype=float)
            idx = np.searchsorted(np.asarray(self.edges, dtype=float), values, side="right")
            band = np.where(np.isnan(values), len(self.labels), idx)
            out[f"{col}__band"] = pd.Categorical.from_codes(band, categories=levels)
        return pd.DataFrame(out, index=frame.index)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output names, ``<field>__band``."""
        check_is_fitted(self, "n_features_in_")
        return np.asarray([f"{c}__band" for c in input_names(self)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        # Numbers written as text are parsed value by value.
        tags.input_tags.string = True
        # Output is a categorical of band labels, whatever the input dtype.
        tags.transformer_tags.preserves_dtype = []
        return tags


class EngagementFeatures(TransformerMixin, BaseEstimator):
    """Pace of contact: touches per week since creation and days to the first touch.

    ``X`` has four columns in this order: created date, reference date (``as_of``), total
    touches before it, and days since the first touch.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"created_at": pd.to_datetime(["2024-01-01"]),
    ...     "as_of": pd.to_datetime(["2024-01-15"]), "touches_total": [4.0],
    ...     "days_since_first_touch": [11.0]})
    >>> EngagementFeatures().fit(X).transform(X).iloc[0].tolist()
    [2.0, 3.0]
    """

    def fit(self, X, y=None) -> EngagementFeatures:
        """Check the input has the four expected columns."""
        frame = check_frame(self, X, reset=True)
        if frame.shape[1] != 4:
            raise ValueError(
                "EngagementFeatures needs created, as_of, touches_total and "
                f"days_since_first_touch, got {frame.shape[1]} feature(s)"
            )
        return self

    def transform(self, X) -> pd.DataFrame:
        """Compute touches per week of lead age and days from creation to first touch."""
        check_is_fitted(self, "n_features_in_")
        frame = check_frame(self, X, reset=False)
        age = days_between(_dates(frame.iloc[:, 1]), _dates(frame.iloc[:, 0])).to_numpy(float)
        touches = pd.to_numeric(frame.iloc[:, 2], errors="coerce").to_numpy(float)
        since_first = pd.to_numeric(frame.iloc[:, 3], errors="coerce").to_numpy(float)
        weeks = np.maximum(age, 1.0) / 7.0
        return pd.DataFrame(
            {"touches_per_week": touches / weeks, "days_to_first_touch": age - since_first},
            index=frame.index,
        )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output names."""
        return np.asarray(["touches_per_week", "days_to_first_touch"], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        # Dates and numbers written as text are parsed value by value.
        tags.input_tags.string = True
        return tags


def _dates(s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    if pd.api.types.is_numeric_dtype(s):
        return pd.to_datetime(s, unit="D", errors="coerce")
    return pd.to_datetime(s, errors="coerce")
