"""A task's time-to-event model: fit on the split, evaluate, bundle for scoring and MLflow.

The model sees exactly the conversion model's inputs (the same cleaning, feature builders
and snapshot dates, through :func:`crm_predict.training.train.build_pipeline`); only its target
differs: days from ``time.created`` to ``time.closed`` and how the record ended (see
:mod:`crm_predict.data.survival`). Every record with a creation date takes part, open ones
as right-censored.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sksurv.nonparametric import cumulative_incidence_competing_risks

from crm_predict.config import TaskConfig
from crm_predict.data.loading import TaskData
from crm_predict.data.split import Split, split_task
from crm_predict.data.survival import SurvivalData, require_time_columns, survival_data
from crm_predict.evaluate.timing import TimingOutcomes, compare_timing
from crm_predict.features.activity import ActivityAggregator
from crm_predict.models.factory import build_pipeline
from crm_predict.models.timing.model import TimeToConvertModel
from crm_predict.scoring.bundle import TimingBundle
from crm_predict.training.churn_timing import fit_churn_timing
from crm_predict.training.timing_result import TrainedTiming, timing_model

CURVE_LEVELS = 6
"""Most levels per field in the report's curves (the most frequent ones)."""


def timing_split(data: TaskData, surv: SurvivalData, config: TaskConfig) -> Split:
    """The task's time-ordered split over every record that can be timed (open ones too)."""
    return split_task(data, pd.Series(np.where(surv.usable, 1.0, np.nan)), config)


def fit_timing(
    config: TaskConfig,
    data: TaskData,
    frame: pd.DataFrame,
    aggregator: ActivityAggregator | None,
    baselines: bool = True,
) -> TrainedTiming:
    """Fit the time-to-event model on the training records and evaluate it on the holdout.

    Parameters
    ----------
    config : TaskConfig
        Needs ``time.created`` and ``time.closed``.
    data : TaskData
        The loaded task.
    frame : DataFrame
        Its model frame (:func:`crm_predict.features.build_model_frame`).
    aggregator : ActivityAggregator or None
        The frame's fitted touch aggregator.
    baselines : bool
        Also fit Kaplan–Meier and CoxPH for the comparison table.

    Returns
    -------
    TrainedTiming

    Examples
    --------
    >>> timing = fit_timing(cfg, data, frame, aggregator)  # doctest: +SKIP
    >>> timing.comparison[["model", "c_index", "ibs"]]  # doctest: +SKIP
    """
    if config.churn_history is not None:
        # Churn: tenure clock, delayed entry at the snapshot (crm_predict.training.churn_timing).
        return fit_churn_timing(config, data, frame, aggregator, baselines)
    require_time_columns(config)
    surv = survival_data(data, config, set_aside=True)
    split = timing_split(data, surv, config)
    acts = list(aggregator.get_feature_names_out()) if aggregator else None
    pipe = build_pipeline(config, timing_model(config), acts, data.as_of)
    features = pipe[:-1]
    tr, te = split.train, split.test
    start = time.perf_counter()
    X_train = features.fit_transform(frame.iloc[tr])
    pipe[-1].fit(X_train, surv.durations[tr], surv.events[tr])
    seconds = time.perf_counter() - start
    X_test = features.transform(frame.iloc[te])
    outcomes = TimingOutcomes(surv.durations, surv.events, surv.follow_up)
    horizons = tuple(float(h) for h in config.timing.horizons)
    comparison = compare_timing(
        lambda times: pipe[-1].cumulative_incidence(X_test, times),
        X_train,
        X_test,
        outcomes.subset(tr),
        outcomes.subset(te),
        horizons=horizons,
        fit_seconds=seconds,
        baselines=baselines,
    )
    bundle = TimingBundle(
        pipeline=pipe, config=config, aggregator=aggregator, trained_as_of=data.as_of
    )
    bundle.card = {
        "task": config.name,
        "model": "timing",
        "horizons": list(config.timing.horizons),
        "period_days": config.timing.period_days,
        "max_days": config.timing.max_days,
        "n_train": len(tr),
        "n_test": len(te),
        "split": split.description,
        "comparison": comparison.to_dict("records"),
        "curves": segment_curves(
            pipe[-1],
            pd.concat([X_train, X_test]),
            outcomes.subset(np.r_[tr, te]),
            config,
        ),
        "notes": list(surv.notes),
    }
    return TrainedTiming(bundle, comparison, seconds, list(surv.notes))


def _curve_fields(config: TaskConfig, X: pd.DataFrame) -> list[tuple[str, str]]:
    """``(feature column, label)`` of the fields whose curves the report shows."""
    fields = [(c, c) for c in config.segments if c in X.columns]
    bands = config.features.size_bands
    if bands is not None and f"{bands.column}__band" in X.columns:
        fields.append((f"{bands.column}__band", "size band"))
    return fields


def segment_curves(
    model: TimeToConvertModel, X: pd.DataFrame, outcomes: TimingOutcomes, config: TaskConfig
) -> list[dict]:
    """Per field and level: mean predicted and observed cumulative conversion by day.

    The observed curve is the Aalen–Johansen estimate (scikit-survival), which treats lost
    records as a competing outcome and open ones as censored.

    Returns
    -------
    list of dict
        JSON-ready records: ``field``, ``level``, ``n``, ``days``, ``predicted``,
        ``observed``.
    """
    step = model.period_days
    days = np.arange(0, min(model.max_days, 2 * max(model.horizons)) + step, step, dtype=float)
    cif = model.cumulative_incidence(X, days)
    out = []
    for col, label in _curve_fields(config, X):
        levels = X[col].astype(str).to_numpy()
        counts = pd.Series(levels).value_counts()
        for level in counts.index[:CURVE_LEVELS]:
            mask = levels == level
            observed = _observed_cif(outcomes, mask, days)
            out.append(
                {
                    "field": label,
                    "level": str(level),
                    "n": int(mask.sum()),
                    "days": days.tolist(),
                    "predicted": cif[mask].mean(axis=0).round(5).tolist(),
                    "observed": None
                    if observed is None
                    else [None if np.isnan(v) else round(float(v), 5) for v in observed],
                }
            )
    return out


def _observed_cif(outcomes: TimingOutcomes, mask: np.ndarray, days: np.ndarray):
    events = outcomes.events[mask]
    if not (events == 1).any():
        return None
    t = np.maximum(outcomes.durations[mask], 1e-6)
    x, cif = cumulative_incidence_competing_risks(events, t)[:2]
    pos = np.searchsorted(x, days, side="right") - 1
    values = np.where(pos >= 0, cif[1][np.clip(pos, 0, None)], 0.0)
    # Beyond the last observed time the estimate is unknown, not flat.
    return np.where(days <= x.max(), values, np.nan)
