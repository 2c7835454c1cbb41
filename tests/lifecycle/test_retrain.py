"""Retraining: promotion rules, label delay, and the drift acceptance scenario.

The acceptance scenario: a champion is trained and registered on the synthetic CRM; the
market then drifts (from February 2024 referrals stop converting and a new source,
``social media``, appears). The monitor flags the new lead list, and a retrain on the
drifted export produces a challenger that wins and is promoted. Retraining on the
unchanged export keeps the champion.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from crm_predict.config import parse_config
from crm_predict.data.io import write_table
from crm_predict.data.synthetic.leads import NEW_SOURCE, make_leads
from crm_predict.lifecycle.backtest import backtest_folds, judged_rows
from crm_predict.lifecycle.monitor import monitor_leads
from crm_predict.lifecycle.retrain import decide, retrain_task
from crm_predict.tracking import PREVIOUS_CHAMPION, champion_version, log_training
from crm_predict.training.train import train_task
from tests.helpers import churn_task, synthetic_task

N_LEADS, SEED, DRIFT_FROM = 3000, 11, "2023-10-01"


def _config(folder: Path, **over) -> object:
    raw = synthetic_task(n_leads=N_LEADS, seed=SEED).model_dump(mode="json")
    raw["source"] = {"path": str(folder / "leads.csv")}
    acts = {k: v for k, v in raw["activities"].items() if k != "synthetic"}
    raw["activities"] = {**acts, "path": str(folder / "activities.csv")}
    raw["retrain"] = {"backtest_folds": 1, "conversion_window_days": 30}
    raw.update(over)
    return parse_config(raw, origin="test")


def _no_backtest(config) -> object:
    retrain = config.retrain.model_copy(update={"backtest_folds": 0})
    return config.model_copy(update={"retrain": retrain})


def _export(folder: Path, drift_from: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    crm = make_leads(N_LEADS, SEED, drift_from)
    write_table(crm.leads, folder / "leads.csv")
    write_table(crm.activities, folder / "activities.csv")
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Exports before and after the drift, and a champion trained before it."""
    root = tmp_path_factory.mktemp("lifecycle")
    clean = _config(_export(root / "clean", None))
    drifted = _config(_export(root / "drifted", DRIFT_FROM))
    champion = train_task(clean, quiet=True)
    return {"root": root, "clean": clean, "drifted": drifted, "champion": champion}


def _store(world, name: str) -> Path:
    """A fresh MLflow store holding the champion as ``leads_test@champion``."""
    folder = world["root"] / name
    folder.mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        log_training(world["champion"], workdir=folder)
    return folder


def _uri(folder: Path) -> str:
    return f"sqlite:///{(folder / 'mlflow.db').resolve()}"


def _recent(folder: Path, out: Path, after: str = "2024-09-01") -> Path:
    leads = pd.read_csv(folder / "leads.csv")
    write_table(leads[leads["created_at"] >= after], out)
    return out


def test_monitor_flags_the_planted_drift_and_not_the_unchanged_market(world):
    bundle = world["champion"].models["gbm"].bundle
    root = world["root"]
    drifted = monitor_leads(bundle, _recent(root / "drifted", root / "new_drift.csv"), "2025-01-01")
    source = drifted.fields.set_index("field").loc["source"]
    assert NEW_SOURCE in source["new_levels"]
    assert source["psi"] > 0.25 and source["status"] == "major"
    assert drifted.exceeds(0.25)
    same = monitor_leads(bundle, _recent(root / "clean", root / "new_clean.csv"), "2025-01-01")
    assert same.fields.set_index("field").loc["source", "new_levels"] == []
    assert same.fields.set_index("field").loc["source", "psi"] < 0.1
    assert same.max_psi < drifted.max_psi


@pytest.mark.slow
def test_drifted_market_promotes_the_challenger_and_keeps_the_old_one_reachable(world):
    """A dry run decides the same and changes nothing; the real run promotes."""
    store = _store(world, "store_drift")
    uri = _uri(store)
    old = champion_version("leads_test", uri)
    client = MlflowClient(uri)
    # The backtest does not change this decision (same recipe: no champion backtest to
    # compare with), so the dry run skips it; the real run below runs and records it.
    dry = retrain_task(_no_backtest(world["drifted"]), dry_run=True, workdir=store, quiet=True)
    assert dry.decision == "promote" and dry.tracking == {}
    assert len(client.search_model_versions("name='leads_test'")) == 1
    assert champion_version("leads_test", uri) == old
    result = retrain_task(world["drifted"], workdir=store, quiet=True)
    assert result.decision == "promote", result.reasons
    new = result.tracking["registered_version"]
    assert champion_version("leads_test", uri) == new != old
    assert champion_version("leads_test", uri, PREVIOUS_CHAMPION) == old
    h = result.holdout
    assert h["challenger"]["brier"] < h["champion"]["brier"]
    assert result.drift is not None and result.drift["max_psi"] > 0.25
    assert [(b["fold"], b["model"]) for b in result.backtest] == [(1, "challenger")]
    assert 0 < result.backtest[0]["n_train"] < len(result.challenger.split.train)
    tags = client.get_model_version("leads_test", new).tags
    assert tags["retrain_decision"] == "promote"
    run = result.tracking["run_id"]
    with mlflow.utils.file_utils.TempDir() as tmp:
        path = client.download_artifacts(run, "model_card.json", tmp.path())
        card = json.loads(Path(path).read_text())
    assert card["decision"] == "promote" and card["version"] == new
    assert card["data_window"] and card["drift_at_training"]["max_psi"] > 0.25


