"""Train a task's models on a time-ordered (or stratified) split and evaluate them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from crm_predict.config import TaskConfig
from crm_predict.data.folds import fold_rows
from crm_predict.data.io import atomic_path
from crm_predict.data.loading import TaskData, load_task_data
from crm_predict.data.split import Split, split_task, training_labels
from crm_predict.data.survival import survival_data
from crm_predict.evaluate.base_rate import base_rate_drift
from crm_predict.evaluate.metrics import evaluate_predictions
from crm_predict.evaluate.profile import reference_profile
from crm_predict.exceptions import ConfigError, DataValidationError
from crm_predict.features import task_frame
from crm_predict.features.activity import ActivityAggregator
from crm_predict.features.assemble import input_fields
from crm_predict.models.factory import (
    MODEL_CHOICES,
    build_pipeline,
    default_models,
    diagnostic_metrics,
    make_estimator,
)
from crm_predict.progress import steps
from crm_predict.scoring.bundle import ModelBundle, make_bundle
from crm_predict.training.evidence import out_of_fold
from crm_predict.training.selection import Selection, choose_champion, holdout_check
from crm_predict.training.timing import fit_timing
from crm_predict.training.timing_result import TrainedTiming

__all__ = [
    "METRIC_KEYS",
    "MODEL_CHOICES",
    "TrainResult",
    "TrainedModel",
    "build_pipeline",
    "default_models",
    "diagnostic_metrics",
    "frame_columns",
    "make_estimator",
    "model_card",
    "select_champion",
    "timing_problem",
    "train_task",
    "write_metrics",
]

METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top_decile")


@dataclass
class TrainedModel:
    """One fitted pipeline (cleaning + features + estimator) and its holdout evaluation."""

    name: str
    bundle: ModelBundle
    evaluation: dict
    fit_seconds: float
    extra_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def pipeline(self) -> Pipeline:
        """The fitted pipeline: raw rows in, probabilities out."""
        return self.bundle.pipeline

    @property
    def metrics(self) -> dict[str, float]:
        """Holdout metrics plus model-specific numbers (fit time, diagnostics)."""
        return {**self.evaluation["metrics"], "fit_seconds": self.fit_seconds, **self.extra_metrics}


@dataclass
class TrainResult:
    """Everything a training run produced; :mod:`crm_predict.tracking` logs it."""

    config: TaskConfig
    data: TaskData
    frame: pd.DataFrame
    labels: pd.Series
    split: Split
    models: dict[str, TrainedModel]
    aggregator: ActivityAggregator | None
    tracking: dict[str, str] = field(default_factory=dict)
    timing: TrainedTiming | None = None
    extra_columns: list[str] | None = None
    """Derived numeric inputs besides the config's fields (activity aggregates, churn
    features): see :func:`crm_predict.features.task_frame`."""
    selection: Selection | None = None
    drift: dict | None = None
    """The outcome rate early in training, late in training and on the holdout
    (:func:`crm_predict.evaluate.base_rate.base_rate_drift`); time splits only."""
    notes: list[str] = field(default_factory=list)
    """What the run set aside or skipped, in plain words."""

    @property
    def champion(self) -> str:
        """The model registered as the task's main model: the best out-of-fold evidence."""
        if self.selection is not None:
            return self.selection.champion
        return "gbm" if "gbm" in self.models else next(iter(self.models))

    def test_frame(self) -> pd.DataFrame:
        """The holdout rows of the model frame."""
        return self.frame.iloc[self.split.test]

    def summary(self) -> dict:
        """The ``metrics.json`` content."""
        out: dict = {"champion": self.champion}
        if self.selection is not None:
            out["selection"] = self.selection.as_dict()
        if self.drift is not None:
            out["drift"] = self.drift
        if self.notes:
            out["notes"] = list(self.notes)
        for name, model in self.models.items():
            out[name] = {k: _num(v) for k, v in model.metrics.items()}
        champion = self.models[self.champion].evaluation["segments"]
        out["segments"] = _segments_json(champion)
        out["split"] = self.split.description
        out["split_method"] = self.split.method
        if self.timing is not None:
            out["timing"] = {k: _num(v) for k, v in self.timing.metrics.items()}
        out.update(self.tracking)
        return out


