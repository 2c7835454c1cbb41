"""The manager's HTML report: sections, no network references, escaping, and the same
scores and reasons as the score file."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from crm_predict.data.synthetic.leads import make_leads
from crm_predict.report import build, build_report, figures, render_html, sections, write_report
from crm_predict.report.html import num, pct, pts
from crm_predict.scoring.batch import score_leads
from crm_predict.scoring.task_models import TaskModels
from crm_predict.training.train import train_task
from tests.helpers import synthetic_task

AS_OF = "2025-01-01"
SECTIONS = (
    "Summary",
    "Calls to make",
    "What drives conversion",
    "Lead detail",
    "Segments",
    "Model health",
)
NETWORK = ("http://", "https://", "<script", 'src="//', "@import", "url(")


class _Page(HTMLParser):
    """Lead rows (data attributes, shown score, reasons by key), tags and links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self.tags: set[str] = set()
        self.links: list[tuple[str, str, str]] = []
        self._row: dict | None = None
        self._cell: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            if name in attrs:
                self.links.append((tag, name, attrs[name] or ""))
        if tag == "tr" and "lead" in (attrs.get("class") or "").split():
            self._row = {"attrs": attrs, "reasons": {}, "score": ""}
            self.rows.append(self._row)
        elif self._row is not None and tag == "li" and "data-reason" in attrs:
            self._cell, self._text = attrs["data-reason"], []
        elif self._row is not None and tag == "td" and "score" in (attrs.get("class") or ""):
            self._cell, self._text = "score", []

    def handle_endtag(self, tag):
        if self._row is None:
            return
        if (tag == "li" and self._cell not in (None, "score")) or (
            tag == "td" and self._cell == "score"
        ):
            text = "".join(self._text).strip()
            if self._cell == "score":
                self._row["score"] = text
            else:
                self._row["reasons"][self._cell] = text
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def bundle(leads_model):
    return leads_model.models["gbm"].bundle


@pytest.fixture(scope="module")
def leads(tmp_path_factory) -> Path:
    frame = make_leads(3000, 7).leads
    frame = frame[frame["status"] == "open"].copy()
    odd = frame.iloc[[0]].assign(
        lead_id="Q&A-1", owner="<b>Eve</b>", source="<script>alert(1)</script>"
    )
    path = tmp_path_factory.mktemp("report") / "open_leads.csv"
    pd.concat([frame, odd], ignore_index=True).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def data(bundle, leads):
    return build_report(bundle, leads, AS_OF, label="leads_test v1")


@pytest.fixture(scope="module")
def html(data) -> str:
    return render_html(data)


@pytest.fixture(scope="module")
def scored(bundle, leads, tmp_path_factory) -> pd.DataFrame:
    # Parquet: full precision, as the report reads it (CSV is rounded for people).
    out = tmp_path_factory.mktemp("scored") / "scored.parquet"
    score_leads(bundle, out, as_of=AS_OF, source=leads, model_label="leads_test v1")
    return pd.read_parquet(out).replace("", np.nan).set_index("lead_id")


def test_every_section_heading_is_present(html):
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in html


def test_the_page_references_nothing_on_the_network(html):
    lowered = html.lower()
    for token in NETWORK:
        assert token not in lowered, token
    page = _parse(html)
    assert not page.tags & {"script", "link", "iframe", "object", "embed", "base", "form"}
    for tag, name, value in page.links:
        ok = value.startswith("#") if name == "href" else value.startswith("data:image/png;base64,")
        assert ok, (tag, name, value[:40])


def test_crm_text_is_escaped(html):
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html
    assert "<b>Eve</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Q&amp;A-1" in html and "Q&A-1" not in html


