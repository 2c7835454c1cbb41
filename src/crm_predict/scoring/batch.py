"""Batch scoring: stream a lead list through a model, rank it, write it atomically.

Pass one reads the input in chunks, sets aside rows that cannot be scored (with the
reason), scores the rest with reasons and spills them to a temporary Parquet file. Pass two
ranks the whole list and writes the output to a temporary file that is renamed at the end,
so an interrupted run never leaves a half-written score list, and the same input, model
and ``as_of`` give byte-identical output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crm_predict.churn.retention import (
    add_retention,
    churn_feature_rows,
    churn_row_problems,
    rank_column,
    read_event_tables,
)
from crm_predict.config.task import TaskConfig
from crm_predict.data import schema
from crm_predict.data.files import (
    atomic_path,
    check_output,
    neutralise_formulas,
    remove_stale_temps,
    spill_folder,
)
from crm_predict.data.leadlist import ReadOptions, RowChecker, read_lead_list
from crm_predict.data.loading import apply_joins, read_join_tables
from crm_predict.data.touches import TouchSource, open_touches
from crm_predict.exceptions import CRMPredictError
from crm_predict.explain.age import rescale_horizons
from crm_predict.features.activity import ActivityAggregator
from crm_predict.features.assemble import input_fields, snapshot_for
from crm_predict.features.cleaning import AS_OF
from crm_predict.scoring.bundle import ModelBundle
from crm_predict.scoring.sql import upsert_scores

_EXCEL_ROWS = 1_048_575


@dataclass
class ScoreSummary:
    """What a scoring run did."""

    rows_read: int
    rows_scored: int
    rows_rejected: int
    output: Path
    rejected: Path | None
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole run."""
        return self.rows_read / self.seconds if self.seconds else float("nan")


def rejected_path(output: Path) -> Path:
    """``leads_scored.csv`` → ``leads_scored.rejected.csv``."""
    return output.with_name(f"{output.stem}.rejected.csv")


def _chunks(
    source: str | Path | None,
    chunksize: int,
    sql_url: str | None,
    query: str | None,
    config: TaskConfig,
    options: ReadOptions,
    provided: list[str],
) -> Iterator[pd.DataFrame]:
    if query:
        if not sql_url:
            raise CRMPredictError("--query needs --sql-url")
        import sqlalchemy as sa

        engine = sa.create_engine(sql_url)
        try:
            with engine.connect() as conn:
                for chunk in pd.read_sql_query(sa.text(query), conn, chunksize=chunksize):
                    chunk[config.id_column] = schema.id_text(chunk[config.id_column])
                    yield chunk
        finally:
            engine.dispose()
        return
    if source is None:
        raise CRMPredictError("give an input file, or --sql-url with --query")
    yield from read_lead_list(source, config, chunksize, options, provided)


