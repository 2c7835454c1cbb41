"""MLflow records of the model lifecycle: Optuna studies and champion/challenger decisions.

Part of the tracking package, the only code that imports :mod:`mlflow`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
from mlflow.tracking import MlflowClient

from crm_predict.tracking.registry import CHALLENGER, CHAMPION, describe_champion
from crm_predict.tracking.runs import log_training
from crm_predict.tracking.store import ensure_experiment, resolve_tracking_uri
from crm_predict.training.train import TrainResult

PREVIOUS_CHAMPION = "previous-champion"


def _redact(url: str) -> str:
    """A storage URL without its password, for tags."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


class TuningLog:
    """Logs an Optuna study run to MLflow: one parent run, one nested run per trial.

    Trials are logged with :class:`~mlflow.tracking.MlflowClient` and the
    ``mlflow.parentRunId`` tag rather than the fluent API, so nothing depends on the
    process's active-run stack (Optuna calls back between trials).
    """

    def __init__(self, client: MlflowClient, experiment_id: str, run_id: str) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.run_id = run_id

    def log_trial(
        self,
        number: int,
        params: dict,
        value: float | None,
        state: str,
        intermediate: dict[int, float] | None = None,
        attrs: dict | None = None,
    ) -> str:
        """Log one finished (or pruned) trial as a nested run; returns its run id."""
        from mlflow.entities import Metric, Param

        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{number}",
            tags={
                "mlflow.parentRunId": self.run_id,
                "optuna_trial": str(number),
                "optuna_state": state,
            },
        )
        now = int(time.time() * 1000)
        metrics = [
            Metric("valid_log_loss_at_round", float(v), now, int(step))
            for step, v in sorted((intermediate or {}).items())
        ]
        if value is not None:
            metrics.append(Metric("valid_log_loss", float(value), now, 0))
        for key, v in (attrs or {}).items():
            if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v):
                metrics.append(Metric(key, float(v), now, 0))
        self.client.log_batch(
            run.info.run_id,
            metrics=metrics,
            params=[Param(k, str(v)) for k, v in params.items()],
        )
        status = "FINISHED" if state == "COMPLETE" else "KILLED"
        self.client.set_terminated(run.info.run_id, status=status)
        return run.info.run_id

    def log_result(self, result) -> None:
        """Log the study's best trial, its parameters and the overlay on the parent run."""
        run_id = self.run_id
        self.client.log_batch(
            run_id,
            metrics=[
                m
                for m in (
                    _metric("best_valid_log_loss", result.best_value),
                    _metric("default_valid_log_loss", result.default_value),
                    _metric("trials_total", result.trials_total),
                    _metric("trials_run", result.trials_run),
                    _metric("trials_pruned", result.pruned),
                )
                if m is not None
            ],
            params=[],
        )
        self.client.set_tag(run_id, "best_trial", str(result.best_trial))
        self.client.log_dict(run_id, dict(result.best_params), "best_params.json")
        if result.overlay is not None:
            self.client.log_artifact(run_id, str(result.overlay))


def _metric(key: str, value: float | None):
    from mlflow.entities import Metric

    if value is None or not np.isfinite(value):
        return None
    return Metric(key, float(value), int(time.time() * 1000), 0)


