"""What each section of the report shows: rows, numbers and sentences for the page template.

Builds the template's context from :class:`~crm_predict.report.build.ReportData`: the calls
to make, the summary cards, the model's facts and metrics, segments, drift and "How fast",
formatted by :mod:`crm_predict.report.formatting` with charts from
:mod:`crm_predict.report.charts`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from crm_predict.explain.reasons import label_of, value_text
from crm_predict.report import alt, figures
from crm_predict.report.build import ReportData
from crm_predict.report.charts import FOREST_LEVELS, embed, model_charts
from crm_predict.report.formatting import auc_word, date_text, is_missing, num, pct, pts

SEGMENT_LEVELS = 20
_SECTIONS = [
    ("summary", "Summary"),
    ("calls", "Calls to make"),
    ("drivers", "What drives conversion"),
    ("detail", "Lead detail"),
    ("segments", "Segments"),
    ("health", "Model health"),
]


def page_context(data: ReportData) -> dict[str, Any]:
    """Everything the page template shows, by name.

    Parameters
    ----------
    data : ReportData
        From :func:`crm_predict.report.build_report`.

    Returns
    -------
    dict
        The template's variables: ``title``, ``sections`` (anchor and heading of each),
        the lead rows, summary, metrics, facts, segments, drift, timing and charts.

    Examples
    --------
    >>> data = build_report(bundle, "open_leads.csv", "2025-01-01")  # doctest: +SKIP
    >>> [anchor for anchor, _ in page_context(data)["sections"]][:2]  # doctest: +SKIP
    ['summary', 'calls']
    """
    task = data.card.get("task") or "Lead"
    return {
        "title": f"{label_of(task)}: lead scoring report",
        "sections": _SECTIONS
        + ([("timing", "How fast")] if data.timing else [])
        + ([("drift", "Drift")] if data.drift else []),
        "timing": _timing(data),
        "drift": _drift(data),
        "label": data.label or task,
        "as_of": date_text(data.as_of),
        "description": data.description or "The chance that each open lead converts.",
        "leads_scored": len(data.leads),
        "rows_read": data.rows_read,
        "rejected": data.rejected,
        "rejected_total": sum(data.rejected.values()),
        "grade_counts": data.grade_counts,
        "grades": data.card.get("grades", []),
        "grade_rules": grade_rules(data.grade_cutoffs),
        "average": data.overall_rate,
        "min_points": f"{data.min_points:g}",
        "s": _summary(data),
        "explains": data.drivers is not None,
        "interval": "p_low" in data.leads.columns,
        "top_rows": _lead_rows(data.top_leads, data),
        "owner_lists": _owner_lists(data),
        "owner_label": label_of(data.owner_field or "owner"),
        "figs": model_charts(data),
        "drivers_n": data.drivers.n_leads if data.drivers is not None else 0,
        "drivers_paired": data.drivers is not None
        and "bayes_mean_abs_points" in data.drivers.table.columns,
        "waterfalls": _waterfalls(data),
        "segments": _segments(data),
        "metrics": _metric_rows(data.card),
        "baseline": bool(data.card.get("baseline")),
        "facts": _facts(data),
        "health_warnings": health_warnings(data.card),
        "forest_levels": FOREST_LEVELS,
    }


def _waterfalls(data: ReportData) -> list[dict]:
    """The lead detail section: how each example lead's score is built up."""
    return [
        {
            "lead_id": w.lead_id,
            "score": w.score,
            "score_exact": repr(w.score),
            "base_exact": repr(w.base),
            "fig": embed(
                lambda ax, w=w: figures.plot_waterfall(w.steps, w.base, w.score, ax=ax),
                (6.2, 0.3 * (len(w.steps) + 2) + 0.9),
                alt.waterfall_alt(w.lead_id, w.steps, w.base, w.score),
            ),
        }
        for w in data.waterfalls
    ]


def _owner_lists(data: ReportData) -> list[dict] | None:
    """Per owner: lead count, grades, and the best and worst leads; None without owners."""
    if data.owners is None:
        return None
    return [
        {
            "owner": o.owner,
            "n": o.n,
            "grades": o.grades,
            "best": _lead_rows(o.best, data),
            "worst": _lead_rows(o.worst, data),
        }
        for o in data.owner_lists()
    ]


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
        "auc": "–" if is_missing(auc) else f"{auc:.2f}",
        "auc_word": auc_word(auc),
        "leaderboard": leaderboard(auc, base.get("roc_auc")),
        "auc_sentence": ""
        if is_missing(auc)
        else (
            f"Given one test lead that converted and one that did not, the model scores the "
            f"converting lead higher {auc:.0%} of the time."
        ),
        "top_lift": "",
    }
    lift = card.get("lift") or []
    if lift and not is_missing(lift[0].get("rate")) and data.overall_rate > 0:
        # Against the one average the page states (the training rate), not the test rate.
        out |= {
            "top_lift": f"{lift[0]['rate'] / data.overall_rate:.1f}",
            "top_share": f"{100 / len(lift):.0f}%",
            "top_rate": lift[0]["rate"],
            "top_capture": lift[0]["cumulative_capture"],
        }
    return out


