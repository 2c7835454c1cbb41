"""The registered artifact: pipeline, task config, activity aggregator and base rates.

One :class:`ModelBundle` is what MLflow stores (wrapped by :mod:`crm_predict.tracking`),
what ``crm-predict score`` streams a lead list through, and what a Spark UDF or a served
endpoint calls, so every path scores and explains leads with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from crm_predict.age import AGE_FIELD, age_offsets, shift, with_age
from crm_predict.config import TaskConfig
from crm_predict.explain import bayes_contributions, contributions, explainable
from crm_predict.features.activity import ActivityAggregator
from crm_predict.features.cleaning import AS_OF
from crm_predict.grades import assign_grades
from crm_predict.reasons import MIN_POINTS, FieldRates, top_reasons


@dataclass
class ModelBundle:
    """A trained task model with everything scoring needs.

    Attributes
    ----------
    pipeline : Pipeline
        Cleaning, features and estimator.
    config : TaskConfig
        The task it was trained for.
    aggregator : ActivityAggregator or None
        Fitted touch aggregator (tasks with an activity table).
    rates : FieldRates
        Training conversion rates per field level, for reason sentences.
    trained_as_of : Timestamp
        The training data's date.
    grade_cutoffs : dict
        Probability cut-offs of grades A, B and C.
    card : dict
        What a report says about the model: training window, split, holdout metrics (and
        the baseline's), grade, calibration, lift and segment tables (as records).
    reference : dict
        Compact profile of the training rows (per-field bins or level shares, missing
        shares, score distribution) that :mod:`crm_predict.monitor` measures drift against.
    """

    pipeline: Pipeline
    config: TaskConfig
    aggregator: ActivityAggregator | None
    rates: FieldRates
    trained_as_of: pd.Timestamp
    grade_cutoffs: dict[str, float]
    card: dict = field(default_factory=dict)
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
            conditioned on each lead's time open (:mod:`crm_predict.age`), which becomes
            one more field of the contributions and reasons (``days_open``).

        Returns
        -------
        DataFrame
            In the input's order: id, ``p_convert`` (``p_low``/``p_high`` for a model with
            intervals), ``grade``, and the reason columns of
            :func:`crm_predict.reasons.top_reasons` for an explainable model.
        """
        frame = frame.reset_index(drop=True)
        if as_of is not None and AS_OF not in frame.columns:
            frame = frame.assign(**{AS_OF: pd.Timestamp(as_of)})
        out = pd.DataFrame(index=frame.index)
        id_col = self.config.id_column
        if id_col in frame.columns:
            out[id_col] = frame[id_col].astype(str)
        model = self.pipeline[-1]
        p_mean = None
        if hasattr(model, "predict_interval"):
            interval = model.predict_interval(self.pipeline[:-1].transform(frame))
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
                contrib = contributions(self.pipeline, frame)
            else:
                contrib = bayes_contributions(self.pipeline, frame, p=p_mean)
            values = reason_values(self.pipeline, frame)
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
            p = self.pipeline.predict_proba(frame)[:, 1]
            out["p_convert"] = p if offset is None else shift(p, offset)
        out.insert(
            out.columns.get_loc("p_convert") + 1,
            "grade",
            assign_grades(out["p_convert"].to_numpy(), self.grade_cutoffs),
        )
        return out


def reason_floor(config: TaskConfig) -> float:
    """The weakest push, in percentage points, that reasons quote (``reason_min_points``).

    A config pickled in a bundle saved before the key existed has no such attribute; the
    default :data:`crm_predict.reasons.MIN_POINTS` holds then.

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
    features = pipeline[:2].transform(frame)
    derived = [c for c in features.columns if "__" not in c and c not in cleaned.columns]
    return pd.concat([cleaned, features[derived].set_axis(cleaned.index)], axis=1)


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
    return ModelBundle(pipeline, config, aggregator, rates, trained_as_of, dict(config.grades))
