"""The first pipeline step: raw CRM rows to the typed frame the feature builders expect."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from crm_predict.data import schema

AS_OF = "as_of"


class CRMCleaner(TransformerMixin, BaseEstimator):
    """Apply the config's cleaning to raw rows, so a served model accepts raw CRM rows.

    Placeholders become missing, recodes are applied, text fields become strings, numbers
    and dates are parsed (unparseable values become missing: scoring flags them, it does
    not stop). A field absent from the input scores as missing, and a missing ``as_of``
    column is filled with ``as_of``.

    Parameters
    ----------
    categorical, numeric, dates : list of str
        Fields by type.
    placeholders : list of str
        Values meaning "not answered".
    recode : dict
        ``{field: {old: new}}``.
    as_of : Timestamp or str, optional
        The date rows are seen from when the input has no ``as_of`` column.

    Examples
    --------
    >>> import pandas as pd
    >>> c = CRMCleaner(categorical=["source"], placeholders=["Select"]).fit(None)
    >>> c.transform(pd.DataFrame({"source": ["Select", " web "]}))["source"].isna().tolist()
    [True, False]
    """

    def __init__(
        self,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        dates: list[str] | None = None,
        placeholders: list[str] | None = None,
        recode: dict[str, dict[str, str]] | None = None,
        as_of=None,
    ) -> None:
        self.categorical = categorical
        self.numeric = numeric
        self.dates = dates
        self.placeholders = placeholders
        self.recode = recode
        self.as_of = as_of

    def fit(self, X, y=None) -> CRMCleaner:
        """Learn which categorical fields are yes/no flags.

        A flag exported as True/False by one system arrives as 1/0 from a database or as
        "yes"/"no" from a spreadsheet; these are mapped back to the training spelling.
        """
        self.flags_ = []
        if X is not None:
            frame = schema.clean_text(X, self.placeholders or [])
            schema.as_text(frame, self.categorical or [])
            for col in self.categorical or []:
                if col in frame.columns:
                    levels = set(frame[col].dropna())
                    if levels and levels <= {"True", "False"}:
                        self.flags_.append(col)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return a cleaned copy of ``X``."""
        frame = schema.clean_text(X, self.placeholders or [])
        expected = [*(self.categorical or []), *(self.numeric or []), *(self.dates or [])]
        for col in expected:
            if col not in frame.columns:
                frame[col] = None
        for col, mapping in (self.recode or {}).items():
            if col in frame.columns:
                frame[col] = frame[col].replace(mapping)
        for col in self.numeric or []:
            if col in frame.columns:
                frame[col] = _numbers(frame[col])
        for col in [*(self.dates or []), AS_OF]:
            if col in frame.columns and not pd.api.types.is_datetime64_any_dtype(frame[col]):
                frame[col] = pd.to_datetime(frame[col], errors="coerce").astype("datetime64[ns]")
        schema.as_text(frame, self.categorical or [])
        for col in getattr(self, "flags_", []):
            if col in frame.columns:
                frame[col] = _flags(frame[col])
        if AS_OF not in frame.columns:
            frame[AS_OF] = pd.Timestamp(self.as_of) if self.as_of is not None else pd.NaT
            frame[AS_OF] = frame[AS_OF].astype("datetime64[ns]")
        return frame


def _numbers(column: pd.Series) -> np.ndarray:
    """``pd.to_numeric(column, errors="coerce")`` as floats; text parsed once per distinct
    value (a column of counts repeats a few hundred)."""
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    codes, uniques = pd.factorize(column.to_numpy(dtype=object))
    parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce")
    return np.append(parsed.to_numpy(dtype=float), np.nan)[codes]  # code -1, a blank: last


def _flags(column: pd.Series) -> pd.Series:
    """:func:`_flag` of every filled cell, called once per distinct value."""
    values = column.to_numpy(dtype=object, copy=True)
    codes, uniques = pd.factorize(values)
    filled = codes >= 0
    values[filled] = np.array([_flag(v) for v in uniques], dtype=object)[codes[filled]]
    return pd.Series(values, index=column.index, name=column.name)


_TRUE = {"true", "1", "1.0", "yes", "y", "t"}
_FALSE = {"false", "0", "0.0", "no", "n", "f"}


def _flag(value: str) -> str:
    low = str(value).strip().lower()
    if low in _TRUE:
        return "True"
    if low in _FALSE:
        return "False"
    return value
