"""Tuning: the search space, the pruning callback, overlays, resuming and two workers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from scipy.special import expit
from sklearn.metrics import log_loss

from crm_predict.config import ParamRange, load_config
from crm_predict.data.loading import load_task_data
from crm_predict.data.split import (
    Split,
    rolling_origin_folds,
    split_task,
    training_labels,
    validation_folds,
)
from crm_predict.lifecycle.tune import default_storage, open_study, tune_task
from crm_predict.lifecycle.tune_objective import (
    PruningCallback,
    _PrunableLGBM,
    blend_log_loss,
    prepare_tuning_data,
)
from crm_predict.lifecycle.tune_space import suggest_params, write_overlay
from crm_predict.models.gbm import BLEND_WEIGHTS, CalibratedLGBM
from crm_predict.training.train import make_estimator
from tests.helpers import churn_task, synthetic_task

REPO = Path(__file__).resolve().parents[2]
# Small and quick: a few hundred boosting rounds at most, early stopping after 20.
FAST = {"max_estimators": 150, "early_stopping_rounds": 20, "startup_trials": 2, "folds": 2}


def _task(tmp_path: Path, n_leads: int = 1500, **tuning) -> tuple[object, Path]:
    cfg = synthetic_task(n_leads=n_leads, seed=3, tuning={**FAST, **tuning})
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return cfg, path


def test_suggested_parameters_stay_in_the_space():
    space = {
        "num_leaves": ParamRange(low=4, high=64, log=True, integer=True),
        "learning_rate": ParamRange(low=0.01, high=0.2, log=True),
        "subsample": ParamRange(low=0.5, high=1.0),
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = suggest_params(study.ask(), space)
        assert isinstance(params["num_leaves"], int) and 4 <= params["num_leaves"] <= 64
        assert 0.01 <= params["learning_rate"] <= 0.2
        assert 0.5 <= params["subsample"] <= 1.0


def test_a_bad_range_is_a_config_error():
    with pytest.raises(ValueError, match="below high"):
        ParamRange(low=5, high=1)
    with pytest.raises(ValueError, match="log-scale"):
        ParamRange(low=0, high=1, log=True)


class _Trial:
    def __init__(self, prune_at: int) -> None:
        self.reports: list[tuple[int, float]] = []
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        self.reports.append((step, value))

    def should_prune(self) -> bool:
        return self.reports[-1][0] >= self.prune_at


def _env(iteration: int, loss: float) -> SimpleNamespace:
    return SimpleNamespace(
        iteration=iteration, evaluation_result_list=[("valid_0", "binary_logloss", loss, False)]
    )


def test_pruning_callback_reports_every_few_rounds_and_stops_a_lagging_trial():
    trial = _Trial(prune_at=30)
    callback = PruningCallback(trial, every=10)
    for i in range(29):
        callback(_env(i, 0.7 - i / 1000))
    assert [s for s, _ in trial.reports] == [10, 20]
    assert trial.reports[0][1] == pytest.approx(0.7 - 9 / 1000)
    with pytest.raises(optuna.TrialPruned, match="round 30"):
        callback(_env(29, 0.6))


def test_pruning_reports_the_running_fold_mean_at_steps_after_earlier_folds():
    trial = _Trial(prune_at=10**9)
    callback = PruningCallback(trial, every=10, offset=2 * 150, done=(0.60, 0.64))
    callback(_env(9, 0.68))
    assert trial.reports == [(310, pytest.approx((0.60 + 0.64 + 0.68) / 3))]
    trial.prune_at = 320
    with pytest.raises(optuna.TrialPruned, match="fold 3, round 20"):
        callback(_env(19, 0.66))


def test_pruning_reads_the_blend_before_the_booster_log_loss():
    trial = _Trial(prune_at=10**9)
    callback = PruningCallback(trial, every=10)
    env = _env(9, 0.69)
    env.evaluation_result_list.append(("valid_0", "blend_logloss", 0.55, False))
    callback(env)
    assert trial.reports == [(10, pytest.approx(0.55))]


def test_the_blend_metric_is_the_best_weighted_log_loss_with_the_logistic_part():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    linear = rng.normal(size=300) + (2 * y - 1)
    tree = rng.normal(size=300) + 0.5 * (2 * y - 1)
    name, loss, higher_is_better = blend_log_loss(linear)(y, expit(tree))
    by_weight = [log_loss(y, expit(w * linear + (1 - w) * tree)) for w in BLEND_WEIGHTS]
    assert name == "blend_logloss" and not higher_is_better
    assert loss == pytest.approx(min(by_weight))
    assert loss < log_loss(y, expit(tree)) and loss < log_loss(y, expit(linear))


def test_watching_the_blend_changes_neither_the_stopping_round_nor_the_model(tmp_path):
    cfg, _ = _task(tmp_path)
    fold = prepare_tuning_data(cfg).folds[0]
    plain = CalibratedLGBM(params={"learning_rate": 0.1}, early_stopping_rounds=20)
    watched = _PrunableLGBM(params={"learning_rate": 0.1}, early_stopping_rounds=20)
    plain.fit(fold.X_fit, fold.y_fit)
    watched.fit(fold.X_fit, fold.y_fit)
    (booster,) = watched.boosters_
    assert set(booster.best_score_["valid_0"]) == {"binary_logloss", "blend_logloss"}
    assert booster.best_iteration_ == plain.boosters_[0].best_iteration_
    assert np.array_equal(watched.predict_proba(fold.X_valid), plain.predict_proba(fold.X_valid))


def test_rolling_origin_folds_end_at_the_holdout_and_fit_only_on_earlier_rows():
    rows = np.arange(100, 200)
    folds = rolling_origin_folds(rows, 3, 20)
    assert [(len(f), len(v)) for f, v in folds] == [(40, 20), (60, 20), (80, 20)]
    assert folds[-1][1][-1] == rows[-1]
    for fit, valid in folds:
        assert fit.max() < valid.min() and np.array_equal(fit, rows[: len(fit)])
    # Too little history for a third block: only the folds with a block to fit on.
    assert len(rolling_origin_folds(rows[:50], 3, 20)) == 1


def test_without_dates_the_folds_are_stratified_k_fold_over_the_training_rows():
    train = np.arange(0, 400, 2)
    labels = pd.Series(np.nan, index=range(400))
    labels.iloc[train] = np.tile([1.0, 0.0, 0.0, 0.0], 50)
    split = Split(train, np.arange(1, 400, 2), "stratified", "", 0.2)
    folds = validation_folds(split, labels, 5, seed=0)
    assert len(folds) == 5
    assert np.array_equal(np.sort(np.concatenate([v for _, v in folds])), train)
    for fit, valid in folds:
        assert not set(fit) & set(valid) and set(fit) | set(valid) == set(train)
        assert labels.iloc[valid].mean() == pytest.approx(0.25)


def test_tuning_folds_are_time_ordered_inside_the_training_period(tmp_path):
    cfg, _ = _task(tmp_path, folds=3)
    prepared = prepare_tuning_data(cfg)
    assert len(prepared.folds) == 3
    sizes = [len(f.y_fit) for f in prepared.folds]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    assert len({len(f.y_valid) for f in prepared.folds}) == 1
    # The last fold ends where the holdout (the most recent test_size share) begins.
    data = load_task_data(cfg)
    labels = training_labels(data, cfg)
    split = split_task(data, labels, cfg)
    assert sizes[-1] + len(prepared.folds[-1].y_valid) == len(split.train)
    assert len(split.train) + len(split.test) == int(labels.notna().sum())


def test_overlay_extends_the_config_and_trains_with_the_tuned_parameters(tmp_path):
    _, path = _task(tmp_path)
    overlay = write_overlay(
        path, {"num_leaves": 9, "learning_rate": 0.05}, tmp_path / "o" / "t.yaml"
    )
    assert "extends: ../task.yaml" in overlay.read_text()
    cfg = load_config(overlay)
    assert cfg.gbm.params == {"num_leaves": 9, "learning_rate": 0.05}
    assert cfg.name == "leads_test" and cfg.features == load_config(path).features
    assert make_estimator("gbm", cfg).params == {"num_leaves": 9, "learning_rate": 0.05}


def test_study_resumes_starts_from_the_defaults_and_writes_the_best_overlay(tmp_path):
    cfg, path = _task(tmp_path)
    first = tune_task(cfg, n_trials=2, config_path=path, workdir=tmp_path, track=False, quiet=True)
    assert first.trials_run == 2 and first.trials_total == 2
    assert first.default_value is not None and first.best_value <= first.default_value
    study = optuna.load_study(study_name="leads_test-gbm", storage=default_storage(tmp_path))
    losses = study.trials[0].user_attrs["fold_log_loss"]
    assert len(losses) == 2 and study.trials[0].value == pytest.approx(np.mean(losses), abs=1e-5)
    again = tune_task(cfg, n_trials=1, config_path=path, workdir=tmp_path, track=False, quiet=True)
    assert again.trials_run == 1 and again.trials_total == 3
    study = optuna.load_study(study_name="leads_test-gbm", storage=default_storage(tmp_path))
    assert len(study.trials) == 3
    assert again.best_value == pytest.approx(study.best_value)
    tuned = load_config(again.overlay)
    assert {k: tuned.gbm.params[k] for k in study.best_params} == pytest.approx(study.best_params)
    assert tuned.gbm.params["n_estimators"] == FAST["max_estimators"]


_WORKER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from tests.helpers import synthetic_task
    from crm_predict.lifecycle.tune import tune_task
    cfg = synthetic_task(n_leads=1500, seed=3, tuning={fast!r})
    tune_task(cfg, n_trials=2, storage={storage!r}, worker=int(sys.argv[1]), track=False,
              quiet=True)
    """
)


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(tmp_path):
    storage = default_storage(tmp_path)
    script = tmp_path / "worker.py"
    script.write_text(_WORKER.format(repo=str(REPO), fast=FAST, storage=storage))
    # Create the study first, as a scheduler would; then both workers run at once.
    open_study(synthetic_task(n_leads=1500, seed=3, tuning=FAST), storage)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(i)], cwd=tmp_path, stderr=subprocess.PIPE
        )
        for i in (0, 1)
    ]
    for proc in workers:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
    study = optuna.load_study(study_name="leads_test-gbm", storage=storage)
    done = [t for t in study.trials if t.state.is_finished()]
    assert len(done) == 4
    by_worker: dict[str, int] = {}
    for t in done:
        by_worker[t.user_attrs["worker"]] = by_worker.get(t.user_attrs["worker"], 0) + 1
    assert sorted(by_worker.values()) == [2, 2]
    pids = {w.split(":")[1] for w in by_worker}
    assert pids == {str(p.pid) for p in workers}


def test_a_churn_task_is_tuned_on_its_churn_features():
    """The tuning folds read the same model frame as training: tickets, surveys and usage.

    Compared by field: whether a moderately skewed count gets ``__log1p`` is learned from
    each fold's rows, so the column names may differ while the fields may not.
    """
    from crm_predict.features import field_of
    from crm_predict.training.train import train_task

    cfg = churn_task(800, 5, tuning=FAST)
    prepared = prepare_tuning_data(cfg)
    trained = train_task(cfg, models=("gbm",), quiet=True).models["gbm"].pipeline
    model_fields = [field_of(c) for c in trained[-1].feature_names_in_]
    for fold in prepared.folds:
        assert [field_of(c) for c in fold.X_fit.columns] == model_fields
        assert any(c.startswith("tickets_") for c in fold.X_fit.columns)
