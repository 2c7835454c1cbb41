"""The churn variant of the manager's report: CX metrics page, at-risk list, churn wording.

:func:`build_cx` computes the customer-experience tables from the task's own tables (the
customer table of ``source`` and the ``churn`` event tables) with :mod:`crm_predict.churn.cx`
only; :func:`churn_page` turns a rendered lead-style report into the churn one: the same
sections said of customers and churn, plus "At-risk customers" (top customers by revenue
at risk, with their CX reasons) and "Customer experience" (NPS, CSAT, CES, churn and
revenue churn, CLV-to-CAC by segment and by month). A conversion report never comes here.
"""

# The page snippet's markup lines stay whole, as in template.py; hence no line limit.
# ruff: noqa: E501

from __future__ import annotations

import re
from dataclasses import dataclass, field

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from crm_predict.churn import cx as cx
from crm_predict.churn.retention import churn_words, read_event_tables
from crm_predict.config import TaskConfig
from crm_predict.data import schema
from crm_predict.data.io import read_table
from crm_predict.explain.reasons import label_of

MONTHS = 12
"""Months of history the CX page shows (the last full ones before ``as_of``)."""
AT_RISK = 25
"""Customers in the at-risk list."""
_SURVEYS = (("nps", "NPS", cx.nps), ("csat", "CSAT (% satisfied)", cx.csat), ("ces", "CES", cx.ces))


@dataclass
class CXData:
    """Everything the CX page and the at-risk list show, as tables.

    Attributes
    ----------
    segments : dict
        ``{field: DataFrame}``: per level, ``customers`` at ``as_of``, ``nps``, ``csat``,
        ``ces`` (answers of the last :data:`MONTHS` months), ``churn_rate`` over those
        months (customers present at their start), ``clv`` (mean of the scored customers),
        ``cac`` and ``clv_to_cac``.
    months : DataFrame
        Per month: ``nps``, ``csat``, ``ces``, ``customers_at_start``, ``churn_rate``,
        ``revenue_churn``, and for that month's new customers ``cac``, ``clv`` and
        ``clv_to_cac``.
    at_risk : DataFrame
        The top customers of the score file by ``revenue_at_risk`` (or ``p_churn``).
    notes : list of str
        What could not be computed and why.
    horizon_days : int
        The churn horizon of ``p_churn``.
    """

    segments: dict[str, pd.DataFrame]
    months: pd.DataFrame
    at_risk: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    horizon_days: int = 90


def _customers(config: TaskConfig) -> pd.DataFrame:
    frame = schema.clean_text(read_table(config.source), config.missing_values)
    spec = config.churn
    for col in (spec.signup, spec.churn_date):
        if col not in frame.columns:
            raise ValueError(f"column {col!r} is missing from the customer table (churn)")
        frame[col] = pd.to_datetime(frame[col], errors="coerce")
    for col in (spec.revenue, spec.acquisition_cost, spec.cost_to_serve):
        if col and col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame[config.id_column] = frame[config.id_column].astype(str)
    return frame


def revenue_at(customers: pd.DataFrame, changes: pd.DataFrame | None, when, config) -> pd.Series:
    """Monthly recurring revenue per customer present at ``when`` (by customer id).

    The customer table holds revenue at export; a plan change dated after ``when`` means
    the customer paid its ``old_revenue`` then, one before it its ``new_revenue``.

    Examples
    --------
    >>> revenue_at(customers, changes, "2024-06-30", cfg)  # doctest: +SKIP
    """
    spec = config.churn
    when = pd.Timestamp(when)
    here = customers[cx.customers_at(customers, when, spec.signup, spec.churn_date)]
    rev = pd.Series(here[spec.revenue].to_numpy(dtype=float), index=here[config.id_column])
    if changes is not None and len(changes):
        c = changes[changes["customer_id"].isin(rev.index)].sort_values("changed_at")
        before = c[c["changed_at"] <= when].groupby("customer_id")["new_revenue"].last()
        after = c[c["changed_at"] > when].groupby("customer_id")["old_revenue"].first()
        rev.update(pd.to_numeric(after, errors="coerce"))
        rev.update(pd.to_numeric(before, errors="coerce"))
    return rev


