"""Load a task's tables as its config describes: read, clean, recode, join, validate."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import pandas as pd

from crm_predict.config import ActivitySpec, JoinSpec, TaskConfig
from crm_predict.data import schema
from crm_predict.data.churn import churn_outcome, read_churn_tables
from crm_predict.data.io import read_table
from crm_predict.data.touches import activity_requests
from crm_predict.exceptions import DataValidationError, InputWarning


@dataclass
class TaskData:
    """A task's data after validation.

    Attributes
    ----------
    frame : DataFrame
        One row per record (lead, opportunity, customer), joined and typed.
    outcome : Series
        ``positive``, ``negative`` or ``open`` per row, aligned with ``frame``.
    activities : DataFrame or None
        Touches, typed, if the config names an activity table.
    as_of : Timestamp
        The data's "today".
    notes : list of str
        What was cleaned on the way (recodes, unmatched join keys), for reports.
    """

    frame: pd.DataFrame
    outcome: pd.Series
    activities: pd.DataFrame | None
    as_of: pd.Timestamp
    notes: list[str] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def label(self) -> pd.Series:
        """1.0 for positive, 0.0 for negative, NaN for open (censored)."""
        return self.outcome.map({schema.POSITIVE: 1.0, schema.NEGATIVE: 0.0})


def _recode(frame: pd.DataFrame, config: TaskConfig, table: str, notes: list[str]) -> None:
    for col, mapping in config.recode.items():
        if col not in frame.columns:
            continue
        for old, new in mapping.items():
            hits = int((frame[col] == old).sum())
            if hits:
                notes.append(f"recode {table}.{col}: {old!r} → {new!r} ({hits:,} rows)")
        frame[col] = frame[col].replace(mapping)


def _placeholder_notes(frame: pd.DataFrame, placeholders: list[str]) -> list[str]:
    marks = [p for p in placeholders if p.strip()]
    notes = []
    text_cols = [
        c
        for c in frame.columns
        if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])
    ]
    for mark in marks:
        hits = {c: int((frame[c].astype("object") == mark).sum()) for c in text_cols}
        hits = {c: n for c, n in hits.items() if n}
        if hits:
            top = ", ".join(
                f"{c} ({n:,})" for c, n in sorted(hits.items(), key=lambda kv: -kv[1])[:4]
            )
            notes.append(
                f"placeholder {mark!r} read as missing in {len(hits)} columns, "
                f"{sum(hits.values()):,} cells: {top}"
            )
    return notes


def _join(
    frame: pd.DataFrame,
    spec: JoinSpec,
    config: TaskConfig,
    notes: list[str],
    raw_right: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    raw_right = read_table(spec) if raw_right is None else raw_right
    right = schema.clean_text(raw_right, config.missing_values)
    _recode(right, config, spec.name, notes)
    key = spec.key_in_table
    problems = schema.missing_column_problems(
        right.columns, [(key, f"joins[{spec.name}].right_key")], spec.name
    )
    if spec.columns:
        problems += schema.missing_column_problems(
            right.columns, [(c, f"joins[{spec.name}].columns") for c in spec.columns], spec.name
        )
    if problems or spec.key not in frame.columns:
        return frame, problems
    dup = right[key].duplicated(keep=False) & right[key].notna()
    if dup.any():
        problems.append(
            f"joins[{spec.name}]: key '{key}' is not unique in {spec.name} "
            f"({', '.join(map(str, right.loc[dup, key].unique()[:5]))})"
        )
        return frame, problems
    # Keys compare as text, as ids do: a CSV's "7" meets a Parquet table's 7.
    right[key] = schema.id_text(right[key])
    frame = frame.assign(**{spec.key: schema.id_text(frame[spec.key])})
    keep = [key, *(spec.columns or [c for c in right.columns if c != key])]
    right = right[keep].rename(columns={key: spec.key}) if key != spec.key else right[keep]
    left_key = frame[spec.key]
    blank = int(left_key.isna().sum())
    if blank:
        notes.append(f"joins[{spec.name}]: {blank:,} rows have no {spec.key}")
    unmatched = left_key.notna() & ~left_key.isin(set(right[spec.key].dropna()))
    if unmatched.any():
        counts = left_key[unmatched].value_counts()
        shown = ", ".join(f"{k!r} ({v:,})" for k, v in counts.iloc[:5].items())
        notes.append(
            f"joins[{spec.name}]: {int(unmatched.sum()):,} rows have a {spec.key} "
            f"not found in {spec.name}: {shown}"
        )
    clash = [c for c in right.columns if c != spec.key and c in frame.columns]
    if clash:
        right = right.rename(columns={c: f"{spec.name}_{c}" for c in clash})
    merged = frame.merge(right, on=spec.key, how=spec.how, validate="many_to_one")
    return merged, problems


def _activities(spec: ActivitySpec, config: TaskConfig) -> tuple[pd.DataFrame, list[str]]:
    acts = schema.clean_text(read_table(spec), config.missing_values)
    problems = schema.missing_column_problems(acts.columns, activity_requests(spec), "activities")
    if problems:
        return acts, problems
    acts[spec.id_column] = schema.id_text(acts[spec.id_column]).astype(str)
    problems += schema.coerce_dates(
        acts,
        [(spec.time_column, "activities.time_column")],
        spec.id_column,
        config.time.date_format,
    )
    schema.as_text(acts, [c for c in (spec.type_column, spec.direction_column) if c])
    return acts, problems


def _undated_time_split(frame: pd.DataFrame, config: TaskConfig) -> list[str]:
    """A time-ordered split needs creation dates that differ."""
    created = config.time.created
    if config.split.method == "stratified" or not created or created not in frame.columns:
        return []
    dates = frame[created].dropna()
    if len(frame) < 2 or dates.nunique() > 1:
        return []
    seen = f"every record has the date {dates.iloc[0]:%Y-%m-%d}" if len(dates) else "no dates"
    return [
        f"time.created '{created}': {seen}, so a time-ordered split cannot order the "
        "records; fix the export's dates, or set split.method: stratified"
    ]


def _as_of(config: TaskConfig, frame: pd.DataFrame, acts: pd.DataFrame | None) -> pd.Timestamp:
    if config.time.as_of is not None:
        return pd.Timestamp(config.time.as_of)
    stamps = [frame[c].max() for c in (config.time.created, config.time.closed) if c]
    if acts is not None and config.activities is not None:
        stamps.append(acts[config.activities.time_column].max())
    stamps = [s for s in stamps if pd.notna(s)]
    # Without any date the data has no "today" of its own; never invent one from the clock.
    return max(stamps).normalize() + pd.Timedelta(days=1) if stamps else pd.NaT


def read_join_tables(config: TaskConfig) -> dict[str, pd.DataFrame]:
    """Read every joined table of a task once (for scoring many chunks)."""
    return {spec.name: read_table(spec) for spec in config.joins}


def apply_joins(
    frame: pd.DataFrame, config: TaskConfig, tables: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """Clean, recode and join raw main-table rows as in training.

    Parameters
    ----------
    frame : DataFrame
        Raw rows of the main table (e.g. one chunk of the lead list).
    config : TaskConfig
        The task.
    tables : dict
        Output of :func:`read_join_tables`.

    Returns
    -------
    DataFrame
        The joined rows, in the input's order.
    """
    frame = schema.clean_text(frame, config.missing_values)
    _recode(frame, config, "source", [])
    for spec in config.joins:
        frame, problems = _join(frame, spec, config, [], tables[spec.name])
        if problems:
            raise DataValidationError(problems, source=spec.name)
    return frame


def load_task_data(config: TaskConfig) -> TaskData:
    """Read every table of a task, clean, join and validate it.

    Parameters
    ----------
    config : TaskConfig
        The task.

    Returns
    -------
    TaskData

    Raises
    ------
    DataValidationError
        Listing every problem found: missing columns with the config key that asked for
        them, unparseable dates and numbers with row ids, duplicate ids, unmapped or
        single-class targets, empty input.
    """
    origin = config.source.describe()
    notes: list[str] = []
    frame = read_table(config.source)
    if frame.empty:
        raise DataValidationError(["the table has no rows"], source=origin)
    notes += _placeholder_notes(frame, config.missing_values)
    frame = schema.clean_text(frame, config.missing_values)
    _recode(frame, config, "source", notes)
    problems = schema.missing_column_problems(
        frame.columns,
        [(config.id_column, "id_column"), (config.target.column, "target.column")]
        + [(j.key, f"joins[{j.name}].key") for j in config.joins],
        origin,
    )
    for spec in config.joins:
        frame, join_problems = _join(frame, spec, config, notes)
        problems += join_problems
    problems += schema.missing_column_problems(frame.columns, config.column_requests(), origin)
    # The id, target and join-key columns are asked for twice: list each problem once.
    problems = list(dict.fromkeys(problems))
    # Go on checking what can be checked, so every problem is listed at once; only
    # without ids can no row be named.
    if config.id_column not in frame.columns:
        raise DataValidationError(problems, source=origin)

    frame[config.id_column] = schema.id_text(frame[config.id_column])
    problems += schema.id_problems(frame, config.id_column)
    dates = [(getattr(config.time, k), f"time.{k}") for k in ("created", "closed")]
    dates += [(c, "features.date") for c in config.features.model_fields_for("date")]
    as_of = pd.Timestamp(config.time.as_of) if config.time.as_of else None
    problems += schema.coerce_dates(
        frame, [(c, k) for c, k in dates if c], config.id_column, config.time.date_format, as_of
    )
    problems += _undated_time_split(frame, config)
    for warning in schema.closed_before_created(frame, config):
        notes.append(warning)
        warnings.warn(warning.removeprefix("warning: "), InputWarning, stacklevel=2)
    numbers = [(c, "features.numeric") for c in config.features.model_fields_for("numeric")]
    numbers += [(c, "features.count") for c in config.features.model_fields_for("count")]
    if config.features.size_bands:
        numbers.append((config.features.size_bands.column, "features.size_bands.column"))
    problems += schema.coerce_numbers(frame, numbers, config.id_column)
    problems += schema.blank_columns(frame, numbers)
    schema.as_text(frame, config.features.model_fields_for("categorical") + config.segments)
    outcome = pd.Series(pd.NA, index=frame.index, dtype="object")
    if config.target.column in frame.columns:
        outcome, target_problems = schema.outcome_of(frame, config)
        problems += target_problems

    acts = None
    if config.activities is not None:
        acts, act_problems = _activities(config.activities, config)
        problems += act_problems
    if problems:
        raise DataValidationError(problems, source=origin)
    as_of = _as_of(config, frame, acts)
    tables: dict[str, pd.DataFrame] = {}
    if config.churn_history is not None:
        frame, outcome, tables = _churn(frame, config, as_of, notes)
    return TaskData(
        frame=frame.reset_index(drop=True),
        outcome=outcome.reset_index(drop=True),
        activities=acts,
        as_of=as_of,
        notes=notes,
        tables=tables,
    )


def _churn(
    frame: pd.DataFrame, config: TaskConfig, as_of: pd.Timestamp, notes: list[str]
) -> tuple[pd.DataFrame, pd.Series, dict[str, pd.DataFrame]]:
    """Keep the customers at risk at the churn snapshot; label churn within the horizon."""

    spec = config.churn
    assert spec is not None
    problems = schema.coerce_dates(
        frame,
        [(spec.signup, "churn.signup"), (spec.churn_date, "churn.churn_date")],
        config.id_column,
        config.time.date_format,
    )
    tables, table_problems = read_churn_tables(config)
    if problems or table_problems:
        raise DataValidationError(problems + table_problems, source=config.source.describe())
    at_risk, outcome = churn_outcome(frame, config, as_of)
    notes.append(
        f"churn: {int(at_risk.sum()):,} of {len(frame):,} customers at risk at the snapshot; "
        f"labels are churn within {spec.horizon_days} days"
    )
    return frame[at_risk], outcome[at_risk], tables
