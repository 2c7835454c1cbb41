"""Judging a model on time it has not seen: label delay, holdout metrics, backtests.

Used by :mod:`crm_predict.lifecycle.retrain` to compare a challenger with the champion.
:func:`judged_rows` keeps the holdout leads old enough to have a known outcome (younger
ones are not negatives yet), :func:`holdout_metrics` gives the compared metrics and
:func:`run_backtest` refits model recipes on rolling-origin folds before the holdout
(:func:`backtest_folds`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from crm_predict.config import TaskConfig
from crm_predict.data.folds import rolling_origin_folds
from crm_predict.evaluate.metrics import classification_metrics
from crm_predict.training.train import TrainResult

METRICS = ("roc_auc", "brier", "log_loss", "ece", "n", "positive_rate")


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def holdout_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """The compared metrics (:data:`METRICS`), JSON-ready (None where undefined).

    Examples
    --------
    >>> y = np.array([0, 1] * 10)
    >>> holdout_metrics(y, np.where(y == 1, 0.7, 0.3))["roc_auc"]
    1.0
    """
    m = classification_metrics(y, p)
    return {k: _num(m[k]) for k in METRICS}


def judged_rows(result: TrainResult, window: int | None) -> np.ndarray:
    """Holdout rows old enough to have a known outcome (all of them without a window).

    Examples
    --------
    >>> judged_rows(train_task(cfg, models=("gbm",)), 90)  # doctest: +SKIP
    array([...])
    """
    rows = result.split.test
    created = result.config.time.created
    if window is None or not created:
        return rows
    age = (result.data.as_of - result.data.frame[created].iloc[rows]) / pd.Timedelta(days=1)
    return rows[(age >= window).to_numpy()]


def conversion_window(config: TaskConfig) -> int | None:
    """Days after which a lead's outcome counts as known (``retrain.conversion_window_days``,
    else ``target.open_negative_after_days``; None: every holdout lead is judged)."""
    return config.retrain.conversion_window_days or config.target.open_negative_after_days


def backtest_folds(result: TrainResult, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling-origin folds before the holdout: each tests on a block of the holdout's size
    and trains on every labelled row created before it (time-split tasks only).

    Examples
    --------
    >>> [len(test) for _, test in backtest_folds(result, 3)]  # doctest: +SKIP
    [600, 600, 600]
    """
    if result.split.method != "time" or n_folds <= 0:
        return []
    return rolling_origin_folds(result.split.train, n_folds, len(result.split.test))


def run_backtest(
    result: TrainResult,
    folds: list[tuple[np.ndarray, np.ndarray]],
    recipes: dict[str, tuple],
) -> list[dict]:
    """Refit each recipe on every fold's training rows and score its test block.

    Parameters
    ----------
    result : TrainResult
        The challenger's training (labels).
    folds : list of (fit rows, test rows)
        From :func:`backtest_folds`.
    recipes : dict
        ``{name: (unfitted-or-fitted pipeline, model frame)}``; each pipeline is cloned.

    Returns
    -------
    list of dict
        ``fold, model, n_train`` and :func:`holdout_metrics` per fold and recipe.

    Examples
    --------
    >>> folds = backtest_folds(result, 2)  # doctest: +SKIP
    >>> run_backtest(result, folds, {"challenger": (pipe, frame)})  # doctest: +SKIP
    """
    y = result.labels.to_numpy()
    out = []
    for i, (fit, test) in enumerate(folds, start=1):
        for name, (pipeline, frame) in recipes.items():
            model = clone(pipeline).fit(frame.iloc[fit], y[fit].astype(int))
            p = model.predict_proba(frame.iloc[test])[:, 1]
            row = {"fold": i, "model": name, "n_train": len(fit)}
            out.append(row | holdout_metrics(y[test].astype(int), p))
    return out
