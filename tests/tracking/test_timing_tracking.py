"""The timing model through train, MLflow (local SQLite), the score file and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.stats import norm

from crm_predict.data.synthetic.leads import (
    AS_OF,
    EARLY_DAYS,
    LOST_MEDIAN_DAYS,
    SIZE_BANDS,
    make_leads,
)
from crm_predict.report.figures import plot_conversion_curves
from crm_predict.scoring.batch import score_leads
from crm_predict.scoring.task_models import TaskModels
from crm_predict.tracking import companion_uri, load_bundle, load_model, log_training
from crm_predict.training.train import default_models, train_task
from tests.helpers import synthetic_task


@pytest.fixture(scope="module")
def result():
    return train_task(synthetic_task(n_leads=2500, seed=13), models=("gbm", "timing"), quiet=True)


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_train_fits_timing_when_the_config_has_time_columns(result):
    assert default_models(result.config) == ("gbm", "bayes", "timing")
    no_time = synthetic_task(time={"as_of": "2025-01-01"})
    assert default_models(no_time) == ("gbm", "bayes")
    table = result.timing.comparison.set_index("model")
    assert list(table.index) == ["crm_predict", "Kaplan–Meier", "CoxPH"]
    assert table.loc["Kaplan–Meier", "c_index"] == pytest.approx(0.5)
    assert table.loc["crm_predict", "c_index"] > 0.55
    assert "timing" in result.summary() and "c_index" in result.summary()["timing"]
    curves = result.timing.bundle.card["curves"]
    assert {c["field"] for c in curves} >= {"source", "size band"}


def test_timing_model_round_trips_through_the_registry(result, store):
    out = log_training(result, workdir=store)
    assert out["timing_registered_model_uri"] == "models:/leads_test-timing@champion"
    run = MlflowClient(out["tracking_uri"]).get_run(out["run_id"])
    assert run.data.metrics["timing_c_index"] == pytest.approx(result.timing.metrics["c_index"])
    assert "timing_coxph_ibs" in run.data.metrics
    rows = result.test_frame().head(30)
    model = load_model(out["timing_registered_model_uri"], tracking_uri=out["tracking_uri"])
    served = model.predict(rows, params={"as_of": "2025-01-01"})
    expected = result.timing.bundle.score_rows(rows, as_of="2025-01-01")
    pd.testing.assert_frame_equal(served.reset_index(drop=True), expected)
    assert served["lead_id"].tolist() == rows["lead_id"].tolist()
    uri = companion_uri(out["registered_model_uri"], "timing", out["tracking_uri"])
    assert uri == "models:/leads_test-timing@champion"
    described = MlflowClient(out["tracking_uri"]).get_registered_model("leads_test-timing")
    assert "Predicts when a lead converts: `p_convert_30d`" in described.description
    assert f"C-index {result.timing.metrics['c_index']:.3f}" in described.description
    again = log_training(result, workdir=store)
    assert again["timing_registered_model_uri"] == "models:/leads_test-timing@challenger"


def test_score_file_gets_the_timing_columns(result, store):
    leads = result.data.frame.iloc[result.split.test].head(200)
    source = store / "leads.csv"
    leads.to_csv(source, index=False)
    gbm = result.models["gbm"].bundle
    summary = score_leads(
        TaskModels(gbm, timing=result.timing.bundle),
        store / "scored.csv",
        as_of="2025-01-01",
        source=source,
        activities=result.data.activities,
    )
    scored = pd.read_csv(summary.output)
    for col in ("p_convert_30d", "p_convert_60d", "p_convert_90d", "p_ever", "expected_days"):
        assert col in scored.columns
        assert scored[col].notna().all()
    assert (scored["p_convert_90d"] >= scored["p_convert_30d"]).all()
    assert (scored["p_ever"] <= 1).all()


def _truth_given_open(leads: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """The generator's probability of converting for a lead still open at ``AS_OF``."""
    age = ((AS_OF - leads["created_at"]) / pd.Timedelta(days=1)).to_numpy()
    wait = np.log(np.maximum(age - EARLY_DAYS, 1e-9))
    median = np.log(truth["size_band"].map(lambda b: SIZE_BANDS[b][1]).to_numpy())
    early = age <= EARLY_DAYS
    still_converting = np.where(early, 1.0, norm.sf((wait - median) / 0.6))
    still_losing = np.where(early, 1.0, norm.sf((wait - np.log(LOST_MEDIAN_DAYS)) / 0.7))
    p = truth["p_convert"].to_numpy()
    return p * still_converting / (p * still_converting + (1 - p) * still_losing)


