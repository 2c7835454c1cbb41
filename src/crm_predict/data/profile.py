"""A first look at a task's data: counts, class balance, missing shares, leakage suspects."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from crm_predict.config import TaskConfig
from crm_predict.data.loading import TaskData
from crm_predict.data.schema import NEGATIVE, OPEN, POSITIVE

SUSPECT_AUC = 0.85
IDENTIFIER_SHARE = 0.5


@dataclass
class DataProfile:
    """What ``crm-predict validate`` reports.

    Attributes
    ----------
    rows : int
        Records in the main table (after joins).
    outcomes : dict
        Rows per outcome: positive, negative, open.
    date_range : tuple or None
        First and last created date, when the task has one.
    as_of : Timestamp
        The data's "today".
    missing : Series
        Share of missing values per column, highest first (columns with none left out).
    leakage : list of str
        Fields that look like they leak the outcome, with the reason.
    notes : list of str
        Cleaning done on the way (recodes, placeholders, unmatched joins).
    """

    rows: int
    outcomes: dict[str, int]
    date_range: tuple[pd.Timestamp, pd.Timestamp] | None
    as_of: pd.Timestamp
    missing: pd.Series
    leakage: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fill_rate_suspects(frame: pd.DataFrame, outcome: pd.Series, skip: set[str]) -> list[str]:
    closed = outcome.isin([POSITIVE, NEGATIVE])
    open_ = outcome == OPEN
    if open_.sum() < 10 or closed.sum() < 10:
        return []
    out = []
    for col in frame.columns:
        if col in skip:
            continue
        filled = frame[col].notna()
        rate_closed, rate_open = filled[closed].mean(), filled[open_].mean()
        if rate_closed >= 0.9 and rate_open <= 0.1:
            out.append(
                f"{col}: filled for {rate_closed:.0%} of closed records but "
                f"{rate_open:.0%} of open ones: recorded at or after the outcome, "
                "never a feature"
            )
    return out


def _single_field_auc(values: pd.Series, y: pd.Series) -> float:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        score = values.astype(float).fillna(values.astype(float).median())
    else:
        text = values.astype("object").where(values.notna(), "(missing)").astype(str)
        score = y.groupby(text).transform("mean")
    if score.nunique() < 2:
        return 0.5
    auc = roc_auc_score(y, score)
    return max(auc, 1.0 - auc)


def _predictive_suspects(
    frame: pd.DataFrame, label: pd.Series, skip: set[str], used: set[str]
) -> list[str]:
    known = label.notna()
    y = label[known].astype(int)
    out = []
    for col in frame.columns:
        if col in skip:
            continue
        values = frame.loc[known, col]
        if values.nunique() > IDENTIFIER_SHARE * len(values) and not pd.api.types.is_float_dtype(
            values
        ):
            continue
        auc = _single_field_auc(values, y)
        if auc >= SUSPECT_AUC:
            where = "a model feature" if col in used else "not used by the model"
            out.append(
                f"{col}: alone separates the outcomes with AUC {auc:.2f} ({where}); "
                "is it entered during or after the sale?"
            )
    return out


def profile_task(data: TaskData, config: TaskConfig) -> DataProfile:
    """Profile a task's loaded data.

    Parameters
    ----------
    data : TaskData
        Output of :func:`crm_predict.data.loading.load_task_data`.
    config : TaskConfig
        The task.

    Returns
    -------
    DataProfile

    Examples
    --------
    >>> from crm_predict.config import load_config  # doctest: +SKIP
    >>> cfg = load_config("configs/leads_demo.yaml")  # doctest: +SKIP
    >>> profile_task(load_task_data(cfg), cfg).outcomes  # doctest: +SKIP
    {'positive': 8335, 'negative': 10280, 'open': 1385}
    """
    frame, outcome = data.frame, data.outcome
    counts = outcome.value_counts()
    outcomes = {k: int(counts.get(k, 0)) for k in (POSITIVE, NEGATIVE, OPEN)}
    date_range = None
    if config.time.created:
        created = frame[config.time.created].dropna()
        if len(created):
            date_range = (created.min(), created.max())
    missing = frame.isna().mean()
    missing = missing[missing > 0].sort_values(ascending=False)
    skip = {config.id_column, config.target.column}
    outcome_dates = {c for c in (config.time.closed,) if c}
    used = {
        c
        for role in ("categorical", "numeric", "count", "date")
        for c in config.features.model_fields_for(role)
    }
    leakage = _fill_rate_suspects(frame, outcome, skip | {config.time.created or ""})
    leakage += _predictive_suspects(frame, data.label, skip | outcome_dates, used)
    return DataProfile(
        rows=len(frame),
        outcomes=outcomes,
        date_range=date_range,
        as_of=data.as_of,
        missing=missing,
        leakage=leakage,
        notes=list(data.notes),
    )


def class_balance(outcomes: dict[str, int]) -> float:
    """Share of positives among closed records (NaN when none are closed)."""
    closed = outcomes[POSITIVE] + outcomes[NEGATIVE]
    return outcomes[POSITIVE] / closed if closed else float(np.nan)
