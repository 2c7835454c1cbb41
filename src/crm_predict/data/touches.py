"""The touches of a chunk's leads, read without holding the whole activity table in memory.

Batch scoring (:mod:`crm_predict.scoring.batch`) reads the lead list in chunks and needs, per chunk,
the touches (calls, e-mails, meetings) of that chunk's leads dated before ``as_of``.
:func:`open_touches` picks how by where the activity table lives:

* a Parquet file: a filtered scan per chunk (``pyarrow.dataset``, only the columns the touch
  features read, the lead-id and date filters pushed into the scan);
* a SQL query: the configured query wrapped as a subquery and filtered on the chunk's lead
  ids, in batches of :data:`SQL_BATCH` bound ids per statement;
* anything else (CSV, Excel, synthetic, a DataFrame passed in): read once, kept in memory.

Every source cleans touches as the scorer always has (``missing_values`` read as missing,
text stripped, dates parsed, ids compared as text), so the features, and the score file,
do not depend on where the touches came from.
"""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from crm_predict.config import ActivitySpec
from crm_predict.data import schema
from crm_predict.data.io import detect_format, read_table
from crm_predict.exceptions import DataValidationError

SQL_BATCH = 5_000
"""Lead ids bound per SQL statement (below SQLite's and most drivers' variable limits)."""


def activity_requests(spec: ActivitySpec) -> list[tuple[str, str]]:
    """The activity-table columns the touch features read, each with its config key.

    Examples
    --------
    >>> from crm_predict.config import ActivitySpec
    >>> spec = ActivitySpec(path="touches.csv", id_column="lead_id", time_column="ts")
    >>> activity_requests(spec)
    [('lead_id', 'activities.id_column'), ('ts', 'activities.time_column')]
    """
    requests = [
        (spec.id_column, "activities.id_column"),
        (spec.time_column, "activities.time_column"),
    ]
    requests += [
        (c, f"activities.{k}")
        for k, c in (("type_column", spec.type_column), ("direction_column", spec.direction_column))
        if c
    ]
    return requests


class TouchSource:
    """Cleaned, typed touches of given leads dated before ``as_of``.

    Use :func:`open_touches` to get the right kind for an activity table.

    Parameters
    ----------
    spec : ActivitySpec
        The task's ``activities`` config.
    missing_values : list of str
        Placeholders read as missing (the task's ``missing_values``).
    as_of : Timestamp
        Touches on or after this moment are dropped.
    """

    def __init__(self, spec: ActivitySpec, missing_values: Iterable[str], as_of: pd.Timestamp):
        self.spec = spec
        self.missing_values = list(missing_values)
        self.as_of = as_of
        self.columns = [c for c, _ in activity_requests(spec)]

    def touches_for(self, ids: Iterable[str]) -> pd.DataFrame:
        """The touches of the leads ``ids`` (lead ids as text) dated before ``as_of``."""
        raise NotImplementedError

    def _check_columns(self, columns: Iterable[str]) -> None:
        problems = schema.missing_column_problems(
            columns, activity_requests(self.spec), "activities"
        )
        if problems:
            raise DataValidationError(problems, source=self.spec.describe())

    def _clean(self, raw: pd.DataFrame) -> pd.DataFrame:
        acts = schema.clean_text(raw, self.missing_values)
        time_col, id_col = self.spec.time_column, self.spec.id_column
        acts[time_col] = schema.to_dates(acts[time_col])
        acts[id_col] = acts[id_col].astype(str)
        return acts[acts[time_col] < self.as_of]

    def _of(self, acts: pd.DataFrame, ids: Iterable[str]) -> pd.DataFrame:
        return acts[acts[self.spec.id_column].isin(set(ids))]


class FrameTouches(TouchSource):
    """An activity table held in memory: read (or given) once, cleaned once.

    Examples
    --------
    >>> from crm_predict.config import ActivitySpec
    >>> spec = ActivitySpec(path="x.csv", id_column="lead_id", time_column="ts")
    >>> acts = pd.DataFrame({"lead_id": ["a", "a", "b"],
    ...                      "ts": ["2024-01-01", "2025-06-01", "2024-02-01"]})
    >>> src = FrameTouches(spec, [], pd.Timestamp("2025-01-01"), acts)
    >>> len(src.touches_for(["a"]))
    1
    """

    def __init__(
        self,
        spec: ActivitySpec,
        missing_values: Iterable[str],
        as_of: pd.Timestamp,
        frame: pd.DataFrame | None = None,
    ) -> None:
        super().__init__(spec, missing_values, as_of)
        raw = read_table(spec) if frame is None else frame
        self._check_columns(raw.columns)
        self.acts = self._clean(raw)

    def touches_for(self, ids: Iterable[str]) -> pd.DataFrame:
        """The touches of the leads ``ids`` (lead ids as text) dated before ``as_of``."""
        return self._of(self.acts, ids)


