"""Render :class:`~crm_predict.report.build.ReportData` as one self-contained HTML page.

Numbers are formatted for people here (percentages, thousands separators, words for the
AUC); the charts are drawn by :mod:`crm_predict.report.figures` and embedded as base64 PNG.
Jinja2 autoescaping escapes every CRM value (lead ids, owners, levels, reason text).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from crm_predict.reasons import label_of
from crm_predict.report import figures
from crm_predict.report.build import ReportData
from crm_predict.report.template import CSS, TEMPLATE

BEESWARM_FIELDS = 12
DRIVER_FIELDS = 15
FOREST_LEVELS = 12
SEGMENT_LEVELS = 20
_DPI = 144
_SECTIONS = [
    ("summary", "Summary"),
    ("calls", "Calls to make"),
    ("drivers", "What drives conversion"),
    ("detail", "Lead detail"),
    ("segments", "Segments"),
    ("health", "Model health"),
]
_AUC_WORDS = [(0.9, "Excellent"), (0.8, "Good"), (0.7, "Fair"), (0.6, "Weak")]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def pct(value: Any) -> str:
    """A share as people read it: ``0.234`` → ``23%``, ``0.042`` → ``4.2%``.

    Examples
    --------
    >>> pct(0.234), pct(0.042), pct(None)
    ('23%', '4.2%', '–')
    """
    if _missing(value):
        return "–"
    v = float(value)
    return f"{v:.1%}" if 0 < abs(v) < 0.1 else f"{v:.0%}"


def num(value: Any) -> str:
    """A count with thousands separators.

    Examples
    --------
    >>> num(12345.0), num(float("nan"))
    ('12,345', '–')
    """
    return "–" if _missing(value) else f"{round(float(value)):,}"


def pts(value: Any) -> str:
    """A probability gap in percentage points; ``–`` (too few leads) when missing.

    Examples
    --------
    >>> pts(0.0312)
    '3.1 pts'
    """
    return "too few leads" if _missing(value) else f"{float(value) * 100:.1f} pts"


def auc_word(auc: float | None) -> str:
    """Words for a ROC AUC.

    Examples
    --------
    >>> auc_word(0.83)
    'Good'
    """
    if _missing(auc):
        return "Unknown"
    return next((w for cut, w in _AUC_WORDS if auc >= cut), "Poor")


def date_text(value: Any) -> str:
    """``2025-01-01`` → ``1 Jan 2025``.

    Examples
    --------
    >>> date_text("2025-01-01")
    '1 Jan 2025'
    """
    if value is None or value == "":
        return "–"
    ts = pd.Timestamp(value)
    return f"{ts.day} {ts:%b %Y}"


@dataclass
class _Img:
    data: str
    width: int
    alt: str


def _figure(draw: Callable, size: tuple[float, float], alt: str) -> _Img:
    fig = Figure(figsize=size, layout="constrained")
    draw(fig.subplots())
    return _Img(figures.png_base64(fig, _DPI), round(size[0] * 96), alt)


def _lead_rows(frame: pd.DataFrame, data: ReportData) -> list[dict]:
    id_col = data.id_column
    reasons_for = sorted(c for c in frame.columns if _is_reason(c, "for"))
    reasons_against = sorted(c for c in frame.columns if _is_reason(c, "against"))
    rows = []
    for idx, r in frame.iterrows():
        row = {
            "id": r[id_col],
            "rank": r["rank"],
            "p": r["p_convert"],
            "p_exact": repr(float(r["p_convert"])),
            "grade": r["grade"],
            "owner": data.owners.loc[idx] if data.owners is not None else "",
            "reasons_for": [(c, r[c]) for c in reasons_for if isinstance(r[c], str) and r[c]],
            "reasons_against": [
                (c, r[c]) for c in reasons_against if isinstance(r[c], str) and r[c]
            ],
        }
        if "p_low" in frame.columns:
            row |= {
                "low": r["p_low"],
                "high": r["p_high"],
                "low_exact": repr(float(r["p_low"])),
                "high_exact": repr(float(r["p_high"])),
            }
        rows.append(row)
    return rows


def _is_reason(column: str, kind: str) -> bool:
    prefix = f"reason_{kind}_"
    return column.startswith(prefix) and column[len(prefix) :].isdigit()


def _summary(data: ReportData) -> dict:
    card = data.card
    metrics, base = card.get("metrics", {}), card.get("baseline", {})
    auc = metrics.get("roc_auc")
    window = card.get("training_window")
    out = {
        "n_train": card.get("n_train"),
        "n_test": card.get("n_test"),
        "window": f"{date_text(window[0])} – {date_text(window[1])}" if window else "",
        "auc": "–" if _missing(auc) else f"{auc:.2f}",
        "auc_word": auc_word(auc),
        "baseline_auc": "" if _missing(base.get("roc_auc")) else f"{base['roc_auc']:.2f}",
        "auc_sentence": ""
        if _missing(auc)
        else (
            f"Given one test lead that converted and one that did not, the model scores the "
            f"converting lead higher {auc:.0%} of the time."
        ),
        "top_lift": "",
    }
    lift = card.get("lift") or []
    if lift and not _missing(lift[0].get("lift")):
        total_n = sum(r["n"] for r in lift)
        out |= {
            "top_lift": f"{lift[0]['lift']:.1f}",
            "top_share": f"{100 / len(lift):.0f}%",
            "top_rate": lift[0]["rate"],
            "overall": sum(r["positives"] for r in lift) / total_n if total_n else None,
            "top_capture": lift[0]["cumulative_capture"],
        }
    return out


def _metric_rows(card: dict) -> list[tuple[str, str, str]]:
    m, b = card.get("metrics", {}), card.get("baseline", {})
    spec = [
        ("Ranking (ROC AUC, 1 = perfect, 0.5 = chance)", "roc_auc", "{:.3f}"),
        ("Precision-recall AUC", "pr_auc", "{:.3f}"),
        ("Brier score (lower is better)", "brier", "{:.3f}"),
        ("Calibration error (ECE)", "ece", "pts"),
        ("Top-10% lift", "lift_top_decile", "{:.2f}×"),
        ("Conversions in the top 10%", "capture_top_decile", "pct"),
        ("Conversion rate of test leads", "positive_rate", "pct"),
    ]

    def show(source: dict, key: str, fmt: str) -> str:
        value = source.get(key)
        if _missing(value):
            return "–"
        return {"pct": pct, "pts": pts}.get(fmt, fmt.format)(value)

    return [(name, show(m, key, fmt), show(b, key, fmt)) for name, key, fmt in spec]


def _facts(data: ReportData) -> list[tuple[str, str]]:
    card = data.card
    window = card.get("training_window")
    facts = [
        ("Model", data.label or card.get("task", "")),
        (
            "Model type",
            {"gbm": "calibrated LightGBM", "bayes": "Bayesian hierarchical"}.get(
                card.get("model", ""), card.get("model", "–")
            ),
        ),
        ("Trained on data as of", date_text(card.get("trained_as_of"))),
        (
            "Training data window",
            f"{date_text(window[0])} – {date_text(window[1])}" if window else "–",
        ),
        ("Training leads", num(card.get("n_train"))),
        ("Test leads", num(card.get("n_test"))),
        ("How it was tested", card.get("split", "–")),
        ("Leads scored as of", date_text(data.as_of)),
    ]
    return facts


def _segments(data: ReportData) -> list[tuple[str, list[dict]]]:
    out = []
    for name, rows in data.segments.groupby("field", sort=False, observed=True):
        shown = rows.head(SEGMENT_LEVELS).to_dict("records")
        if len(rows) > SEGMENT_LEVELS:
            rest = rows.iloc[SEGMENT_LEVELS:]
            shown.append(
                {
                    "level": f"{len(rest)} more levels",
                    "n": rest["n"].sum(),
                    "predicted_rate": None,
                    "observed_rate": None,
                    "ece": None,
                    "list_n": rest["list_n"].sum(),
                    "list_mean_score": None,
                }
            )
        out.append((label_of(str(name)), shown))
    return out


def _drift(data: ReportData) -> dict | None:
    """The drift section: the score and the fields that moved, largest PSI first."""
    drift = data.drift
    if not drift:
        return None
    rows = []
    for f in drift.get("fields", []):
        moved = (
            f["status"] != "stable"
            or f["new_levels"]
            or f["vanished_levels"]
            or abs(f.get("missing_change", 0.0)) > 0.05
        )
        if moved:
            rows.append(
                {
                    "field": label_of(str(f["field"])),
                    "psi": f"{f['psi']:.3f}",
                    "status": f["status"],
                    "missing": f"{pct(f['missing_reference'])} → {pct(f['missing_now'])}",
                    "new": ", ".join(map(str, f["new_levels"][:5])),
                    "vanished": ", ".join(map(str, f["vanished_levels"][:5])),
                }
            )
    score = drift.get("score", {})
    return {
        "n_rows": drift.get("n_rows"),
        "as_of": date_text(drift.get("as_of")),
        "score_psi": "–" if _missing(score.get("psi")) else f"{score['psi']:.3f}",
        "score_status": score.get("status", "–"),
        "rows": rows,
        "n_fields": len(drift.get("fields", [])),
    }


def _forest_table(table: pd.DataFrame) -> pd.DataFrame:
    """The largest levels of each field, highest rate first; levels no training lead had
    (reported at the population rate) say nothing and are left out."""
    table = table[table["n"] > 0] if "n" in table.columns else table
    parts = [
        rows.sort_values("n", ascending=False, kind="stable")
        .head(FOREST_LEVELS)
        .sort_values("rate", ascending=False, kind="stable")
        for _, rows in table.groupby("field", sort=False)
    ]
    return pd.concat(parts, ignore_index=True) if parts else table


def _timing(data: ReportData) -> dict | None:
    """The "How fast do segments convert" section: one chart per field, and the model's
    holdout comparison with the Kaplan–Meier and CoxPH baselines."""
    card = data.timing
    if not card:
        return None
    fields: dict[str, list] = {}
    for curve in card.get("curves", []):
        fields.setdefault(curve["field"], []).append(curve)
    charts = [
        {
            "field": label_of(name),
            "fig": _figure(
                lambda ax, c=curves: figures.plot_conversion_curves(c, ax=ax),
                (6.4, 3.6),
                f"Share of leads converted by days since creation, by {label_of(name)}",
            ),
        }
        for name, curves in fields.items()
    ]
    rows = [
        {
            "model": r["model"],
            "c_index": "–" if _missing(r.get("c_index")) else f"{r['c_index']:.3f}",
            "ibs": "–" if _missing(r.get("ibs")) else f"{r['ibs']:.3f}",
            "ece": ", ".join(f"{h} d: {pts(r.get(f'ece_{h}d'))}" for h in card.get("horizons", [])),
        }
        for r in card.get("comparison", [])
    ]
    return {"charts": charts, "rows": rows, "horizons": card.get("horizons", [])}


def _figures(data: ReportData) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(("drivers", "beeswarm", "forest", "calibration", "lift"))
    drivers = data.drivers
    if drivers is not None:
        table = drivers.table.head(DRIVER_FIELDS)
        out["drivers"] = _figure(
            lambda ax: figures.plot_drivers(table, ax=ax),
            (7.5, 0.3 * len(table) + 1.0),
            "Average effect of each CRM field on lead scores",
        )
        k = min(BEESWARM_FIELDS, drivers.points.shape[1])
        labels = drivers.table["label"].head(k).tolist()
        out["beeswarm"] = _figure(
            lambda ax: figures.plot_beeswarm(
                drivers.points[:, :k], labels, drivers.colour[:, :k], ax=ax
            ),
            (9.0, 0.42 * k + 1.1),
            "Effect of each CRM field, one dot per lead",
        )
    if data.bayes_segments is not None and len(data.bayes_segments):
        forest = _forest_table(data.bayes_segments)
        out["forest"] = _figure(
            lambda ax: figures.plot_segment_forest(forest, overall=data.overall_rate, ax=ax),
            (7.5, 0.26 * len(forest) + 1.0),
            "Conversion rate per segment level with 90% intervals",
        )
    if data.card.get("calibration"):
        out["calibration"] = _figure(
            lambda ax: figures.plot_calibration_table(data.card["calibration"], ax=ax),
            (4.8, 4.0),
            "Calibration curve on the test leads",
        )
    if data.card.get("lift"):
        out["lift"] = _figure(
            lambda ax: figures.plot_lift_table(data.card["lift"], ax=ax),
            (4.8, 4.0),
            "Conversion rate per tenth of the ranked test leads",
        )
    return out


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
    waterfalls = [
        {
            "lead_id": w.lead_id,
            "score": w.score,
            "score_exact": repr(w.score),
            "base_exact": repr(w.base),
            "fig": _figure(
                lambda ax, w=w: figures.plot_waterfall(w.steps, w.base, w.score, ax=ax),
                (6.2, 0.3 * (len(w.steps) + 2) + 0.9),
                f"How the score of lead {w.lead_id} is built up",
            ),
        }
        for w in data.waterfalls
    ]
    owner_lists = None
    if data.owners is not None:
        owner_lists = [
            {
                "owner": o.owner,
                "n": o.n,
                "grades": o.grades,
                "best": _lead_rows(o.best, data),
                "worst": _lead_rows(o.worst, data),
            }
            for o in data.owner_lists()
        ]
    task = data.card.get("task") or "Lead"
    html = template.render(
        title=f"{label_of(task)}: lead scoring report",
        css=Markup(CSS),
        sections=_SECTIONS
        + ([("timing", "How fast")] if data.timing else [])
        + ([("drift", "Drift")] if data.drift else []),
        timing=_timing(data),
        drift=_drift(data),
        label=data.label or task,
        as_of=date_text(data.as_of),
        description=data.description or "The chance that each open lead converts.",
        leads_scored=len(data.leads),
        rows_read=data.rows_read,
        rejected=data.rejected,
        rejected_total=sum(data.rejected.values()),
        grade_counts=data.grade_counts,
        grades=data.card.get("grades", []),
        s=_summary(data),
        explains=data.drivers is not None,
        interval="p_low" in data.leads.columns,
        top_rows=_lead_rows(data.top_leads, data),
        owner_lists=owner_lists,
        owner_label=label_of(data.owner_field or "owner"),
        figs=_figures(data),
        drivers_n=data.drivers.n_leads if data.drivers is not None else 0,
        drivers_paired=data.drivers is not None
        and "bayes_mean_abs_points" in data.drivers.table.columns,
        waterfalls=waterfalls,
        segments=_segments(data),
        metrics=_metric_rows(data.card),
        baseline=bool(data.card.get("baseline")),
        facts=_facts(data),
        forest_levels=FOREST_LEVELS,
    )
    if getattr(data, "kind", "conversion") == "churn":
        from crm_predict.report.cx import churn_page

        html = churn_page(html, data)  # churn wording, at-risk list, CX page
    return html
