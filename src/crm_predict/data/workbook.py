"""An Excel workbook written as people expect one: frozen header, percents, column widths.

:class:`SheetWriter` streams rows into a write-only openpyxl workbook, so a long list is
written chunk by chunk without holding every cell in memory; the header row stays in view
while scrolling (frozen panes) and the columns it is told hold probabilities show as
percents.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

PERCENT = "0.0%"
"""Excel number format of probability columns (0.609 shows as 60.9%)."""
_WIDEST = 60


class SheetWriter:
    """Write a DataFrame to one sheet of an ``.xlsx`` file, in parts.

    Parameters
    ----------
    path : str or Path
        The workbook to write (replaced when it exists).
    percent : iterable of str
        Columns shown as percents (their values are fractions).
    sheet : str
        Name of the sheet.

    Examples
    --------
    >>> with SheetWriter("scored.xlsx", percent=["p_convert"]) as sheet:  # doctest: +SKIP
    ...     sheet.write(pd.DataFrame({"lead_id": ["L1"], "p_convert": [0.61]}))
    """

    def __init__(self, path: str | Path, percent: Iterable[str] = (), sheet: str = "scores"):
        from openpyxl import Workbook

        self.path = Path(path)
        self.percent = set(percent)
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(sheet)
        self.sheet.freeze_panes = "A2"
        self.columns: list[str] | None = None

    def write(self, part: pd.DataFrame) -> None:
        """Append the rows of ``part`` (the header first, with the first part).

        Parameters
        ----------
        part : DataFrame
            Rows; every part has the columns of the first.
        """
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        if self.columns is None:
            self.columns = [str(c) for c in part.columns]
            for i, col in enumerate(self.columns):
                width = min(max(len(col), 10) + 2, _WIDEST)
                self.sheet.column_dimensions[_letter(i)].width = width
            bold = Font(bold=True)
            header = []
            for col in self.columns:
                cell = WriteOnlyCell(self.sheet, value=col)
                cell.font = bold
                header.append(cell)
            self.sheet.append(header)
        formats = [PERCENT if c in self.percent else None for c in self.columns]
        values = part.astype(object).where(part.notna(), None)
        for row in values.itertuples(index=False, name=None):
            cells = []
            for value, fmt in zip(row, formats, strict=True):
                value = value.item() if isinstance(value, np.generic) else value
                if fmt is None or value is None:
                    cells.append(value)
                    continue
                cell = WriteOnlyCell(self.sheet, value=value)
                cell.number_format = fmt
                cells.append(cell)
            self.sheet.append(cells)

    def close(self) -> None:
        """Save the workbook."""
        self.book.save(self.path)

    def __enter__(self) -> SheetWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)