def _candidates(ids: list[str], kind: str) -> list:
    """The values of a column of ``kind`` whose text form can equal one of ``ids``.

    A superset: rows read with them are matched on their text form afterwards.
    """
    if kind == "str":
        return ids
    out = []
    for s in ids:
        try:
            value = int(s) if kind == "int" else float(s)
        except ValueError:
            continue
        if kind == "int" and not -(2**63) <= value < 2**64:
            continue
        if kind == "float" and not math.isfinite(value):
            continue
        out.append(value)
    return out


def _kind_of(value: object) -> str:
    """``int``, ``float`` or ``str``: how to bind lead ids against a stored id ``value``."""
    if value is None or isinstance(value, bool):
        return "str"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real | decimal.Decimal):
        return "float"
    return "str"


class ParquetTouches(TouchSource):
    """A Parquet activity table scanned per chunk: only its leads' rows, only needed columns.

    Memory is bounded by the touches of one chunk's leads, not by the file. The lead-id
    filter is pushed into the scan for text, integer and float id columns (other id types
    are matched batch by batch); the ``as_of`` filter for timestamp columns.
    """

    def __init__(self, spec: ActivitySpec, missing_values: Iterable[str], as_of: pd.Timestamp):
        import pyarrow.dataset as ds

        super().__init__(spec, missing_values, as_of)
        assert spec.path is not None
        path = Path(spec.path)
        if not path.is_file():
            raise DataValidationError([f"file not found: {path}"], source=str(path))
        try:
            self.dataset = ds.dataset(path, format="parquet")
        except (OSError, ValueError) as exc:
            raise DataValidationError(
                [f"cannot read parquet file: {exc}"], source=str(path)
            ) from exc
        self._check_columns(self.dataset.schema.names)
        self.id_kind = self._id_kind()
        # The scorer strips text ids; the filter strips them only if some need it (it costs).
        self.trim = self.id_kind == "str" and self._padded_ids()
        self.time_filter = self._time_filter()

    def _id_kind(self) -> str | None:
        import pyarrow as pa

        t = self.dataset.schema.field(self.spec.id_column).type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return "str"
        if pa.types.is_integer(t):
            return "int"
        if pa.types.is_floating(t):
            return "float"
        return None

    def _padded_ids(self) -> bool:
        """Whether any text id has spaces around it (one pass over the id column)."""
        import pyarrow.compute as pc

        for batch in self.dataset.to_batches(columns=[self.spec.id_column]):
            ids = batch.column(0)
            if pc.any(pc.not_equal(pc.utf8_trim_whitespace(ids), ids)).as_py():
                return True
        return False

    def _time_filter(self):
        """``time < as_of`` as a scan filter, when the column is a timestamp (else None)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        t = self.dataset.schema.field(self.spec.time_column).type
        if not pa.types.is_timestamp(t) or pd.isna(self.as_of) or self.as_of.tz is not None:
            return None
        # schema.to_dates reads zoned times as UTC: compare the same instant.
        stamp = self.as_of.tz_localize("UTC") if t.tz else self.as_of
        try:
            bound = pa.Array.from_pandas(pd.Series([stamp])).cast(t)[0]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # as_of finer than the column
            return None
        return pc.field(self.spec.time_column) < bound

    def touches_for(self, ids: Iterable[str]) -> pd.DataFrame:
        """The touches of the leads ``ids`` (lead ids as text) dated before ``as_of``."""
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = list(dict.fromkeys(ids))
        if self.id_kind is None:
            parts = [
                self._of(self._clean(batch.to_pandas()), ids)
                for batch in self.dataset.to_batches(columns=self.columns, filter=self.time_filter)
            ]
            parts = [p for p in parts if len(p)] or parts[:1]
            if parts:
                return pd.concat(parts, ignore_index=True)
            empty = self.dataset.schema.empty_table().select(self.columns).to_pandas()
            return self._clean(empty)
        field_type = self.dataset.schema.field(self.spec.id_column).type
        candidates = _candidates(ids, self.id_kind)
        if self.id_kind == "int":  # only what the column's integer type can hold
            bounds = np.iinfo(field_type.to_pandas_dtype())
            candidates = [v for v in candidates if bounds.min <= v <= bounds.max]
        values = pa.array(candidates, type=field_type)
        key = pc.field(self.spec.id_column)
        if self.trim:
            key = pc.utf8_trim_whitespace(key)
        wanted = key.isin(values)
        if self.time_filter is not None:
            wanted = wanted & self.time_filter
        table = self.dataset.to_table(columns=self.columns, filter=wanted)
        return self._of(self._clean(table.to_pandas()), ids)


class SQLTouches(TouchSource):
    """A SQL activity table queried per chunk: ``SELECT … FROM (<query>) AS t WHERE t.id IN …``.

    The configured query becomes a subquery filtered on the chunk's lead ids, bound as
    parameters, :data:`SQL_BATCH` per statement. Ids are bound in the id column's own type
    (text, integer or float, judged from one stored id), so a database index on it can be
    used; rows are then matched on their text form as in the whole-table path. Text ids are
    compared as stored (surrounding spaces are not stripped in the database).
    """

    def __init__(self, spec: ActivitySpec, missing_values: Iterable[str], as_of: pd.Timestamp):
        import sqlalchemy as sa

        super().__init__(spec, missing_values, as_of)
        assert spec.sql is not None
        self.url = spec.sql.url
        query = spec.sql.query.strip().rstrip(";").strip()
        self.table = sa.text(query).columns(*(sa.column(c) for c in self.columns)).subquery("t")
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                star = sa.select(sa.literal_column("*")).select_from(self.table)
                names = list(conn.execute(star.where(sa.false())).keys())
                self._check_columns(names)
                key = self.table.c[spec.id_column]
                sample = conn.execute(sa.select(key).where(key.is_not(None)).limit(1)).first()
        except sa.exc.SQLAlchemyError as exc:
            raise self._failed(exc) from exc
        finally:
            engine.dispose()
        self.id_kind = _kind_of(None if sample is None else sample[0])
        self.select = sa.select(*(self.table.c[c] for c in self.columns)).where(
            key.in_(sa.bindparam("ids", expanding=True))
        )

    def _failed(self, exc: Exception) -> DataValidationError:
        err = getattr(exc, "orig", None) or exc
        return DataValidationError(
            [f"activities query failed: {err.__class__.__name__}: {err}"],
            source=self.url.split("@")[-1],
        )

    def touches_for(self, ids: Iterable[str]) -> pd.DataFrame:
        """The touches of the leads ``ids`` (lead ids as text) dated before ``as_of``."""
        import sqlalchemy as sa

        ids = list(dict.fromkeys(ids))
        values = _candidates(ids, self.id_kind)
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                parts = [
                    pd.read_sql_query(self.select, conn, params={"ids": values[i : i + SQL_BATCH]})
                    for i in range(0, max(len(values), 1), SQL_BATCH)
                ]
        except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
            cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) else None
            raise self._failed(cause or exc) from exc
        finally:
            engine.dispose()
        parts = [p for p in parts if len(p)] or parts[:1]
        raw = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return self._of(self._clean(raw), ids)


def open_touches(
    spec: ActivitySpec,
    missing_values: Iterable[str],
    as_of: pd.Timestamp,
    frame: pd.DataFrame | None = None,
) -> TouchSource:
    """The touch source for an activity table: per-chunk reads for Parquet and SQL.

    Parameters
    ----------
    spec : ActivitySpec
        The task's ``activities`` config.
    missing_values : iterable of str
        The task's ``missing_values``.
    as_of : Timestamp
        The scoring date; touches on or after it are never returned.
    frame : DataFrame, optional
        The activity table already in memory (used as is, whatever ``spec`` says).

    Returns
    -------
    TouchSource
        :class:`ParquetTouches`, :class:`SQLTouches` or :class:`FrameTouches`.

    Raises
    ------
    DataValidationError
        When a column the config names is missing (naming the ``activities.*`` key), the
        file is missing or the query fails.

    Examples
    --------
    >>> src = open_touches(config.activities, config.missing_values, as_of)  # doctest: +SKIP
    >>> src.touches_for(["L000001", "L000002"])  # doctest: +SKIP
    """
    if frame is None and spec.sql is not None:
        return SQLTouches(spec, missing_values, as_of)
    in_parquet = spec.path is not None and detect_format(spec.path, spec.format) == "parquet"
    if frame is None and in_parquet:
        return ParquetTouches(spec, missing_values, as_of)
    return FrameTouches(spec, missing_values, as_of, frame)
