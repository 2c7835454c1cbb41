"""MLflow: runs, artifacts, the model registry and the pyfunc wrapper.

This package is the only code that imports :mod:`mlflow` (:mod:`.lifecycle` adds the
records of tuning studies and retraining decisions). Nothing happens at import time: the
tracking URI is resolved when a function is called (option, then ``MLFLOW_TRACKING_URI``,
then a SQLite file in the working folder).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, DataType, Schema
from mlflow.types.schema import AnyType

from crm_predict.bundle import ModelBundle
from crm_predict.exceptions import CRMPredictError
from crm_predict.plots import plot_calibration, plot_lift
from crm_predict.train import TrainResult

CHAMPION, CHALLENGER = "champion", "challenger"
_LIBRARIES = ("crm-predict", "lightgbm", "scikit-learn", "pandas", "numpy", "mlflow", "pymc")


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


@contextlib.contextmanager
def tracking_to(uri: str) -> Iterator[None]:
    """Point MLflow's global tracking and registry URIs at ``uri`` for a block only.

    MLflow keeps them as process globals and environment variables; restoring both keeps
    one call's store from leaking into the next (a notebook that trains twice, a test run).
    """
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {n: os.environ.get(n) for n in names}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])
        mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"])
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class CRMModel(mlflow.pyfunc.PythonModel):
    """A crm_predict model bundle served through MLflow's pyfunc interface.

    ``predict`` takes raw CRM rows (the task's fields after joins; activity aggregates as
    columns when the task has touches; ``as_of`` as a column or the ``as_of`` param) and
    returns, in the input's order, the id, ``p_convert`` (``p_low``/``p_high`` when the
    model gives an interval), the grade and the reasons — the columns of the score file
    that do not depend on the rest of the list.

    Parameters
    ----------
    bundle : ModelBundle
        The trained model and its scoring context.
    """

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        """Score raw CRM rows."""
        as_of = (params or {}).get("as_of") or None
        return self.bundle.score_rows(pd.DataFrame(model_input), as_of=as_of)


def unwrap_bundle(pyfunc_model) -> ModelBundle:
    """The :class:`ModelBundle` inside a loaded crm_predict pyfunc model."""
    inner = pyfunc_model.unwrap_python_model()
    if not isinstance(inner, CRMModel):
        raise CRMPredictError("this MLflow model was not logged by crm_predict")
    return inner.bundle


def data_fingerprint(result: TrainResult) -> dict[str, str | int | float]:
    """Rows, date range, class balance and a content hash of the training data."""
    frame = result.data.frame
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    ).hexdigest()[:16]
    out: dict[str, str | int | float] = {
        "data_rows": len(frame),
        "data_labelled": int(result.labels.notna().sum()),
        "data_positive_rate": float(result.labels.mean()),
        "data_hash": digest,
        "data_as_of": str(result.data.as_of.date()) if pd.notna(result.data.as_of) else "",
    }
    created = result.config.time.created
    if created:
        out["data_from"] = str(frame[created].min().date())
        out["data_to"] = str(frame[created].max().date())
    return out


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return out


def _figures(result: TrainResult) -> dict[str, Figure]:
    y = result.labels.to_numpy()[result.split.test].astype(int)
    cal, lift = Figure(figsize=(5, 5)), Figure(figsize=(5, 5))
    ax_cal, ax_lift = cal.add_subplot(), lift.add_subplot()
    for name, model in result.models.items():
        p = model.pipeline.predict_proba(result.test_frame())[:, 1]
        plot_calibration(y, p, ax=ax_cal, label=name)
        plot_lift(y, p, ax=ax_lift, label=name)
    return {"calibration_curve.png": cal, "lift_chart.png": lift}


def _experiment(client: MlflowClient, name: str, artifact_root: Path | None) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = artifact_root.resolve().as_uri() if artifact_root is not None else None
    return client.create_experiment(name, artifact_location=location)


def log_training(
    result: TrainResult,
    tracking_uri: str | None = None,
    register: bool = True,
    workdir: str | Path | None = None,
) -> dict[str, str]:
    """Log a training run to MLflow and register its main model.

    Logs the validated config, a data fingerprint, parameters, every model's holdout
    metrics, the calibration curve and lift chart, and library versions. Each model's
    whole pipeline is logged as a pyfunc model with signature and input example; the main
    one (LightGBM) is registered under the task's name and gets the alias ``champion`` if
    the task has none yet, else ``challenger``. A Bayesian model is registered as
    ``<task>-bayes`` with the same rule.

    Parameters
    ----------
    result : TrainResult
        From :func:`crm_predict.train.train_task`.
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.
    register : bool
        Register the models in the registry.
    workdir : str or Path, optional
        Where the default SQLite store and artifacts live.

    Returns
    -------
    dict
        ``run_id``, ``model_uri`` (the logged model), ``registered_model_uri``
        (``models:/<name>@<alias>``), ``registered_version``, ``tracking_uri``, and the same
        for the Bayesian model under ``bayes_*`` keys when present.
    """
    uri = resolve_tracking_uri(tracking_uri, workdir)
    with tracking_to(uri):
        return _log_training(result, uri, tracking_uri, register, workdir)


def _log_training(
    result: TrainResult,
    uri: str,
    tracking_uri: str | None,
    register: bool,
    workdir: str | Path | None,
) -> dict[str, str]:
    client = MlflowClient(uri)
    artifact_root = None
    if uri.startswith("sqlite:") and not tracking_uri:
        artifact_root = Path(workdir or Path.cwd()) / "mlartifacts"
    config = result.config
    experiment_id = _experiment(client, config.name, artifact_root)
    out: dict[str, str] = {"tracking_uri": uri}
    with mlflow.start_run(experiment_id=experiment_id) as run:
        out["run_id"] = run.info.run_id
        mlflow.set_tags({"task": config.name, "split": result.split.method})
        mlflow.log_dict(config.model_dump(mode="json"), "config.json")
        mlflow.log_params(
            {
                **data_fingerprint(result),
                "split": result.split.method,
                "models": ",".join(result.models),
                "seed": config.seed,
            }
        )
        mlflow.log_params({f"version_{k}": v for k, v in _versions().items()})
        if "bayes" in result.models:
            diag = result.models["bayes"].pipeline[-1].diagnostics()
            mlflow.set_tag("bayes_converged", str(bool(diag["converged"])).lower())
        for name, model in result.models.items():
            mlflow.log_metrics(
                {
                    f"{name}_{k}": float(v)
                    for k, v in model.metrics.items()
                    if v is not None and np.isfinite(v)
                }
            )
        mlflow.log_text(result.split.description, "split.txt")
        mlflow.log_dict(result.summary(), "metrics.json")
        for file_name, fig in _figures(result).items():
            mlflow.log_figure(fig, file_name)
        example = _input_example(result)
        for name in [n for n in result.models if n != "logreg"]:
            info = _log_model(result, name, example, register)
            prefix = "" if name == result.champion else f"{name}_"
            out[f"{prefix}model_uri"] = info["model_uri"]
            if register:
                reg = f"{config.name}-{name}" if prefix else config.name
                version = info["version"]
                alias = _assign_alias(client, reg, version)
                out[f"{prefix}registered_model_uri"] = f"models:/{reg}@{alias}"
                out[f"{prefix}registered_version"] = version
                mlflow.set_tag(f"{name}_registered", f"{reg} v{version} ({alias})")
        if result.timing is not None:
            out.update(_log_timing(client, result, example, register))
    result.tracking = {k: v for k, v in out.items() if k != "tracking_uri"}
    return out


def _input_example(result: TrainResult) -> pd.DataFrame:
    frame = result.frame.iloc[result.split.test[:5]].reset_index(drop=True)
    return frame


def _signature(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """Signature whose inputs are all optional: a CRM export may lack a field (it then
    scores as missing) and ``as_of`` may come as a param instead of a column. Date columns
    take any type: a served request or a CSV brings them as ISO strings, a DataFrame as
    datetimes, and the model's cleaner parses both."""
    inferred = infer_signature(example, output, params={"as_of": ""})
    inputs = Schema(
        [
            ColSpec(AnyType() if c.type == DataType.datetime else c.type, c.name, required=False)
            for c in inferred.inputs.inputs
        ]
    )
    return ModelSignature(inputs, inferred.outputs, inferred.params)


