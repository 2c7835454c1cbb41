"""Calibration maps and the out-of-fold evidence a calibrated model is judged on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

CALIBRATION_METHODS = ("none", "sigmoid", "isotonic")
"""The maps :class:`Calibration` knows, in the order a tie is resolved (simplest first)."""


@dataclass
class OutOfFold:
    """Predictions of a model on rows it did not train on, fold by fold.

    Attributes
    ----------
    rows : ndarray
        Positions (in the rows passed to ``fit``) of the out-of-fold rows, fold after fold.
    y : ndarray
        Their 0/1 outcomes.
    linear : ndarray or None
        The logistic regression's log-odds (None without a logistic part).
    raw : ndarray
        The blend's log-odds at the chosen weight.
    proba : ndarray
        Calibrated probabilities, the calibrator itself cross-validated on these rows.
    folds : list of (fit rows, validation rows)
        The folds, as positions in the rows passed to ``fit``.
    """

    rows: np.ndarray
    y: np.ndarray
    linear: np.ndarray | None
    raw: np.ndarray
    proba: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]


def recalibrated_log_loss(y: np.ndarray, raw: np.ndarray, blocks: list[int] | None = None) -> float:
    """Log loss of log-odds ``raw`` for outcomes ``y`` after a Platt fit on the same rows.

    Judges a score by how well it ranks and separates the outcomes, whatever its offset
    and scale: two parameters fitted on thousands of rows barely flatter it. With
    ``blocks`` (consecutive block sizes, e.g. the periods of rolling-origin folds) each
    block is recalibrated on its own and the losses are averaged by size, so that a base
    rate that moves between periods does not count.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1, 0, 1])
    >>> a = recalibrated_log_loss(y, np.array([-2.0, -1.0, 1.0, 2.0, 0.5, -0.5]))
    >>> b = recalibrated_log_loss(y, 3 * np.array([-2.0, -1.0, 1.0, 2.0, 0.5, -0.5]) + 1)
    >>> bool(abs(a - b) < 1e-3)
    True
    """
    y, raw = np.asarray(y), np.asarray(raw, dtype=float)
    if blocks is not None and len(blocks) > 1:
        cuts = np.cumsum(blocks)[:-1]
        parts = zip(np.split(y, cuts), np.split(raw, cuts), strict=True)
        return float(np.average([recalibrated_log_loss(a, b) for a, b in parts], weights=blocks))
    if np.ptp(raw) < 1e-12 or len(np.unique(y)) < 2:  # nothing to rank: the base rate only
        rate = float(np.mean(y))
        return float(log_loss(y, np.full(len(y), rate), labels=[0, 1]))
    fit = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
    return float(log_loss(y, fit.predict_proba(raw.reshape(-1, 1))[:, 1], labels=[0, 1]))


class Calibration:
    """Probability of the outcome given log-odds: none, Platt scaling or isotonic regression.

    ``none`` reads the log-odds as they are (the logistic function), ``sigmoid`` fits a
    one-variable logistic regression on them (Platt scaling), ``isotonic`` a non-decreasing
    step function (scikit-learn's ``IsotonicRegression``).

    Parameters
    ----------
    method : {"none", "sigmoid", "isotonic"}
        The calibration map.

    Examples
    --------
    >>> import numpy as np
    >>> raw = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
    >>> cal = Calibration("isotonic").fit(raw, np.array([0, 0, 1, 0, 1, 1]))
    >>> cal.predict(np.array([-5.0, 5.0])).tolist()
    [0.0, 1.0]
    """

    def __init__(self, method: str) -> None:
        self.method = method

    def fit(self, raw: np.ndarray, y: np.ndarray) -> Calibration:
        """Fit the map from log-odds ``raw`` to the 0/1 outcome ``y``."""
        if self.method == "none":
            return self
        if self.method == "sigmoid":
            self.map_ = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
        else:
            self.map_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of log-odds ``raw``."""
        if self.method == "none":
            return expit(raw)
        if self.method == "sigmoid":
            return self.map_.predict_proba(raw.reshape(-1, 1))[:, 1]
        return self.map_.predict(raw)
