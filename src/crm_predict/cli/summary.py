"""What ``train`` and ``demo`` print: the holdout tables, and the headline they end with."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from crm_predict.cli.common import fmt

BASELINE = "logreg"
"""The logistic baseline every champion is compared with."""


def metrics_table(summary: dict, models: list[str]) -> Table:
    """Holdout metrics, one column per model, the champion marked."""
    table = Table(title="Holdout metrics", show_lines=False)
    table.add_column("metric")
    for name in models:
        champion = name == summary.get("champion")
        table.add_column(f"{name} (champion)" if champion else name, justify="right")
    keys = [
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "ece",
        "lift_top_decile",
        "capture_top_decile",
        "fit_seconds",
    ]
    if "bayes" in summary:
        keys += ["max_rhat", "min_ess_bulk", "divergences"]
    for key in keys:
        table.add_row(key, *(fmt(summary[m].get(key)) for m in models))
    return table


def segment_table(summary: dict) -> Table:
    """The main model's holdout metrics per segment level."""
    table = Table(title="Per segment (holdout, main model)")
    for col in ("field", "level", "n", "observed", "predicted", "auc", "ece"):
        table.add_column(col, justify="left" if col in ("field", "level") else "right")
    for field_name, levels in summary["segments"].items():
        for level, m in levels.items():
            table.add_row(
                field_name,
                level,
                f"{int(m['n']):,}",
                fmt(m["observed_rate"]),
                fmt(m["predicted_rate"]),
                fmt(m["roc_auc"]),
                fmt(m["ece"]),
            )
    return table


def timing_table(comparison, churn: bool = False) -> Table:
    """The time-to-event model against its baselines on the holdout."""
    title = (
        "Time to churn (holdout, customers at risk at the snapshot)"
        if churn
        else "Time to convert (holdout; lost leads kept at risk for the baselines)"
    )
    table = Table(title=title)
    keys = [c for c in comparison.columns if c != "model" and not c.startswith("n_")]
    table.add_column("metric")
    for name in comparison["model"]:
        table.add_column(str(name), justify="right")
    for key in keys:
        table.add_row(key, *(fmt(v) for v in comparison[key]))
    return table


def headline(summary: dict, tracking_uri: str | None, report: Path | None = None) -> list[str]:
    """The lines a training run ends with: what won, by how much, where it is, what next.

    Parameters
    ----------
    summary : dict
        :meth:`crm_predict.training.train.TrainResult.summary` with the tracking keys
        (``registered_model_uri`` …), as ``metrics.json`` holds it.
    tracking_uri : str, optional
        The store the model was logged in.
    report : Path, optional
        A report to open (the demo writes one); else the command to write one.

    Returns
    -------
    list of str

    Examples
    --------
    >>> summary = {"champion": "gbm", "gbm": {"roc_auc": 0.716}, "logreg": {"roc_auc": 0.715},
    ...            "registered_model_uri": "models:/leads@champion"}
    >>> headline(summary, "sqlite:////srv/crm/mlflow.db")[0]
    'champion: gbm, holdout ROC AUC 0.716 vs 0.715 for the logistic baseline'
    """
    champion = summary.get("champion") or BASELINE
    auc = (summary.get(champion) or {}).get("roc_auc")
    base = (summary.get(BASELINE) or {}).get("roc_auc")
    if champion == BASELINE:
        first = f"champion: the logistic baseline, holdout ROC AUC {fmt(auc)}"
    else:
        first = f"champion: {champion}, holdout ROC AUC {fmt(auc)}"
        if base is not None:
            first += f" vs {fmt(base)} for the logistic baseline"
    lines = [first]
    registered = summary.get("registered_model_uri")
    if registered:
        lines.append(f"registered: {registered} in {tracking_uri}")
    elif summary.get("model_uri"):
        lines.append(f"logged (not registered): {summary['model_uri']} in {tracking_uri}")
    if report is not None:
        lines.append(f"open next: {report}")
    elif registered:
        lines.append(
            f"next: crm-predict report --model {registered} --tracking-uri {tracking_uri} "
            "--input <open leads>.csv --output report.html"
        )
    return lines
