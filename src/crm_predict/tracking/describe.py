"""What a person reads in the MLflow UI: readable run names and model descriptions.

A run is named by what it did (``train leads_demo gbm 2026-12-04 19:40``); a registered
model version says what it predicts, for which task and outcome, and how it did on the
holdout. The registered model carries its champion's description.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from crm_predict.training.train import TrainResult

_MODELS = {
    "gbm": "calibrated LightGBM blended with a logistic regression",
    "logreg": "logistic regression (the baseline scorecard)",
    "bayes": "hierarchical Bayesian logistic regression (PyMC), with a 90% interval",
    "timing": "discrete-time competing-risks hazard model (LightGBM over record-weeks)",
}
_METRICS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "log_loss": "log loss",
    "brier": "Brier",
    "ece": "ECE",
    "lift_top_decile": "top-decile lift",
    "c_index": "C-index",
    "ibs": "integrated Brier",
}


def run_name(verb: str, task: str, model: str, when: datetime) -> str:
    """A run's name in the MLflow UI: what was done, to which task, with which model, when.

    Parameters
    ----------
    verb : str
        ``train``, ``retrain`` …
    task : str
        The task's name.
    model : str
        The run's champion (``gbm``, ``bayes``, ``logreg``).
    when : datetime
        When the run started.

    Returns
    -------
    str

    Examples
    --------
    >>> run_name("train", "leads_demo", "gbm", datetime(2026, 12, 4, 19, 40, 12))
    'train leads_demo gbm 2026-12-04 19:40'
    """
    return f"{verb} {task} {model} {when:%Y-%m-%d %H:%M}"


def model_description(result: TrainResult, name: str, run: str) -> str:
    """What a logged model predicts, for which task and outcome, and how well (Markdown).

    Parameters
    ----------
    result : TrainResult
        The training run.
    name : str
        A model of ``result.models``, or ``timing`` for its time-to-event model.
    run : str
        The run's name (:func:`run_name`).

    Returns
    -------
    str

    Examples
    --------
    >>> print(model_description(result, "gbm", "train leads_demo gbm 2026-12-04 19:40"))
    ... # doctest: +SKIP
    Predicts `p_convert`: the probability that a lead converts (`status` becomes won …
    """
    config = result.config
    target = config.target
    record = config.records.removesuffix("s")
    outcome = (
        f"`{target.column}` becomes {' / '.join(target.positive)} rather than "
        f"{' / '.join(target.negative)}"
    )
    if target.open:
        outcome += f"; {' / '.join(target.open)} {config.records} are censored, not negatives"
    score, verb = ("p_churn", "churns") if config.is_churn else ("p_convert", "converts")
    if name == "timing":
        horizons = ", ".join(f"`{score}_{h}d`" for h in config.timing.horizons)
        what = (
            f"Predicts when a {record} {verb}: {horizons}, `p_ever` and `median_days` ({outcome})."
        )
        assert result.timing is not None
        metrics = result.timing.metrics
    else:
        what = f"Predicts `{score}`: the probability that a {record} {verb} ({outcome})."
        metrics = result.models[name].metrics
    # The time-to-event model judges each horizon on the records it can (see its card).
    held_out = "" if name == "timing" else f"{len(result.split.test):,} {config.records}, "
    chosen = ""
    if name == result.champion and result.selection is not None:
        chosen = f"; the run's champion: {result.selection.reason.rstrip('.')}"
    lines = [
        what,
        f"Task `{config.name}`" + (f": {config.description}" if config.description else "."),
        f"Model `{name}`, {_MODELS.get(name, name)}, from run *{run}*{chosen}.",
        f"Holdout ({held_out}{result.split.method} split): {_metric_text(metrics)}.",
        _trained_on(result),
    ]
    return "\n\n".join(lines)


def _metric_text(metrics: dict) -> str:
    shown = [
        f"{label} {float(metrics[key]):.3f}"
        for key, label in _METRICS.items()
        if metrics.get(key) is not None and np.isfinite(float(metrics[key]))
    ]
    return ", ".join(shown) or "no metric"


def _trained_on(result: TrainResult) -> str:
    frame, config = result.data.frame, result.config
    text = f"Trained on {len(frame):,} {config.records}"
    created = config.time.created
    if created and created in frame.columns:
        text += f" created {frame[created].min():%Y-%m-%d} to {frame[created].max():%Y-%m-%d}"
    as_of = result.data.as_of
    return text + (f", as of {as_of:%Y-%m-%d}." if as_of is not None and as_of == as_of else ".")
