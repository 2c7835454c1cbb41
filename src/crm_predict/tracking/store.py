"""Where MLflow records go: the tracking URI, and a task's experiment in it.

Nothing happens at import time: the tracking URI is resolved when a function is called
(option, then ``MLFLOW_TRACKING_URI``, then a SQLite file in the working folder).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow.tracking import MlflowClient
from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

from crm_predict.exceptions import CRMPredictError


def resolve_tracking_uri(uri: str | None = None, workdir: str | Path | None = None) -> str:
    """Return the tracking URI to use.

    Parameters
    ----------
    uri : str, optional
        Explicit URI (``--tracking-uri``), e.g. ``http://127.0.0.1:5000``.
    workdir : str or Path, optional
        Folder of the default SQLite store (the current folder when None).

    Returns
    -------
    str
        ``uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///<workdir>/mlflow.db``.

    Examples
    --------
    >>> resolve_tracking_uri("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    if uri:
        return uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    folder = Path(workdir) if workdir is not None else Path.cwd()
    return f"sqlite:///{(folder / 'mlflow.db').resolve()}"


def existing_store(uri: str) -> str:
    """``uri`` itself, checked to name a store that exists, before a command only reads it.

    MLflow creates an empty SQLite database (or ``mlruns`` folder) the moment a client
    touches a local store that is not there; a command that only reads (``score``,
    ``report``, ``monitor``, ``export``) would then leave an empty ``mlflow.db`` behind and
    report "no such model". Servers and databases are not checked here: MLflow says why.

    Parameters
    ----------
    uri : str
        A resolved tracking URI (:func:`resolve_tracking_uri`).

    Returns
    -------
    str

    Raises
    ------
    CRMPredictError
        When a ``sqlite:///`` file or a ``file:`` folder does not exist.

    Examples
    --------
    >>> existing_store("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    path = None
    if uri.startswith("sqlite:///") and ":memory:" not in uri:
        path = Path(uri.removeprefix("sqlite:///").split("?")[0])
    elif uri.startswith("file:"):
        path = Path(urlparse(uri).path)
    if path is not None and not path.exists():
        raise CRMPredictError(
            f"no MLflow tracking store at {path}: nothing was created. Train first "
            "(crm-predict train <config>), or point --tracking-uri (or MLFLOW_TRACKING_URI) "
            "at the store train wrote, e.g. sqlite:////abs/path/mlflow.db"
        )
    return uri


@contextlib.contextmanager
def tracking_to(uri: str) -> Iterator[None]:
    """Point MLflow's global tracking and registry URIs at ``uri`` for a block only.

    MLflow keeps them as process globals and environment variables; restoring both keeps
    one call's store from leaking into the next (a notebook that trains twice, a test run).
    MLflow's event lines printed outside its loggers ("Successfully registered model …")
    follow the ``mlflow`` logger: shown when it logs INFO, silent when the caller turned
    library logging down (``crm-predict`` without ``--verbose``).
    """
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {n: os.environ.get(n) for n in names}
    events = MLFLOW_LOGGING_STREAM.enabled
    MLFLOW_LOGGING_STREAM.enabled = logging.getLogger("mlflow").isEnabledFor(logging.INFO)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        MLFLOW_LOGGING_STREAM.enabled = events
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])
        mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"])
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def ensure_experiment(client: MlflowClient, name: str, artifact_root: Path | None) -> str:
    """The id of experiment ``name``, created on first use.

    Parameters
    ----------
    client : mlflow.tracking.MlflowClient
        A client of the tracking store.
    name : str
        The experiment: the task's name.
    artifact_root : Path, optional
        Where a new experiment keeps its artifacts (the store's default when None).

    Returns
    -------
    str

    Examples
    --------
    >>> ensure_experiment(MlflowClient("sqlite:///mlflow.db"), "leads_demo", None)  # doctest: +SKIP
    '1'
    """
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = artifact_root.resolve().as_uri() if artifact_root is not None else None
    return client.create_experiment(name, artifact_location=location)
