"""Train a task's models on a time-ordered (or stratified) split and evaluate them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from crm_predict.bundle import ModelBundle, make_bundle
from crm_predict.config import TaskConfig
from crm_predict.evaluate import evaluate_predictions
from crm_predict.features import build_feature_pipeline, task_frame
from crm_predict.features.activity import ActivityAggregator
from crm_predict.features.assemble import input_fields
from crm_predict.features.cleaning import CRMCleaner
from crm_predict.io import atomic_path
from crm_predict.loading import TaskData, load_task_data
from crm_predict.models.baseline import logistic_baseline
from crm_predict.models.gbm import CalibratedLGBM
from crm_predict.progress import steps
from crm_predict.split import Split, split_method, split_task, training_labels

if TYPE_CHECKING:
    from crm_predict.timing_task import TrainedTiming

METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top_decile")
MODEL_CHOICES = ("gbm", "bayes", "timing")


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

    @property
    def champion(self) -> str:
        """The model registered as the task's main model (LightGBM when trained)."""
        return "gbm" if "gbm" in self.models else next(iter(self.models))

    def test_frame(self) -> pd.DataFrame:
        """The holdout rows of the model frame."""
        return self.frame.iloc[self.split.test]

    def summary(self) -> dict:
        """The ``metrics.json`` content."""
        out: dict = {}
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


def build_pipeline(
    config: TaskConfig,
    estimator,
    activity_features: list[str] | None = None,
    as_of: pd.Timestamp | None = None,
) -> Pipeline:
    """Chain cleaning, the config's feature builders and ``estimator`` into one pipeline.

    Parameters
    ----------
    config : TaskConfig
        The task.
    estimator : scikit-learn classifier
        Reads the feature builders' pandas output.
    activity_features : list of str, optional
        Activity aggregate columns present in the model frame.
    as_of : Timestamp, optional
        Date used for rows that come without an ``as_of`` column.

    Returns
    -------
    Pipeline
        Raw CRM rows in, probabilities out.
    """
    f = config.features
    cleaner = CRMCleaner(
        categorical=f.model_fields_for("categorical"),
        numeric=[
            *f.model_fields_for("numeric"),
            *f.model_fields_for("count"),
            *([f.size_bands.column] if f.size_bands else []),
            *(activity_features or []),
        ],
        dates=[
            *f.model_fields_for("date"),
            *([config.time.created] if config.time.created else []),
        ],
        placeholders=list(config.missing_values),
        recode=dict(config.recode),
        as_of=None if as_of is None or pd.isna(as_of) else pd.Timestamp(as_of).isoformat(),
    )
    return Pipeline(
        [
            ("clean", cleaner),
            ("features", build_feature_pipeline(config, activity_features)),
            *(estimator.steps if isinstance(estimator, Pipeline) else [("model", estimator)]),
        ]
    )


def make_estimator(name: str, config: TaskConfig):
    """Return the unfitted estimator ``name`` (``gbm``, ``bayes`` or ``logreg``) for a task.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_CHOICES` or ``logreg``.
    config : TaskConfig
        Seeds, validation share and the ``bayes`` section come from here.

    Returns
    -------
    estimator
        A scikit-learn classifier or pipeline that reads the feature builders' output.

    Examples
    --------
    >>> from crm_predict import load_config  # doctest: +SKIP
    >>> make_estimator("gbm", load_config("configs/leads_demo.yaml"))  # doctest: +SKIP
    """
    if name == "gbm":
        # Time-ordered rows validate (and calibrate) on the most recent slice, as the
        # holdout is scored: forward in time. Exchangeable rows are cross-fitted.
        stratified = split_method(config) == "stratified"
        return CalibratedLGBM(
            params=dict(config.gbm.params) or None,
            validation_fraction=config.split.validation_size,
            folds=config.gbm.folds if stratified else 1,
            random_state=config.seed,
        )
    if name == "logreg":
        return logistic_baseline(random_state=config.seed)
    if name == "bayes":
        from crm_predict.features.select import FieldSelector
        from crm_predict.models.bayes import BayesianConversionModel

        spec, f = config.bayes, config.features
        size = [f.size_bands.column] if f.size_bands else []
        groups = spec.categorical or [*f.model_fields_for("categorical"), *size]
        numeric = spec.numeric
        if numeric is None:
            numeric = [*f.model_fields_for("numeric"), *f.model_fields_for("count")]
            numeric = [c for c in numeric if c not in size]
        model = BayesianConversionModel(
            interactions=[tuple(p) for p in spec.interactions] or None,
            priors=spec.priors or None,
            draws=spec.draws,
            tune=spec.tune,
            chains=spec.chains,
            random_state=config.seed,
        )
        # Company size enters as its band only: a band effect and a slope on the same count
        # are nearly collinear, and their posterior is a funnel the sampler struggles with.
        grouped = [c for c in size if c in groups and c not in (spec.numeric or [])]
        selector = FieldSelector([*groups, *numeric], grouped_only=grouped or None)
        return Pipeline([("select", selector), ("bayes", model)])
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_CHOICES)}")