def _num(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def _segments_json(table: pd.DataFrame) -> dict:
    out: dict = {}
    for row in table.to_dict("records"):
        level = {k: _num(v) for k, v in row.items() if k not in ("field", "level")}
        out.setdefault(row["field"], {})[str(row["level"])] = level
    return out


def train_task(
    config: TaskConfig,
    models: tuple[str, ...] = ("gbm",),
    quiet: bool = False,
    data: TaskData | None = None,
    optional: tuple[str, ...] = (),
) -> TrainResult:
    """Load the data, split it, fit each model and the logistic baseline, evaluate on the holdout.

    Parameters
    ----------
    config : TaskConfig
        The task.
    models : tuple of str
        Models to fit besides the baseline: ``gbm``, ``bayes`` and/or ``timing`` (the
        time-to-event model, :mod:`crm_predict.training.timing`; needs ``time.created`` and
        ``time.closed``). See :func:`default_models`.
    quiet : bool
        Hide the progress bar.
    data : TaskData, optional
        Already loaded data (loaded from the config when None).
    optional : tuple of str
        Models of ``models`` that were not asked for by name (:func:`default_models`): one
        the data cannot support is skipped with a note, checked before anything is fitted,
        instead of stopping the run. A model named by the user stops the run, also before
        anything is fitted.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> from crm_predict import load_config  # doctest: +SKIP
    >>> result = train_task(load_config("configs/leads_demo.yaml"), quiet=True)  # doctest: +SKIP
    >>> round(result.models["gbm"].metrics["roc_auc"], 2)  # doctest: +SKIP
    0.78
    """
    unknown = [m for m in models if m not in MODEL_CHOICES]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODEL_CHOICES)}")
    names = [*(m for m in models if m != "timing"), "logreg"]
    # BLAS on one thread: its calls here are small (Platt fits on one column, logistic
    # regressions on tens of columns), and idle OpenBLAS threads spin on the cores that
    # LightGBM uses, which doubled the cpu time of a training on 2 cores.
    with (
        steps(4 + len(names) + ("timing" in models), quiet=quiet) as progress,
        threadpool_limits(limits=1, user_api="blas"),
    ):
        progress.step("loading and validating data")
        data = data if data is not None else load_task_data(config)
        notes: list[str] = []
        if "timing" in models:
            problem = timing_problem(config, data)
            if problem and "timing" not in optional:
                raise DataValidationError([f"the time-to-event model cannot be fitted: {problem}"])
            if problem:
                models = tuple(m for m in models if m != "timing")
                notes.append(f"time-to-event model skipped: {problem}")
        progress.step("building features")
        frame, aggregator, acts = task_frame(data, config)
        labels = training_labels(data, config)
        split = split_task(data, labels, config)
        y = labels.to_numpy()
        train_frame, y_train = frame.iloc[split.train], y[split.train].astype(int)
        trained: dict[str, TrainedModel] = {}
        holdout: dict[str, np.ndarray] = {}
        for name in names:
            progress.step(f"fitting {name}")
            pipe = build_pipeline(config, make_estimator(name, config), acts, data.as_of)
            start = time.perf_counter()
            pipe.fit(train_frame, y_train)
            if name == "gbm" and config.calibration.recent_days and split.method == "time":
                recent = _recent_rows(data, config, split)
                pipe[-1].anchor(pipe[:-1].transform(train_frame.iloc[recent]), y_train[recent])
            seconds = time.perf_counter() - start
            test = frame.iloc[split.test]
            p = pipe.predict_proba(test)[:, 1]
            holdout[name] = p
            segs = data.frame.iloc[split.test][[*config.segments]].reset_index(drop=True)
            evaluation = evaluate_predictions(
                y[split.test].astype(int),
                p,
                segments=segs if config.segments else None,
                cutoffs=config.grades,
            )
            bundle = make_bundle(pipe, config, aggregator, train_frame, y_train, data.as_of)
            trained[name] = TrainedModel(
                name, bundle, evaluation, seconds, diagnostic_metrics(name, pipe)
            )
        progress.step("choosing the champion")
        selection = select_champion(config, trained, train_frame, y_train)
        selection = holdout_check(selection, y[split.test].astype(int), holdout)
        timing = None
        if "timing" in models:
            progress.step("fitting timing")
            timing = fit_timing(config, data, frame, aggregator)
        progress.step("evaluated")
    drift = None
    if split.method == "time":
        dates = data.frame[config.time.created].iloc[split.train]
        noun = "churn" if config.is_churn else "convert"
        drift = base_rate_drift(dates, y_train, y[split.test], noun=noun)
    result = TrainResult(
        config,
        data,
        frame,
        labels,
        split,
        trained,
        aggregator,
        timing=timing,
        extra_columns=acts,
        selection=selection,
        drift=drift,
        notes=[*notes, *(timing.notes if timing is not None else [])],
    )
    for model in trained.values():
        model.bundle.card = model_card(result, model)
        model.bundle.reference = _reference(result, model)
    return result


