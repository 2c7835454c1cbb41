"""Reading and writing CRM tables: CSV, Parquet, Excel and SQL, whole or in chunks.

Output files are written atomically: to a temporary file beside the target, then renamed,
so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from crm_predict.config import TableSource
from crm_predict.data.files import atomic_path, neutralise_formulas, require_excel
from crm_predict.data.synthetic.customers import make_customers
from crm_predict.data.synthetic.leads import make_leads
from crm_predict.exceptions import CRMPredictError, DataValidationError

__all__ = ["atomic_path", "detect_format", "iter_file", "read_file", "read_table", "write_table"]

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
        Text columns are kept as text; typing happens in :mod:`crm_predict.data.schema`.

    Raises
    ------
    DataValidationError
        When the file is missing or unreadable.
    """
    if source.synthetic is not None:
        syn = source.synthetic
        if syn.dataset == "customers":
            return getattr(make_customers(syn.n_customers, syn.seed), syn.table).copy()
        crm = make_leads(syn.n_leads, syn.seed, syn.drift_from, syn.drift_shift)
        return getattr(crm, syn.table).copy()
    if source.sql is not None:
        return read_sql(source.sql.url, source.sql.query)
    assert source.path is not None
    return read_file(
        source.path, source.format, sep=source.sep, encoding=source.encoding, sheet=source.sheet
    )


def _csv_options(sep: str, encoding: str) -> dict:
    # Every cell is read as text: ids keep their leading zeros and all 18 digits, and a
    # blank cell never turns a column of whole numbers into floats. schema types them.
    return {
        "sep": sep,
        "encoding": encoding,
        "dtype": str,
        "keep_default_na": False,
        "na_values": [""],
        "skip_blank_lines": True,
    }


def _read_error(exc: Exception, kind: str, path: Path, sep: str, encoding: str) -> Exception:
    """A message for an unreadable file that says which option to change."""
    if isinstance(exc, UnicodeDecodeError):
        problem = (
            f"the file is not {encoding} text (byte {exc.start:,}: {exc.reason}); set "
            "source.encoding in the config or --encoding, e.g. cp1252 for a Windows export"
        )
    elif isinstance(exc, pd.errors.EmptyDataError):
        problem = "the file is empty (0 bytes or no header line)"
    elif isinstance(exc, pd.errors.ParserError):
        problem = (
            f"cannot split the {kind} file into columns with separator {sep!r} ({exc}); "
            "set source.sep in the config or --sep (e.g. ';' or a tab)"
        )
    else:
        problem = f"cannot read {kind} file: {exc}"
    return DataValidationError([problem], source=str(path))


def _check_separator(frame: pd.DataFrame, path: Path, sep: str) -> pd.DataFrame:
    if frame.shape[1] == 1:
        header = str(frame.columns[0])
        other = next((c for c in (";", "\t", "|", ",") if c != sep and c in header), None)
        if other is not None:
            raise DataValidationError(
                [
                    f"the header has one column {header[:60]!r}: the file looks separated "
                    f"by {other!r}, not {sep!r}; set source.sep in the config or --sep"
                ],
                source=str(path),
            )
    return frame


def read_file(
    path: str | Path,
    fmt: str = "auto",
    *,
    sep: str = ",",
    encoding: str = "utf-8",
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read a CSV, Parquet or Excel file into a DataFrame.

    CSV and Excel cells are read as text (blank cells as missing); Parquet keeps its types.

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

    Raises
    ------
    DataValidationError
        A missing, empty or unreadable file, naming the option (``sep``, ``encoding``) to
        change when that is the cause.
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError([f"file not found: {path}"], source=str(path))
    kind = detect_format(path, fmt)
    if kind == "excel":
        require_excel(path)
    try:
        if kind == "csv":
            frame = pd.read_csv(path, low_memory=False, **_csv_options(sep, encoding))
            return _check_separator(frame, path, sep)
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_excel(path, sheet_name=sheet or 0, dtype=str)
    except (ValueError, OSError, UnicodeDecodeError, ImportError) as exc:
        raise _read_error(exc, kind, path, sep, encoding) from exc


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


def iter_file(
    path: str | Path,
    chunksize: int,
    fmt: str = "auto",
    *,
    sep: str = ",",
    encoding: str = "utf-8",
    sheet: str | int | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield a file in chunks of at most ``chunksize`` rows, keeping memory bounded.

    Parameters
    ----------
    path : str or Path
        CSV, Parquet or Excel file. Excel has no streaming reader and is read whole.
    chunksize : int
        Rows per chunk (at least 1).
    fmt : str
        As in :func:`read_file`.
    sep, encoding, sheet
        As in :func:`read_file`.

    Yields
    ------
    DataFrame
        Cells as :func:`read_file` reads them.
    """
    path = Path(path)
    if chunksize < 1:
        raise CRMPredictError(f"chunksize must be at least 1 (got {chunksize})")
    if not path.is_file():
        raise DataValidationError([f"file not found: {path}"], source=str(path))
    kind = detect_format(path, fmt)
    if kind == "excel":
        frame = read_file(path, kind, sheet=sheet)
        for start in range(0, max(len(frame), 1), chunksize):
            yield frame.iloc[start : start + chunksize]
        return
    try:
        if kind == "csv":
            reader = pd.read_csv(
                path, chunksize=chunksize, low_memory=False, **_csv_options(sep, encoding)
            )
            for i, chunk in enumerate(reader):
                yield _check_separator(chunk, path, sep) if i == 0 else chunk
        else:
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunksize):
                yield batch.to_pandas()
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise _read_error(exc, kind, path, sep, encoding) from exc


def write_table(
    frame: pd.DataFrame, path: str | Path, fmt: str = "auto", *, escape_formulas: bool = True
) -> Path:
    """Write ``frame`` to CSV, Parquet or Excel atomically.

    Text cells that a spreadsheet would run as a formula are prefixed with ``'`` in CSV
    and Excel output (see :func:`crm_predict.data.files.neutralise_formulas`).

    Parameters
    ----------
    frame : DataFrame
        What to write (the index is not written).
    path : str or Path
        Target file; the suffix picks the format unless ``fmt`` is given.
    fmt : str
        ``auto``, ``csv``, ``parquet`` or ``excel``.
    escape_formulas : bool
        Neutralise formula-leading text in CSV and Excel output.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    kind = detect_format(path, fmt)
    if kind == "excel":
        require_excel(path)
    if escape_formulas and kind != "parquet":
        frame = neutralise_formulas(frame)
    with atomic_path(path) as tmp:
        if kind == "csv":
            frame.to_csv(tmp, index=False)
        elif kind == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_excel(tmp, index=False, engine="openpyxl")
    return path
