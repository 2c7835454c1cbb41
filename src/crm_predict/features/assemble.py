"""Assemble a task's model frame and feature pipeline from its config."""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer

from crm_predict.config import TaskConfig
from crm_predict.data.loading import TaskData
from crm_predict.features.activity import ActivityAggregator
from crm_predict.features.categorical import CategoricalEncoder
from crm_predict.features.churn import add_churn_features
from crm_predict.features.cleaning import AS_OF
from crm_predict.features.dates import DateFeatures, EngagementFeatures, SizeBands
from crm_predict.features.numeric import NumericTransformer


def field_of(feature: str) -> str:
    """Return the CRM field a feature column came from (the part before ``__``).

    Examples
    --------
    >>> field_of("web_visits__log1p")
    'web_visits'
    """
    return feature.split("__", 1)[0]


def snapshot_dates(data: TaskData, config: TaskConfig, training: bool = True) -> pd.Series:
    """Each record's ``as_of``: the date its features are computed from.

    A record is seen ``time.snapshot_days`` after its creation, the age at which the model
    scores it. For training it is also never seen on or after its close date, so nothing
    that happened on the way to the outcome (or after it) leaks into its features; for
    scoring a record younger than ``snapshot_days`` is seen as of the data's date. Features
    thus describe every record at the same age in training and in scoring. With
    ``snapshot_days`` 0 training rows are seen at creation and scoring rows at the data's
    date.
    """
    return snapshot_for(
        data.frame,
        config,
        data.as_of,
        training=training,
    )


def snapshot_for(
    frame: pd.DataFrame, config: TaskConfig, as_of: pd.Timestamp, training: bool
) -> pd.Series:
    """:func:`snapshot_dates` for any frame with the config's time columns."""
    today = pd.Series(as_of, index=frame.index, dtype="datetime64[ns]")
    created = config.time.created
    days = config.time.snapshot_days
    if not created or created not in frame.columns or (not training and days == 0):
        return today
    seen = pd.to_datetime(frame[created]) + pd.Timedelta(days=days)
    if training and config.time.closed:
        closed = frame[config.time.closed]
        seen = seen.where(~(closed < seen), closed)
    return seen.where(seen.notna() & (seen < today), today)


def build_model_frame(
    data: TaskData,
    config: TaskConfig,
    aggregator: ActivityAggregator | None = None,
    training: bool = True,
) -> tuple[pd.DataFrame, ActivityAggregator | None]:
    """Build the one-row-per-record frame the feature pipeline reads.

    Parameters
    ----------
    data : TaskData
        Loaded, validated tables.
    config : TaskConfig
        The task.
    aggregator : ActivityAggregator, optional
        A fitted aggregator (from training) to reuse at scoring time; fitted here if None.
    training : bool
        Training rows are seen at their snapshot date, scoring rows at the data's date
        (see :func:`snapshot_dates`).

    Returns
    -------
    frame : DataFrame
        The id, the model's input fields, ``as_of`` and activity aggregates.
    aggregator : ActivityAggregator or None
        The fitted aggregator, when the task has activities.
    """
    cols = [config.id_column, *input_fields(config)]
    frame = data.frame[list(dict.fromkeys(c for c in cols if c != AS_OF))].copy()
    frame[AS_OF] = snapshot_dates(data, config, training)
    spec = config.activities
    if spec is None or data.activities is None:
        return frame, None
    if aggregator is None:
        aggregator = ActivityAggregator(
            id_column=spec.id_column,
            time_column=spec.time_column,
            type_column=spec.type_column,
            direction_column=spec.direction_column,
            windows=tuple(spec.windows),
        ).fit(data.activities)
    ids = frame[config.id_column].astype(str)
    aggregator.set_params(as_of=pd.Series(frame[AS_OF].to_numpy(), index=ids))
    agg = aggregator.transform(data.activities)
    aggregator.set_params(as_of=None)
    joined = agg.reindex(ids.to_numpy())
    joined = joined.fillna({k: v for k, v in aggregator.empty_row().items() if not pd.isna(v)})
    joined.index = frame.index
    return pd.concat([frame, joined], axis=1), aggregator