def _log_timing(
    client: MlflowClient, result: TrainResult, example: pd.DataFrame, register: bool
) -> dict[str, str]:
    """Log the time-to-event model: metrics (``timing_*``; baselines as
    ``timing_kaplan_meier_*`` and ``timing_coxph_*``), its comparison table and card, and
    the model, registered as ``<task>-timing`` with the champion/challenger rule."""
    timing = result.timing
    assert timing is not None
    for row in timing.comparison.to_dict("records"):
        key = {"Kaplan–Meier": "kaplan_meier", "CoxPH": "coxph"}.get(row["model"])
        prefix = "timing" if key is None else f"timing_{key}"
        mlflow.log_metrics(
            {
                f"{prefix}_{k}": float(v)
                for k, v in row.items()
                if k != "model" and v is not None and np.isfinite(v)
            }
        )
    mlflow.log_dict(timing.bundle.card, "timing_card.json")
    info = _log_model(result, "timing", example, register, bundle=timing.bundle)
    out = {"timing_model_uri": info["model_uri"]}
    if register:
        reg, version = f"{result.config.name}-timing", info["version"]
        alias = _assign_alias(client, reg, version)
        out["timing_registered_model_uri"] = f"models:/{reg}@{alias}"
        out["timing_registered_version"] = version
        mlflow.set_tag("timing_registered", f"{reg} v{version} ({alias})")
    return out


