"""Where a task's tables come from: a file, a SQL query or the synthetic generator.

:class:`TableSource` is the ``source`` section; :class:`JoinSpec`, :class:`ActivitySpec` and
:class:`ChurnTableSpec` add their own keys to it. Every config section derives from
:class:`_Strict`: unknown keys are errors and a loaded config cannot change.
:mod:`crm_predict.config.task` re-exports every class here.

Examples
--------
>>> TableSource(path="leads.csv").describe()
'leads.csv'
>>> TableSource(synthetic={"table": "tickets"}).synthetic.dataset
'customers'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SQLSource(_Strict):
    """A query against a database reachable through a SQLAlchemy URL."""

    url: str
    query: str


CUSTOMER_TABLES = ("customers", "tickets", "surveys", "usage", "changes")


class SyntheticSource(_Strict):
    """A table from the built-in synthetic CRM generators (:mod:`crm_predict.data.synthetic`)."""

    dataset: Literal["leads", "customers"] = "leads"
    table: Literal["leads", "activities", "customers", "tickets", "surveys", "usage", "changes"] = (
        "leads"
    )
    n_leads: int = Field(20_000, gt=0)
    n_customers: int = Field(5_000, gt=0, description="size of the customers dataset")
    seed: int = 42
    drift_from: str | None = Field(
        None, description="leads: the date the market drifts (see crm_predict.data.synthetic.leads)"
    )
    drift_shift: float = Field(0.0, description="leads: log-odds added from drift_from on")

    @model_validator(mode="before")
    @classmethod
    def _dataset_of_table(cls, raw: Any) -> Any:
        # A customer-side table names its dataset: {table: tickets} means the customers one.
        if isinstance(raw, dict) and "dataset" not in raw and raw.get("table") in CUSTOMER_TABLES:
            return {**raw, "dataset": "customers"}
        return raw

    @model_validator(mode="after")
    def _table_in_dataset(self) -> SyntheticSource:
        tables = CUSTOMER_TABLES if self.dataset == "customers" else ("leads", "activities")
        if self.table not in tables:
            raise ValueError(
                f"the synthetic {self.dataset} dataset has no table {self.table!r} "
                f"(choose from {', '.join(tables)})"
            )
        return self


class TableSource(_Strict):
    """Where one table comes from: exactly one of ``path``, ``sql`` or ``synthetic``."""

    path: Path | None = None
    sql: SQLSource | None = None
    synthetic: SyntheticSource | None = None
    format: Literal["auto", "csv", "parquet", "excel"] = "auto"
    sheet: str | int | None = None
    sep: str = ","
    encoding: str = "utf-8"

    @model_validator(mode="after")
    def _one_origin(self) -> TableSource:
        given = [k for k in ("path", "sql", "synthetic") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of 'path', 'sql' or 'synthetic' (got {given or 'none'})"
            )
        return self

    def describe(self) -> str:
        """Return a short human-readable name of the source, for messages."""
        if self.path is not None:
            return str(self.path)
        if self.sql is not None:
            return f"SQL query on {self.sql.url.split('@')[-1]}"
        assert self.synthetic is not None
        return f"synthetic {self.synthetic.table} (seed {self.synthetic.seed})"


class JoinSpec(TableSource):
    """A table joined onto the main table, e.g. accounts on ``account``.

    (The key is called ``key``, not ``on``: YAML reads a bare ``on`` as ``true``.)
    """

    name: str
    key: str
    right_key: str | None = None
    how: Literal["left", "inner"] = "left"
    columns: list[str] | None = None

    @property
    def key_in_table(self) -> str:
        """Key column in the joined table (defaults to ``key``)."""
        return self.right_key or self.key


class ActivitySpec(TableSource):
    """A table of touches (calls, e-mails, meetings), one row per touch."""

    id_column: str
    time_column: str
    type_column: str | None = None
    direction_column: str | None = None
    windows: list[int] = Field(default_factory=lambda: [7, 30, 90])


class ChurnTableSpec(TableSource):
    """A customer event table (tickets, surveys, usage or plan changes) for churn features.

    ``columns`` maps the canonical names the churn features read (see
    :data:`crm_predict.data.churn.TABLE_COLUMNS`) to this table's own column names;
    a canonical name not listed is expected as is.
    """

    columns: dict[str, str] = Field(default_factory=dict)
