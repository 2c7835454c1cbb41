"""What every ``crm-predict`` command shares: consoles, common options, error display."""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from crm_predict.exceptions import CRMPredictError, InputWarning

console = Console()
"""Where commands print their results."""
err_console = Console(stderr=True)
"""Where commands print errors and warnings."""
PIPED_WIDTH = 200
"""Columns tables may take when the output is not a terminal (a cron log, a pipe)."""
_verbose = {"on": False}

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
"""The ``--quiet`` / ``-q`` option."""
TrackingUri = Annotated[
    str | None,
    typer.Option(help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else ./mlflow.db)."),
]
"""The ``--tracking-uri`` option."""
Sep = Annotated[
    str | None,
    typer.Option(help="CSV separator of the lead list (default: the config's source.sep)."),
]
"""The ``--sep`` option."""
Encoding = Annotated[
    str | None,
    typer.Option(
        help="Text encoding of the lead list, e.g. cp1252 (default: the config's source.encoding)."
    ),
]
"""The ``--encoding`` option."""
DateFormat = Annotated[
    str | None,
    typer.Option(
        help="How the list writes dates: iso, dayfirst, monthfirst, excel (serial day "
        "numbers) or a pattern like %d.%m.%Y (default: time.date_format, else inferred "
        "per column)."
    ),
]
"""The ``--date-format`` option."""
Strict = Annotated[
    bool,
    typer.Option(
        help="A field the model needs that is missing from the lead list, or named in "
        "another case or spacing, is an error instead of a warning."
    ),
]
"""The ``--strict`` option of the commands that read a lead list."""
Chunksize = Annotated[int, typer.Option(min=1, help="Rows per chunk.")]
"""The ``--chunksize`` option."""
Workers = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Processes that score chunks and write the output (default: every core); the "
        "file is the same with any number. Each holds the model and one chunk.",
    ),
]
"""The ``--workers`` option of ``score``."""
AsOf = Annotated[
    str | None,
    typer.Option(help="Date the leads are seen from, YYYY-MM-DD (default: today)."),
]
"""The ``--as-of`` option."""
Verbose = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Also show what the libraries log and warn (MLflow, PyTensor, ArviZ …).",
    ),
]
"""The ``--verbose`` option (before the command: ``crm-predict --verbose train …``)."""


def _print_version(value: bool) -> None:
    if value:
        from crm_predict import __version__

        console.print(f"crm-predict {__version__}", highlight=False)
        raise typer.Exit()


Version = Annotated[
    bool,
    typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version."),
]
"""The ``--version`` option."""


class _PlainFlags:
    """``--help`` shows a flag as a flag: no value type after ``--quiet`` or ``--help``.

    Typer 0.29 prints ``<bool>`` in the type column of every flag, as if ``--quiet`` took a
    value; a flag's ``metavar`` is what that column shows, so an empty one leaves it blank
    (earlier Typer releases left flags blank themselves).
    """

    def get_params(self, ctx: typer.Context) -> list:
        """The command's parameters, ``--help`` included, each flag with an empty metavar."""
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class Command(_PlainFlags, TyperCommand):
    """A ``crm-predict`` command (``app.command(cls=Command)``): flags show as flags."""


class Group(_PlainFlags, TyperGroup):
    """The ``crm-predict`` app (``typer.Typer(cls=Group)``): flags show as flags."""


def alias(value: Path | None, old: Path | None, default: Path | None = None) -> Path | None:
    """The ``--output`` value, else the one given under a command's old (hidden) name.

    Examples
    --------
    >>> alias(None, Path("out"), Path(".")), alias(Path("a"), None, Path("."))
    (PosixPath('out'), PosixPath('a'))
    """
    if value is not None and old is not None and value != old:
        raise CRMPredictError(f"--output {value} and its old name say {old}: give one")
    return value if value is not None else old if old is not None else default


