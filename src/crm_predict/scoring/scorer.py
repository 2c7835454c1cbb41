"""The frame builder: raw lead-list rows → checked, model-frame rows → scores.

Every path that reads a lead list with a trained model goes through one :class:`Scorer`:
``crm-predict score`` (:func:`crm_predict.scoring.batch.score_leads`), the report's charts
(:mod:`crm_predict.report`) and the drift check (:mod:`crm_predict.lifecycle.monitor`), so they
set aside the same rows and see the same joins, ages, touch aggregates and churn features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import logit

from crm_predict.churn.retention import (
    add_retention,
    churn_feature_rows,
    churn_row_problems,
    read_event_tables,
)
from crm_predict.config import TaskConfig
from crm_predict.data.leadlist import RowChecker
from crm_predict.data.loading import apply_joins, read_join_tables
from crm_predict.data.touches import TouchSource, open_touches
from crm_predict.explain.age import rescale_horizons, shift
from crm_predict.features.activity import ActivityAggregator
from crm_predict.features.assemble import input_fields, snapshot_for
from crm_predict.features.cleaning import AS_OF
from crm_predict.scoring.bundle import ModelBundle
from crm_predict.scoring.task_models import TaskModels


class Scorer:
    """Checks, builds model-frame rows for and scores chunks of one raw lead list.

    Joined tables and churn event tables are read once, when the scorer is made; touch
    tables in Parquet or SQL are read per chunk, for its leads only. One scorer reads one
    list: its row checker remembers the ids seen (duplicates) and each date column's format.

    Parameters
    ----------
    models : TaskModels or ModelBundle
        The task's models (a bare bundle scores alone).
    as_of : str or Timestamp
        The date the leads are seen from.
    activities : DataFrame, optional
        Touch table (default: the one the task config names).
    date_format : str, optional
        Format of every date column of the list (default: ``time.date_format``, else
        inferred per column).

    Attributes
    ----------
    models : TaskModels
    as_of : Timestamp
    tables : dict of DataFrame
        The task's joined tables, by name.
    checker : RowChecker
        Sets aside rows that cannot be scored (:mod:`crm_predict.data.leadlist`).

    Examples
    --------
    >>> scorer = Scorer(models, "2025-01-01")  # doctest: +SKIP
    >>> problems, rows = scorer.check(chunk)  # doctest: +SKIP
    >>> scorer.score(rows[(problems == "").to_numpy()])  # doctest: +SKIP
    """

    def __init__(
        self,
        models: TaskModels | ModelBundle,
        as_of: str | pd.Timestamp,
        activities: pd.DataFrame | None = None,
        date_format: str | None = None,
    ) -> None:
        self.models = TaskModels.of(models)
        self.as_of = pd.Timestamp(as_of)
        main = self.models.main
        config = main.config
        cleaner = main.pipeline[0]
        self.checker = RowChecker(
            config,
            list(cleaner.numeric or []),
            list(cleaner.dates or []),
            self.as_of,
            date_format,
        )
        self.tables = read_join_tables(config)
        self.touches = False
        self.aggregator: ActivityAggregator | None = main.aggregator
        spec = config.activities
        if self.aggregator is not None and spec is not None:
            self.touch_source: TouchSource = open_touches(
                spec, config.missing_values, self.as_of, activities
            )
            self.touches = True
            self.empty = {k: v for k, v in self.aggregator.empty_row().items() if not pd.isna(v)}
        # Churn: event tables read once; features as of the scoring date per chunk.
        self.churn_tables = None
        self.customers: pd.DataFrame | None = None
        self.churn_features: pd.DataFrame | None = None
        if config.churn_history is not None:
            self.churn_tables = read_event_tables(config)

    @property
    def config(self) -> TaskConfig:
        """The task of the main model."""
        return self.models.config

    @property
    def text_fields(self) -> list[str]:
        """Fields the main model reads as text (categorical), whose values are never numbers."""
        return list(self.models.main.pipeline[0].categorical or [])

    @property
    def provided(self) -> list[str]:
        """Columns the joined tables bring, which the lead list itself need not have."""
        return [c for t in self.tables.values() for c in t.columns]

    def check(self, chunk: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
        """Why each raw row cannot be scored ('' when it can), and the rows with dates parsed.

        Not a lead (totals, footers, a missing id), a duplicate id, a number or date that
        does not read; for a churn task with dated history, also a customer gone by
        ``as_of`` or not a customer yet.

        Parameters
        ----------
        chunk : DataFrame
            Raw rows of the list, as read.

        Returns
        -------
        problems : Series of str
        parsed : DataFrame
        """
        problems, parsed = self.checker.check(chunk)
        return churn_row_problems(chunk, self.config, self.as_of, problems), parsed

    def frame(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Model-frame rows (joins, ``as_of``, churn features, touch aggregates) for raw rows.

        Parameters
        ----------
        chunk : DataFrame
            Checked rows of the list (see :meth:`check`).

        Returns
        -------
        DataFrame
            One row per input row, in its order, with its index.
        """
        config = self.config
        frame = apply_joins(chunk, config, self.tables)
        joined = frame
        keep = [c for c in [config.id_column, *input_fields(config)] if c in frame.columns]
        frame = frame[keep].copy()
        frame[AS_OF] = snapshot_for(frame, config, self.as_of, training=False)
        if self.churn_tables is not None:
            ids = frame[config.id_column].astype(str)
            feats = churn_feature_rows(joined, ids, config, self.churn_tables, self.as_of)
            self.customers, self.churn_features = joined, feats
            frame = pd.concat([frame, feats.set_axis(frame.index)], axis=1)
        if self.touches:
            ids = frame[config.id_column].astype(str)
            self.aggregator.set_params(as_of=pd.Series(frame[AS_OF].to_numpy(), index=ids))
            touches = self.aggregator.transform(self.touch_source.touches_for(ids))
            self.aggregator.set_params(as_of=None)
            touches = touches.reindex(ids.to_numpy()).fillna(self.empty)
            touches.index = frame.index
            frame = pd.concat([frame, touches], axis=1)
        return frame

    def score(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Score checked raw rows with every model of the task: the score file's columns.

        Parameters
        ----------
        chunk : DataFrame
            Checked rows of the list (see :meth:`check`).

        Returns
        -------
        DataFrame
            In the input's order: the main model's columns
            (:meth:`~crm_predict.scoring.bundle.ModelBundle.score_rows`), the Bayesian
            model's ``p_low``/``p_high`` when the main model gives none, the timing model's
            horizon columns and, for a churn task, the retention columns
            (:func:`crm_predict.churn.retention.add_retention`). Rank and percentile need the
            whole list: :func:`crm_predict.scoring.batch.score_leads` adds them.
        """
        main, bayes, timing = self.models.main, self.models.bayes, self.models.timing
        config = self.config
        frame = self.frame(chunk)
        aged = None
        if timing is not None and not config.is_churn:
            # One answer per lead: the conversion probability given its time open.
            aged = timing.score_rows(frame, as_of=self.as_of, fresh=True)
        out = main.score_rows(frame, age=aged)
        if bayes is not None and "p_low" not in out.columns:
            pipe = bayes.pipeline  # the interval only: no reasons for this model
            bounds = pipe[-1].predict_interval(pipe[:-1].transform(frame))
            low, high = interval_around(out["p_convert"].to_numpy(), bounds)
            at = out.columns.get_loc("p_convert") + 1
            out.insert(at, "p_low", low)
            out.insert(at + 1, "p_high", high)
        spec = config.churn
        timing_frame = frame
        if spec is not None and self.customers is not None and spec.signup in self.customers:
            # The time-to-churn model ages customers by tenure (signup to as_of).
            signup = self.customers[spec.signup].to_numpy()
            timing_frame = frame.assign(**{spec.signup: signup})
        if timing is not None:
            if aged is None:
                when = timing.score_rows(timing_frame, as_of=self.as_of)
            else:
                when = rescale_horizons(aged, out["p_convert"].to_numpy())
            when = when.drop(columns=[c for c in when.columns if c in out.columns])
            out = pd.concat([out, when.set_axis(out.index)], axis=1)
        if config.is_churn:
            out = add_retention(
                out,
                self.customers if self.customers is not None else chunk,
                timing_frame,
                self.churn_features,
                config,
                self.as_of,
                timing,
            )
        return out


def interval_around(p: np.ndarray, bounds: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The Bayesian model's interval of each lead, moved to be around the main model's ``p``.

    Each bound keeps its log-odds distance from the Bayesian model's own mean
    (``bounds``: ``p_mean, p_low, p_high`` of
    :meth:`~crm_predict.models.bayes.model.BayesianConversionModel.predict_interval`),
    measured from ``p`` instead: the interval says how sure the posterior is about a lead
    like this one, and it contains the probability written beside it.

    Examples
    --------
    >>> bounds = pd.DataFrame({"p_mean": [0.5], "p_low": [0.4], "p_high": [0.6]})
    >>> low, high = interval_around(np.array([0.5]), bounds)
    >>> float(low[0]), float(high[0])
    (0.4, 0.6)
    """
    eps = 1e-9
    mean, low, high = (
        logit(np.clip(bounds[c].to_numpy(dtype=float), eps, 1 - eps))
        for c in ("p_mean", "p_low", "p_high")
    )
    return shift(p, low - mean), shift(p, high - mean)
