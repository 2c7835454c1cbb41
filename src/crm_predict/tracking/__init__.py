"""MLflow: runs, artifacts, the model registry and the pyfunc wrapper.

This package is the only code that imports :mod:`mlflow`. Nothing happens at import time:
the tracking URI is resolved when a function is called (option, then
``MLFLOW_TRACKING_URI``, then a SQLite file in the working folder).

Modules: :mod:`.store` (the tracking URI and a task's experiment), :mod:`.pyfunc` (the
model wrapper; loading one model, or a task's models with their companions),
:mod:`.registry` (aliases, descriptions, companion models, export), :mod:`.runs` (training
runs), :mod:`.describe` (run names and model descriptions people read in the MLflow UI) and
:mod:`.lifecycle` (tuning studies and retraining decisions). Everything public is
importable from here.
"""

from __future__ import annotations

from crm_predict.tracking.describe import model_description, run_name
from crm_predict.tracking.lifecycle import (
    PREVIOUS_CHAMPION,
    TuningLog,
    champion_version,
    record_retrain,
    tuning_run,
)
from crm_predict.tracking.pyfunc import (
    CRMModel,
    load_bundle,
    load_model,
    load_task_models,
    unwrap_bundle,
)
from crm_predict.tracking.registry import (
    CHALLENGER,
    CHAMPION,
    companion_uri,
    describe_champion,
    describe_version,
    export_model,
    load_bundle_label,
)
from crm_predict.tracking.runs import data_fingerprint, log_training
from crm_predict.tracking.store import resolve_tracking_uri, tracking_to

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS_CHAMPION",
    "CRMModel",
    "TuningLog",
    "champion_version",
    "companion_uri",
    "data_fingerprint",
    "describe_champion",
    "describe_version",
    "export_model",
    "load_bundle",
    "load_bundle_label",
    "load_model",
    "load_task_models",
    "log_training",
    "model_description",
    "record_retrain",
    "resolve_tracking_uri",
    "run_name",
    "tracking_to",
    "tuning_run",
    "unwrap_bundle",
]