@pytest.mark.slow
def test_unchanged_market_keeps_the_champion(world):
    store = _store(world, "store_same")
    uri = _uri(store)
    old = champion_version("leads_test", uri)
    result = retrain_task(_no_backtest(world["clean"]), workdir=store, quiet=True)
    assert result.decision == "keep"
    assert any("Brier" in r for r in result.reasons)
    assert champion_version("leads_test", uri) == old
    version = result.tracking["registered_version"]
    tags = MlflowClient(uri).get_model_version("leads_test", version).tags
    assert tags["retrain_decision"] == "keep"


@pytest.mark.slow
def test_churn_champion_is_judged_on_its_own_features(tmp_path, monkeypatch):
    """A churn model reads churn features (tickets, surveys, usage): retraining on the same
    data must score the champion on the same frame, so both score identically."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = churn_task(1500, 5, retrain={"backtest_folds": 0})
    log_training(train_task(config, models=("gbm",), quiet=True), workdir=tmp_path)
    result = retrain_task(config, dry_run=True, workdir=tmp_path, quiet=True)
    old, new = result.holdout["champion"], result.holdout["challenger"]
    assert old["roc_auc"] == pytest.approx(new["roc_auc"], abs=1e-12)
    assert old["brier"] == pytest.approx(new["brier"], abs=1e-12)
    assert result.decision == "keep"


def test_holdout_leaves_out_leads_younger_than_the_conversion_window(world):
    result = world["champion"]
    created = result.data.frame["created_at"]
    rows = judged_rows(result, 60)
    age = (result.data.as_of - created.iloc[result.split.test]).dt.days
    assert (age < 60).any()
    assert len(rows) == int((age >= 60).sum())
    assert ((result.data.as_of - created.iloc[rows]).dt.days >= 60).all()
    assert len(judged_rows(result, None)) == len(result.split.test)


def test_backtest_folds_roll_forward_in_time_before_the_holdout(world):
    result = world["champion"]
    folds = backtest_folds(result, 2)
    assert len(folds) == 2
    assert 2 <= len(backtest_folds(result, 10)) < 10  # as many as the rows allow
    created = result.data.frame["created_at"].to_numpy()
    holdout_start = created[result.split.test].min()
    for fit, test in folds:
        assert len(test) == len(result.split.test)
        assert created[fit].max() <= created[test].min()
        assert created[test].max() <= holdout_start
    starts = [created[test].min() for _, test in folds]
    assert starts == sorted(starts)


@pytest.mark.parametrize(
    ("new", "old", "promote", "failed"),
    [
        ({"roc_auc": 0.75, "brier": 0.200}, {"roc_auc": 0.70, "brier": 0.220}, True, []),
        (
            {"roc_auc": 0.70, "brier": 0.210},
            {"roc_auc": 0.70, "brier": 0.210},
            False,
            ["brier_gain"],
        ),
        ({"roc_auc": 0.67, "brier": 0.200}, {"roc_auc": 0.70, "brier": 0.220}, False, ["roc_auc"]),
        (
            {"roc_auc": 0.72, "brier": 0.230},
            {"roc_auc": 0.70, "brier": 0.220},
            False,
            ["brier", "brier_gain"],
        ),
    ],
)
def test_promotion_rules(new, old, promote, failed):
    cfg = synthetic_task()
    ok, checks, reasons = decide(cfg, new, old, [], [])
    assert ok is promote
    assert [c["check"] for c in checks if not c["passed"]] == failed
    assert len(reasons) == len(failed)


def test_worse_calibration_in_one_segment_blocks_promotion():
    cfg = synthetic_task()
    better = ({"roc_auc": 0.75, "brier": 0.20}, {"roc_auc": 0.70, "brier": 0.22})
    fine = [
        {"field": "source", "level": "web", "n": 500, "challenger_gap": 0.02, "champion_gap": 0.03}
    ]
    assert decide(cfg, *better, fine, [])[0]
    bad = [
        *fine,
        {
            "field": "source",
            "level": "event",
            "n": 200,
            "challenger_gap": 0.12,
            "champion_gap": 0.02,
        },
    ]
    ok, _, reasons = decide(cfg, *better, bad, [])
    assert not ok and "source=event" in reasons[0]
    backtest = [
        {"fold": 1, "model": "challenger", "roc_auc": 0.60},
        {"fold": 1, "model": "champion", "roc_auc": 0.70},
    ]
    assert not decide(cfg, *better, fine, backtest)[0]
    assert np.isfinite(decide(cfg, *better, fine, backtest)[1][-1]["challenger"])
