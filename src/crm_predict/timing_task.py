"""A task's time-to-event model: fit on the split, evaluate, bundle for scoring and MLflow.

The model sees exactly the conversion model's inputs (the same cleaning, feature builders
and snapshot dates, through :func:`crm_predict.train.build_pipeline`); only its target
differs: days from ``time.created`` to ``time.closed`` and how the record ended (see
:mod:`crm_predict.survival_data`). Every record with a creation date takes part, open ones
as right-censored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sksurv.nonparametric import cumulative_incidence_competing_risks

from crm_predict import schema
from crm_predict.config import TaskConfig
from crm_predict.evaluate_timing import TimingOutcomes, compare_timing
from crm_predict.features.activity import ActivityAggregator
from crm_predict.features.cleaning import AS_OF
from crm_predict.loading import TaskData
from crm_predict.models.timing import TimeToConvertModel
from crm_predict.split import Split, split_task
from crm_predict.survival_data import SurvivalData, require_time_columns, survival_data

CURVE_LEVELS = 6
"""Most levels per field in the report's curves (the most frequent ones)."""


@dataclass
class TimingBundle:
    """The registered time-to-event artifact: features + hazard model, ready to score.

    Attributes
    ----------
    pipeline : Pipeline
        Cleaning, the task's feature builders and a fitted :class:`TimeToConvertModel`.
    config : TaskConfig
        The task.
    aggregator : ActivityAggregator or None
        Fitted touch aggregator (tasks with an activity table).
    trained_as_of : Timestamp
        The training data's date.
    card : dict
        Holdout comparison with the baselines, horizons and per-segment curves.
    """

    pipeline: Pipeline
    config: TaskConfig
    aggregator: ActivityAggregator | None
    trained_as_of: pd.Timestamp
    card: dict = field(default_factory=dict)

    @property
    def model(self) -> TimeToConvertModel:
        """The fitted hazard model."""
        return self.pipeline[-1]

    def ages(self, frame: pd.DataFrame, today: pd.Timestamp | str | None = None) -> np.ndarray:
        """Days each row has been open at ``today`` (or at its ``as_of`` column).

        A row without a creation date, or created after ``today``, is scored as new (0).
        """
        created_col = self.config.time.created
        if self.config.churn_history is not None:
            created_col = self.config.churn_history.signup  # churn: age is the customer's tenure
        if today is not None:
            now = pd.Series(pd.Timestamp(today), index=frame.index)
        elif AS_OF in frame.columns:
            now = pd.to_datetime(frame[AS_OF])
        else:
            now = pd.Series(pd.Timestamp(self.trained_as_of), index=frame.index)
        if not created_col or created_col not in frame.columns:
            return np.zeros(len(frame))
        created = schema.to_dates(frame[created_col])
        age = ((now - created) / pd.Timedelta(days=1)).to_numpy(dtype=float)
        return np.nan_to_num(np.clip(age, 0.0, None), nan=0.0)

    def score_rows(
        self, frame: pd.DataFrame, as_of: pd.Timestamp | str | None = None, fresh: bool = False
    ) -> pd.DataFrame:
        """Per row: id, probability of the event within each horizon, ever, and when.

        Parameters
        ----------
        frame : DataFrame
            Rows of the model frame (raw fields after joins, activity aggregates if any).
        as_of : Timestamp or str, optional
            Today: every row is conditioned on being open at its age on this date. Without
            it, each row's ``as_of`` column is used.
        fresh : bool
            Also return ``p_ever_new`` (the same row as a new lead, age 0) and ``age_days``:
            what :mod:`crm_predict.age` needs to condition another model on the age.

        Returns
        -------
        DataFrame
            In the input's order: id, ``p_convert_<h>d`` per horizon, ``p_ever``,
            ``median_days`` and ``expected_days`` (days from today).
        """
        frame = frame.reset_index(drop=True)
        if AS_OF not in frame.columns:
            frame = frame.assign(**{AS_OF: pd.Timestamp(as_of or self.trained_as_of)})
        out = pd.DataFrame(index=frame.index)
        id_col = self.config.id_column
        if id_col in frame.columns:
            out[id_col] = frame[id_col].astype(str)
        features = self.pipeline[:-1].transform(frame)
        ages = self.ages(frame, as_of)
        pred = self.model.predict_horizons(features, age=ages)
        if fresh:
            pred["p_ever_new"] = self.model.p_ever(features)
            pred["age_days"] = ages
        return pd.concat([out, pred.set_axis(out.index)], axis=1)


@dataclass
class TrainedTiming:
    """A fitted time-to-event bundle and its holdout comparison with the baselines."""

    bundle: TimingBundle
    comparison: pd.DataFrame
    fit_seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, float]:
        """Our model's holdout numbers (c-index, IBS, horizon ECE, fit seconds)."""
        row = self.comparison.iloc[0].drop("model")
        return {k: float(v) for k, v in row.items()}


def timing_model(config: TaskConfig, event_name: str = "convert") -> TimeToConvertModel:
    """The unfitted hazard model a task's ``timing`` section describes."""
    spec = config.timing
    return TimeToConvertModel(
        period_days=spec.period_days,
        max_days=spec.max_days,
        horizons=tuple(spec.horizons),
        event_name=event_name,
        validation_fraction=config.split.validation_size,
        random_state=config.seed if spec.seed is None else spec.seed,
    )


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
    from crm_predict.train import build_pipeline

    if config.churn_history is not None:
        # Churn: tenure clock with delayed entry at the snapshot (crm_predict.churn_timing).
        from crm_predict.churn_timing import fit_churn_timing

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
    bundle = TimingBundle(pipe, config, aggregator, data.as_of)
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