def select_champion(
    config: TaskConfig, trained: dict[str, TrainedModel], X: pd.DataFrame, y: np.ndarray
) -> Selection:
    """Choose the champion among the fitted models by out-of-fold log loss.

    Parameters
    ----------
    config : TaskConfig
        The task (folds of a model set without LightGBM come from its ``gbm`` section).
    trained : dict
        The fitted models, by name.
    X : DataFrame
        The training rows the models were fitted on.
    y : ndarray
        Their outcomes.

    Returns
    -------
    Selection
    """
    pipelines = {name: model.pipeline for name, model in trained.items()}
    gbm = pipelines["gbm"][-1] if "gbm" in pipelines else make_estimator("gbm", config)
    folds = (
        gbm.oof_.folds
        if "gbm" in pipelines
        else fold_rows(y, gbm.folds, gbm.time_ordered, gbm.validation_fraction, gbm.random_state)
    )
    rows, y_rows, preds = out_of_fold(pipelines, X, y, folds)
    n_folds = len(folds)
    if gbm.time_ordered:
        evidence = f"{n_folds} rolling-origin folds (each fitted only on earlier records)"
    else:
        evidence = f"{n_folds}-fold stratified cross-fitting"
    if "bayes" in preds and n_folds > 1:
        evidence += "; the Bayesian model refitted on the last fold, compared there"
    return choose_champion(y_rows, preds, evidence)


def timing_problem(config: TaskConfig, data: TaskData) -> str | None:
    """Why the time-to-event model cannot be fitted on this data, or None when it can.

    Checks the dates it needs (:func:`crm_predict.data.survival.survival_data`, a few bad
    close dates set aside) without fitting anything.
    """
    if config.churn_history is not None:
        return None
    try:
        survival_data(data, config, set_aside=True)
    except DataValidationError as exc:
        return "; ".join(exc.problems)
    except ConfigError as exc:
        return " ".join(str(exc).split())
    return None


def _recent_rows(data: TaskData, config: TaskConfig, split: Split) -> np.ndarray:
    """Positions (in the training rows) of those created in the last ``recent_days``."""
    dates = pd.to_datetime(data.frame[config.time.created].iloc[split.train]).to_numpy()
    days = np.timedelta64(int(config.calibration.recent_days), "D")
    recent = np.flatnonzero(dates > dates.max() - days)
    return recent if len(recent) else np.arange(len(dates))


def _reference(result: TrainResult, model: TrainedModel) -> dict:
    """The training snapshot ``crm-predict monitor`` compares new lead lists with."""
    train = result.frame.iloc[result.split.train]
    scores = model.pipeline.predict_proba(train)[:, 1]
    return reference_profile(train, result.config, scores, result.extra_columns)


def model_card(result: TrainResult, model: TrainedModel) -> dict:
    """The facts a report states about a model, as plain JSON-ready data."""
    config, data = result.config, result.data
    created = config.time.created
    window = None
    if created:
        dates = data.frame[created].iloc[result.split.train]
        window = [str(dates.min().date()), str(dates.max().date())]
    ev = model.evaluation
    card = {
        "task": config.name,
        "description": config.description,
        "model": model.name,
        "trained_as_of": None if pd.isna(data.as_of) else str(data.as_of.date()),
        "training_window": window,
        "n_train": len(result.split.train),
        "n_test": len(result.split.test),
        "split": result.split.description,
        "metrics": {k: _num(v) for k, v in model.metrics.items()},
        "baseline": {k: _num(v) for k, v in result.models["logreg"].metrics.items()}
        if "logreg" in result.models
        else {},
        "champion": result.champion,
        "selection": result.selection.as_dict() if result.selection else None,
        "drift": result.drift,
    }
    for key in ("grades", "calibration", "lift", "segments"):
        card[key] = ev[key].to_dict("records")
    return card


def write_metrics(result: TrainResult, output_dir: str | Path) -> Path:
    """Write ``metrics.json`` atomically into ``output_dir`` and return its path."""
    path = Path(output_dir) / "metrics.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result.summary(), indent=2, sort_keys=False) + "\n")
    return path


def frame_columns(config: TaskConfig, result: TrainResult) -> list[str]:
    """The columns a scoring input needs: id, the raw fields and activity aggregates."""
    acts = list(result.aggregator.get_feature_names_out()) if result.aggregator else []
    return [config.id_column, *input_fields(config), *acts]
