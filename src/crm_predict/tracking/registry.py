"""The model registry: champion and challenger aliases, companion models, export.

A task's main model is registered under the task's name; its Bayesian and time-to-event
models beside it as ``<task>-bayes`` and ``<task>-timing``, with the same aliases.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from crm_predict.tracking.store import existing_store, resolve_tracking_uri, tracking_to

CHAMPION, CHALLENGER = "champion", "challenger"


def assign_alias(client: MlflowClient, name: str, version: str) -> str:
    """Give a new version ``champion`` if the model has none yet, else ``challenger``.

    Parameters
    ----------
    client : mlflow.tracking.MlflowClient
        A client of the registry.
    name : str
        The registered model.
    version : str
        The version just registered.

    Returns
    -------
    str
        The alias given.

    Examples
    --------
    >>> assign_alias(MlflowClient("sqlite:///mlflow.db"), "leads_demo", "4")  # doctest: +SKIP
    'challenger'
    """
    try:
        client.get_model_version_by_alias(name, CHAMPION)
        alias = CHALLENGER
    except mlflow.exceptions.MlflowException:
        alias = CHAMPION
    client.set_registered_model_alias(name, alias, version)
    return alias


def describe_version(
    client: MlflowClient, name: str, version: str, text: str, champion: bool
) -> None:
    """Give a registered version its description; the registered model its champion's.

    Parameters
    ----------
    client : mlflow.tracking.MlflowClient
        A client of the registry.
    name : str
        The registered model.
    version : str
        The version.
    text : str
        What the version predicts and how well (Markdown,
        :func:`crm_predict.tracking.describe.model_description`).
    champion : bool
        The version holds the ``champion`` alias: the registered model's description
        becomes this version's.

    Examples
    --------
    >>> describe_version(client, "leads_demo", "1", "Predicts …", champion=True)  # doctest: +SKIP
    """
    client.update_model_version(name, version, description=text)
    if champion:
        describe_champion(client, name, version)


def describe_champion(client: MlflowClient, name: str, version: str) -> None:
    """The registered model's description: ``Champion: version N.`` and that version's own.

    Examples
    --------
    >>> describe_champion(client, "leads_demo", "3")  # doctest: +SKIP
    """
    text = client.get_model_version(name, version).description or ""
    client.update_registered_model(name, description=f"Champion: version {version}.\n\n{text}")


def companion_uri(model_uri: str, suffix: str, tracking_uri: str | None = None) -> str | None:
    """The registered model trained beside ``model_uri`` for the same task, if any.

    ``models:/leads_demo@champion`` with suffix ``bayes`` → ``models:/leads_demo-bayes@champion``
    when that name has that alias in the registry; None otherwise (also for a URI that is not
    a registry alias, such as a run or a local folder).

    Parameters
    ----------
    model_uri : str
        The main model's URI.
    suffix : str
        ``bayes`` or ``timing``.
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.

    Returns
    -------
    str or None

    Examples
    --------
    >>> companion_uri("models:/leads_demo@champion", "bayes")  # doctest: +SKIP
    'models:/leads_demo-bayes@champion'
    """
    if not (model_uri.startswith("models:/") and "@" in model_uri):
        return None
    name, alias = model_uri.removeprefix("models:/").split("@", 1)
    client = MlflowClient(resolve_tracking_uri(tracking_uri))
    try:
        client.get_model_version_by_alias(f"{name}-{suffix}", alias)
    except mlflow.exceptions.MlflowException:
        return None
    return f"models:/{name}-{suffix}@{alias}"


def load_bundle_label(model_uri: str, tracking_uri: str) -> str:
    """``models:/name@alias`` → ``name@alias v<version>``."""
    name, alias = model_uri.removeprefix("models:/").split("@", 1)
    version = MlflowClient(tracking_uri).get_model_version_by_alias(name, alias).version
    return f"{name}@{alias} v{version}"


def export_model(model_uri: str, folder: str | Path, tracking_uri: str | None = None) -> Path:
    """Copy a logged or registered model into ``folder`` as a standalone MLflow model.

    The folder loads with ``mlflow.pyfunc.load_model(folder)`` (and ``crm-predict score
    --model folder``) on a machine without the tracking store. An existing folder is
    replaced only once the new copy is complete.

    Parameters
    ----------
    model_uri : str
        E.g. ``models:/leads_demo@champion``.
    folder : str or Path
        Target folder.
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.

    Returns
    -------
    Path
    """
    uri = existing_store(resolve_tracking_uri(tracking_uri))
    folder = Path(folder).resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (
        tracking_to(uri),
        tempfile.TemporaryDirectory(prefix=f".{folder.name}.", dir=folder.parent) as tmp,
    ):
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        label = model_uri
        if model_uri.startswith("models:/") and "@" in model_uri:
            label = load_bundle_label(model_uri, uri)
        (local / "crm_predict_source.txt").write_text(label + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(local, folder)
    return folder
