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

from crm_predict.churn.retention import rank_column
from crm_predict.config.task import TaskConfig
from crm_predict.data import schema
from crm_predict.data.files import (
    atomic_path,
    check_output,
    neutralise_formulas,
    remove_stale_temps,
    spill_folder,
)
from crm_predict.data.leadlist import ReadOptions, read_lead_list
from crm_predict.exceptions import CRMPredictError
from crm_predict.scoring.bundle import ModelBundle
from crm_predict.scoring.scorer import Scorer
from crm_predict.scoring.sql import upsert_scores
from crm_predict.scoring.task_models import TaskModels

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


def score_leads(
    models: TaskModels | ModelBundle,
    output: str | Path,
    as_of: str | pd.Timestamp,
    source: str | Path | None = None,
    sql_url: str | None = None,
    query: str | None = None,
    sql_table: str | None = None,
    activities: pd.DataFrame | None = None,
    model_label: str | None = None,
    chunksize: int = 50_000,
    progress=None,
    options: ReadOptions | None = None,
    escape_formulas: bool = True,
) -> ScoreSummary:
    """Score a whole lead list from a file or a SQL query into ``output``.

    Parameters
    ----------
    models : TaskModels or ModelBundle
        The task's models (see :func:`crm_predict.tracking.load_task_models`), or one model
        alone. With a Bayesian model, its 90% interval is written as ``p_low``/``p_high``
        beside ``p_convert`` (which stays the main model's probability). With a
        time-to-event model: ``p_convert_<h>d`` per horizon, ``p_ever``, ``median_days``
        and ``expected_days``, each lead conditioned on having been open since its creation
        until ``as_of``.
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
    model_label : str, optional
        Written in the ``model`` column (default: the models' label, e.g.
        ``leads_demo@champion v3``).
    chunksize : int
        Rows per chunk; memory is bounded by it.
    progress : callable, optional
        Called with the number of rows read so far after each chunk.
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
    models = TaskModels.of(models)
    config = models.config
    options = options or ReadOptions()
    scorer = Scorer(models, as_of, activities, options.date_format)
    label = models.label if model_label is None else model_label
    rejected: list[pd.DataFrame] = []
    n_read = 0
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(output.parent)
    with spill_folder(output.parent) as tmp:
        spill = Path(tmp) / "scored.parquet"
        writer = None
        for chunk in _chunks(source, chunksize, sql_url, query, config, options, scorer.provided):
            chunk = chunk.reset_index(drop=True)
            problems, parsed = scorer.check(chunk)
            bad = (problems != "").to_numpy()
            if bad.any():
                rejected.append(chunk[bad].assign(reason=problems[bad].to_numpy()))
            n_read += len(chunk)
            if progress is not None:
                progress(n_read)
            if bad.all():
                continue
            scored = scorer.score(parsed[~bad])
            scored["model"] = label
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
