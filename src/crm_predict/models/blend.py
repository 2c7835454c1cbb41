"""The blend of a logistic regression and LightGBM boosters on the log-odds scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin

BLEND_WEIGHTS = np.round(np.linspace(0.0, 1.0, 21), 2)
"""Weights of the logistic part tried when blending (steps of 0.05)."""


def blend_log_losses(y: np.ndarray, linear: np.ndarray, tree: np.ndarray) -> np.ndarray:
    """Log loss of each blend in :data:`BLEND_WEIGHTS` of two log-odds for outcomes ``y``.

    Blend ``w`` is ``w × linear + (1 − w) × tree``; its log loss is computed on the log-odds
    scale (``log(1 + e^z) − y·z``), exact where probabilities would round to 0 or 1.

    Parameters
    ----------
    y : ndarray
        0/1 outcomes.
    linear, tree : ndarray
        Log-odds of the logistic and LightGBM parts on the same rows.

    Returns
    -------
    ndarray
        One mean log loss per weight, in the order of :data:`BLEND_WEIGHTS`.

    Examples
    --------
    >>> losses = blend_log_losses(np.array([1, 0]), np.array([2.0, -2.0]), np.zeros(2))
    >>> float(losses[0].round(4)), float(losses[-1].round(4))
    (0.6931, 0.1269)
    """
    w = BLEND_WEIGHTS[:, None]
    z = w * np.asarray(linear, dtype=float) + (1 - w) * np.asarray(tree, dtype=float)
    return (np.logaddexp(0.0, z) - np.asarray(y) * z).mean(axis=1)


class BlendedLogit(ClassifierMixin, BaseEstimator):
    """Log-odds ``weight`` × logistic regression + (1 − ``weight``) × mean of the boosters.

    Only built by :class:`CalibratedLGBM`; exposes ``decision_function`` (total log-odds)
    so that the calibrator can read it.

    Parameters
    ----------
    linear : Pipeline or None
        A fitted :func:`~crm_predict.models.baseline.logistic_baseline`; None without a
        logistic part.
    boosters : list of lightgbm.LGBMClassifier
        Fitted boosters, trained from a constant score (one per fold).
    weight : float
        Weight of the logistic part, in [0, 1].
    linear_mean : ndarray or None
        Mean of the logistic regression's encoded training columns: the reference point of
        its exact linear contributions.
    """

    def __init__(self, linear=None, boosters=None, weight=0.0, linear_mean=None) -> None:
        self.linear = linear
        self.boosters = boosters
        self.weight = weight
        self.linear_mean = linear_mean

    def fit(self, X, y):
        """Already fitted by :class:`CalibratedLGBM`; refitting is not supported."""
        raise NotImplementedError("BlendedLogit is assembled from fitted parts")

    @property
    def classes_(self) -> np.ndarray:
        """The boosters' classes."""
        return self.boosters[0].classes_

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self.boosters)

    def linear_score(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the logistic regression (zeros without one)."""
        if self.linear is None:
            return np.zeros(len(X))
        return self.linear.decision_function(X)

    def tree_score(self, X: pd.DataFrame) -> np.ndarray:
        """Mean raw score (log-odds) of the boosters."""
        return np.mean([b.predict(X, raw_score=True) for b in self.boosters], axis=0)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Total log-odds: the weighted blend of both parts."""
        tree = self.tree_score(X) if self.weight < 1 else 0.0
        linear = self.linear_score(X) if self.weight > 0 else 0.0
        return self.weight * linear + (1 - self.weight) * tree

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probabilities."""
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The more likely class (uncalibrated)."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
