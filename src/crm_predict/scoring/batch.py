"""Batch scoring: stream a lead list through a model, rank it, write it atomically.

Pass one reads the input in chunks, sets aside rows that cannot be scored (with the
reason), scores the rest with reasons and spills them to temporary Parquet files (one per
share of a chunk, written by the process that scored it). Pass two ranks the whole list,
deals the rows into blocks of ranks (memory holds a few blocks) and writes them in rank
order to a temporary file that is renamed at the end (:mod:`crm_predict.scoring._ranking`),
so an interrupted run never leaves a half-written score list. Scoring and formatting run on
worker processes (:mod:`crm_predict.scoring._workers`), in order: the same input, model and
``as_of`` give byte-identical output with any number of workers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crm_predict.churn.retention import rank_column
from crm_predict.config import TaskConfig
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
from crm_predict.scoring._ranking import rank_and_write
from crm_predict.scoring._workers import Workers, check_workers
from crm_predict.scoring.bundle import ModelBundle
from crm_predict.scoring.layout import in_points
from crm_predict.scoring.scorer import Scorer
from crm_predict.scoring.sql import upsert_scores
from crm_predict.scoring.task_models import TaskModels

_MIN_SHARE = 1_000
"""Fewest rows of a chunk a worker is given: below it, a process's start costs more."""


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
    excel_bom: bool = True,
    workers: int | None = 1,
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
        Rows per chunk; memory is bounded by it (with several workers, each scores its
        share of a chunk at a time).
    progress : callable, optional
        Called with the number of rows read so far after each chunk.
    options : ReadOptions, optional
        ``sep``, ``encoding``, ``date_format`` overrides and ``strict`` header checking
        (see :mod:`crm_predict.data.leadlist`).
    escape_formulas : bool
        Prefix text cells starting with ``=``, ``+``, ``-`` or ``@`` with ``'`` in CSV
        and Excel output, so a spreadsheet shows them instead of running them.
    excel_bom : bool
        Start a CSV output (and the rejected rows' CSV) with a UTF-8 byte order mark. On by
        default: the file is mostly opened by people, and Excel reads a CSV without one in
        the machine's legacy code page ("Kai MÃ¼ller"). pandas, DuckDB and Spark skip the
        mark; turn it off for a pipeline whose reader does not.
    workers : int or None
        Processes that score chunks and format the output; None is every core this
        process may use. The output is the same bytes with any number. 1 (the default)
        runs in this process; more start ``spawn`` processes, so a script that asks for
        them must guard its entry point with ``if __name__ == "__main__":``, as Python's
        multiprocessing requires (``crm-predict score`` uses every core). Each worker
        holds the models and one chunk at a time.

    Returns
    -------
    ScoreSummary

    Notes
    -----
    The output is in rank order (rank 1 first). The columns of ``display`` in the task
    config (a lead's name, company, owner …) are carried from the list, unchanged, after
    the id. Reason strengths are in percentage points (``reason_*_points``); CSV and Excel
    are rounded for people (:mod:`crm_predict.scoring.layout`), Parquet keeps full precision.

    A churn task (``kind: churn``) writes a retention list instead
    (:mod:`crm_predict.churn.retention`): ``p_churn`` in place of ``p_convert``, the expected
    remaining lifetime, CLV and revenue at risk, CX reasons, ranked by
    ``churn.rank_by``; customers already gone or not yet signed up on ``as_of`` are
    rejected with that reason.
    """
    start = time.perf_counter()
    output = Path(output)
    out_format = check_output(output, [source] if source else [], ("csv", "parquet", "excel"))
    check_output(rejected_path(output), [source] if source else [], ("csv",))
    if sql_table and not sql_url:
        raise CRMPredictError("--sql-table needs --sql-url")
    workers = check_workers(workers)
    as_of = pd.Timestamp(as_of)
    models = TaskModels.of(models)
    config = models.config
    options = options or ReadOptions()
    scorer = Scorer(models, as_of, activities, options.date_format)
    label = models.label if model_label is None else model_label
    display = list(getattr(config, "display", []))
    rejected: list[pd.DataFrame] = []
    n_read = 0

    def checked() -> Iterator[tuple]:
        nonlocal n_read
        for chunk in _chunks(source, chunksize, sql_url, query, config, options, scorer.provided):
            chunk = chunk.reset_index(drop=True)
            problems, parsed = scorer.check(chunk)
            bad = (problems != "").to_numpy()
            if bad.any():
                rejected.append(chunk[bad].assign(reason=problems[bad].to_numpy()))
            n_read += len(chunk)
            if progress is not None:
                progress(n_read)
            # A share of the chunk per worker: the rows in memory stay about a chunk. A
            # list of one small chunk stays one task, scored here without starting a pool.
            rows = parsed[~bad]
            shown = chunk.loc[~bad, [c for c in display if c in chunk.columns]]
            step = max(_MIN_SHARE, -(-len(rows) // workers))
            for at in range(0, len(rows), step):
                part = slice(at, at + step)
                path = folder / f"scored_{len(spill):06d}.parquet"
                spill.append(path)
                yield path, rows.iloc[part], shown.iloc[part], label, as_of.isoformat()

    output.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(output.parent)
    with (
        spill_folder(output.parent) as tmp,
        Workers(workers, scorer, activities, options.date_format) as pool,
    ):
        folder = Path(tmp)
        spill: list[Path] = []
        for _ in pool.map(score_part, checked()):
            pass  # each task writes its part of the spill
        if not spill:
            if rejected:
                _write_rejected(rejected, output, escape_formulas, excel_bom)
                raise CRMPredictError(
                    f"none of the {n_read:,} rows could be scored; reasons in "
                    f"{rejected_path(output)}"
                )
            raise CRMPredictError("the lead list has no rows")
        n_scored = rank_and_write(
            spill,
            output,
            out_format,
            pool,
            rank_column(config),
            escape_formulas,
            excel_bom,
            block=chunksize,
            text_fields=scorer.text_fields,
        )
        if sql_table:
            upsert_scores(output, out_format, sql_url, sql_table, config.id_column)
    rej = _write_rejected(rejected, output, escape_formulas, excel_bom) if rejected else None
    if rej is None:
        # A rejected file from an earlier run would be read as this run's.
        rejected_path(output).unlink(missing_ok=True)
    return ScoreSummary(
        n_read, n_scored, n_read - n_scored, output, rej, time.perf_counter() - start
    )


def score_part(
    scorer: Scorer,
    path: Path,
    rows: pd.DataFrame,
    shown: pd.DataFrame,
    label: str,
    scored_at: str,
) -> None:
    """Score the checked rows of one chunk into a Parquet file of the spill (a worker task).

    Parameters
    ----------
    scorer : Scorer
        The scorer of the process the task runs in.
    path : Path
        The file to write: the score file's columns but rank and percentile, points in
        percentage points, the rows in input order.
    rows : DataFrame
        The chunk's scorable rows, dates parsed (:meth:`Scorer.check`).
    shown : DataFrame
        The same rows' raw ``display`` columns that the list has.
    label, scored_at : str
        The ``model`` and ``scored_at`` columns.
    """
    scored = in_points(scorer.score(rows))
    scored = _with_display(scored, shown, scorer.config)
    scored["model"] = label
    scored["scored_at"] = scored_at
    pq.write_table(pa.Table.from_pandas(scored, preserve_index=False), path)


def _write_rejected(
    rejected: list[pd.DataFrame], output: Path, escape: bool = True, bom: bool = True
) -> Path:
    path = rejected_path(output)
    frame = pd.concat(rejected, ignore_index=True)
    with atomic_path(path) as tmp:
        (neutralise_formulas(frame) if escape else frame).to_csv(
            tmp, index=False, encoding="utf-8-sig" if bom else "utf-8"
        )
    return path


def _with_display(scored: pd.DataFrame, raw: pd.DataFrame, config: TaskConfig) -> pd.DataFrame:
    """``scored`` with the config's ``display`` columns of the raw rows after the id."""
    # A config pickled in a bundle saved before the key existed has no such attribute.
    display = list(getattr(config, "display", []))
    if not display:
        return scored
    clash = [c for c in display if c in scored.columns]
    if clash:
        raise CRMPredictError(
            f"display: {', '.join(map(repr, clash))} is already a column of the score file; "
            "list input columns only"
        )
    shown = pd.DataFrame(
        {c: raw[c].to_numpy() if c in raw.columns else None for c in display},
        index=scored.index,
    )
    at = scored.columns.get_loc(config.id_column) + 1 if config.id_column in scored else 0
    return pd.concat([scored.iloc[:, :at], shown, scored.iloc[:, at:]], axis=1)
