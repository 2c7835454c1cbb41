"""The registered artifacts: a fitted pipeline with everything scoring needs.

A :class:`ModelBundle` (a probability model: LightGBM, Bayesian or logistic) or a
:class:`TimingBundle` (the time-to-event model) is what MLflow stores (wrapped by
:mod:`crm_predict.tracking`), what ``crm-predict score`` streams a lead list through, and what a
Spark UDF or a served endpoint calls, so every path scores and explains leads with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from crm_predict.config import TaskConfig
from crm_predict.data import schema
from crm_predict.evaluate.grades import assign_grades
from crm_predict.explain.age import AGE_FIELD, age_offsets, shift, with_age
from crm_predict.explain.contributions import bayes_contributions, contributions, explainable
from crm_predict.explain.reasons import MIN_POINTS, FieldRates, top_reasons
from crm_predict.features.activity import ActivityAggregator
from crm_predict.features.cleaning import AS_OF


@dataclass(kw_only=True)
class Bundle:
    """What every registered model carries: the fitted pipeline and its scoring context.

    Attributes
    ----------
    pipeline : Pipeline
        Cleaning, features and estimator.
    config : TaskConfig
        The task it was trained for.
    aggregator : ActivityAggregator or None
        Fitted touch aggregator (tasks with an activity table).
    trained_as_of : Timestamp
        The training data's date.
    card : dict
        What a report says about the model.
    """

    pipeline: Pipeline
    config: TaskConfig
    aggregator: ActivityAggregator | None
    trained_as_of: pd.Timestamp
    card: dict = field(default_factory=dict)

    @property
    def model(self):
        """The fitted estimator at the end of the pipeline."""
        return self.pipeline[-1]

    def score_rows(self, frame: pd.DataFrame, as_of: pd.Timestamp | str | None = None):
        """Score rows of the model frame; each kind of bundle says what it returns."""
        raise NotImplementedError


@dataclass(kw_only=True)
class ModelBundle(Bundle):
    """A trained probability model (LightGBM, Bayesian or logistic) with what scoring needs.

    The attributes of :class:`Bundle` (its ``card``: training window, split, holdout
    metrics and the baseline's, grade, calibration, lift and segment tables as records),
    and:

    Attributes
    ----------
    rates : FieldRates
        Training conversion rates per field level, for reason sentences.
    grade_cutoffs : dict
        Probability cut-offs of grades A, B and C.
    reference : dict
        Compact profile of the training rows (per-field bins or level shares, missing
        shares, score distribution) that :mod:`crm_predict.lifecycle.monitor` measures drift
        against.
    """

    rates: FieldRates
    grade_cutoffs: dict[str, float]
    reference: dict = field(default_factory=dict)

    @property
    def explains(self) -> bool:
        """Whether per-field contributions are available (LightGBM and Bayesian models)."""
        return explainable(self.pipeline)

    def score_rows(
        self,
        frame: pd.DataFrame,
        as_of: pd.Timestamp | str | None = None,
        age: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Score raw rows: probability, interval when the model has one, grade, reasons.

        Parameters
        ----------
        frame : DataFrame
            Rows of the model frame (raw fields after joins, activity aggregates if any).
        as_of : Timestamp or str, optional
            The date the rows are seen from, when they have no ``as_of`` column.
        age : DataFrame, optional
            The timing model's ``fresh`` scores of the same rows: the probability is then
            conditioned on each lead's time open (:mod:`crm_predict.explain.age`), which becomes
            one more field of the contributions and reasons (``days_open``).

        Returns
        -------
        DataFrame
            In the input's order: id, ``p_convert`` (``p_low``/``p_high`` for a model with
            intervals), ``grade``, and the reason columns of
            :func:`crm_predict.explain.reasons.top_reasons` for an explainable model.
        """
        frame = frame.reset_index(drop=True)
        if as_of is not None and AS_OF not in frame.columns:
            frame = frame.assign(**{AS_OF: pd.Timestamp(as_of)})
        out = pd.DataFrame(index=frame.index)
        id_col = self.config.id_column
        if id_col in frame.columns:
            out[id_col] = frame[id_col].astype(str)
        model = self.pipeline[-1]
        # Each step runs once: the model, its contributions and the reasons' values read it.
        cleaned, built, X = _stages(self.pipeline, frame)
        p_mean = None
        if hasattr(model, "predict_interval"):
            interval = model.predict_interval(X)
            p_mean = interval["p_mean"].to_numpy()
            out["p_convert"] = p_mean
            out["p_low"] = interval["p_low"].to_numpy()
            out["p_high"] = interval["p_high"].to_numpy()
        offset = None if age is None else age_offsets(age)
        if offset is not None and p_mean is not None:
            out["p_low"] = shift(out["p_low"].to_numpy(), offset)
            out["p_high"] = shift(out["p_high"].to_numpy(), offset)
        if self.explains:
            if p_mean is None:
                contrib = contributions(self.pipeline, frame, X)
            else:
                contrib = bayes_contributions(self.pipeline, frame, p=p_mean, features=X)
            values = _values(cleaned, built)
            if offset is not None:
                contrib = with_age(contrib, offset)
                values[AGE_FIELD] = np.round(age["age_days"].to_numpy(dtype=float))
            out["p_convert"] = contrib.p
            floor = reason_floor(self.config)
            reasons = top_reasons(
                contrib.points, contrib.fields, values, self.rates, min_points=floor
            )
            out = pd.concat([out, reasons.set_index(out.index)], axis=1)
        else:
            p = model.predict_proba(X)[:, 1]
            out["p_convert"] = p if offset is None else shift(p, offset)
        out.insert(
            out.columns.get_loc("p_convert") + 1,
            "grade",
            assign_grades(out["p_convert"].to_numpy(), self.grade_cutoffs),
        )
        return out


@dataclass(kw_only=True)
class TimingBundle(Bundle):
    """The registered time-to-event artifact: features + hazard model, ready to score.

    The attributes of :class:`Bundle`: its pipeline ends in a fitted
    :class:`~crm_predict.models.timing.model.TimeToConvertModel`, and its ``card`` holds the
    holdout comparison with the baselines, the horizons and the per-segment curves.
    """

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


def reason_floor(config: TaskConfig) -> float:
    """The weakest push, in percentage points, that reasons quote (``reason_min_points``).

    A config pickled in a bundle saved before the key existed has no such attribute; the
    default :data:`crm_predict.explain.reasons.MIN_POINTS` holds then.

    Examples
    --------
    >>> reason_floor(load_config("configs/leads_demo.yaml"))  # doctest: +SKIP
    1.0
    """
    return float(getattr(config, "reason_min_points", MIN_POINTS))


def reason_values(pipeline: Pipeline, frame: pd.DataFrame) -> pd.DataFrame:
    """The values reasons quote: cleaned fields plus features derived from several fields
    (e.g. ``touches_per_week``), which have no column of their own in the input."""
    cleaned = pipeline[0].transform(frame)
    return _values(cleaned, pipeline[1].transform(cleaned))


def _values(cleaned: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """:func:`reason_values` from the cleaning step's and the feature step's output."""
    derived = [c for c in features.columns if "__" not in c and c not in cleaned.columns]
    return pd.concat([cleaned, features[derived].set_axis(cleaned.index)], axis=1)


def _stages(
    pipeline: Pipeline, frame: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The cleaned rows, the built features and what the model reads (``pipeline[:-1]``)."""
    cleaned = pipeline[0].transform(frame)
    built = pipeline[1].transform(cleaned)
    return cleaned, built, (pipeline[2:-1].transform(built) if len(pipeline) > 3 else built)


def make_bundle(
    pipeline: Pipeline,
    config: TaskConfig,
    aggregator: ActivityAggregator | None,
    train_frame: pd.DataFrame,
    y: np.ndarray,
    trained_as_of: pd.Timestamp,
) -> ModelBundle:
    """Assemble a bundle, learning the base rates quoted in reasons from the training rows."""
    cleaner = pipeline[0]
    values = reason_values(pipeline, train_frame)
    derived = [c for c in values.columns if c not in train_frame.columns]
    rates = FieldRates.learn(
        values,
        y,
        categorical=list(cleaner.categorical or []),
        numeric=[*(cleaner.numeric or []), *derived],
        min_count=config.features.rare_min_count,
    )
    return ModelBundle(
        pipeline=pipeline,
        config=config,
        aggregator=aggregator,
        rates=rates,
        trained_as_of=trained_as_of,
        grade_cutoffs=dict(config.grades),
    )
