"""Self-contained HTML reports for sales managers: what the model says and how far to trust it.

:func:`build_report` scores a lead list (through :func:`crm_predict.scoring.batch.score_leads`, so
the report shows exactly the score file's numbers) and gathers the model card's tables;
:func:`render_html` turns that into one HTML page with inline CSS and charts, safe to send
as an e-mail attachment; :func:`write_report` does both and writes the file atomically.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crm_predict.data.files import atomic_path, check_output
from crm_predict.data.leadlist import ReadOptions
from crm_predict.report.build import ReportData, build_report
from crm_predict.report.html import render_html
from crm_predict.scoring.bundle import ModelBundle
from crm_predict.scoring.task_models import TaskModels

__all__ = ["ReportData", "build_report", "render_html", "write_report"]


def write_report(
    models: TaskModels | ModelBundle,
    source: str | Path,
    output: str | Path,
    as_of: str | pd.Timestamp,
    label: str | None = None,
    top: int = 25,
    activities: pd.DataFrame | None = None,
    drift: dict | None = None,
    options: ReadOptions | None = None,
) -> Path:
    """Score a lead list and write the manager's report to ``output``.

    Parameters
    ----------
    models : TaskModels or ModelBundle
        The task's models (see :func:`crm_predict.tracking.load_task_models`), or one model
        alone. A time-to-convert model adds its columns to the scored leads and a "How fast
        do segments convert" section; a Bayesian model adds each lead's 90% interval, its
        segment rates and its per-field effects (see
        :func:`crm_predict.report.build.build_report`).
    source : str or Path
        Lead list: CSV, Parquet or Excel.
    output : str or Path
        The HTML file; replaced only once it is complete.
    as_of : str or Timestamp
        The date the leads are seen from.
    label : str, optional
        Model name and version shown in the report (default: the models' label).
    top : int
        Leads in the "calls to make" list.
    activities : DataFrame, optional
        Touch table (default: the one the task config names).
    drift : dict, optional
        A drift check of this list (:meth:`crm_predict.lifecycle.monitor.DriftResult.to_dict`, or
        the JSON of ``crm-predict monitor --json``), shown as a "Drift" section.
    options : ReadOptions, optional
        How to read the lead list, as for scoring (:mod:`crm_predict.data.leadlist`).

    Returns
    -------
    Path
        ``output``.

    Examples
    --------
    >>> from crm_predict.tracking import load_task_models  # doctest: +SKIP
    >>> models = load_task_models("models:/leads_demo@champion")  # doctest: +SKIP
    >>> write_report(models, "open_leads.csv", "report.html", "2025-01-01")  # doctest: +SKIP
    PosixPath('report.html')
    """
    output = Path(output)
    check_output(output, [source], ("html",))
    data = build_report(
        models, source, as_of, label=label, top=top, activities=activities, options=options
    )
    data.drift = drift
    text = render_html(data)
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return output
