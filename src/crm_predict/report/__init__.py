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

__all__ = ["ReportData", "build_report", "render_html", "write_report"]


def write_report(
    bundle: ModelBundle,
    source: str | Path,
    output: str | Path,
    as_of: str | pd.Timestamp,
    label: str = "",
    top: int = 25,
    activities: pd.DataFrame | None = None,
    drift: dict | None = None,
    timing=None,
    bayes: ModelBundle | None = None,
    options: ReadOptions | None = None,
) -> Path:
    """Score a lead list and write the manager's report to ``output``.

    Parameters
    ----------
    bundle : ModelBundle
        The model (see :func:`crm_predict.tracking.load_bundle`).
    source : str or Path
        Lead list: CSV, Parquet or Excel.
    output : str or Path
        The HTML file; replaced only once it is complete.
    as_of : str or Timestamp
        The date the leads are seen from.
    label : str
        Model name and version shown in the report.
    top : int
        Leads in the "calls to make" list.
    activities : DataFrame, optional
        Touch table (default: the one the task config names).
    drift : dict, optional
        A drift check of this list (:meth:`crm_predict.lifecycle.monitor.DriftResult.to_dict`, or
        the JSON of ``crm-predict monitor --json``), shown as a "Drift" section.
    timing : TimingBundle, optional
        The task's time-to-convert model (:mod:`crm_predict.training.timing`): adds its
        columns to the scored leads and a "How fast do segments convert" section.
    bayes : ModelBundle, optional
        The task's Bayesian model: adds each lead's 90% interval, its segment rates and
        its per-field effects (see :func:`crm_predict.report.build.build_report`).
    options : ReadOptions, optional
        How to read the lead list, as for scoring (:mod:`crm_predict.data.leadlist`).

    Returns
    -------
    Path
        ``output``.

    Examples
    --------
    >>> from crm_predict.tracking import load_bundle  # doctest: +SKIP
    >>> bundle, label = load_bundle("models:/leads_demo@champion")  # doctest: +SKIP
    >>> write_report(bundle, "open_leads.csv", "report.html", "2025-01-01", label)  # doctest: +SKIP
    PosixPath('report.html')
    """
    output = Path(output)
    check_output(output, [source], ("html",))
    data = build_report(
        bundle,
        source,
        as_of,
        label=label,
        top=top,
        activities=activities,
        timing=timing,
        bayes=bayes,
        options=options,
    )
    data.drift = drift
    text = render_html(data)
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return output