def leaderboard(auc: float | None, baseline_auc: float | None, tie: float = 0.01) -> str:
    """The model against the simple scorecard in one plain sentence ("" without both).

    Parameters
    ----------
    auc, baseline_auc : float or None
        Holdout ROC AUC of the model and of the simple scorecard.
    tie : float
        A scorecard within this much of the model ranks as well as it.

    Returns
    -------
    str

    Examples
    --------
    >>> leaderboard(0.71, 0.72)
    'A simple scorecard ranks these leads as well as the model (ROC AUC 0.72 vs 0.71).'
    >>> leaderboard(0.80, 0.72)
    'The model ranks these leads better than a simple scorecard (ROC AUC 0.80 vs 0.72).'
    """
    if is_missing(auc) or is_missing(baseline_auc):
        return ""
    if baseline_auc >= auc - tie:
        return (
            "A simple scorecard ranks these leads as well as the model "
            f"(ROC AUC {baseline_auc:.2f} vs {auc:.2f})."
        )
    return (
        f"The model ranks these leads better than a simple scorecard "
        f"(ROC AUC {auc:.2f} vs {baseline_auc:.2f})."
    )


def grade_rules(cutoffs: dict[str, float]) -> list[tuple[str, str]]:
    """What each grade means, in scores: the one definition the page states.

    Examples
    --------
    >>> grade_rules({"A": 0.6, "B": 0.4, "C": 0.2})
    [('A', '60% or more'), ('B', '40%–60%'), ('C', '20%–40%'), ('D', 'below 20%')]
    """
    cuts = [(g, cutoffs[g]) for g in ("A", "B", "C") if g in cutoffs]
    rules, upper = [], None
    for grade, low in cuts:
        rules.append(
            (grade, f"{pct(low)} or more" if upper is None else f"{pct(low)}–{pct(upper)}")
        )
        upper = low
    if upper is not None:
        rules.append(("D", f"below {pct(upper)}"))
    return rules


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
        if is_missing(value):
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
            {
                "gbm": "calibrated LightGBM blended with a logistic regression",
                "bayes": "Bayesian hierarchical",
                "logreg": "logistic regression",
            }.get(card.get("model", ""), card.get("model", "–")),
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
    selection = card.get("selection")
    if selection:
        facts.append(("Why this model", selection["reason"]))
    return facts


def health_warnings(card: dict) -> list[str]:
    """What the model-health section must say loudly: a champion behind on the holdout, an
    outcome rate that moved over time (from the model card)."""
    out = []
    selection = card.get("selection") or {}
    if selection.get("warning"):
        out.append(selection["warning"])
    drift = card.get("drift") or {}
    if drift.get("drifted"):
        out.append(drift["message"])
    return out


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
        for row in shown:
            row["level"] = value_text(row["level"])
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
                    "new": ", ".join(map(value_text, f["new_levels"][:5])),
                    "vanished": ", ".join(map(value_text, f["vanished_levels"][:5])),
                }
            )
    score = drift.get("score", {})
    return {
        "n_rows": drift.get("n_rows"),
        "as_of": date_text(drift.get("as_of")),
        "score_psi": "–" if is_missing(score.get("psi")) else f"{score['psi']:.3f}",
        "score_status": score.get("status", "–"),
        "rows": rows,
        "n_fields": len(drift.get("fields", [])),
    }


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
            "fig": embed(
                lambda ax, c=curves: figures.plot_conversion_curves(c, ax=ax),
                (6.4, 3.6),
                alt.curves_alt(label_of(name), curves),
            ),
        }
        for name, curves in fields.items()
    ]
    rows = [
        {
            "model": r["model"],
            "c_index": "–" if is_missing(r.get("c_index")) else f"{r['c_index']:.3f}",
            "ibs": "–" if is_missing(r.get("ibs")) else f"{r['ibs']:.3f}",
            "ece": ", ".join(f"{h} d: {pts(r.get(f'ece_{h}d'))}" for h in card.get("horizons", [])),
        }
        for r in card.get("comparison", [])
    ]
    return {"charts": charts, "rows": rows, "horizons": card.get("horizons", [])}