def task_frame(
    data: TaskData, config: TaskConfig, aggregator: ActivityAggregator | None = None
) -> tuple[pd.DataFrame, ActivityAggregator | None, list[str] | None]:
    """The training model frame of a task: :func:`build_model_frame` plus, for a churn task
    with customer history, the churn features as of the snapshot.

    Training, tuning and the retrain comparison all read their rows through this one
    function, so a model is never judged on a frame built differently from its own.

    Parameters
    ----------
    data : TaskData
        Loaded, validated tables.
    config : TaskConfig
        The task.
    aggregator : ActivityAggregator, optional
        A fitted aggregator to reuse (a registered model's); fitted here if None.

    Returns
    -------
    frame : DataFrame
        One row per record.
    aggregator : ActivityAggregator or None
        The fitted aggregator, when the task has activities.
    extra : list of str or None
        The numeric columns besides the config's fields (activity aggregates, churn
        features) that the feature pipeline reads; None when there are none.

    Examples
    --------
    >>> frame, aggregator, extra = task_frame(data, config)  # doctest: +SKIP
    """
    frame, aggregator = build_model_frame(data, config, aggregator=aggregator)
    extra = list(aggregator.get_feature_names_out()) if aggregator else None
    if config.churn_history is not None:
        frame, churn_columns = add_churn_features(frame, data, config)
        extra = [*(extra or []), *churn_columns]
    return frame, aggregator, extra


def input_fields(config: TaskConfig) -> list[str]:
    """The raw CRM fields the feature pipeline reads (besides activity aggregates)."""
    f = config.features
    cols = [*f.model_fields_for("categorical"), *f.model_fields_for("numeric")]
    cols += [*f.model_fields_for("count"), *f.model_fields_for("date")]
    if f.size_bands:
        cols.append(f.size_bands.column)
    if config.time.created:
        cols.append(config.time.created)
    return list(dict.fromkeys(cols))


def build_feature_pipeline(
    config: TaskConfig, activity_features: list[str] | None = None
) -> ColumnTransformer:
    """Return the (unfitted) feature pipeline for a task, with pandas output.

    Parameters
    ----------
    config : TaskConfig
        Which fields play which role.
    activity_features : list of str, optional
        Activity aggregate columns in the model frame (see :func:`build_model_frame`).

    Returns
    -------
    ColumnTransformer
        Outputs readable feature names; :func:`field_of` maps each back to its CRM field.
    """
    f = config.features
    acts = list(activity_features or [])
    parts: list[tuple] = []
    if cats := f.model_fields_for("categorical"):
        parts.append(("categorical", CategoricalEncoder(min_count=f.rare_min_count), cats))
    if f.size_bands:
        bands = SizeBands(edges=tuple(f.size_bands.edges), labels=tuple(f.size_bands.labels))
        parts.append(("size_band", bands, [f.size_bands.column]))
    numeric = [*f.model_fields_for("numeric"), *f.model_fields_for("count"), *acts]
    if numeric:
        parts.append(("numeric", NumericTransformer(), numeric))
    created = config.time.created
    if created and (f.lead_age or f.calendar):
        dated = DateFeatures(age=f.lead_age, calendar=f.calendar)
        parts.append(("created", dated, [created, AS_OF]))
    if dates := f.model_fields_for("date"):
        parts.append(("dates", DateFeatures(age=True), [*dates, AS_OF]))
    if created and {"touches_total", "days_since_first_touch"} <= set(acts):
        parts.append(
            (
                "engagement",
                EngagementFeatures(),
                [created, AS_OF, "touches_total", "days_since_first_touch"],
            )
        )
    if not parts:
        raise ValueError("the config lists no features: fill in features.categorical, numeric …")
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False).set_output(
        transform="pandas"
    )
