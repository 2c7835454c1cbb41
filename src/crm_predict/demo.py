"""``crm-predict demo``: the whole path on synthetic data, from CSV export to tracked model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from crm_predict.config import TaskConfig, parse_config
from crm_predict.data.exports import write_leads
from crm_predict.data.io import read_file, write_table
from crm_predict.data.loading import load_task_data
from crm_predict.data.synthetic.leads import AS_OF, EARLY_DAYS
from crm_predict.report import write_report
from crm_predict.scoring.batch import score_leads
from crm_predict.tracking import load_task_models, log_training
from crm_predict.training.train import default_models, train_task, write_metrics


def demo_task(leads: Path, activities: Path) -> dict[str, Any]:
    """The demo's task config (the same task as ``configs/leads_demo.yaml``, read from CSV).

    Parameters
    ----------
    leads, activities : Path
        The CSV files written by :func:`crm_predict.data.exports.write_leads`.

    Returns
    -------
    dict
        A mapping that :func:`crm_predict.config.task.parse_config` accepts.
    """
    return {
        "name": "leads_demo",
        "description": "Will a new B2B lead become a customer? Synthetic CRM, planted effects.",
        "source": {"path": str(leads)},
        "activities": {
            "path": str(activities),
            "id_column": "lead_id",
            "time_column": "timestamp",
            "type_column": "type",
            "direction_column": "direction",
        },
        "id_column": "lead_id",
        "target": {"column": "status", "positive": ["won"], "negative": ["lost"], "open": ["open"]},
        "time": {
            "created": "created_at",
            "closed": "closed_at",
            "as_of": AS_OF.date(),
            "snapshot_days": EARLY_DAYS,
        },
        "features": {
            "categorical": [
                "source",
                "region",
                "country",
                "industry",
                "product_interest",
                "owner",
                "decision_maker",
                "budget_band",
                "webinar_attended",
            ],
            "count": ["web_visits", "pricing_page_visits", "email_opens"],
            "numeric": ["employees"],
            "size_bands": {"column": "employees"},
        },
        "segments": ["source", "region", "industry"],
        "split": {"method": "time", "test_size": 0.2, "validation_size": 0.2},
    }


def run_demo(
    workdir: str | Path, n_leads: int = 20_000, seed: int = 42, quiet: bool = False
) -> dict[str, Path]:
    """Generate synthetic CRM exports, validate, train, register, score open leads and report.

    Parameters
    ----------
    workdir : str or Path
        Folder for the CSVs, the task YAML, the MLflow store and ``metrics.json``.
    n_leads : int
        Synthetic leads.
    seed : int
        Generator seed.
    quiet : bool
        Hide progress bars.

    Returns
    -------
    dict
        Name to path of everything written.
    """
    workdir = Path(workdir).resolve()
    tables = write_leads(workdir, n_leads=n_leads, seed=seed)
    raw = demo_task(tables["leads"], tables["activities"])
    config_path = workdir / "leads_demo.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    config: TaskConfig = parse_config(raw, origin=str(config_path))
    data = load_task_data(config)
    result = train_task(
        config, models=default_models(config), quiet=quiet, data=data, optional=("timing",)
    )
    uris = log_training(result, workdir=workdir)
    metrics = write_metrics(result, workdir)
    leads = read_file(tables["leads"])
    open_leads = workdir / "open_leads.csv"
    write_table(leads[leads["status"] == "open"], open_leads)
    # The models this run registered, not whatever else the store holds under their names.
    models = load_task_models(
        uris["registered_model_uri"],
        uris["tracking_uri"],
        bayes_uri=uris.get("bayes_registered_model_uri"),
        timing_uri=uris.get("timing_registered_model_uri"),
        companions=False,
    )
    scored = score_leads(models, workdir / "scored.csv", as_of=AS_OF, source=open_leads)
    report = write_report(models, open_leads, workdir / "report.html", as_of=AS_OF)
    return {
        **tables,
        "config": config_path,
        "metrics": metrics,
        "mlflow": workdir / "mlflow.db",
        "open_leads": open_leads,
        "scored": scored.output,
        "report": report,
    }