@contextlib.contextmanager
def tuning_run(
    task: str,
    study_name: str,
    storage: str,
    tracking_uri: str | None = None,
    workdir: str | Path | None = None,
) -> Iterator[TuningLog]:
    """Open the MLflow parent run of one tuning session (one per worker).

    Parameters
    ----------
    task : str
        The task name; its experiment holds the runs.
    study_name : str
        The Optuna study, written as a tag with the storage (password removed).
    storage : str
        The study's storage URL.
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.
    workdir : str or Path, optional
        Folder of the default SQLite store and artifacts.

    Yields
    ------
    TuningLog

    Examples
    --------
    >>> with tuning_run("leads_demo", "leads_demo-gbm", "sqlite:///o.db") as log:  # doctest: +SKIP
    ...     run_id = log.log_trial(0, {"num_leaves": 31}, 0.59, "COMPLETE")
    """
    uri = resolve_tracking_uri(tracking_uri, workdir)
    client = MlflowClient(uri)
    artifact_root = None
    if uri.startswith("sqlite:") and not tracking_uri:
        artifact_root = Path(workdir or Path.cwd()) / "mlartifacts"
    experiment_id = ensure_experiment(client, task, artifact_root)
    run = client.create_run(
        experiment_id,
        run_name=f"tune {study_name}",
        tags={
            "task": task,
            "kind": "tuning",
            "optuna_study": study_name,
            "optuna_storage": _redact(storage),
        },
    )
    log = TuningLog(client, experiment_id, run.info.run_id)
    try:
        yield log
    except BaseException:
        client.set_terminated(run.info.run_id, status="FAILED")
        raise
    client.set_terminated(run.info.run_id, status="FINISHED")


def champion_version(
    name: str, tracking_uri: str | None = None, alias: str = CHAMPION
) -> str | None:
    """The registry version behind ``name@alias``, or None when there is none.

    Examples
    --------
    >>> champion_version("leads_demo")  # doctest: +SKIP
    '3'
    """
    client = MlflowClient(resolve_tracking_uri(tracking_uri))
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def record_retrain(
    result: TrainResult,
    decision: dict,
    card: dict,
    promote: bool,
    tracking_uri: str | None = None,
    workdir: str | Path | None = None,
) -> dict[str, str]:
    """Log and register a retrained challenger, record the decision, move the aliases.

    The challenger is logged like ``crm-predict train`` does (it gets the ``challenger``
    alias, or ``champion`` when the task has none). Its run gets the decision as tags and
    ``retrain_decision.json``, and ``model_card.json`` (data window, metrics, drift at
    training time, decision); the registered version gets the decision as tags. When
    ``promote``, ``champion`` moves to the new version and the old one keeps the alias
    ``previous-champion``, so it stays one URI away.

    Parameters
    ----------
    result : TrainResult
        The challenger's training.
    decision : dict
        JSON-ready decision and evidence (``decision``, ``checks``, ``holdout`` …).
    card : dict
        The model card.
    promote : bool
        Move the ``champion`` alias to the challenger.
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.
    workdir : str or Path, optional
        Folder of the default SQLite store and artifacts.

    Returns
    -------
    dict
        :func:`log_training`'s URIs plus ``champion_version`` and
        ``previous_champion_version`` (empty when there was none).
    """
    uri = resolve_tracking_uri(tracking_uri, workdir)
    name = result.config.name
    old = champion_version(name, uri)
    out = log_training(
        result, tracking_uri=tracking_uri, register=True, workdir=workdir, verb="retrain"
    )
    version = out["registered_version"]
    client = MlflowClient(uri)
    run_id = out["run_id"]
    if promote and old is not None and old != version:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, old)
        client.set_registered_model_alias(name, CHAMPION, version)
        describe_champion(client, name, version)
        with contextlib.suppress(mlflow.exceptions.MlflowException):
            client.delete_registered_model_alias(name, CHALLENGER)
    current = champion_version(name, uri) or ""
    card = {**card, "registered_model": name, "version": version}
    client.log_dict(run_id, decision, "retrain_decision.json")
    client.log_dict(run_id, card, "model_card.json")
    client.set_tag(run_id, "retrain_decision", str(decision.get("decision", "")))
    client.set_tag(run_id, "retrain_promoted", str(bool(promote)).lower())
    for key, value in (
        ("retrain_decision", decision.get("decision", "")),
        ("retrain_promoted", str(bool(promote)).lower()),
        ("retrain_reasons", "; ".join(decision.get("reasons", []))[:4000]),
        ("model_card_run", run_id),
    ):
        client.set_model_version_tag(name, version, key, str(value))
    out["champion_version"] = current
    out["previous_champion_version"] = old or ""
    out["registered_model_uri"] = f"models:/{name}@{CHAMPION if current == version else CHALLENGER}"
    return out
