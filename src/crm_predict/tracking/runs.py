"""Training runs in MLflow: config, data fingerprint, metrics, charts and the logged models."""

from __future__ import annotations

import hashlib
import platform
from datetime import datetime
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient

from crm_predict.evaluate.plots import plot_calibration, plot_lift
from crm_predict.tracking.describe import model_description, run_name
from crm_predict.tracking.pyfunc import CRMModel, signature_for
from crm_predict.tracking.registry import CHAMPION, assign_alias, describe_version
from crm_predict.tracking.store import ensure_experiment, resolve_tracking_uri, tracking_to
from crm_predict.training.train import TrainResult

_LIBRARIES = ("crm-predict", "lightgbm", "scikit-learn", "pandas", "numpy", "mlflow", "pymc")


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


def log_training(
    result: TrainResult,
    tracking_uri: str | None = None,
    register: bool = True,
    workdir: str | Path | None = None,
    verb: str = "train",
) -> dict[str, str]:
    """Log a training run to MLflow and register its main model.

    Logs the validated config, a data fingerprint, parameters, every model's holdout
    metrics, the calibration curve and lift chart, and library versions. Each model's
    whole pipeline is logged as a pyfunc model with signature and input example; the run's
    champion (the best out-of-fold evidence, :mod:`crm_predict.training.selection`) is registered
    under the task's name and gets the alias ``champion`` if the task has none yet, else
    ``challenger``. The other models (not the logistic baseline) are registered as
    ``<task>-<model>`` (``<task>-bayes``, ``<task>-gbm``) with the same rule.

    The run is named ``<verb> <task> <champion> <YYYY-MM-DD HH:MM>`` (its local start time);
    every registered version is described (what it predicts, the task and its outcome, its
    holdout metrics, the training window), and a registered model whose new version is its
    champion gets that description too.

    Parameters
    ----------
    result : TrainResult
        From :func:`crm_predict.training.train.train_task`.
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.
    register : bool
        Register the models in the registry.
    workdir : str or Path, optional
        Where the default SQLite store and artifacts live.
    verb : str
        What the run did, first word of its name (``retrain`` for a challenger).

    Returns
    -------
    dict
        ``run_id``, ``model_uri`` (the logged model), ``registered_model_uri``
        (``models:/<name>@<alias>``), ``registered_version``, ``tracking_uri``, and the same
        for the Bayesian model under ``bayes_*`` keys when present.
    """
    uri = resolve_tracking_uri(tracking_uri, workdir)
    with tracking_to(uri):
        return _log_training(result, uri, tracking_uri, register, workdir, verb)


def _log_training(
    result: TrainResult,
    uri: str,
    tracking_uri: str | None,
    register: bool,
    workdir: str | Path | None,
    verb: str,
) -> dict[str, str]:
    client = MlflowClient(uri)
    artifact_root = None
    if uri.startswith("sqlite:") and not tracking_uri:
        artifact_root = Path(workdir or Path.cwd()) / "mlartifacts"
    config = result.config
    experiment_id = ensure_experiment(client, config.name, artifact_root)
    out: dict[str, str] = {"tracking_uri": uri}
    label = run_name(verb, config.name, result.champion, datetime.now())
    with mlflow.start_run(experiment_id=experiment_id, run_name=label) as run:
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
        mlflow.set_tag("champion", result.champion)
        if result.selection is not None:
            mlflow.log_dict(result.selection.as_dict(), "selection.json")
            if result.selection.warning:
                mlflow.set_tag("holdout_warning", result.selection.warning)
        if result.drift is not None and result.drift["drifted"]:
            mlflow.set_tag("base_rate_drift", result.drift["message"])
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
        for name in [n for n in result.models if n != "logreg" or n == result.champion]:
            info = _log_model(result, name, example, register)
            prefix = "" if name == result.champion else f"{name}_"
            out[f"{prefix}model_uri"] = info["model_uri"]
            if register:
                reg = f"{config.name}-{name}" if prefix else config.name
                version = info["version"]
                alias = assign_alias(client, reg, version)
                text = model_description(result, name, label)
                describe_version(client, reg, version, text, alias == CHAMPION)
                out[f"{prefix}registered_model_uri"] = f"models:/{reg}@{alias}"
                out[f"{prefix}registered_version"] = version
                mlflow.set_tag(f"{name}_registered", f"{reg} v{version} ({alias})")
                if name == "bayes" and not prefix:
                    # The champion is Bayesian: it is also the task's interval companion.
                    out.update(_register_companion(client, info["model_uri"], config.name, text))
        if result.timing is not None:
            out.update(_log_timing(client, result, example, register, label))
    result.tracking = {k: v for k, v in out.items() if k != "tracking_uri"}
    return out


def _register_companion(
    client: MlflowClient, model_uri: str, task: str, text: str
) -> dict[str, str]:
    """Register a logged Bayesian champion under ``<task>-bayes`` too (no second upload)."""
    reg = f"{task}-bayes"
    version = str(mlflow.register_model(model_uri, reg).version)
    alias = assign_alias(client, reg, version)
    describe_version(client, reg, version, text, alias == CHAMPION)
    return {
        "bayes_registered_model_uri": f"models:/{reg}@{alias}",
        "bayes_registered_version": version,
    }


def _input_example(result: TrainResult) -> pd.DataFrame:
    frame = result.frame.iloc[result.split.test[:5]].reset_index(drop=True)
    return frame


def _log_timing(
    client: MlflowClient, result: TrainResult, example: pd.DataFrame, register: bool, run: str
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
        alias = assign_alias(client, reg, version)
        text = model_description(result, "timing", run)
        describe_version(client, reg, version, text, alias == CHAMPION)
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
        signature=signature_for(example, output),
        input_example=example,
        registered_model_name=reg,
        pip_requirements=[
            f"{k}=={v}" for k, v in _versions().items() if k not in ("python", "crm-predict")
        ],
    )
    return {"model_uri": info.model_uri, "version": str(info.registered_model_version or "")}