def _month_ends(as_of: pd.Timestamp, months: int) -> list[pd.Period]:
    last = (pd.Timestamp(as_of) - pd.Timedelta(days=1)).to_period("M")
    if (last.end_time.normalize()) >= pd.Timestamp(as_of):
        last = last - 1
    return list(pd.period_range(last - (months - 1), last, freq="M"))


def build_cx(
    config: TaskConfig, as_of, leads: pd.DataFrame, top: int = AT_RISK, months: int = MONTHS
) -> CXData:
    """The CX tables of a churn task, as of a date, and the at-risk list from ``leads``.

    Parameters
    ----------
    config : TaskConfig
        A churn task with a ``churn`` section.
    as_of : date-like
        The report's date; only the full months before it count.
    leads : DataFrame
        The score file's rows (``p_churn``, ``clv``, ``revenue_at_risk`` …) in rank order.
    top : int
        Customers in the at-risk list.
    months : int
        Months of history.

    Returns
    -------
    CXData
    """
    spec = config.churn
    as_of = pd.Timestamp(as_of)
    customers = _customers(config)
    tables = read_event_tables(config)
    periods = _month_ends(as_of, months)
    t0 = periods[0].start_time.normalize() - pd.Timedelta(days=1)
    t1 = periods[-1].end_time.normalize()
    notes: list[str] = []
    surveys = tables.get("surveys")
    if surveys is not None:
        surveys = surveys[(surveys["answered_at"] > t0) & (surveys["answered_at"] <= t1)]
        surveys = surveys.assign(score=pd.to_numeric(surveys["score"], errors="coerce"))
        kinds = surveys["survey"].astype(str).str.lower()
    else:
        notes.append("no survey table (churn.surveys): NPS, CSAT and CES are not shown")
    id_col = config.id_column
    clv_of = (
        pd.Series(leads["clv"].to_numpy(), index=leads[id_col].astype(str))
        if "clv" in leads.columns
        else None
    )
    acq = spec.acquisition_cost if spec.acquisition_cost in customers.columns else None

    seg_tables: dict[str, pd.DataFrame] = {}
    for name in config.segments:
        if name not in customers.columns:
            continue
        levels = customers[name].astype(object).where(customers[name].notna(), "(missing)")
        rows = []
        for level, part in customers.groupby(levels.astype(str), sort=True):
            row: dict = {"level": level}
            row["customers"] = int(cx.customers_at(part, as_of, spec.signup, spec.churn_date).sum())
            if surveys is not None:
                mine = surveys["customer_id"].isin(set(part[id_col]))
                for key, _, metric in _SURVEYS:
                    row[key] = metric(surveys.loc[mine & (kinds == key), "score"], name=key)
            row["churn_rate"] = cx.churn_rate(part, t0, t1, spec.signup, spec.churn_date)
            row["clv"] = _mean(clv_of.reindex(part[id_col]) if clv_of is not None else None)
            row["cac"] = cx.cac(float(part[acq].sum()), len(part)) if acq else float("nan")
            row["clv_to_cac"] = cx.clv_to_cac(row["clv"], row["cac"])
            rows.append(row)
        seg_tables[name] = pd.DataFrame(rows)

    month_rows = []
    changes = tables.get("changes")
    for period in periods:
        start = period.start_time.normalize() - pd.Timedelta(days=1)
        end = period.end_time.normalize()
        row = {"month": str(period)}
        if surveys is not None:
            in_month = (surveys["answered_at"] > start) & (surveys["answered_at"] <= end)
            for key, _, metric in _SURVEYS:
                row[key] = metric(surveys.loc[in_month & (kinds == key), "score"], name=key)
        base = cx.customers_at(customers, start, spec.signup, spec.churn_date)
        row["customers_at_start"] = int(base.sum())
        row["churn_rate"] = cx.churn_rate(customers, start, end, spec.signup, spec.churn_date)
        if spec.revenue and spec.revenue in customers.columns:
            r0 = revenue_at(customers, changes, start, config)
            r1 = revenue_at(customers, changes, end, config)
            row["revenue_churn"] = cx.revenue_churn_rate(r0, r1)
        else:
            row["revenue_churn"] = float("nan")
        new = customers[(customers[spec.signup] > start) & (customers[spec.signup] <= end)]
        row["new_customers"] = len(new)
        row["cac"] = cx.cac(float(new[acq].sum()), len(new)) if acq else float("nan")
        row["clv"] = _mean(clv_of.reindex(new[id_col]) if clv_of is not None else None)
        row["clv_to_cac"] = cx.clv_to_cac(row["clv"], row["cac"])
        month_rows.append(row)
    if not (spec.revenue and spec.revenue in customers.columns):
        notes.append("no revenue column (churn.revenue): revenue churn and CLV are not shown")
    if acq is None:
        notes.append("no acquisition cost column (churn.acquisition_cost): CAC is not shown")
    order = "revenue_at_risk" if "revenue_at_risk" in leads.columns else "p_churn"
    at_risk = leads.sort_values(order, ascending=False, kind="stable", na_position="last")
    return CXData(seg_tables, pd.DataFrame(month_rows), at_risk.head(top), notes, spec.horizon_days)


