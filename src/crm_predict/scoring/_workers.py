"""Worker processes for batch scoring: chunks scored and blocks formatted on every core.

:func:`crm_predict.scoring.batch.score_leads` reads and checks a lead list in its own
process (the duplicate check and each date column's format need the list in order), and
hands the scorable rows of each chunk to :class:`Workers`: joins, features, exact
TreeSHAP, reason text and grades run there, as do rounding and CSV formatting in the
ranking pass. Those steps are pandas and scikit-learn code that holds the GIL, so the
workers are processes (``spawn``: no fork of a process that runs threads). Results come
back in the order the work went in, so the output is the same bytes with any number of
workers; a worker's task and one more are in flight at a time, so memory stays bounded.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa

from crm_predict.exceptions import CRMPredictError
from crm_predict.scoring.scorer import Scorer
from crm_predict.scoring.task_models import TaskModels

T = TypeVar("T")

AHEAD = 1
"""Tasks queued beyond one per worker: a worker that finishes finds its next one waiting."""

UNGUARDED = (
    "a script that scores with more than one worker without starting under "
    "`if __name__ == '__main__':` (Python starts each worker by importing the script); "
    "workers=1 scores in this process"
)
"""The error's words for a script that starts workers at import time."""

_scorer: Scorer | None = None
"""A worker process's own scorer, made once by :func:`_start`."""


def default_workers() -> int:
    """The cores this process may run on (``os.process_cpu_count()`` from Python 3.13).

    Examples
    --------
    >>> default_workers() >= 1
    True
    """
    count = getattr(os, "process_cpu_count", None)
    if count is not None:
        return count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def check_workers(workers: int | None) -> int:
    """The number of worker processes to use: ``None`` is every core.

    Raises
    ------
    CRMPredictError
        For anything but a whole number of at least 1.

    Examples
    --------
    >>> check_workers(2)
    2
    """
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise CRMPredictError(
            f"workers must be a whole number of at least 1 (got {workers!r}); "
            "leave it out to use every core"
        )
    return workers


def _start(setup: str) -> None:
    global _scorer
    with open(setup, "rb") as fh:
        models, as_of, activities, date_format = pickle.load(fh)
    _scorer = Scorer(models, as_of, activities, date_format)


def _run(task: Callable[..., T], args: tuple) -> T:
    return _call(task, _scorer, args)


def _call(task: Callable[..., T], scorer: Scorer | None, args: tuple) -> T:
    """``task(scorer, *args)``, then the Arrow pool's freed pages go back to the system
    (mimalloc keeps them otherwise: about 100 MiB a process after a block of ranks)."""
    try:
        return task(scorer, *args)
    finally:
        pa.default_memory_pool().release_unused()


class Workers:
    """Runs tasks ``task(scorer, *args)`` in order: in this process, or on a process pool.

    The pool starts when a :meth:`map` first has two tasks or more (a list that fits one
    chunk is scored here, without the seconds a process takes to import the models); its
    processes make their own :class:`~crm_predict.scoring.scorer.Scorer` with the same
    models, ``as_of``, touch table and date format as ``scorer``.

    Parameters
    ----------
    workers : int
        Processes; 1 runs every task in this process.
    scorer : Scorer
        This process's scorer (also the template of the workers').
    activities : DataFrame, optional
        The touch table ``scorer`` was given.
    date_format : str, optional
        The date format ``scorer`` was given.

    Examples
    --------
    >>> with Workers(2, scorer) as pool:  # doctest: +SKIP
    ...     for _ in pool.map(score_part, parts):  # each task writes its spill file
    ...         pass
    """

    def __init__(
        self,
        workers: int,
        scorer: Scorer,
        activities: pd.DataFrame | None = None,
        date_format: str | None = None,
    ) -> None:
        self.workers = workers
        self.scorer = scorer
        self._setup: tuple[TaskModels, pd.Timestamp, Any, str | None] = (
            scorer.models,
            scorer.as_of,
            activities,
            date_format,
        )
        self._folder: tempfile.TemporaryDirectory | None = None
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def _write_setup(self) -> str:
        """The models and settings in a file each worker reads when it starts.

        Through a file, not the pipe a starting worker reads: a worker that dies while it
        starts (a script without a ``__main__`` guard) would leave a large payload unread,
        and Python would wait forever to finish writing it.
        """
        self._folder = tempfile.TemporaryDirectory(prefix="crm_predict_workers_")
        path = Path(self._folder.name) / "setup.pkl"
        with open(path, "wb") as fh:
            pickle.dump(self._setup, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return str(path)

    def map(self, task: Callable[..., T], items: Iterable[tuple]) -> Iterator[T]:
        """``task(scorer, *args)`` for each ``args`` of ``items``, in order.

        ``items`` is consumed ``AHEAD`` tasks beyond one per worker ahead of the results;
        ``task`` must be a module-level function (it is pickled to the workers).
        """
        items = iter(items)
        head = [item for _, item in zip(range(2), items, strict=False)]
        if self.workers == 1 or len(head) < 2:
            for args in chain(head, items):
                yield _call(task, self.scorer, args)
            return
        if self._pool is None:
            if getattr(multiprocessing.current_process(), "_inheriting", False):
                # This process is a worker still importing the script that started the pool
                # (the flag multiprocessing itself checks): a pool made here would keep the
                # worker from exiting, and the script's own pool would wait for it forever.
                raise CRMPredictError(UNGUARDED)
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self._write_setup(),),
            )
        pending: deque[Future[Any]] = deque()
        try:
            for args in chain(head, items):
                pending.append(self._pool.submit(_run, task, args))
                if len(pending) > self.workers + AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool as exc:
            raise CRMPredictError(
                "a scoring worker process stopped: out of memory (try fewer workers or a "
                f"smaller chunksize), or {UNGUARDED}"
            ) from exc