def _log_model(
    result: TrainResult, name: str, example: pd.DataFrame, register: bool, bundle=None
) -> dict:
    model = CRMModel(bundle if bundle is not None else result.models[name].bundle)
    output = model.predict(None, example)
    reg = None
    if register:
        reg = result.config.name if name == result.champion else f"{result.config.name}-{name}"
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=model,
        signature=_signature(example, output),
        input_example=example,
        registered_model_name=reg,
        pip_requirements=[
            f"{k}=={v}" for k, v in _versions().items() if k not in ("python", "crm-predict")
        ],
    )
    return {"model_uri": info.model_uri, "version": str(info.registered_model_version or "")}


def _assign_alias(client: MlflowClient, name: str, version: str) -> str:
    try:
        client.get_model_version_by_alias(name, CHAMPION)
        alias = CHALLENGER
    except mlflow.exceptions.MlflowException:
        alias = CHAMPION
    client.set_registered_model_alias(name, alias, version)
    return alias


def load_model(model_uri: str, tracking_uri: str | None = None):
    """Load a logged or registered model as an MLflow pyfunc.

    Parameters
    ----------
    model_uri : str
        ``models:/<name>@champion``, ``runs:/…``, ``models:/m-…`` or a local folder.
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.

    Returns
    -------
    mlflow.pyfunc.PyFuncModel
    """
    with tracking_to(resolve_tracking_uri(tracking_uri)):
        return mlflow.pyfunc.load_model(model_uri)


def load_bundle(model_uri: str, tracking_uri: str | None = None) -> tuple[ModelBundle, str]:
    """Load a crm_predict model and a label naming it (``name@alias v3`` when registered).

    Parameters
    ----------
    model_uri : str
        Any MLflow model URI or a local model folder.
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.

    Returns
    -------
    bundle : ModelBundle
    label : str
    """
    bundle = unwrap_bundle(load_model(model_uri, tracking_uri))
    label = model_uri
    source = Path(model_uri) / "crm_predict_source.txt"
    if model_uri.startswith("models:/") and "@" in model_uri:
        label = load_bundle_label(model_uri, resolve_tracking_uri(tracking_uri))
    elif source.is_file():
        label = f"{source.read_text(encoding='utf-8').strip()} (exported)"
    return bundle, label


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
    uri = resolve_tracking_uri(tracking_uri)
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


# Re-exported; imported last because the lifecycle records build on the functions above.
from crm_predict.tracking.lifecycle import (  # noqa: E402
    PREVIOUS_CHAMPION as PREVIOUS_CHAMPION,
)
from crm_predict.tracking.lifecycle import TuningLog as TuningLog  # noqa: E402
from crm_predict.tracking.lifecycle import champion_version as champion_version  # noqa: E402
from crm_predict.tracking.lifecycle import record_retrain as record_retrain  # noqa: E402
from crm_predict.tracking.lifecycle import tuning_run as tuning_run  # noqa: E402
