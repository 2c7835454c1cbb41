"""CSV text of a frame, byte for byte what ``DataFrame.to_csv(index=False)`` writes, made
with NumPy and Arrow's string kernels instead of a Python call per cell.

pandas turns every column into text (:func:`pandas.io.formats.csvs` via
``get_values_for_csv``: a float as ``str`` of the float, a missing cell as ``""``) and hands
the rows to Python's :mod:`csv` writer, which quotes a field holding the delimiter, the
quote or a line end (doubling its quotes). Here each column's distinct values are written
once and spread with Arrow's ``take``; the quoting and the joining of fields and lines are
Arrow kernels. A column of a type whose text pandas writes in its own way (dates, periods,
intervals, nullable floats) makes :func:`csv_bytes` fall back to ``to_csv`` for the frame.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_TEXT = pa.large_string()
_LINE = os.linesep
"""The line end ``to_csv`` writes by default."""


def _quoting_chars() -> str:
    """The characters that make the :mod:`csv` writer quote a field, as pandas calls it.

    Asked of the writer itself: whether a bare carriage return is quoted depends on the
    Python version.
    """
    found = ""
    for char in ',"\r\n':
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=_LINE).writerow([f"a{char}b", "c"])
        if buffer.getvalue().startswith('"'):
            found += char
    return found


_QUOTED = (
    "[" + "".join("\\r" if c == "\r" else "\\n" if c == "\n" else c for c in _quoting_chars()) + "]"
)


def _plain(column: pd.Series) -> bool:
    """Whether :func:`_cells` writes this column as pandas does (else ``to_csv`` does)."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype):
        return dtype.kind in "biufO"
    return isinstance(dtype, pd.StringDtype) or dtype.kind in "biu"


def _cells(column: pd.Series) -> pa.Array:
    """A column's fields as ``to_csv`` writes them, before quoting: missing is ``""``.

    Numbers: ``str`` of each distinct value (told apart by their bits: ``-0.0`` is not
    ``0.0``). Objects: ``str`` of each, as the csv writer makes them.
    """
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
        values = column.to_numpy()
        missing = pd.isna(values)
        bits = values.view(f"i{values.itemsize}") if values.dtype.kind == "f" else values
        codes, uniques = pd.factorize(bits)
        if values.dtype.kind == "f":
            uniques = uniques.view(values.dtype)
        text = pa.array(np.append(uniques.astype(str), ""), type=_TEXT)
        return text.take(pa.array(np.where(missing, len(uniques), codes)))
    if isinstance(column.dtype, pd.StringDtype):
        return pc.fill_null(pa.array(column.array, type=_TEXT), "")
    objects = np.array(column.array.astype(object), dtype=object)
    missing = pd.isna(objects)
    objects[missing] = ""
    if pd.api.types.infer_dtype(objects, skipna=False) != "string":
        objects = np.array([str(v) for v in objects.tolist()], dtype=object)
    return pa.array(objects, type=_TEXT)


def _quote(cells: pa.Array, alone: bool) -> pa.Array:
    """Quote the fields the csv writer quotes; ``alone``: an empty field is a row's only."""
    need = pc.match_substring_regex(cells, _QUOTED)
    if alone:
        need = pc.or_(need, pc.equal(cells, ""))
    if not pc.any(need).as_py():
        return cells
    doubled = pc.replace_substring(cells, '"', '""')
    quote = pa.scalar('"', _TEXT)
    quoted = pc.binary_join_element_wise(quote, doubled, quote, pa.scalar("", _TEXT))
    return pc.if_else(need, quoted, cells)


def _lines(fields: list[pa.Array]) -> pa.Array:
    """Every row's fields joined by the delimiter, each ending in the line end."""
    line = pa.scalar(_LINE, _TEXT)
    if len(fields) == 1:
        return pc.binary_join_element_wise(fields[0], line, pa.scalar("", _TEXT))
    rows = pc.binary_join_element_wise(*fields, pa.scalar(",", _TEXT))
    return pc.binary_join_element_wise(rows, line, pa.scalar("", _TEXT))


def _text_bytes(lines: pa.Array) -> bytes:
    """The concatenated UTF-8 of a string array (its data buffer between the first and
    the last offset)."""
    if len(lines) == 0:
        return b""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, stop = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return lines.buffers()[2][start:stop].to_pybytes()


def csv_bytes(frame: pd.DataFrame, header: bool = True, bom: bool = False) -> bytes:
    """``frame.to_csv(index=False, header=header)`` encoded as UTF-8, the same bytes.

    Parameters
    ----------
    frame : DataFrame
        Rows to write (the index is not written).
    header : bool
        Start with the column names.
    bom : bool
        Start with a UTF-8 byte order mark (``encoding="utf-8-sig"``).

    Returns
    -------
    bytes

    Examples
    --------
    >>> frame = pd.DataFrame({"id": ["a", "b,c"], "p": [0.5, None]})
    >>> csv_bytes(frame) == frame.to_csv(index=False).encode()
    True
    """
    if not all(_plain(frame[c]) for c in frame.columns):
        text = frame.to_csv(index=False, header=header)
        return text.encode("utf-8-sig" if bom else "utf-8")
    alone = frame.shape[1] == 1
    out = b"\xef\xbb\xbf" if bom else b""
    if header:
        names = _quote(_cells(pd.Series(list(frame.columns), dtype=object)), alone)
        out += _text_bytes(_lines([names[j : j + 1] for j in range(len(names))]))
    if len(frame) and frame.shape[1]:
        fields = [_quote(_cells(frame.iloc[:, j]), alone) for j in range(frame.shape[1])]
        out += _text_bytes(_lines(fields))
    return out