def setup_output(verbose: bool) -> None:
    """Set how this run prints: library chatter only with ``verbose``; no wrap when piped.

    Outside a terminal (``crm-predict score … >> cron.log``) lines are never wrapped and
    tables may be :data:`PIPED_WIDTH` columns wide, so a log line stays one line.

    Parameters
    ----------
    verbose : bool
        Show what MLflow, PyTensor, ArviZ, Optuna … log and warn (off by default).
    """
    _verbose["on"] = verbose
    for out in (console, err_console):
        piped = not out.is_terminal
        out.soft_wrap = piped
        out.width = PIPED_WIDTH if piped else None


@contextlib.contextmanager
def library_output() -> Iterator[None]:
    """While a command runs: without ``--verbose``, no log line or warning from a library.

    Log records up to WARNING are dropped (MLflow's INFO lines, PyTensor's BLAS notice) and
    warnings are ignored (ArviZ's FutureWarning, MLflow's CloudPickle notice), except the
    :class:`~crm_predict.exceptions.InputWarning` lines about the user's data, which
    :func:`friendly` prints. Errors still show. Both are restored when the command ends.
    """
    if _verbose["on"]:
        yield
        return
    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(before)


def as_of_date(value: str | None) -> str:
    """The ``--as-of`` value checked (today when None), as ``YYYY-MM-DD``.

    Raises
    ------
    CRMPredictError
        When ``value`` is not a date.

    Examples
    --------
    >>> as_of_date("2024-02-29")
    '2024-02-29'
    """
    from datetime import date

    if value is None:
        return date.today().isoformat()
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise CRMPredictError(
            f"--as-of {value!r} is not a date: write it as YYYY-MM-DD, e.g. 2025-01-31"
        ) from None


def read_options(sep: str | None, encoding: str | None, date_format: str | None, strict: bool):
    """The lead-list reading options (:class:`crm_predict.data.leadlist.ReadOptions`)."""
    from crm_predict.data.leadlist import ReadOptions

    if sep is not None:
        sep = {"\\t": "\t", "tab": "\t"}.get(sep, sep)
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            raise CRMPredictError(
                f"--encoding {encoding!r} is not a known encoding (e.g. utf-8, cp1252, latin-1)"
            ) from None
    return ReadOptions(sep=sep, encoding=encoding, date_format=date_format, strict=strict)


def _show_warning(default: Callable) -> Callable:
    """``warnings.showwarning`` printing input warnings as ``warning: ...`` lines."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, InputWarning):
            err_console.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def friendly(func: Callable) -> Callable:
    """Turn every failure of a command into one message and an exit code, never a traceback.

    Parameters
    ----------
    func : callable
        A command function.

    Returns
    -------
    callable
        The command. Bad input (:class:`~crm_predict.exceptions.CRMPredictError`, a
        missing, unreadable or unwritable file) prints ``error: ...`` and exits with code
        2; anything else is a bug in crm_predict: ``internal error: ...`` with a request
        to report it, exit code 1. Input warnings print as ``warning: ...``.

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
        with library_output(), warnings.catch_warnings():
            warnings.simplefilter("always", InputWarning)
            warnings.showwarning = _show_warning(warnings.showwarning)
            try:
                return func(*args, **kwargs)
            except (typer.Exit, typer.Abort, KeyboardInterrupt):
                raise
            except (CRMPredictError, FileNotFoundError, UnicodeError) as exc:
                _fail(str(exc), 2)
            except OSError as exc:
                where = f": {exc.filename}" if exc.filename else ""
                _fail(f"{exc.strerror or exc}{where}", 2)
            except Exception as exc:  # the last line before a traceback
                _fail(
                    f"internal error ({type(exc).__name__}: {exc}). This is a bug in "
                    "crm_predict, not in your data: please report it with the command you "
                    "ran and crm_predict's version.",
                    1,
                )

    return wrapper


def _fail(message: str, code: int) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


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
