"""The pyfunc wrapper: a crm_predict model bundle as an MLflow model, and loading it back
(one model, or a task's models with their registered companions)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, DataType, Schema
from mlflow.types.schema import AnyType

from crm_predict.exceptions import CRMPredictError
from crm_predict.scoring.bundle import ModelBundle
from crm_predict.scoring.task_models import TaskModels
from crm_predict.tracking.registry import companion_uri, load_bundle_label
from crm_predict.tracking.store import existing_store, resolve_tracking_uri, tracking_to


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


def signature_for(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """The signature of a crm_predict pyfunc model: every input optional, dates of any type.

    A CRM export may lack a field (it then scores as missing) and ``as_of`` may come as a
    param instead of a column. Date columns take any type: a served request or a CSV brings
    them as ISO strings, a DataFrame as datetimes, and the model's cleaner parses both.

    Parameters
    ----------
    example : pandas.DataFrame
        Raw CRM rows, the model's input example.
    output : pandas.DataFrame
        What the model returns for them.

    Returns
    -------
    mlflow.models.ModelSignature
        Optional input columns, the output columns and the ``as_of`` param.

    Examples
    --------
    >>> signature = signature_for(rows, CRMModel(bundle).predict(None, rows))  # doctest: +SKIP
    >>> [p.name for p in signature.params.params]  # doctest: +SKIP
    ['as_of']
    """
    inferred = infer_signature(example, output, params={"as_of": ""})
    inputs = Schema(
        [
            ColSpec(AnyType() if c.type == DataType.datetime else c.type, c.name, required=False)
            for c in inferred.inputs.inputs
        ]
    )
    return ModelSignature(inputs, inferred.outputs, inferred.params)


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
    uri = resolve_tracking_uri(tracking_uri)
    if model_uri.startswith(("models:/", "runs:/")):
        existing_store(uri)  # reading must not create an empty store
    try:
        with tracking_to(uri):
            return mlflow.pyfunc.load_model(model_uri)
    except MlflowException as exc:
        raise CRMPredictError(_load_problem(model_uri, uri, exc)) from None


def _load_problem(model_uri: str, tracking_uri: str, exc: MlflowException) -> str:
    """Why a model did not load, and the registered models that the store does hold."""
    reason = str(exc.message).splitlines()[0].rstrip(".") if exc.message else type(exc).__name__
    text = f"cannot load model '{model_uri}' from tracking store {tracking_uri}: {reason}"
    try:
        names = sorted(m.name for m in MlflowClient(tracking_uri).search_registered_models())
    except MlflowException:
        return text
    if not names:
        return f"{text}; the store has no registered models (train one with crm-predict train)"
    return f"{text}; registered models there: {', '.join(names)} (e.g. models:/{names[0]}@champion)"


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


def load_task_models(
    model_uri: str,
    tracking_uri: str | None = None,
    bayes_uri: str | None = None,
    timing_uri: str | None = None,
    companions: bool = True,
) -> TaskModels:
    """Load a task's main model once, with its Bayesian and time-to-event companions.

    Parameters
    ----------
    model_uri : str
        The main model: any MLflow model URI or a local model folder.
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.
    bayes_uri, timing_uri : str, optional
        The Bayesian and the time-to-event model to load beside it.
    companions : bool
        For a companion not given, load the one registered beside ``model_uri``, if any:
        ``models:/leads_demo@champion`` → ``models:/leads_demo-bayes@champion`` and
        ``models:/leads_demo-timing@champion`` (:func:`companion_uri`).

    Returns
    -------
    TaskModels
        Labelled as :func:`load_bundle` labels the main model; ``sources`` gives the URI of
        each model loaded, by role (``main``, ``bayes``, ``timing``).

    Examples
    --------
    >>> models = load_task_models("models:/leads_demo@champion")  # doctest: +SKIP
    >>> models.label, sorted(models.sources)  # doctest: +SKIP
    ('leads_demo@champion v3', ['main', 'timing'])
    """
    main, label = load_bundle(model_uri, tracking_uri)
    sources = {"main": model_uri}
    loaded = {}
    for role, uri in (("bayes", bayes_uri), ("timing", timing_uri)):
        if not uri and companions:
            uri = companion_uri(model_uri, role, tracking_uri)
        if uri:
            loaded[role] = load_bundle(uri, tracking_uri)[0]
            sources[role] = uri
    return TaskModels(main, label=label, sources=sources, **loaded)
