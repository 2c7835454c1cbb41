"""Reading and writing CRM tables: CSV, Parquet, Excel and SQL, whole or in chunks.

Output files are written atomically: to a temporary file beside the target, then renamed,
so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from crm_predict.config import TableSource
from crm_predict.exceptions import CRMPredictError, DataValidationError

_FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xls": "excel",
}


def detect_format(path: str | Path, declared: str = "auto") -> str:
    """Return ``csv``, ``parquet`` or ``excel`` for ``path``.

    Parameters
    ----------
    path : str or Path
        File name; its suffix decides when ``declared`` is ``"auto"``.
    declared : str
        A format named in the config, or ``"auto"``.

    Examples
    --------
    >>> detect_format("leads.parquet")
    'parquet'
    """
    if declared != "auto":
        return declared
    fmt = _FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise CRMPredictError(
            f"cannot tell the format of {path}: use .csv, .parquet or .xlsx, "
            "or set 'format' in the config"
        )
    return fmt


def read_table(source: TableSource) -> pd.DataFrame:
    """Read one table named by a config source.

    Parameters
    ----------
    source : TableSource
        ``path`` (CSV, Parquet, Excel), ``sql`` (SQLAlchemy URL and query) or ``synthetic``.

    Returns
    -------
    DataFrame
        Text columns are kept as text; typing happens in :mod:`crm_predict.schema`.

    Raises
    ------
    DataValidationError
        When the file is missing or unreadable.
    """
    if source.synthetic is not None:
        from crm_predict.datasets import make_leads

        syn = source.synthetic
        if syn.dataset == "customers":
            from crm_predict.datasets_churn import make_customers

            return getattr(make_customers(syn.n_customers, syn.seed), syn.table).copy()
        crm = make_leads(syn.n_leads, syn.seed, syn.drift_from, syn.drift_shift)
        return getattr(crm, syn.table).copy()
    if source.sql is not None:
        return read_sql(source.sql.url, source.sql.query)
    assert source.path is not None
    return read_file(
        source.path, source.format, sep=source.sep, encoding=source.encoding, sheet=source.sheet
    )


def read_file(
    path: str | Path,
    fmt: str = "auto",
    *,
    sep: str = ",",
    encoding: str = "utf-8",
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read a CSV, Parquet or Excel file into a DataFrame.

    Parameters
    ----------
    path : str or Path
        The file.
    fmt : str
        ``auto`` (from the suffix), ``csv``, ``parquet`` or ``excel``.
    sep, encoding : str
        CSV options.
    sheet : str or int, optional
        Excel sheet (the first by default).

    Returns
    -------
    DataFrame
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError([f"file not found: {path}"], source=str(path))
    kind = detect_format(path, fmt)
    try:
        if kind == "csv":
            return pd.read_csv(
                path,
                sep=sep,
                encoding=encoding,
                keep_default_na=False,
                na_values=[""],
                low_memory=False,
            )
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_excel(path, sheet_name=sheet or 0)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataValidationError([f"cannot read {kind} file: {exc}"], source=str(path)) from exc


def read_sql(url: str, query: str) -> pd.DataFrame:
    """Run ``query`` on the database at SQLAlchemy ``url`` and return the rows.

    Parameters
    ----------
    url : str
        SQLAlchemy URL, e.g. ``sqlite:///crm.db`` or ``postgresql://user@host/db``.
    query : str
        A SELECT statement.

    Returns
    -------
    DataFrame
    """
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(query), conn)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        # pandas wraps the driver's error (no such table, syntax) in its DatabaseError.
        err = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ else exc
        err = getattr(err, "orig", None) or err
        raise DataValidationError(
            [f"query failed: {err.__class__.__name__}: {err}"], source=url.split("@")[-1]
        ) from exc
    finally:
        engine.dispose()


def iter_file(path: str | Path, chunksize: int, fmt: str = "auto") -> Iterator[pd.DataFrame]:
    """Yield a file in chunks of at most ``chunksize`` rows, keeping memory bounded.

    Parameters
    ----------
    path : str or Path
        CSV, Parquet or Excel file. Excel has no streaming reader and is read whole.
    chunksize : int
        Rows per chunk.
    fmt : str
        As in :func:`read_file`.

    Yields
    ------
    DataFrame
    """
    kind = detect_format(path, fmt)
    if kind == "csv":
        yield from pd.read_csv(
            path, chunksize=chunksize, keep_default_na=False, na_values=[""], low_memory=False
        )
    elif kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunksize):
            yield batch.to_pandas()
    else:
        frame = read_file(path, kind)
        for start in range(0, len(frame), chunksize):
            yield frame.iloc[start : start + chunksize]


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Give a temporary path beside ``target`` and rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is left as it was.

    Parameters
    ----------
    target : str or Path
        The final file.

    Yields
    ------
    Path
        Where to write.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_table(frame: pd.DataFrame, path: str | Path, fmt: str = "auto") -> Path:
    """Write ``frame`` to CSV, Parquet or Excel atomically.

    Parameters
    ----------
    frame : DataFrame
        What to write (the index is not written).
    path : str or Path
        Target file; the suffix picks the format unless ``fmt`` is given.
    fmt : str
        ``auto``, ``csv``, ``parquet`` or ``excel``.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    kind = detect_format(path, fmt)
    with atomic_path(path) as tmp:
        if kind == "csv":
            frame.to_csv(tmp, index=False)
        elif kind == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_excel(tmp, index=False, engine="openpyxl")
    return path