def test_scores_grades_and_reasons_equal_the_score_file(html, scored, data):
    page = _parse(html)
    assert len(page.rows) >= data.top
    reason_columns = [c for c in scored.columns if re.fullmatch(r"reason_(for|against)_\d+", c)]
    for row in page.rows:
        attrs = row["attrs"]
        expected = scored.loc[attrs["data-lead-id"]]
        assert float(attrs["data-p"]) == pytest.approx(expected["p_convert"], rel=1e-12)
        assert row["score"] == pct(expected["p_convert"])
        assert attrs["data-grade"] == expected["grade"]
        shown = dict(row["reasons"])
        wanted = {c: expected[c] for c in reason_columns if isinstance(expected[c], str)}
        assert shown == wanted
    top = [r["attrs"]["data-lead-id"] for r in page.rows[: data.top]]
    assert top == list(scored.sort_values("rank").index[: data.top])


def test_every_owner_gets_their_best_and_worst_leads(data, scored):
    lists = data.owner_lists()
    owners = sorted(set(data.owners))
    assert [o.owner for o in lists] == owners and "<b>Eve</b>" in owners
    for o in lists:
        assert o.n == int((data.owners == o.owner).sum())
        ranks = list(o.best["rank"]) + list(o.worst["rank"])
        assert ranks == sorted(ranks)
        own = data.leads.loc[data.owners == o.owner, "rank"].sort_values()
        assert list(o.best["rank"]) == list(own.head(len(o.best)))
        if len(o.worst):
            assert list(o.worst["rank"]) == list(own.tail(len(o.worst)))


def test_waterfalls_start_at_the_base_rate_and_end_at_the_score(data, scored):
    top = scored.sort_values("rank").head(5)
    assert [w.lead_id for w in data.waterfalls] == list(top.index)
    for w in data.waterfalls:
        total = w.base + sum(points for _, points in w.steps)
        assert total == pytest.approx(w.score, abs=1e-9)
        assert w.score == pytest.approx(scored.loc[w.lead_id, "p_convert"], rel=1e-12)


def test_drivers_rank_fields_by_mean_absolute_contribution(data):
    d = data.drivers
    assert d is not None and d.n_leads == len(data.leads)
    means = d.table["mean_abs_points"].to_numpy()
    assert (np.diff(means) <= 0).all()
    np.testing.assert_allclose(np.abs(d.points).mean(axis=0), means)
    assert d.table["field"].iloc[0] in {"source", "budget_band", "employees", "owner"}


def test_segments_hold_the_holdout_and_this_list(data, bundle):
    seg = data.segments
    assert set(seg["field"]) == set(bundle.config.segments)
    holdout = pd.DataFrame(bundle.card["segments"])
    merged = seg.merge(holdout, on=["field", "level"], suffixes=("", "_card"))
    np.testing.assert_allclose(merged["observed_rate"], merged["observed_rate_card"])
    by_source = seg[seg["field"] == "source"]
    assert by_source["list_n"].sum() == len(data.leads)


def test_summary_states_auc_lift_and_grades(html, bundle):
    card = bundle.card
    assert f"ROC AUC {card['metrics']['roc_auc']:.2f}" in html
    top = card["lift"][0]
    multiple = top["rate"] / bundle.rates.overall
    assert f"convert at {pct(top['rate'])}, {multiple:.1f}× the average" in html
    assert "Conversion by grade on the test leads" in html
    assert f"{card['n_train']:,} closed leads" in html
    cut = bundle.grade_cutoffs
    assert f"{pct(cut['A'])} or more" in html and f"below {pct(cut['C'])}" in html


def test_the_average_is_stated_once_and_quoted_alike_everywhere(html, bundle, scored):
    average = pct(bundle.rates.overall)
    assert html.count("<b>The average:</b>") == 1
    assert f"<b>The average:</b> {average} of the" in html
    quoted = set(re.findall(r"vs ([\d.]+%) overall", html))
    texts = scored.filter(regex=r"^reason_(for|against)_\d+$").fillna("").to_numpy().ravel()
    quoted |= {m for t in texts for m in re.findall(r"vs ([\d.]+%) overall", t)}
    assert quoted == {average}


