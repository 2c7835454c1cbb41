"""Out-of-fold predictions of every fitted model on the same training records.

The champion is chosen on these (:mod:`crm_predict.training.selection`), never on the holdout.
LightGBM's fold models already predicted their validation rows while it was fitted, and the
blend's logistic part on those folds *is* the logistic baseline; any other model is refitted
per fold on the same rows (the Bayesian model on the most recent fold only, with fewer draws:
sampling is the slow part).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from crm_predict.models.bayes import BayesConvergenceWarning
from crm_predict.models.gbm import PROBABILITY_FLOOR

REFIT_FOLDS = {"bayes": 1}
"""Most folds a model is refitted on to get its out-of-fold predictions (the latest ones)."""
REFIT_CAPS = {"bayes": {"draws": 300, "tune": 300, "retry": False}}
"""Caps on a refit's parameters: the posterior mean that scores a fold settles with far
fewer draws than the intervals of the registered model need, and without a second run.
So a capped refit's
convergence warning (an effective sample size under 400 in some spread) is not shown: the
registered model's own fit reports its convergence, and this one only scores a fold."""


def out_of_fold(
    pipelines: dict[str, Pipeline],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Every model's predictions on training rows it did not train on, on common rows.

    Parameters
    ----------
    pipelines : dict
        Fitted pipelines by model name (``gbm``, ``logreg``, ``bayes``), each fitted on ``X``.
    X : DataFrame
        The training rows (model frame), in the order the pipelines were fitted on.
    y : ndarray
        Their 0/1 outcomes.
    folds : list of (fit rows, validation rows)
        Used when there is no LightGBM model to take them from.

    Returns
    -------
    (rows, y_rows, predictions)
        Positions in ``X`` held out by every model, their outcomes, and each model's
        probabilities on them.
    """
    n = len(X)
    preds: dict[str, np.ndarray] = {}
    if "gbm" in pipelines:
        oof = pipelines["gbm"][-1].oof_
        folds = oof.folds
        preds["gbm"] = _spread(n, oof.rows, oof.proba)
        if oof.linear is not None and "logreg" in pipelines:
            preds["logreg"] = _spread(n, oof.rows, expit(oof.linear))
    for name, pipe in pipelines.items():
        if name in preds:
            continue
        features = pipe[:-1].transform(X)
        preds[name] = np.full(n, np.nan)
        for fit_idx, valid_idx in folds[-REFIT_FOLDS.get(name, len(folds)) :]:
            model = clone(pipe[-1])
            caps = REFIT_CAPS.get(name, {})
            model.set_params(**{k: min(v, model.get_params()[k]) for k, v in caps.items()})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", BayesConvergenceWarning)
                model = model.fit(features.iloc[fit_idx], y[fit_idx])
            preds[name][valid_idx] = model.predict_proba(features.iloc[valid_idx])[:, 1]
    common = np.flatnonzero(np.all([np.isfinite(p) for p in preds.values()], axis=0))
    clipped = {
        k: np.clip(v[common], PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR) for k, v in preds.items()
    }
    return common, np.asarray(y)[common], clipped


def _spread(n: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.full(n, np.nan)
    out[rows] = values
    return out
