"""The pipeline factory: cleaning + features + an estimator, for each model a task can fit.

``train``, tuning, the timing models and the benchmarks build their pipelines here, so the
feature code is the same everywhere it runs.
"""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline

from crm_predict.config import TaskConfig
from crm_predict.data.split import split_method
from crm_predict.features import build_feature_pipeline
from crm_predict.features.cleaning import CRMCleaner
from crm_predict.models.baseline import LogisticBaseline
from crm_predict.models.gbm import CalibratedLGBM

MODEL_CHOICES = ("gbm", "bayes", "timing")


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
        # Time-ordered rows validate forward in time on rolling-origin folds, as the
        # holdout is scored, then refit on every row. Exchangeable rows are cross-fitted.
        time_ordered = split_method(config) == "time"
        return CalibratedLGBM(
            params=dict(config.gbm.params) or None,
            validation_fraction=config.split.validation_size,
            folds=config.gbm.time_folds if time_ordered else config.gbm.folds,
            time_ordered=time_ordered,
            random_state=config.seed,
        )
    if name == "logreg":
        return LogisticBaseline(random_state=config.seed)
    if name == "bayes":
        from crm_predict.features.select import FieldSelector
        from crm_predict.models.bayes.model import BayesianConversionModel

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
            numeric_bins=spec.numeric_bins,
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
    metrics = {k: float(diag[k]) for k in ("max_rhat", "min_ess_bulk", "divergences")}
    return metrics | {"sampling_attempts": float(diag.get("attempts", 1))}


def default_models(config: TaskConfig) -> tuple[str, ...]:
    """The models ``crm-predict train`` fits when none are named: LightGBM and the
    Bayesian model, plus the time-to-event model when the config has ``time.created`` and
    ``time.closed`` (or a ``churn`` section with signup and churn dates: time to churn on
    tenure). Both compete for champion with the logistic baseline.

    Examples
    --------
    >>> from crm_predict import load_config  # doctest: +SKIP
    >>> default_models(load_config("configs/leads_demo.yaml"))  # doctest: +SKIP
    ('gbm', 'bayes', 'timing')
    """
    timed = bool(config.time.created and config.time.closed)
    # Churn with dates: the timing model runs on tenure (crm_predict.training.churn_timing).
    timed = timed or config.churn_history is not None
    return ("gbm", "bayes", "timing") if timed else ("gbm", "bayes")
