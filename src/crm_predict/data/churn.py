"""A churn task's event tables and outcome: who is at risk at the snapshot, who left after it.

The event tables (tickets, surveys, usage, plan changes) are read and renamed to the
canonical columns of :data:`TABLE_COLUMNS`; :func:`churn_outcome` labels each customer at
risk at the snapshot (``as_of`` minus the horizon) by what happened within the horizon.
"""

from __future__ import annotations

import pandas as pd

from crm_predict.data import schema
from crm_predict.data.io import read_table

_NUMBERS = ("escalated", "score", "usage", "old_revenue", "new_revenue")
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "tickets": ("customer_id", "opened_at", "closed_at", "escalated"),
    "surveys": ("customer_id", "survey", "score", "answered_at"),
    "usage": ("customer_id", "recorded_at", "usage"),
    "changes": ("customer_id", "changed_at", "old_revenue", "new_revenue"),
}


def churn_snapshot(config, as_of: pd.Timestamp) -> pd.Timestamp:
    """The date training rows are seen from: ``churn.snapshot`` or ``as_of − horizon``.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> cfg = NS(churn=NS(snapshot=None, horizon_days=90))
    >>> str(churn_snapshot(cfg, pd.Timestamp("2025-01-01")).date())
    '2024-10-03'
    """
    spec = config.churn
    if spec.snapshot is not None:
        return pd.Timestamp(spec.snapshot)
    if pd.isna(as_of):
        raise ValueError("churn needs time.as_of or churn.snapshot: the data has no dates")
    return pd.Timestamp(as_of) - pd.Timedelta(days=spec.horizon_days)


def read_churn_tables(config) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Read the config's churn event tables, renamed to the canonical columns.

    Returns
    -------
    tables : dict
        ``{"tickets": …, "surveys": …, "usage": …, "changes": …}`` for the tables given.
    problems : list of str
        Missing columns, naming the config key.
    """
    tables, problems = {}, []
    for name, canonical in TABLE_COLUMNS.items():
        spec = getattr(config.churn, name)
        if spec is None:
            continue
        raw = schema.clean_text(read_table(spec), config.missing_values)
        rename = {spec.columns.get(c, c): c for c in canonical}
        problems += schema.missing_column_problems(
            raw.columns, [(src, f"churn.{name}.columns.{c}") for src, c in rename.items()], name
        )
        table = raw.rename(columns=rename)
        for col in canonical:
            if col in table.columns and col.endswith(("_at",)):
                table[col] = pd.to_datetime(table[col], errors="coerce")
            elif col in _NUMBERS and col in table and not pd.api.types.is_bool_dtype(table[col]):
                # CSV cells arrive as text (crm_predict.data.io); these columns are numbers.
                flag = table[col].replace({"True": "1", "False": "0"})
                table[col] = pd.to_numeric(flag, errors="coerce")
        if "customer_id" in table.columns:
            table["customer_id"] = table["customer_id"].astype(str)
        tables[name] = table
    return tables, problems


def churn_outcome(frame: pd.DataFrame, config, as_of: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Who is at risk at the snapshot, and their outcome within the horizon.

    A customer is at risk when signed up on or before the snapshot and not churned by it.
    ``positive``: churned within ``horizon_days`` after the snapshot; ``negative``: still
    there ``horizon_days`` after it; ``open``: still there at ``as_of`` but followed for
    less than the horizon (censored, never a negative).

    Returns
    -------
    at_risk : Series of bool
    outcome : Series of str
        ``positive`` / ``negative`` / ``open``, NA where not at risk.
    """
    spec = config.churn
    snap = churn_snapshot(config, as_of)
    end = snap + pd.Timedelta(days=spec.horizon_days)
    signup = pd.to_datetime(frame[spec.signup])
    gone = pd.to_datetime(frame[spec.churn_date])
    at_risk = (signup <= snap) & (gone.isna() | (gone > snap))
    positive = at_risk & (gone <= min(end, as_of) if pd.notna(as_of) else gone <= end)
    followed = end <= as_of if pd.notna(as_of) else False
    outcome = pd.Series(pd.NA, index=frame.index, dtype="object")
    outcome[at_risk] = schema.NEGATIVE if followed else schema.OPEN
    outcome[positive] = schema.POSITIVE
    return at_risk, outcome