def _mean(values: pd.Series | None) -> float:
    if values is None:
        return float("nan")
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else float("nan")


def _fmt(value, kind: str) -> str:
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return "–"
    v = float(value)
    return {
        "pct100": f"{v:.0f}%",
        "score": f"{v:+.0f}",
        "rate": f"{v:.1%}",
        "money": f"{v:,.0f}",
        "ratio": f"{v:.1f}×",
        "mean": f"{v:.2f}",
        "int": f"{v:,.0f}",
        "months": f"{v:.1f}",
    }[kind]


_COLUMNS = [
    ("customers", "Customers now", "int"),
    ("customers_at_start", "Customers at start", "int"),
    ("new_customers", "New customers", "int"),
    ("nps", "NPS", "score"),
    ("csat", "CSAT", "pct100"),
    ("ces", "CES (1–5, higher is easier)", "mean"),
    ("churn_rate", "Churn rate", "rate"),
    ("revenue_churn", "Revenue churn", "rate"),
    ("clv", "Average CLV", "money"),
    ("cac", "CAC", "money"),
    ("clv_to_cac", "CLV / CAC", "ratio"),
]

_SNIPPET = """
<section id="atrisk">
<h2>At-risk customers</h2>
<p class="note">The {{ at_risk|length }} customers with the most {{ order_words }}: chance of churning
within {{ horizon }} days{% if interval %} (with the range it is 90% likely to lie in){% endif %},
expected remaining lifetime, lifetime value (CLV = monthly revenue − cost to serve, times the expected
months) and revenue at risk (chance × CLV), with the strongest reasons.</p>
<table class="atrisk"><thead><tr><th class="num">Rank</th><th>Customer</th><th class="num">Churn chance</th>
{% if interval %}<th class="num">Likely range</th>{% endif %}<th class="num">Expected months left</th>
<th class="num">CLV</th><th class="num">Revenue at risk</th><th>Why</th></tr></thead><tbody>
{% for r in at_risk %}<tr class="customer" data-customer-id="{{ r.id }}" data-p="{{ r.p_exact }}" data-revenue-at-risk="{{ r.rar_exact }}">
<td class="num">{{ r.rank }}</td><td>{{ r.id }}</td><td class="num">{{ r.p }}</td>
{% if interval %}<td class="num">{{ r.range }}</td>{% endif %}<td class="num">{{ r.life }}</td>
<td class="num">{{ r.clv }}</td><td class="num">{{ r.rar }}</td><td>{{ r.why }}</td></tr>{% endfor %}
</tbody></table>
</section>
<section id="cx">
<h2>Customer experience</h2>
<p class="note">From the customer table and survey answers of the last {{ n_months }} full months.
NPS: % promoters (9–10) minus % detractors (0–6); CSAT: % of 4–5 answers; CES: mean answer.
Churn rate counts only customers present at the period's start; revenue churn is the recurring revenue
lost from them, downgrades included. CLV / CAC above 3 is healthy.</p>
{% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}
{% for name, head, rows in segment_tables %}
<h3>By {{ name }}</h3>
<table class="cx-segment" data-field="{{ name }}"><thead><tr><th>Level</th>{% for h in head %}<th class="num">{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for level, cells in rows %}<tr><td>{{ level }}</td>{% for c in cells %}<td class="num">{{ c }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table>
{% endfor %}
<h3>By month</h3>
<table class="cx-month"><thead><tr><th>Month</th>{% for h in month_head %}<th class="num">{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for level, cells in month_rows %}<tr><td>{{ level }}</td>{% for c in cells %}<td class="num">{{ c }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table>
</section>
"""


