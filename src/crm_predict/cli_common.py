"""What every ``crm-predict`` command shares: consoles, common options, error display."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from crm_predict.exceptions import CRMPredictError

console = Console()
"""Where commands print their results."""
err_console = Console(stderr=True)
"""Where commands print errors and warnings."""

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
"""The ``--quiet`` / ``-q`` option."""
TrackingUri = Annotated[
    str | None,
    typer.Option(help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else ./mlflow.db)."),
]
"""The ``--tracking-uri`` option."""


def friendly(func: Callable) -> Callable:
    """Show crm_predict's own errors as a message and exit code 2, not a traceback.

    Parameters
    ----------
    func : callable
        A command function.

    Returns
    -------
    callable
        The command, printing :class:`~crm_predict.exceptions.CRMPredictError` and
        ``FileNotFoundError`` to stderr and exiting with code 2 instead of raising.

    Examples
    --------
    >>> @friendly
    ... def show(path: str) -> None:
    ...     raise FileNotFoundError(f"no such file: {path}")
    >>> show("leads.csv")  # doctest: +SKIP
    error: no such file: leads.csv
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (CRMPredictError, FileNotFoundError) as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table cell; ``–`` when missing.

    Parameters
    ----------
    value : float or None
        The number; None and NaN are missing.
    digits : int
        Digits after the decimal point.

    Returns
    -------
    str

    Examples
    --------
    >>> fmt(0.81234), fmt(float("nan")), fmt(2.5, 1)
    ('0.812', '–', '2.5')
    """
    if value is None or value != value:
        return "–"
    return f"{value:.{digits}f}"
