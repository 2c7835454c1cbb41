"""Durations and event codes for time-to-event models, from a task's data and config.

A record's clock starts at ``time.created``. A closed record (its outcome positive or
negative) stops it at ``time.closed``; an open record is right-censored at the data's
``as_of``. Anything dated after ``as_of`` is not known yet: a record closed after it counts
as open, so a late export never changes what a model learns. Records without a creation
date cannot be placed in time and are left out (counted in ``notes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_predict.config import TaskConfig
from crm_predict.data import schema
from crm_predict.data.loading import TaskData
from crm_predict.exceptions import ConfigError, DataValidationError

_SHOW = 5
#: Event codes of a record: still open (censored), the event of interest, the competing outcome.
CENSORED, EVENT, COMPETING = 0, 1, 2


@dataclass(frozen=True)
class SurvivalData:
    """Per record of a task: may it be used, how long it was followed, how it ended.

    Attributes
    ----------
    usable : ndarray of bool
        Records with a creation date on or before ``as_of`` (the others cannot be timed).
    durations : ndarray of float
        Days from creation to the close date (closed records) or to ``as_of`` (open ones);
        NaN where not usable.
    events : ndarray of int
        0 open (censored), 1 event of interest (``target.positive``: won, churned), 2
        competing outcome (``target.negative``: lost).
    follow_up : ndarray of float
        Days from creation to ``as_of``: how long each record could have been watched.
    notes : list of str
        Records left out and why.
    """

    usable: np.ndarray
    durations: np.ndarray
    events: np.ndarray
    follow_up: np.ndarray
    notes: list[str] = field(default_factory=list)


def require_time_columns(config: TaskConfig) -> tuple[str, str]:
    """Return ``(time.created, time.closed)`` or raise a :class:`ConfigError` naming the key.

    Examples
    --------
    >>> from tests.helpers import synthetic_task  # doctest: +SKIP
    >>> require_time_columns(synthetic_task())  # doctest: +SKIP
    ('created_at', 'closed_at')
    """
    missing = [k for k in ("created", "closed") if not getattr(config.time, k)]
    if missing:
        keys = " and ".join(f"time.{k}" for k in missing)
        raise ConfigError(
            f"the time-to-event model needs {keys} in the config: the column with each "
            "record's creation date and the one with its close date"
        )
    return config.time.created, config.time.closed  # type: ignore[return-value]


def _ids(frame: pd.DataFrame, config: TaskConfig, mask: np.ndarray) -> str:
    ids = frame[config.id_column].to_numpy()[mask]
    shown = ", ".join(str(v) for v in ids[:_SHOW])
    return shown + (f" and {len(ids) - _SHOW:,} more" if len(ids) > _SHOW else "")


SET_ASIDE_SHARE = 0.05
"""Largest share of closed records with an unusable close date that is set aside (counted
in the notes) rather than refused."""


def survival_data(data: TaskData, config: TaskConfig, set_aside: bool = False) -> SurvivalData:
    """Durations and event codes for every record of a task.

    Parameters
    ----------
    data : TaskData
        Loaded task (``outcome`` per record, ``as_of``).
    config : TaskConfig
        Needs ``time.created`` and ``time.closed``.
    set_aside : bool
        Leave closed records without a close date, or closed before they were created, out
        of the model (counted in ``notes``) when they are at most
        :data:`SET_ASIDE_SHARE` of the closed records, instead of refusing the data.

    Returns
    -------
    SurvivalData

    Raises
    ------
    ConfigError
        The config names no creation or close date column.
    DataValidationError
        A closed record without a close date, or one closed before it was created (more
        than :data:`SET_ASIDE_SHARE` of them with ``set_aside``).

    Examples
    --------
    >>> from crm_predict.data.loading import load_task_data  # doctest: +SKIP
    >>> surv = survival_data(load_task_data(cfg), cfg)  # doctest: +SKIP
    >>> np.bincount(surv.events[surv.usable])  # doctest: +SKIP
    array([ 913, 4046, 9934])
    """
    created_col, closed_col = require_time_columns(config)
    frame = data.frame
    as_of = pd.Timestamp(data.as_of)
    if pd.isna(as_of):
        raise DataValidationError(
            ["no date to measure open records against: set time.as_of in the config"]
        )
    day = pd.Timedelta(days=1)
    created = pd.to_datetime(frame[created_col])
    closed = pd.to_datetime(frame[closed_col])
    outcome = data.outcome.to_numpy()
    is_closed = np.isin(outcome, (schema.POSITIVE, schema.NEGATIVE))
    usable = (created.notna() & (created <= as_of)).to_numpy()
    # An outcome dated after as_of is not known at as_of: the record is still open.
    known = is_closed & (closed <= as_of).to_numpy()
    problems = []
    undated = usable & is_closed & closed.isna().to_numpy()
    if undated.any():
        problems.append(
            f"{int(undated.sum()):,} closed records have no close date in column "
            f"'{closed_col}' (time.closed): {_ids(frame, config, undated)}"
        )
    backwards = usable & known & (closed < created).to_numpy()
    if backwards.any():
        problems.append(
            f"{int(backwards.sum()):,} records closed ('{closed_col}', time.closed) before "
            f"they were created ('{created_col}', time.created): "
            f"{_ids(frame, config, backwards)}"
        )
    bad = undated | backwards
    notes = []
    if problems and set_aside and bad.sum() <= SET_ASIDE_SHARE * max(1, (usable & is_closed).sum()):
        usable = usable & ~bad
        notes.append(
            f"{int(bad.sum()):,} closed records are set aside from the time-to-event model: "
            + "; ".join(problems)
        )
    elif problems:
        raise DataValidationError(problems, source=config.source.describe())
    follow_up = ((as_of - created) / day).to_numpy(dtype=float)
    durations = np.where(known, ((closed - created) / day).to_numpy(dtype=float), follow_up)
    events = np.full(len(frame), CENSORED, dtype=int)
    events[known & (outcome == schema.POSITIVE)] = EVENT
    events[known & (outcome == schema.NEGATIVE)] = COMPETING
    durations[~usable] = np.nan
    n_out = int((~usable & ~bad).sum())
    if n_out:
        notes.append(
            f"{n_out:,} records have no '{created_col}' (time.created) on or before as_of "
            f"and are left out of the time-to-event model: {_ids(frame, config, ~usable & ~bad)}"
        )
    return SurvivalData(usable, durations, events, follow_up, notes)