@pytest.mark.parametrize(
    ("auc", "baseline", "words"),
    [
        (0.71, 0.72, "as well as the model"),
        (0.71, 0.70, "as well as the model"),
        (0.80, 0.72, "better than a simple scorecard"),
    ],
)
def test_the_leaderboard_is_one_plain_sentence(auc, baseline, words):
    assert words in sections.leaderboard(auc, baseline)
    assert sections.leaderboard(auc, None) == ""


def test_least_promising_lists_are_headed_for_low_scores(html):
    lists = html.split("Least promising leads of ")[1:]
    assert lists
    for part in lists:
        table = part.split("</table>")[0]
        assert "<th>Why it scores low</th>" in table and "Why it scores high" not in table


def test_report_without_owner_field_has_no_owner_lists(bundle, leads, monkeypatch):
    monkeypatch.setattr(build, "OWNER_FIELDS", ("sales_agent",))
    data = build_report(bundle, leads, AS_OF, top=3, sample=200)
    assert data.owners is None and data.owner_lists() == []
    html = render_html(data)
    assert "Per owner" not in html and len(_parse(html).rows) == 3


def test_bayesian_segment_section_appears_only_when_the_model_has_one(
    bundle, leads, data, html, monkeypatch
):
    assert data.bayes_segments is None
    assert "Bayesian model" not in html
    table = pd.DataFrame(
        {
            "field": ["source", "source", "region"],
            "level": ["referral", "podcast", "EMEA"],
            "n": [300, 4, 500],
            "observed_rate": [0.5, 0.25, 0.4],
            "rate": [0.48, 0.3, 0.41],
            "rate_low": [0.43, 0.05, 0.37],
            "rate_high": [0.53, 0.7, 0.45],
            "thin_data": [False, True, False],
        }
    )
    monkeypatch.setattr(bundle.pipeline[-1], "segment_table", lambda: table, raising=False)
    with_bayes = build_report(bundle, leads, AS_OF, sample=200)
    pd.testing.assert_frame_equal(with_bayes.bayes_segments, table)
    page = render_html(with_bayes)
    assert "Conversion rate by segment (Bayesian model)" in page
    assert "thin data" in page


def test_intervals_are_shown_when_the_score_file_has_them(data):
    lo = data.leads["p_convert"] * 0.8
    leads = data.leads.assign(p_low=lo, p_high=data.leads["p_convert"] * 1.1)
    page = _parse(render_html(dataclasses.replace(data, leads=leads)))
    row = page.rows[0]["attrs"]
    assert float(row["data-p-low"]) == pytest.approx(leads["p_low"].iloc[0], rel=1e-12)
    assert float(row["data-p-high"]) == pytest.approx(leads["p_high"].iloc[0], rel=1e-12)


def test_write_report_writes_one_file(bundle, leads, tmp_path):
    out = write_report(bundle, leads, tmp_path / "r" / "report.html", AS_OF, top=5)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_rejected_rows_are_counted(bundle, leads, tmp_path):
    frame = pd.read_csv(leads).head(30).astype({"employees": object})
    frame.loc[0, "employees"] = "about fifty"
    frame.loc[1, "lead_id"] = None
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    data = build_report(bundle, path, AS_OF, sample=50)
    assert data.rejected == {"employees is not a number": 1, "missing lead_id": 1}
    assert data.rows_read == 30 and len(data.leads) == 28
    assert "2 of 30 rows could not be scored" in render_html(data)


def test_people_formats():
    assert (pct(0.234), pct(0.042), pct(float("nan"))) == ("23%", "4.2%", "–")
    assert (num(1234567), num(None)) == ("1,234,567", "–")
    assert (pts(0.0312), pts(float("nan"))) == ("3.1 pts", "too few leads")


