"""Numeric and count CRM fields: made numeric, skewed counts log-transformed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.utils.validation import check_is_fitted

from crm_predict.features._base import check_frame, input_names


class NumericTransformer(TransformerMixin, BaseEstimator):
    """Cast fields to float and apply ``log1p`` to the non-negative, right-skewed ones.

    Missing values stay missing: LightGBM learns a direction for them, and the baseline's
    imputer adds an indicator. A log-transformed column is renamed ``<field>__log1p`` so
    that explanations still map it to its CRM field.

    A strongly skewed column (skewness above ``skew_threshold``) is always logged. A
    moderately skewed one (above ``moderate_skew``) is logged when ``fit`` gets a binary
    outcome and ``log1p`` fits it better than the raw value in a one-variable logistic
    regression: trees do not care, but the logistic baseline, the logistic part of the blend and
    the Bayesian slopes do (telco's TotalCharges, skewness 0.96: baseline AUC 0.842 → 0.849;
    see ``benchmarks/RESULTS.md``).

    Parameters
    ----------
    skew_threshold : float
        Sample skewness above which a non-negative column is log-transformed.
        ``None`` never transforms.
    moderate_skew : float
        Sample skewness above which the outcome decides; ``None`` leaves it to
        ``skew_threshold`` alone.

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

    def __init__(
        self, skew_threshold: float | None = 1.0, moderate_skew: float | None = 0.5
    ) -> None:
        self.skew_threshold = skew_threshold
        self.moderate_skew = moderate_skew

    def fit(self, X, y=None) -> NumericTransformer:
        """Decide, per column, whether to log-transform it (``y``: the 0/1 outcome)."""
        frame = _floats(check_frame(self, X, reset=True))
        self.log_columns_ = []
        if self.skew_threshold is None:
            return self
        outcome = _binary(y, len(frame))
        moderate = np.inf if outcome is None or self.moderate_skew is None else self.moderate_skew
        for col in frame.columns:
            s = frame[col].dropna()
            if len(s) <= 2 or s.min() < 0:
                continue
            skew = s.skew()
            if skew > self.skew_threshold or (
                skew > moderate and _log_fits_better(frame[col], outcome)
            ):
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


def _binary(y, n: int) -> np.ndarray | None:
    """``y`` as 0/1 when it is a two-class outcome for every row, else None."""
    if y is None:
        return None
    values = np.asarray(y)
    if values.shape != (n,):
        return None
    classes = np.unique(values)
    if len(classes) != 2:
        return None
    return (values == classes[1]).astype(int)


def _log_fits_better(column: pd.Series, y: np.ndarray) -> bool:
    """Whether ``log1p`` of a column predicts ``y`` better than the column itself.

    Each is median-imputed, standardised and fitted alone by a logistic regression; the
    in-sample log loss decides (one parameter each, so neither has an edge in size).
    """
    raw = column.to_numpy(dtype=float)
    raw = np.where(np.isnan(raw), np.nanmedian(raw), raw)
    losses = []
    for x in (raw, np.log1p(np.clip(raw, 0, None))):
        sd = x.std()
        z = ((x - x.mean()) / (sd if sd > 0 else 1.0)).reshape(-1, 1)
        fit = LogisticRegression(C=1e4).fit(z, y)
        losses.append(log_loss(y, fit.predict_proba(z)[:, 1]))
    return losses[1] < losses[0]