def test_one_answer_per_lead_the_score_is_conditioned_on_time_open(result, store):
    crm = make_leads(2500, 13)
    is_open = (crm.leads["status"] == "open").to_numpy()
    source = store / "open.csv"
    crm.leads[is_open].to_csv(source, index=False)
    kw = {"as_of": "2025-01-01", "source": source, "activities": result.data.activities}
    bundle = result.models["gbm"].bundle
    aged = pd.read_csv(
        score_leads(TaskModels(bundle, timing=result.timing.bundle), store / "a.csv", **kw).output
    )
    plain = pd.read_csv(score_leads(bundle, store / "b.csv", **kw).output)
    truth = pd.Series(_truth_given_open(crm.leads[is_open], crm.truth[is_open]))
    truth.index = crm.leads["lead_id"][is_open].to_numpy()
    aged = aged.set_index("lead_id")
    plain = plain.set_index("lead_id").loc[aged.index]
    # one level: the horizons never exceed the score, which is p_ever
    assert (aged["p_convert_90d"] <= aged["p_convert"] + 1e-12).all()
    np.testing.assert_allclose(aged["p_ever"], aged["p_convert"])
    # closer to the planted truth given the lead is still open at its age
    target = truth.loc[aged.index]
    assert (aged["p_convert"] - target).abs().mean() < (plain["p_convert"] - target).abs().mean()
    # rank, grade and reasons follow the conditioned score
    assert aged.sort_values("rank")["p_convert"].is_monotonic_decreasing
    cut = bundle.grade_cutoffs
    assert (aged.loc[aged["p_convert"] >= cut["A"], "grade"] == "A").all()
    assert (aged.filter(like="_field").to_numpy() == "days_open").any()


def test_pyfunc_bundle_conditions_on_age(result, store):
    out = log_training(result, workdir=store, register=False)
    bundle, _ = load_bundle(out["timing_model_uri"], out["tracking_uri"])
    row = result.test_frame().head(1)
    created = pd.Timestamp(row["created_at"].iloc[0])
    later = bundle.score_rows(row, as_of=created + pd.Timedelta(days=120))
    features = bundle.pipeline[:-1].transform(row)
    direct = bundle.model.predict_horizons(features, age=[120.0])
    np.testing.assert_allclose(later[direct.columns].to_numpy(), direct.to_numpy())
    early = bundle.score_rows(row, as_of=created)
    assert not np.allclose(early["p_convert_30d"], later["p_convert_30d"])


def test_conversion_curve_figure_returns_axes():
    curves = [
        {
            "level": "web",
            "n": 5,
            "days": [0, 7, 14],
            "predicted": [0, 0.1, 0.2],
            "observed": [0, 0.12, None],
        },
        {"level": "$ad", "n": 3, "days": [0, 7, 14], "predicted": [0, 0.05, 0.1], "observed": None},
    ]
    ax = plot_conversion_curves(curves)
    assert len(ax.lines) == 3
    assert np.isnan(ax.lines[1].get_ydata()[-1])


def test_report_has_the_how_fast_section_with_a_chart_per_field(result, store):
    from crm_predict.report import build_report, render_html

    leads = result.data.frame.iloc[result.split.test].head(150)
    source = store / "leads.csv"
    leads.to_csv(source, index=False)
    gbm = result.models["gbm"].bundle
    kwargs = {"activities": result.data.activities, "sample": 100}
    timed = TaskModels(gbm, timing=result.timing.bundle)
    data = build_report(timed, source, "2025-01-01", **kwargs)
    assert "p_convert_90d" in data.leads.columns
    html = render_html(data)
    assert "How fast do segments convert" in html
    fields = {c["field"] for c in result.timing.bundle.card["curves"]}
    assert html.count('alt="Share of leads converted by days since creation') == len(fields)
    plain = render_html(build_report(gbm, source, "2025-01-01", **kwargs))
    assert "How fast do segments convert" not in plain