def _table(frame: pd.DataFrame, key: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    cols = [(c, h, k) for c, h, k in _COLUMNS if c in frame.columns and frame[c].notna().any()]
    rows = [(str(r[key]), [_fmt(r[c], k) for c, _, k in cols]) for r in frame.to_dict("records")]
    return [h for _, h, _ in cols], rows


def render_cx(data, cxd: CXData) -> Markup:
    """The "At-risk customers" and "Customer experience" sections as HTML."""
    leads = cxd.at_risk
    interval = "p_low" in leads.columns
    rows = []
    for r in leads.to_dict("records"):
        p = float(r.get("p_churn", r.get("p_convert")))
        rar = r.get("revenue_at_risk", float("nan"))
        rows.append(
            {
                "id": r[data.id_column],
                "rank": r.get("rank", ""),
                "p": f"{p:.1%}",
                "p_exact": repr(p),
                "range": f"{r['p_low']:.0%} – {r['p_high']:.0%}" if interval else "",
                "life": _fmt(r.get("expected_lifetime_months"), "months"),
                "clv": _fmt(r.get("clv"), "money"),
                "rar": _fmt(rar, "money"),
                "rar_exact": repr(float(rar)) if rar is not None else "nan",
                "why": r.get("churn_reasons") or r.get("reason_for_1") or "",
            }
        )
    segment_tables = []
    for name, frame in cxd.segments.items():
        head, body = _table(frame, "level")
        segment_tables.append((label_of(name), head, body))
    month_head, month_rows = _table(cxd.months, "month") if len(cxd.months) else ([], [])
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(_SNIPPET).render(
        at_risk=rows,
        interval=interval,
        horizon=cxd.horizon_days,
        order_words="revenue at risk" if "revenue_at_risk" in leads.columns else "churn risk",
        n_months=len(cxd.months),
        notes=cxd.notes,
        segment_tables=segment_tables,
        month_head=month_head,
        month_rows=month_rows,
    )
    return Markup(html)


_TEXT = re.compile(r">([^<]+)<")
_PHRASES = (
    ("lead scoring report", "churn report"),
    ("closed leads", "customers followed over the churn horizon"),
    ("most recent ones", "held-out ones"),
    ("each open lead", "each current customer"),
    ("Calls to make", "Customers to call"),
)


def churn_page(html: str, data) -> str:
    """Turn a rendered report into the churn one (see the module notes).

    Only text between tags is reworded, never attributes (base64 charts, ``data-*``).
    """

    def reword(match: re.Match) -> str:
        text = match.group(1)
        for old, new in _PHRASES:
            text = text.replace(old, new)
        return ">" + churn_words(text) + "<"

    page = _TEXT.sub(reword, html)
    cxd = getattr(data, "cx", None)
    if cxd is None:
        return page
    links = '<a href="#atrisk">At-risk customers</a><a href="#cx">Customer experience</a>'
    summary = '<a href="#summary">Summary</a>'
    page = page.replace(summary, summary + links, 1)
    snippet = str(render_cx(data, cxd))
    marker = '<section id="calls">'
    if marker in page:
        return page.replace(marker, snippet + "\n" + marker, 1)
    return page.replace("</main>", snippet + "\n</main>", 1)