def diagnostic_metrics(name: str, pipeline: Pipeline) -> dict[str, float]:
    """Return what a fitted model is made of, for the run's metrics.

    LightGBM: the logistic part's ``blend_weight``, the ``fold_models`` it averages and the
    ``trees`` its boosters use; the Bayesian model: its convergence diagnostics; nothing for
    the logistic baseline.
    """
    if name == "gbm":
        model = pipeline[-1]
        trees = sum(b.best_iteration_ or b.booster_.num_trees() for b in model.boosters_)
        return {
            "blend_weight": float(model.weight_),
            "fold_models": float(len(model.boosters_)),
            "trees": float(trees),
        }
    if name != "bayes":
        return {}
    diag = pipeline[-1].diagnostics()
    return {k: float(diag[k]) for k in ("max_rhat", "min_ess_bulk", "divergences")}


def default_models(config: TaskConfig) -> tuple[str, ...]:
    """The models ``crm-predict train`` fits when none are named: LightGBM, plus the
    time-to-event model when the config has ``time.created`` and ``time.closed`` (or a
    ``churn`` section with signup and churn dates: time to churn on tenure).

    Examples
    --------
    >>> from crm_predict import load_config  # doctest: +SKIP
    >>> default_models(load_config("configs/leads_demo.yaml"))  # doctest: +SKIP
    ('gbm', 'timing')
    """
    timed = bool(config.time.created and config.time.closed)
    # Churn with dates: the timing model runs on tenure (crm_predict.churn_timing).
    timed = timed or config.churn_history is not None
    return ("gbm", "timing") if timed else ("gbm",)


def train_task(
    config: TaskConfig,
    models: tuple[str, ...] = ("gbm",),
    quiet: bool = False,
    data: TaskData | None = None,
) -> TrainResult:
    """Load the data, split it, fit each model and the logistic baseline, evaluate on the holdout.

    Parameters
    ----------
    config : TaskConfig
        The task.
    models : tuple of str
        Models to fit besides the baseline: ``gbm``, ``bayes`` and/or ``timing`` (the
        time-to-event model, :mod:`crm_predict.timing_task`; needs ``time.created`` and
        ``time.closed``). See :func:`default_models`.
    quiet : bool
        Hide the progress bar.
    data : TaskData, optional
        Already loaded data (loaded from the config when None).

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
    with steps(3 + len(names) + ("timing" in models), quiet=quiet) as progress:
        progress.step("loading and validating data")
        data = data if data is not None else load_task_data(config)
        progress.step("building features")
        frame, aggregator, acts = task_frame(data, config)
        labels = training_labels(data, config)
        split = split_task(data, labels, config)
        y = labels.to_numpy()
        trained: dict[str, TrainedModel] = {}
        for name in names:
            progress.step(f"fitting {name}")
            pipe = build_pipeline(config, make_estimator(name, config), acts, data.as_of)
            start = time.perf_counter()
            pipe.fit(frame.iloc[split.train], y[split.train].astype(int))
            seconds = time.perf_counter() - start
            test = frame.iloc[split.test]
            p = pipe.predict_proba(test)[:, 1]
            segs = data.frame.iloc[split.test][[*config.segments]].reset_index(drop=True)
            evaluation = evaluate_predictions(
                y[split.test].astype(int),
                p,
                segments=segs if config.segments else None,
                cutoffs=config.grades,
            )
            bundle = make_bundle(
                pipe, config, aggregator, frame.iloc[split.train], y[split.train], data.as_of
            )
            trained[name] = TrainedModel(
                name, bundle, evaluation, seconds, diagnostic_metrics(name, pipe)
            )
        timing = None
        if "timing" in models:
            from crm_predict.timing_task import fit_timing

            progress.step("fitting timing")
            timing = fit_timing(config, data, frame, aggregator)
        progress.step("evaluated")
    result = TrainResult(
        config, data, frame, labels, split, trained, aggregator, timing=timing, extra_columns=acts
    )
    for model in trained.values():
        model.bundle.card = model_card(result, model)
        model.bundle.reference = _reference(result, model)
    return result


def _reference(result: TrainResult, model: TrainedModel) -> dict:
    """The training snapshot ``crm-predict monitor`` compares new lead lists with."""
    from crm_predict.monitor import reference_profile

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
