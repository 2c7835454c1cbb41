"""The ranking pass of batch scoring: rank the spilled rows, write them in rank order.

The spill is every scored row in input order, in Parquet files the workers wrote (one per
share of a chunk). The rows are dealt into one Arrow stream file per block of ranks (1…block,
block+1…2·block, …), at most :data:`OPEN_FILES` files open at a time (more blocks take
more reads of the spill), then each block is read, sorted and formatted alone on a worker,
which writes a CSV block to a file of its own: memory holds a few blocks and the ranks
(int32), never the whole list or its text.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crm_predict.data.files import atomic_path, neutralise_formulas
from crm_predict.data.workbook import SheetWriter
from crm_predict.exceptions import CRMPredictError
from crm_predict.scoring._csvtext import csv_bytes
from crm_predict.scoring._workers import Workers
from crm_predict.scoring.layout import is_probability, rounded
from crm_predict.scoring.scorer import Scorer

EXCEL_ROWS = 1_048_575
OPEN_FILES = 64
"""Block files written at once while dealing the spill (file handles and their buffers)."""
FORMAT_ROWS = 10_000
"""Rows of a block of ranks turned into CSV text at a time."""
_BLOCK_FILE = pa.ipc.IpcWriteOptions(compression="lz4")
"""Block files are Arrow streams: a Parquet writer keeps every row group's metadata until
it closes (a block gets a row group from each spill file: memory grew with the list)."""
_COPY = 1 << 20
"""Bytes a CSV block is copied into the output at a time."""


def ranks(spill: list[Path], by: str) -> np.ndarray:
    """Rank of every spilled row by ``by``, highest first; ties keep input order, NaN last.

    Ranks are int32 (4 bytes a lead) while they fit.
    """
    p = np.concatenate(
        [pq.read_table(path, columns=[by]).column(0).to_numpy() for path in spill]
    ).astype(float)
    p[np.isnan(p)] = -np.inf
    np.negative(p, out=p)  # in place: one copy of the column at a time
    order = np.argsort(p, kind="stable")
    del p
    rank = np.empty(len(order), dtype=np.int32 if len(order) < 2**31 else np.int64)
    rank[order] = np.arange(1, len(order) + 1, dtype=rank.dtype)
    return rank


def rank_blocks(spill: list[Path], rank: np.ndarray, folder: Path, block: int) -> Iterator[Path]:
    """Deal the spilled rows, with ``rank`` and ``percentile``, into block files of ranks.

    Yields
    ------
    Path
        The Arrow stream file of ranks ``b·block + 1 … (b+1)·block``, for b = 0, 1, …; its
        rows are in input order (:func:`format_block` sorts them).
    """
    n = len(rank)
    schema = pq.read_schema(spill[0])
    at = schema.get_field_index("grade") + 1
    sizes = [pq.ParquetFile(path).metadata.num_rows for path in spill]
    n_blocks = -(-n // block)
    for first in range(0, n_blocks, OPEN_FILES):
        last = min(first + OPEN_FILES, n_blocks)
        writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        offset = 0
        for path, size in zip(spill, sizes, strict=True):
            rows = rank[offset : offset + size].astype(np.int64)
            offset += size
            bucket = (rows - 1) // block
            here = (bucket >= first) & (bucket < last)
            if not here.any():
                continue
            percentile = np.round(100.0 * (n - rows + 1) / n, 2)
            table = pq.read_table(path).cast(schema)
            table = table.add_column(at, "rank", pa.array(rows))
            table = table.add_column(at + 1, "percentile", pa.array(percentile))
            for b in np.unique(bucket[here]).tolist():
                if b not in writers:
                    out = folder / f"ranks_{b}.arrows"
                    writers[b] = pa.ipc.new_stream(out, table.schema, options=_BLOCK_FILE)
                writers[b].write_table(table.filter(pa.array(bucket == b)))
        for writer in writers.values():
            writer.close()
        pa.default_memory_pool().release_unused()  # the pass's row groups, freed
        for b in sorted(writers):
            yield folder / f"ranks_{b}.arrows"


def format_block(
    _scorer: Scorer | None,
    path: Path,
    out_format: str,
    escape: bool,
    header: bool,
    bom: bool,
    text_fields: Collection[str] = (),
) -> pa.Table | pd.DataFrame | Path:
    """One block of ranks, sorted and made ready to write; its file is removed.

    A worker task (:class:`~crm_predict.scoring._workers.Workers`): Parquet gets an Arrow
    table at full precision; Excel a frame rounded for people (the reason values of
    ``text_fields`` left as written) with formulas neutralised when ``escape``; CSV the
    same written beside the block as ``<block>.csv`` (with the header and a byte order
    mark when ``header`` and ``bom``), exactly what ``DataFrame.to_csv`` writes, and the
    path of that file is returned: the text never travels back to the main process.
    """
    with pa.ipc.open_stream(path) as reader:
        table = reader.read_all()
    path.unlink()
    table = table.take(pc.sort_indices(table, [("rank", "ascending")]))
    if out_format != "csv":
        part = table.to_pandas()
        if out_format == "parquet":
            return pa.Table.from_pandas(part, preserve_index=False)
        part = rounded(part, text_fields)
        return neutralise_formulas(part) if escape else part
    text = path.with_suffix(".csv")
    with open(text, "wb") as fh:
        # A slice at a time: the block's frame, its copies and its text stay small.
        for at in range(0, table.num_rows, FORMAT_ROWS):
            part = table.slice(at, FORMAT_ROWS).to_pandas()
            part = rounded(part, text_fields)
            part = neutralise_formulas(part) if escape else part
            first = header and at == 0
            fh.write(csv_bytes(part, header=first, bom=first and bom))
    return text


def rank_and_write(
    spill: list[Path],
    output: Path,
    out_format: str,
    pool: Workers,
    by: str = "p_convert",
    escape: bool = True,
    bom: bool = True,
    block: int = 50_000,
    text_fields: Collection[str] = (),
) -> int:
    """Rank every lead by ``by`` and write the output in rank order (rank 1 first).

    ``spill`` is the scored rows' Parquet files, in input order. ``by`` is ``p_convert``,
    or for churn ``revenue_at_risk`` or ``p_churn``
    (:func:`crm_predict.churn.retention.rank_column`); ties keep input order, missing
    values rank last. CSV and Excel are rounded for people (:mod:`crm_predict.scoring.layout`;
    the reason values of ``text_fields`` are left as written) and cells that would run as
    formulas are neutralised when ``escape`` is set; a CSV starts with a UTF-8 byte order
    mark when ``bom`` is set. Blocks of ``block`` rows are formatted on ``pool``'s workers;
    a CSV block is written to a file there and appended to the output here, in order.

    Returns
    -------
    int
        Rows written.
    """
    rank = ranks(spill, by)
    n = len(rank)
    if out_format == "excel" and n > EXCEL_ROWS:
        raise CRMPredictError(
            f"{n:,} scored rows do not fit an Excel sheet ({EXCEL_ROWS:,} rows at most); "
            "write .csv or .parquet"
        )
    blocks = rank_blocks(spill, rank, spill[0].parent, block)
    fields = tuple(text_fields)
    tasks = ((path, out_format, escape, i == 0, bom, fields) for i, path in enumerate(blocks))
    with atomic_path(output) as tmp:
        parts = pool.map(format_block, tasks)
        if out_format == "csv":
            with open(tmp, "wb") as fh:
                for part in parts:
                    with open(part, "rb") as text:
                        shutil.copyfileobj(text, fh, _COPY)
                    part.unlink()
            return n
        writer: pq.ParquetWriter | SheetWriter | None = None
        for part in parts:
            if out_format == "parquet":
                if writer is None:
                    writer = pq.ParquetWriter(tmp, part.schema)
                writer.write_table(part.cast(writer.schema))
            else:
                if writer is None:
                    writer = SheetWriter(tmp, percent=[c for c in part if is_probability(c)])
                writer.write(part)
        if writer is not None:
            writer.close()
    return n
