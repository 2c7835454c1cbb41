"""The tuning objective: mean validation log loss over folds inside the training period.

The data is loaded and the features are built once per study run
(:func:`prepare_tuning_data`): the training part of ``train_task``'s split is cut into
``tuning.folds`` validation folds (:func:`crm_predict.data.split.validation_folds`: rolling
origin for a time split, stratified K-fold without dates) and the feature pipeline is
fitted once per fold on that fold's fit rows. Every trial then only fits
:class:`~crm_predict.models.gbm.CalibratedLGBM` per fold (:func:`make_objective`) and is
scored by the mean calibrated log loss over the folds; the holdout is never seen. A trial's
model validates on one slice of its fold (``folds=1``) even where ``train`` cross-fits
(``gbm.folds``): the booster parameters are judged the same way at a fraction of the cost. Averaging
over several time-ordered folds keeps the study from fitting the noise of one slice.

A LightGBM callback (:class:`PruningCallback`) reports the running fold mean of the
validation log loss every few rounds, so the median pruner can stop a trial that lags behind
the others at the same fold and round. The loss reported is the blend's with the fold's
logistic regression (:func:`blend_log_loss`), not the booster's alone: a booster that starts
from a constant and learns slowly looks bad for hundreds of rounds on its own, and pruning
on that cut slow learning rates before they were judged.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from crm_predict.config import TaskConfig, TuningSpec
from crm_predict.data.loading import TaskData, load_task_data
from crm_predict.data.split import split_task, training_labels, validation_folds
from crm_predict.features import task_frame
from crm_predict.lifecycle.tune_space import suggest_params
from crm_predict.models.gbm import PROBABILITY_FLOOR, CalibratedLGBM, blend_log_losses
from crm_predict.training.train import build_pipeline


@dataclass
class TuningFold:
    """Feature matrices of one validation fold (features fitted on its fit rows only)."""

    X_fit: pd.DataFrame
    y_fit: np.ndarray
    X_valid: pd.DataFrame
    y_valid: np.ndarray


@dataclass
class TuningData:
    """The validation folds shared by every trial (built once per study run)."""

    config: TaskConfig
    folds: list[TuningFold]


def prepare_tuning_data(config: TaskConfig, data: TaskData | None = None) -> TuningData:
    """Load the task, split it as ``train_task`` does and build each fold's features once.

    Parameters
    ----------
    config : TaskConfig
        The task; ``tuning.folds`` sets the number of folds.
    data : TaskData, optional
        Already loaded data.

    Returns
    -------
    TuningData

    Raises
    ------
    ValueError
        When the training rows are too few for one fold with both outcomes.

    Examples
    --------
    >>> prepared = prepare_tuning_data(load_config("configs/leads_demo.yaml"))  # doctest: +SKIP
    >>> len(prepared.folds)  # doctest: +SKIP
    3
    """
    data = data if data is not None else load_task_data(config)
    frame, _, acts = task_frame(data, config)
    labels = training_labels(data, config)
    split = split_task(data, labels, config)
    y = labels.to_numpy()
    folds = []
    for fit_rows, valid_rows in validation_folds(
        split, labels, config.tuning.folds, config.split.seed
    ):
        y_fit = y[fit_rows].astype(int)
        if len(np.unique(y_fit)) < 2:
            continue
        features = build_pipeline(config, "passthrough", acts, data.as_of)
        X_fit = features.fit_transform(frame.iloc[fit_rows], y_fit)
        X_valid = features.transform(frame.iloc[valid_rows])
        folds.append(TuningFold(X_fit, y_fit, X_valid, y[valid_rows].astype(int)))
    if not folds:
        raise ValueError(
            f"task '{config.name}' has too few labelled training records "
            f"({len(split.train):,}) for one tuning fold; lower tuning.folds or "
            "split.validation_size, or add data"
        )
    return TuningData(config, folds)


class PruningCallback:
    """A LightGBM callback that reports the running fold-mean log loss to an Optuna trial.

    Every ``every`` rounds the mean of ``done`` (the finished folds' log losses at their
    best round) and the current round's validation log loss is reported as the trial's
    intermediate value at step ``offset + round``; when the pruner says the trial lags
    behind the others at that step, :class:`optuna.TrialPruned` stops the fit. The log loss
    read is the blend's (:func:`blend_log_loss`) where the round reports one, else the
    booster's own.

    Parameters
    ----------
    trial : optuna.Trial
    every : int
        Rounds between reports (each report is a write to the study storage).
    offset : int
        Added to the round (fold number times the round cap), so that steps of different
        folds never collide.
    done : sequence of float
        Log losses of the trial's folds already fitted.

    Examples
    --------
    >>> cb = PruningCallback(study.ask(), every=10, offset=2000, done=[0.61])  # doctest: +SKIP
    """

    def __init__(
        self, trial: optuna.Trial, every: int = 10, offset: int = 0, done: tuple = ()
    ) -> None:
        self.trial = trial
        self.every = every
        self.offset = offset
        self.done = tuple(done)

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        step = env.iteration + 1
        if step % self.every:
            return
        found = {r[1]: r[2] for r in env.evaluation_result_list}
        values = [found[name] for name in BOOSTER_METRICS if name in found]
        if not values:
            return
        value = (sum(self.done) + float(values[0])) / (len(self.done) + 1)
        self.trial.report(value, self.offset + step)
        if self.trial.should_prune():
            fold = len(self.done) + 1
            raise optuna.TrialPruned(
                f"mean validation log loss {value:.4f} at fold {fold}, round {step}"
            )


BLEND_METRIC = "blend_logloss"
BOOSTER_METRICS = (BLEND_METRIC, "binary_logloss", "logloss")
"""Validation metrics the pruning reads, first found first: the blend, else the booster."""


def blend_log_loss(linear_valid: np.ndarray) -> Callable[[np.ndarray, np.ndarray], tuple]:
    """A LightGBM eval metric: log loss of the best blend with a fold's logistic log-odds.

    The booster starts from a constant, so its own log loss early in boosting says more
    about its learning rate than about the model it will end in: the blend
    (:data:`~crm_predict.models.gbm.BLEND_WEIGHTS` times ``linear_valid``, the rest the
    booster's log-odds, the weight with the lowest loss) is what the trial is scored on.

    Parameters
    ----------
    linear_valid : ndarray
        The fold's logistic regression log-odds on the validation rows.

    Returns
    -------
    callable
        ``metric(y_true, y_pred) -> ("blend_logloss", loss, False)``, ``y_pred`` being the
        booster's probabilities.

    Examples
    --------
    >>> metric = blend_log_loss(np.array([2.0, -2.0]))
    >>> name, loss, higher_is_better = metric(np.array([1, 0]), np.array([0.5, 0.5]))
    >>> name, round(loss, 4)
    ('blend_logloss', 0.1269)
    """

    def metric(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[str, float, bool]:
        p = np.clip(y_pred, 1e-15, 1 - 1e-15)
        tree = np.log(p) - np.log1p(-p)
        return BLEND_METRIC, float(blend_log_losses(y_true, linear_valid, tree).min()), False

    return metric


class _PrunableLGBM(CalibratedLGBM):
    """CalibratedLGBM whose booster also reports the blend to a trial's pruning callback."""

    _callbacks: tuple = ()

    def _fit_booster(self, X_fit, y_fit, X_valid, y_valid, linear_valid):
        metrics = () if linear_valid is None else (blend_log_loss(linear_valid),)
        return self._boost(X_fit, y_fit, X_valid, y_valid, metrics, self._callbacks)


def _best_score(booster: lgb.LGBMClassifier) -> float:
    """The pruning metric at the booster's best round (the blend where there is one)."""
    for scores in booster.best_score_.values():
        for name in BOOSTER_METRICS:
            if name in scores:
                return float(scores[name])
    return float("nan")


def make_objective(
    prepared: TuningData, spec: TuningSpec | None = None
) -> Callable[[optuna.Trial], float]:
    """Return the Optuna objective: mean validation log loss of one draw over the folds.

    The returned function closes over the prepared folds, so a study reuses them.

    Parameters
    ----------
    prepared : TuningData
        From :func:`prepare_tuning_data`.
    spec : TuningSpec, optional
        Search space and budget (default: the config's ``tuning`` section).

    Returns
    -------
    callable
        ``objective(trial) -> float``; records ``fold_log_loss``, ``roc_auc`` (fold mean),
        ``fold_best_iteration``, ``best_iteration`` (the latest fold's), ``fit_seconds``
        and ``worker`` (host:pid) as the trial's user attributes.

    Examples
    --------
    >>> study.optimize(make_objective(prepare_tuning_data(cfg)), n_trials=10)  # doctest: +SKIP
    """
    config = prepared.config
    spec = spec or config.tuning

    def objective(trial: optuna.Trial) -> float:
        params = {**suggest_params(trial, spec.space), "n_estimators": spec.max_estimators}
        # Which machine and process ran it: several workers may share one study.
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        start = time.perf_counter()
        losses, aucs, rounds, running = [], [], [], []
        for k, fold in enumerate(prepared.folds):
            model = _PrunableLGBM(
                params=params,
                validation_fraction=config.split.validation_size,
                early_stopping_rounds=spec.early_stopping_rounds,
                random_state=config.seed,
            )
            model._callbacks = (
                PruningCallback(trial, spec.report_every, k * spec.max_estimators, running),
            )
            model.fit(fold.X_fit, fold.y_fit)
            (booster,) = model.boosters_
            running.append(_best_score(booster))
            p = np.clip(model.predict_proba(fold.X_valid)[:, 1], PROBABILITY_FLOOR, 1)
            y = fold.y_valid
            losses.append(float(log_loss(y, np.minimum(p, 1 - PROBABILITY_FLOOR), labels=[0, 1])))
            rounds.append(int(booster.best_iteration_ or 0))
            if 0 < y.sum() < len(y):
                aucs.append(float(roc_auc_score(y, p)))
        trial.set_user_attr("fit_seconds", round(time.perf_counter() - start, 3))
        trial.set_user_attr("fold_log_loss", [round(v, 6) for v in losses])
        trial.set_user_attr("fold_best_iteration", rounds)
        trial.set_user_attr("best_iteration", rounds[-1])
        if aucs:
            trial.set_user_attr("roc_auc", float(np.mean(aucs)))
        return float(np.mean(losses))

    return objective
