"""Time to churn on the tenure clock (remaining lifetime:
:mod:`crm_predict.models.timing.lifetime`).

The time-to-event model of :mod:`crm_predict.training.timing` (a discrete-time hazard model,
:class:`~crm_predict.models.timing.model.TimeToConvertModel`) is reused as is; only its clock and
rows differ for churn:

* **Clock: tenure.** A customer's clock starts at ``churn.signup``; churn is the event
  (code 1) at ``churn.churn_date``; a customer still there at ``as_of`` is right-censored
  at their tenure on that date. There is no competing outcome.
* **Delayed entry.** The training rows are the customers at risk at the churn snapshot
  (their features are seen as of it), so each enters the model at its tenure on the
  snapshot: customers who left earlier are not in the data, and the model must not believe
  that everyone survived their first months (left truncation).
* **Holdout check on the time left.** The classifier's split is reused; holdout customers
  are judged on days from the snapshot to churn (censored at ``as_of``), against
  Kaplan–Meier and CoxPH on the same outcome (:func:`crm_predict.evaluate.timing.compare_timing`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_predict.config import TaskConfig
from crm_predict.data.churn import churn_snapshot
from crm_predict.data.loading import TaskData
from crm_predict.data.split import split_task, training_labels
from crm_predict.evaluate.timing import TimingOutcomes, compare_timing
from crm_predict.exceptions import ConfigError
from crm_predict.features.activity import ActivityAggregator
from crm_predict.features.assemble import input_fields
from crm_predict.features.cleaning import AS_OF
from crm_predict.models.factory import build_pipeline
from crm_predict.scoring.bundle import TimingBundle
from crm_predict.training.timing_result import TrainedTiming, timing_model

__all__ = ["ChurnSurvival", "churn_survival", "fit_churn_timing"]

_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class ChurnSurvival:
    """Per customer at risk at the snapshot: tenure at entry, at exit, and how it ended.

    Attributes
    ----------
    entry : ndarray
        Tenure in days on the snapshot (first seen at risk).
    durations : ndarray
        Tenure in days at churn, or at ``as_of`` for customers still there.
    events : ndarray of int
        1 churned on or before ``as_of``, 0 still a customer (censored).
    follow_up : ndarray
        Days from the snapshot to ``as_of`` (the same for everyone).
    """

    entry: np.ndarray
    durations: np.ndarray
    events: np.ndarray
    follow_up: np.ndarray


def churn_survival(data: TaskData, config: TaskConfig) -> ChurnSurvival:
    """Tenure-clock durations for the customers of a churn task (see the module notes).

    Examples
    --------
    >>> surv = churn_survival(load_task_data(cfg), cfg)  # doctest: +SKIP
    >>> bool((surv.entry <= surv.durations).all())  # doctest: +SKIP
    True
    """

    spec = config.churn
    if spec is None:
        raise ConfigError("time to churn needs a churn section (churn.signup, churn.churn_date)")
    as_of = pd.Timestamp(data.as_of)
    snap = churn_snapshot(config, as_of)
    signup = pd.to_datetime(data.frame[spec.signup])
    gone = pd.to_datetime(data.frame[spec.churn_date])
    churned = (gone.notna() & (gone <= as_of)).to_numpy()
    end = gone.where(churned, as_of)
    entry = ((snap - signup) / _DAY).to_numpy(dtype=float)
    durations = ((end - signup) / _DAY).to_numpy(dtype=float)
    follow_up = np.full(len(entry), (as_of - snap) / _DAY)
    return ChurnSurvival(entry, durations, churned.astype(int), follow_up)


def fit_churn_timing(
    config: TaskConfig,
    data: TaskData,
    frame: pd.DataFrame,
    aggregator: ActivityAggregator | None,
    baselines: bool = True,
):
    """Fit the hazard model on tenure for a churn task and check it on the holdout.

    Parameters
    ----------
    config : TaskConfig
        A churn task (``churn`` section).
    data : TaskData
        Its data: the customers at risk at the snapshot.
    frame : DataFrame
        Its model frame *with* the churn features (as :func:`crm_predict.training.train.train_task`
        builds it).
    aggregator : ActivityAggregator or None
        The frame's touch aggregator.
    baselines : bool
        Also fit Kaplan–Meier and CoxPH for the comparison table.

    Returns
    -------
    crm_predict.training.timing.TrainedTiming
        Its bundle scores ``p_churn_<h>d``, ``p_ever``, ``median_days`` and
        ``expected_days`` per customer (conditional on their tenure at ``as_of``).
    """

    surv = churn_survival(data, config)
    split = split_task(data, training_labels(data, config), config)
    acts = list(aggregator.get_feature_names_out()) if aggregator else []
    # The churn features are the frame's columns beyond the raw fields and touch aggregates.
    known = {config.id_column, AS_OF, *input_fields(config), *acts}
    acts += [c for c in frame.columns if c not in known]
    pipe = build_pipeline(config, timing_model(config, event_name="churn"), acts, data.as_of)
    tr, te = split.train, split.test
    start = time.perf_counter()
    X_train = pipe[:-1].fit_transform(frame.iloc[tr])
    pipe[-1].fit(X_train, surv.durations[tr], surv.events[tr], entry=surv.entry[tr])
    seconds = time.perf_counter() - start
    X_test = pipe[:-1].transform(frame.iloc[te])
    # Judged on the time left after the snapshot, conditional on the tenure reached then.
    left = TimingOutcomes(surv.durations - surv.entry, surv.events, surv.follow_up)
    horizons = tuple(float(h) for h in config.timing.horizons if h <= surv.follow_up.max())
    horizons = horizons or (float(surv.follow_up.max()),)
    comparison = compare_timing(
        lambda times: pipe[-1].cumulative_incidence(X_test, times, age=surv.entry[te]),
        X_train,
        X_test,
        left.subset(tr),
        left.subset(te),
        horizons=horizons,
        fit_seconds=seconds,
        baselines=baselines,
    )
    bundle = TimingBundle(
        pipeline=pipe, config=config, aggregator=aggregator, trained_as_of=data.as_of
    )
    n_events = int(surv.events[tr].sum())
    bundle.card = {
        "task": config.name,
        "model": "timing",
        "event": "churn",
        "clock": "tenure",
        "horizons": [int(h) for h in horizons],
        "period_days": config.timing.period_days,
        "max_days": config.timing.max_days,
        "n_train": len(tr),
        "n_test": len(te),
        "split": split.description,
        "comparison": comparison.to_dict("records"),
        "curves": [],
        "notes": [f"{n_events:,} churns among {len(tr):,} training customers (tenure clock)"],
    }
    return TrainedTiming(bundle, comparison, seconds, list(bundle.card["notes"]))
