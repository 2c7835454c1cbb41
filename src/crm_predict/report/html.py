"""Render :class:`~crm_predict.report.build.ReportData` as one self-contained HTML page.

Numbers are formatted for people (:mod:`crm_predict.report.formatting`: percentages,
thousands separators, words for the AUC); :mod:`crm_predict.report.sections` says what each
section shows and :mod:`crm_predict.report.charts` embeds the charts as base64 PNG. Jinja2
autoescaping escapes every CRM value (lead ids, owners, levels, reason text).
"""

from __future__ import annotations

import jinja2
from markupsafe import Markup

from crm_predict.report.build import ReportData
from crm_predict.report.cx import churn_page
from crm_predict.report.formatting import num, pct, pts
from crm_predict.report.sections import page_context
from crm_predict.report.template import CSS, TEMPLATE

__all__ = ["num", "pct", "pts", "render_html"]


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    data : ReportData
        From :func:`crm_predict.report.build_report`.

    Returns
    -------
    str
        HTML with inline CSS and base64 PNG charts; no script and no network reference.

    Examples
    --------
    >>> html = render_html(build_report(bundle, "open_leads.csv", "2025-01-01"))  # doctest: +SKIP
    >>> "<h2>Calls to make</h2>" in html  # doctest: +SKIP
    True
    """
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(pct=pct, num=num, pts=pts)
    template = env.from_string(TEMPLATE)
    html = template.render(css=Markup(CSS), **page_context(data))
    if getattr(data, "kind", "conversion") == "churn":
        html = churn_page(html, data)  # churn wording, at-risk list, CX page
    return html
