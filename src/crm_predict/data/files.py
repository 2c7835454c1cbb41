"""Files the user opens in Excel: written whole or not at all, with sane modes, no formulas.

* :func:`atomic_path` writes to a temporary file beside the target and renames it at the
  end, so a crash (even ``kill -9``) never leaves a half-written file and the previous
  output stays intact. Temporary names carry the writer's process id, so the next run
  removes what a killed run left behind (:func:`remove_stale_temps`).
* Files get the mode the user's umask gives new files (``mkstemp`` alone makes them 0600).
* :func:`neutralise_formulas` prefixes text cells that a spreadsheet would run as a formula
  (``=``, ``+``, ``-``, ``@``, tab, carriage return) with ``'`` (CSV injection, OWASP).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_predict.exceptions import CRMPredictError

_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
}
TEMP_PREFIXES = (".crm-predict-score-", ".crm-predict-report-")
_FORMULA_STARTS = pa.array(["=", "+", "-", "@", "\t", "\r"], type=pa.large_string())
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def umask_mode(base: int = 0o666) -> int:
    """The mode ``open()`` would give a new file under the current umask.

    Examples
    --------
    >>> oct(umask_mode() | 0o600) in {"0o600", "0o640", "0o644", "0o660", "0o664", "0o666"}
    True
    """
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _owner_pid(name: str) -> int | None:
    match = re.search(r"[.-]pid(\d+)\.", name)
    return int(match.group(1)) if match else None


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Remove temporary files and folders left in ``folder`` by crm_predict runs that died.

    Only names written by :func:`atomic_path` and the scoring spill folders are touched,
    and only when the process that made them is gone.

    Parameters
    ----------
    folder : str or Path
        Where an output is about to be written.

    Returns
    -------
    list of Path
        What was removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        name = entry.name
        ours = name.startswith(TEMP_PREFIXES) or (name.startswith(".") and name.endswith(".tmp"))
        pid = _owner_pid(name)
        if not ours or pid is None or _alive(pid):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def spill_folder(parent: str | Path | None, prefix: str = TEMP_PREFIXES[0]):
    """A temporary folder in ``parent`` named for this process (see :func:`remove_stale_temps`).

    Returns
    -------
    tempfile.TemporaryDirectory
        Use as a context manager; removed on exit, and by the next run after a crash.
    """
    return tempfile.TemporaryDirectory(prefix=f"{prefix}pid{os.getpid()}.", dir=parent)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Give a temporary path beside ``target`` and rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is left as it was. The
    file gets the umask's mode, as a plain ``open()`` would.

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
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.pid{os.getpid()}.", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would evaluate with ``'``.

    Plain numbers written as text (``-12``, ``+3.5``) are left alone: they are not formulas.

    Parameters
    ----------
    frame : DataFrame
        Rows about to be written to CSV or Excel.

    Returns
    -------
    DataFrame
        A copy when any cell changed, else ``frame`` itself.

    Examples
    --------
    >>> neutralise_formulas(pd.DataFrame({"a": ["=1+1", "-5", "@SUM(A1)", "ok"]}))["a"].tolist()
    ["'=1+1", '-5', "'@SUM(A1)", 'ok']
    """
    out = frame
    for col in frame.columns:
        s = frame[col]
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        # Arrow reads every first character; Python's regexes see only the few suspects.
        at, cells = _text_cells(s)
        if not len(at):
            continue
        first = pc.utf8_slice_codeunits(cells, 0, 1)
        suspect = at[pc.is_in(first, value_set=_FORMULA_STARTS).to_numpy(zero_copy_only=False)]
        if not len(suspect):
            continue
        text = s.astype("object")
        risky = [i for i in suspect.tolist() if not _PLAIN_NUMBER.match(text.iat[i])]
        if risky:
            if out is frame:
                out = frame.copy()
            fixed = text.copy()
            fixed.iloc[risky] = ["'" + text.iat[i] for i in risky]
            out[col] = fixed
    return out


def _text_cells(column: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """The positions of a column's text cells (``str``), and those cells as Arrow text."""
    if isinstance(column.dtype, pd.StringDtype):  # Arrow already: no object per cell
        cells = pa.array(column.array, type=pa.large_string())
        return np.flatnonzero(column.notna().to_numpy()), cells.drop_null()
    values = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        at = np.flatnonzero(column.notna().to_numpy())
    else:  # numbers, dates … among the text: only the str cells are looked at
        at = np.flatnonzero([isinstance(v, str) for v in values])
    return at, pa.array(values[at], type=pa.large_string())


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def check_output(output: str | Path, inputs: Iterable[str | Path], formats: Iterable[str]) -> str:
    """Check, before any work, that ``output`` can be written; return its format.

    Parameters
    ----------
    output : str or Path
        The file a command is about to write.
    inputs : iterable of str or Path
        Files the command reads (the output must not be one of them).
    formats : iterable of str
        Formats the command writes (``csv``, ``parquet``, ``excel``, ``html``, ``json``).

    Returns
    -------
    str
        The output's format, from its suffix.

    Raises
    ------
    CRMPredictError
        An unknown suffix, the output being an input, a folder, or in a folder that
        cannot be created or written to.
    """
    output = Path(output)
    allowed = list(formats)
    suffixes = {s: f for s, f in _SUFFIXES.items() if f in allowed}
    kind = suffixes.get(output.suffix.lower())
    if kind is None:
        raise CRMPredictError(
            f"cannot write {output}: the name must end in {', '.join(suffixes)} "
            f"(the suffix decides the format)"
        )
    for source in inputs:
        if Path(source).resolve() == output.resolve() or _same_file(Path(source), output):
            raise CRMPredictError(
                f"the output {output} is the input file: choose another name, the input "
                "would be overwritten"
            )
    if output.is_dir():
        raise CRMPredictError(f"cannot write {output}: it is a folder")
    if kind == "excel":
        require_excel(output)
    writable_folder(output.parent)
    return kind


def require_excel(path: str | Path) -> None:
    """Raise a clear error when Excel support (the ``excel`` extra, openpyxl) is missing.

    Parameters
    ----------
    path : str or Path
        The .xlsx file to be read or written, named in the message.

    Raises
    ------
    CRMPredictError
        When openpyxl is not installed, saying how to install it.

    Examples
    --------
    >>> require_excel("leads.xlsx")  # openpyxl is installed: nothing happens
    """
    if importlib.util.find_spec("openpyxl") is None:
        raise CRMPredictError(
            f"{path}: Excel files need openpyxl; install it with pip install "
            "'crm-predict[excel]', or use CSV or Parquet"
        )


def writable_folder(folder: str | Path) -> Path:
    """Check that ``folder`` exists or can be created, and that files can be written in it.

    Raises
    ------
    CRMPredictError
        Naming the folder (and the first part of its path that is not a folder).
    """
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise CRMPredictError(f"cannot write in {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise CRMPredictError(f"cannot write in {folder}: {probe} is not writable")
    return folder
