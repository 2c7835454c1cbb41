"""The churn variant of the manager's report: churn wording, at-risk list, CX metrics page."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from crm_predict.churn import cx as metrics_cx
from crm_predict.data.synthetic.customers import make_customers
from crm_predict.report import build_report, render_html
from crm_predict.report.cx import churn_page
from crm_predict.training.train import train_task
from tests.helpers import churn_task

AS_OF = "2025-01-01"
N, SEED = 1000, 11


@pytest.fixture(scope="module")
def crm():
    return make_customers(N, SEED)


@pytest.fixture(scope="module")
def bundle():
    return train_task(churn_task(N, SEED), models=("gbm",), quiet=True).models["gbm"].bundle


@pytest.fixture(scope="module")
def source(crm, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("churn_report") / "customers.csv"
    crm.customers.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def data(bundle, source):
    return build_report(bundle, source, AS_OF, label="churn_test v1", top=10)


@pytest.fixture(scope="module")
def html(data) -> str:
    return render_html(data)


def _text(html: str) -> str:
    """The page's visible text (no attributes, no style)."""
    body = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_the_page_speaks_of_customers_and_churn(html):
    text = _text(html)
    assert "churn report" in text
    assert "What drives churn" in text
    assert not re.search(r"\b(lead|leads|conversion|convert|converts)\b", text, flags=re.I)


def test_at_risk_list_is_the_top_of_the_score_file_by_revenue_at_risk(html, data):
    assert '<section id="atrisk">' in html and '<a href="#atrisk">' in html
    rows = re.findall(
        r'<tr class="customer" data-customer-id="([^"]+)" data-p="([^"]+)" '
        r'data-revenue-at-risk="([^"]+)">',
        html,
    )
    assert len(rows) == 10
    leads = data.leads.set_index("customer_id")
    expected = leads["revenue_at_risk"].sort_values(ascending=False, kind="stable").head(10)
    assert [r[0] for r in rows] == list(expected.index)
    for cid, p, rar in rows:
        assert float(p) == pytest.approx(leads.loc[cid, "p_churn"], rel=1e-12)
        assert float(rar) == pytest.approx(leads.loc[cid, "revenue_at_risk"], rel=1e-12)
    assert (leads["lifetime_from"] == "churn horizon").all()  # no timing model given


def test_cx_section_has_segment_and_month_tables(html, data):
    assert '<section id="cx">' in html
    assert 'class="cx-segment" data-field="Contract"' in html
    assert 'class="cx-month"' in html
    months = data.cx.months
    assert list(months["month"]) == [
        str(p) for p in pd.period_range("2024-01", "2024-12", freq="M")
    ]
    for col in ("nps", "csat", "ces", "churn_rate", "revenue_churn", "cac", "clv_to_cac"):
        assert col in months.columns


def test_cx_numbers_match_the_metric_functions(data, crm):
    surveys = crm.surveys
    june = surveys[
        (surveys["answered_at"] > "2024-05-31") & (surveys["answered_at"] <= "2024-06-30")
    ]
    row = data.cx.months.set_index("month").loc["2024-06"]
    assert row["nps"] == pytest.approx(metrics_cx.nps(june.loc[june["survey"] == "nps", "score"]))
    assert row["csat"] == pytest.approx(
        metrics_cx.csat(june.loc[june["survey"] == "csat", "score"])
    )
    churn = metrics_cx.churn_rate(crm.customers, "2024-05-31", "2024-06-30")
    assert row["churn_rate"] == pytest.approx(churn)
    by_contract = data.cx.segments["contract"].set_index("level")
    # The planted contract effect: two-year customers churn least.
    assert by_contract.loc["two_year", "churn_rate"] < by_contract.loc["monthly", "churn_rate"]
    assert by_contract["clv_to_cac"].gt(0).all()


def test_conversion_pages_are_left_alone(html, data):
    # churn_page is only reached for churn tasks; on its own it rewords text, never markup.
    sample = '<p class="x" data-lead-id="L1">3 leads convert</p>'
    data_no_cx = type("D", (), {"cx": None})()
    assert churn_page(sample, data_no_cx) == '<p class="x" data-lead-id="L1">3 customers churn</p>'
