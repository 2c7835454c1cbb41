"""Progress bars for long work (training, tuning, scoring), silent when asked to be."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


class Steps:
    """A named sequence of steps shown as one progress bar.

    Parameters
    ----------
    progress : rich.progress.Progress or None
        None makes every call a no-op (quiet mode).
    total : int
        Number of steps.
    """

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress = progress
        self._task = progress.add_task("starting", total=total) if progress else None

    def step(self, description: str) -> None:
        """Announce the step that starts now and count the previous one as done."""
        if self._progress is None or self._task is None:
            return
        task = self._progress.tasks[self._task]
        advance = 1 if task.description != "starting" else 0
        self._progress.update(self._task, description=description, advance=advance)

    def done(self) -> None:
        """Mark every step complete."""
        if self._progress is not None and self._task is not None:
            total = self._progress.tasks[self._task].total
            self._progress.update(self._task, completed=total, description="done")


@contextlib.contextmanager
def steps(total: int, quiet: bool = False, console: Console | None = None) -> Iterator[Steps]:
    """Show a progress bar over ``total`` named steps unless ``quiet``.

    Parameters
    ----------
    total : int
        Number of steps.
    quiet : bool
        Show nothing.
    console : rich.console.Console, optional
        Where to draw (stderr by default, so piped output stays clean).

    Examples
    --------
    >>> with steps(2, quiet=True) as s:
    ...     s.step("loading")
    ...     s.step("training")
    """
    if quiet:
        yield Steps(None, total)
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )
    with progress:
        tracker = Steps(progress, total)
        yield tracker
        tracker.done()


@contextlib.contextmanager
def rows(
    description: str, quiet: bool = False, console: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """Show a running count of processed rows; yields ``advance(total_so_far)``.

    Examples
    --------
    >>> with rows("scoring", quiet=True) as advance:
    ...     advance(50_000)
    """
    if quiet:
        yield lambda n: None
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
    )
    with progress:
        task = progress.add_task(description, total=None)
        yield lambda n: progress.update(task, completed=n)