class _Scorer:
    """Builds model-frame rows for chunks of a raw lead list and scores them."""

    def __init__(
        self,
        bundle: ModelBundle,
        as_of: pd.Timestamp,
        activities: pd.DataFrame | None,
        interval: ModelBundle | None = None,
        timing=None,
    ) -> None:
        self.bundle = bundle
        self.interval = interval
        self.timing = timing
        self.as_of = as_of
        config = bundle.config
        self.tables = read_join_tables(config)
        self.touches = False
        self.aggregator: ActivityAggregator | None = bundle.aggregator
        spec = config.activities
        if self.aggregator is not None and spec is not None:
            # Parquet and SQL touch tables are read per chunk, for its leads only.
            self.touch_source: TouchSource = open_touches(
                spec, config.missing_values, as_of, activities
            )
            self.touches = True
            self.empty = {k: v for k, v in self.aggregator.empty_row().items() if not pd.isna(v)}
        # Churn: event tables read once; features as of the scoring date per chunk.
        self.churn_tables = None
        self.customers: pd.DataFrame | None = None
        self.churn_features: pd.DataFrame | None = None
        if config.churn_history is not None:
            self.churn_tables = read_event_tables(config)

    def score(self, chunk: pd.DataFrame) -> pd.DataFrame:
        frame = self.frame(chunk)
        aged = None
        if self.timing is not None and not self.bundle.config.is_churn:
            # One answer per lead: the conversion probability given its time open.
            aged = self.timing.score_rows(frame, as_of=self.as_of, fresh=True)
        out = self.bundle.score_rows(frame, age=aged)
        if self.interval is not None and "p_low" not in out.columns:
            pipe = self.interval.pipeline  # the interval only: no reasons for this model
            bounds = pipe[-1].predict_interval(pipe[:-1].transform(frame))
            at = out.columns.get_loc("p_convert") + 1
            out.insert(at, "p_low", bounds["p_low"].to_numpy())
            out.insert(at + 1, "p_high", bounds["p_high"].to_numpy())
        spec = self.bundle.config.churn
        timing_frame = frame
        if spec is not None and self.customers is not None and spec.signup in self.customers:
            # The time-to-churn model ages customers by tenure (signup to as_of).
            signup = self.customers[spec.signup].to_numpy()
            timing_frame = frame.assign(**{spec.signup: signup})
        if self.timing is not None:
            if aged is None:
                when = self.timing.score_rows(timing_frame, as_of=self.as_of)
            else:
                when = rescale_horizons(aged, out["p_convert"].to_numpy())
            when = when.drop(columns=[c for c in when.columns if c in out.columns])
            out = pd.concat([out, when.set_axis(out.index)], axis=1)
        if self.bundle.config.is_churn:
            out = add_retention(
                out,
                self.customers if self.customers is not None else chunk,
                timing_frame,
                self.churn_features,
                self.bundle.config,
                self.as_of,
                self.timing,
            )
        return out

    def frame(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Model-frame rows (joins, ``as_of``, touch aggregates) for raw lead-list rows."""
        config = self.bundle.config
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


def score_leads(
    bundle: ModelBundle,
    output: str | Path,
    as_of: str | pd.Timestamp,
    source: str | Path | None = None,
    sql_url: str | None = None,
    query: str | None = None,
    sql_table: str | None = None,
    activities: pd.DataFrame | None = None,
    model_label: str = "",
    chunksize: int = 50_000,
    progress=None,
    interval: ModelBundle | None = None,
    timing=None,
    options: ReadOptions | None = None,
    escape_formulas: bool = True,
) -> ScoreSummary:
    """Score a whole lead list from a file or a SQL query into ``output``.

    Parameters
    ----------
    bundle : ModelBundle
        The model (see :func:`crm_predict.tracking.unwrap_bundle`).
    output : str or Path
        CSV, Parquet or Excel (``.xlsx``) file. Rejected rows go to
        ``<stem>.rejected.csv`` beside it. Checked before any work: a known suffix, not
        the input, a writable folder.
    as_of : str or Timestamp
        The date leads are seen from; also written as ``scored_at``.
    source : str or Path, optional
        CSV, Parquet or Excel lead list.
    sql_url, query : str, optional
        Read the lead list from a database instead.
    sql_table : str, optional
        Also upsert the scores into this table of ``sql_url`` (by lead id, in one
        transaction: a failed run changes nothing).
    activities : DataFrame, optional
        Touch table (default: the one the task config names).
    model_label : str
        Written in the ``model`` column (e.g. ``leads_demo v3``).
    chunksize : int
        Rows per chunk; memory is bounded by it.
    progress : callable, optional
        Called with the number of rows read so far after each chunk.
    interval : ModelBundle, optional
        The task's Bayesian model: its 90% interval is written as ``p_low``/``p_high``
        beside ``p_convert`` (which stays the main model's probability).
    timing : TimingBundle, optional
        The task's time-to-event model (:mod:`crm_predict.training.timing`): adds
        ``p_convert_<h>d`` per horizon, ``p_ever``, ``median_days`` and ``expected_days``,
        each lead conditioned on having been open since its creation until ``as_of``.
    options : ReadOptions, optional
        ``sep``, ``encoding``, ``date_format`` overrides and ``strict`` header checking
        (see :mod:`crm_predict.data.leadlist`).
    escape_formulas : bool
        Prefix text cells starting with ``=``, ``+``, ``-`` or ``@`` with ``'`` in CSV
        and Excel output, so a spreadsheet shows them instead of running them.

    Notes
    -----
    A churn task (``kind: churn``) writes a retention list instead
    (:mod:`crm_predict.churn.retention`): ``p_churn`` in place of ``p_convert``, the expected
    remaining lifetime, CLV and revenue at risk, CX reasons, ranked by
    ``churn.rank_by``; customers already gone or not yet signed up on ``as_of`` are
    rejected with that reason.

    Returns
    -------
    ScoreSummary
    """
    start = time.perf_counter()
    output = Path(output)
    out_format = check_output(output, [source] if source else [], ("csv", "parquet", "excel"))
    check_output(rejected_path(output), [source] if source else [], ("csv",))
    if sql_table and not sql_url:
        raise CRMPredictError("--sql-table needs --sql-url")
    as_of = pd.Timestamp(as_of)
    config = bundle.config
    scorer = _Scorer(bundle, as_of, activities, interval, timing)
    options = options or ReadOptions()
    cleaner = bundle.pipeline[0]
    checker = RowChecker(
        config, list(cleaner.numeric or []), list(cleaner.dates or []), as_of, options.date_format
    )
    provided = [c for t in scorer.tables.values() for c in t.columns]
    rejected: list[pd.DataFrame] = []
    n_read = 0
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(output.parent)
    with spill_folder(output.parent) as tmp:
        spill = Path(tmp) / "scored.parquet"
        writer = None
        for chunk in _chunks(source, chunksize, sql_url, query, config, options, provided):
            chunk = chunk.reset_index(drop=True)
            problems, parsed = checker.check(chunk)
            if config.churn is not None:
                problems = churn_row_problems(chunk, config, as_of, problems)
            bad = (problems != "").to_numpy()
            if bad.any():
                rejected.append(chunk[bad].assign(reason=problems[bad].to_numpy()))
            n_read += len(chunk)
            if progress is not None:
                progress(n_read)
            if bad.all():
                continue
            scored = scorer.score(parsed[~bad])
            scored["model"] = model_label
            scored["scored_at"] = as_of.isoformat()
            table = pa.Table.from_pandas(scored, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(spill, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is None:
            if rejected:
                _write_rejected(rejected, output, escape_formulas)
                raise CRMPredictError(
                    f"none of the {n_read:,} rows could be scored; reasons in "
                    f"{rejected_path(output)}"
                )
            raise CRMPredictError("the lead list has no rows")
        writer.close()
        n_scored = _rank_and_write(spill, output, out_format, rank_column(config), escape_formulas)
        if sql_table:
            upsert_scores(output, out_format, sql_url, sql_table, config.id_column)
    rej = _write_rejected(rejected, output, escape_formulas) if rejected else None
    if rej is None:
        # A rejected file from an earlier run would be read as this run's.
        rejected_path(output).unlink(missing_ok=True)
    return ScoreSummary(
        n_read, n_scored, n_read - n_scored, output, rej, time.perf_counter() - start
    )


def _write_rejected(rejected: list[pd.DataFrame], output: Path, escape: bool = True) -> Path:
    path = rejected_path(output)
    frame = pd.concat(rejected, ignore_index=True)
    with atomic_path(path) as tmp:
        (neutralise_formulas(frame) if escape else frame).to_csv(tmp, index=False)
    return path


def _rank_and_write(
    spill: Path, output: Path, out_format: str, by: str = "p_convert", escape: bool = True
) -> int:
    """Rank every lead by ``by`` (ties keep input order; missing last) and write the output.

    ``by`` is ``p_convert``, or for churn ``revenue_at_risk`` or ``p_churn``
    (:func:`crm_predict.churn.retention.rank_column`). CSV and Excel cells that would run as
    formulas are neutralised when ``escape`` is set.
    """
    p = pq.read_table(spill, columns=[by]).column(0).to_numpy(zero_copy_only=False)
    p = np.where(np.isnan(p), -np.inf, p)
    n = len(p)
    order = np.argsort(-p, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    percentile = np.round(100.0 * (n - rank + 1) / n, 2)
    source = pq.ParquetFile(spill)
    offset = 0
    excel: list[pd.DataFrame] = []
    if out_format == "excel" and n > _EXCEL_ROWS:
        raise CRMPredictError(
            f"{n:,} scored rows do not fit an Excel sheet ({_EXCEL_ROWS:,} rows at most); "
            "write .csv or .parquet"
        )
    with atomic_path(output) as tmp:
        writer = None
        for i in range(source.num_row_groups):
            part = source.read_row_group(i).to_pandas()
            rows = slice(offset, offset + len(part))
            offset += len(part)
            at = part.columns.get_loc("grade") + 1
            part.insert(at, "rank", rank[rows])
            part.insert(at + 1, "percentile", percentile[rows])
            if out_format == "parquet":
                table = pa.Table.from_pandas(part, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                continue
            part = neutralise_formulas(part) if escape else part
            if out_format == "excel":
                excel.append(part)
            else:
                part.to_csv(tmp, mode="a", header=i == 0, index=False)
        if writer is not None:
            writer.close()
        if excel:
            pd.concat(excel, ignore_index=True).to_excel(tmp, index=False, engine="openpyxl")
    return n