def test_figures_draw_on_new_or_given_axes(data, bundle):
    from matplotlib.figure import Figure

    card = bundle.card
    assert isinstance(figures.plot_calibration_table(card["calibration"]), Axes)
    ax = Figure().subplots()
    assert figures.plot_lift_table(card["lift"], ax=ax) is ax
    w = data.waterfalls[0]
    assert isinstance(figures.plot_waterfall(w.steps, w.base, w.score), Axes)
    d = data.drivers
    assert isinstance(
        figures.plot_beeswarm(d.points[:, :3], ["a", "b", "c"], d.colour[:, :3]), Axes
    )
    assert figures.png_base64(ax.figure).startswith("iVBORw0KGgo")


def test_cli_report_loads_the_model_and_writes_the_html(bundle, leads, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import crm_predict.tracking
    from crm_predict.cli.app import app

    asked = []

    def load(uri, tracking_uri=None, **kw):
        asked.append((uri, tracking_uri, kw))
        return TaskModels(bundle, label="leads_test@champion v1")

    monkeypatch.setattr(crm_predict.tracking, "load_task_models", load)
    out = tmp_path / "report.html"
    args = ["report", "--model", "models:/leads_test@champion", "--input", str(leads)]
    args += ["--output", str(out), "--as-of", AS_OF, "--top", "7"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert asked == [("models:/leads_test@champion", None, {})]  # companions looked up
    html = out.read_text(encoding="utf-8")
    assert "leads_test@champion v1" in html
    assert "The 7 highest-scored leads" in html


@pytest.mark.slow
def test_bayesian_model_report_shows_intervals_and_the_segment_forest(leads, tmp_path):
    trained = train_task(synthetic_task(n_leads=3000, seed=7), models=("bayes",), quiet=True)
    bayes = trained.models["bayes"].bundle
    data = build_report(bayes, leads, AS_OF, label="leads_test bayes")
    html = render_html(data)
    out = tmp_path / "scored.parquet"
    score_leads(bayes, out, as_of=AS_OF, source=leads)
    scored = pd.read_parquet(out).replace("", np.nan).set_index("lead_id")
    rows = _parse(html).rows
    assert rows and any(r["reasons"] for r in rows)
    reason_columns = [c for c in scored.columns if re.fullmatch(r"reason_(for|against)_\d+", c)]
    for row in rows:
        attrs, expected = row["attrs"], scored.loc[row["attrs"]["data-lead-id"]]
        for key, column in (("data-p", "p_convert"), ("data-p-low", "p_low")):
            assert float(attrs[key]) == pytest.approx(expected[column], rel=1e-12)
        assert float(attrs["data-p-high"]) == pytest.approx(expected["p_high"], rel=1e-12)
        wanted = {c: expected[c] for c in reason_columns if isinstance(expected[c], str)}
        assert row["reasons"] == wanted
    assert data.drivers is not None and len(data.waterfalls) == 5
    for w in data.waterfalls:
        assert w.base + sum(p for _, p in w.steps) == pytest.approx(w.score, abs=1e-9)
    assert "Conversion rate by segment (Bayesian model)" in html
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in html


def test_a_bayesian_companion_adds_intervals_segments_and_its_driver_bars(leads, leads_with_bayes):
    trained = leads_with_bayes
    main, bayes = trained.models["gbm"].bundle, trained.models["bayes"].bundle
    data = build_report(TaskModels(main, bayes=bayes), leads, AS_OF, sample=300)
    assert {"p_low", "p_high"} <= set(data.leads.columns)
    assert (data.leads["p_low"] < data.leads["p_high"]).all()
    pd.testing.assert_frame_equal(data.bayes_segments, bayes.pipeline[-1].segment_table())
    table = data.drivers.table
    assert (table["bayes_mean_abs_points"].dropna() > 0).all()
    assert table["bayes_mean_abs_points"].notna().sum() >= 5
    html = render_html(data)
    assert "Conversion rate by segment (Bayesian model)" in html
    assert "the same for the Bayesian model" in html
    assert _parse(html).rows[0]["attrs"]["data-p-low"]
