"""The Optuna study storage: an RDB that several tuning workers can share safely.

Optuna hands an enqueued trial (our default parameters) to the first worker that flips it
from WAITING to RUNNING. On PostgreSQL or MySQL the flip reads the row ``FOR UPDATE``;
SQLite has no row locks, and Python's ``sqlite3`` driver runs the read outside the write
transaction, so two workers can both see WAITING and both run the same trial: one of them
then crashes on telling a finished trial, and the study is a trial short
(optuna/optuna#4621). For SQLite we therefore take the database write lock when every
transaction begins (``BEGIN IMMEDIATE``, the recipe in SQLAlchemy's pysqlite notes), so the
read and the flip happen under one lock; a worker that finds the lock taken waits for it.
"""

from __future__ import annotations

import time

import optuna
import sqlalchemy

SQLITE_LOCK_TIMEOUT_S = 120
CREATE_ATTEMPTS = 5


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Open (creating its tables if needed) the study storage at SQLAlchemy ``url``.

    Parameters
    ----------
    url : str
        E.g. ``sqlite:///optuna.db`` or ``postgresql://user@host/db``.

    Returns
    -------
    optuna.storages.RDBStorage
        On SQLite, every transaction takes the write lock when it begins, and a worker waits
        up to :data:`SQLITE_LOCK_TIMEOUT_S` seconds for it.

    Examples
    --------
    >>> storage = open_storage("sqlite:///optuna.db")  # doctest: +SKIP
    >>> optuna.load_study(study_name="leads_demo-gbm", storage=storage)  # doctest: +SKIP
    """
    sqlite = url.startswith("sqlite")
    engine_kwargs = {"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT_S}} if sqlite else {}
    for attempt in range(CREATE_ATTEMPTS):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
            break
        except Exception:  # two workers creating the tables at once: the loser retries
            if attempt == CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    if sqlite:
        _lock_on_begin(storage.engine)
    return storage


def _lock_on_begin(engine: sqlalchemy.engine.Engine) -> None:
    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver no longer opens transactions

    def on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    sqlalchemy.event.listen(engine, "connect", on_connect)
    sqlalchemy.event.listen(engine, "begin", on_begin)
    engine.dispose()  # pooled connections opened before the listeners are replaced
