"""Champion / challenger retraining: train on the latest data, promote only on evidence.

:func:`retrain_task` trains a challenger with :func:`crm_predict.training.train.train_task`, loads
the registered champion (``models:/<task>@champion``) and scores both on the same most recent
holdout. Leads younger than the conversion window are left out of that judgement (their outcome is
not known yet; counting them as lost would favour whichever model scores young leads low).
Rolling-origin backtests refit both models' recipes on earlier time-ordered folds. The challenger is
promoted only when it is

* not worse on ROC AUC by more than ``retrain.auc_margin``,
* not worse on the Brier score (beyond ``retrain.brier_tolerance``) and better by at least
  ``retrain.min_brier_gain`` (a retrain on unchanged data keeps the champion),
* not worse calibrated in any segment level: ``|predicted - actual|`` may not grow by more
  than ``retrain.calibration_tolerance`` plus two standard errors of the level's actual
  rate (a smaller difference is sampling noise, not evidence); levels under
  ``segment_min_rows`` are not judged,
* not worse on the backtests' mean AUC by more than ``auc_margin``.

The decision, its evidence and a model card are recorded in MLflow
(:func:`crm_predict.tracking.record_retrain`); ``dry_run`` decides and reports only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crm_predict.config import TaskConfig
from crm_predict.data.loading import TaskData, load_task_data
from crm_predict.evaluate.metrics import segment_metrics
from crm_predict.exceptions import CRMPredictError
from crm_predict.features import task_frame
from crm_predict.lifecycle.backtest import (
    backtest_folds,
    conversion_window,
    holdout_metrics,
    judged_rows,
    run_backtest,
)
from crm_predict.lifecycle.monitor import compare_profile
from crm_predict.progress import steps
from crm_predict.scoring.bundle import ModelBundle
from crm_predict.tracking import champion_version, load_bundle, record_retrain
from crm_predict.tracking import resolve_tracking_uri as resolve
from crm_predict.training.train import TrainResult, train_task

_DATA_KEYS = {"name", "description", "source", "joins", "activities", "tuning", "retrain"}


@dataclass
class RetrainResult:
    """The decision of one retrain run and its evidence.

    Attributes
    ----------
    decision : str
        ``promote``, ``keep`` or ``first`` (no champion yet: the challenger becomes it).
    promote : bool
        Whether the challenger is (or, in a dry run, would be) the new champion.
    reasons : list of str
        One sentence per failed check (or why it was promoted).
    checks : list of dict
        ``check, challenger, champion, limit, passed`` per rule.
    holdout : dict
        Both models' metrics on the judged holdout rows and how those were chosen.
    segments : list of dict
        Per judged segment level: both models' calibration gaps.
    backtest : list of dict
        Per fold and model recipe: rows and metrics.
    drift : dict or None
        The challenger's training rows against the champion's training profile.
    challenger : TrainResult
    champion_label : str or None
    dry_run : bool
    tracking : dict
        What :func:`crm_predict.tracking.record_retrain` returned (empty in a dry run).
    """

    decision: str
    promote: bool
    reasons: list[str]
    checks: list[dict]
    holdout: dict
    segments: list[dict]
    backtest: list[dict]
    drift: dict | None
    challenger: TrainResult
    champion_label: str | None
    dry_run: bool
    seconds: float = 0.0
    tracking: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready decision and evidence (logged as ``retrain_decision.json``)."""
        return {
            "task": self.challenger.config.name,
            "decision": self.decision,
            "promote": self.promote,
            "dry_run": self.dry_run,
            "champion": self.champion_label,
            "reasons": self.reasons,
            "checks": self.checks,
            "holdout": self.holdout,
            "segments": self.segments,
            "backtest": self.backtest,
            "drift_at_training": self.drift,
        }

    def model_card(self) -> dict:
        """The challenger's model card: data window, metrics, drift at training, decision."""
        card = self.challenger.models[self.challenger.champion].bundle.card
        return {
            "task": card.get("task"),
            "model": card.get("model"),
            "trained_as_of": card.get("trained_as_of"),
            "data_window": card.get("training_window"),
            "n_train": card.get("n_train"),
            "n_test": card.get("n_test"),
            "split": card.get("split"),
            "metrics": card.get("metrics"),
            "holdout_vs_champion": self.holdout,
            "backtest": self.backtest,
            "drift_at_training": self.drift,
            "decision": self.decision,
            "reasons": self.reasons,
            "champion_before": self.champion_label,
        }


def _same_recipe(a: TaskConfig, b: TaskConfig) -> bool:
    return a.model_dump(exclude=_DATA_KEYS) == b.model_dump(exclude=_DATA_KEYS)


def _champion_frame(bundle: ModelBundle, data: TaskData) -> pd.DataFrame:
    try:
        frame, _, _ = task_frame(data, bundle.config, aggregator=bundle.aggregator)
    except KeyError as exc:
        raise CRMPredictError(
            f"the champion reads field {exc} that the current data lacks; the two cannot be "
            "compared on the same leads (add the field back or register a new champion)"
        ) from None
    return frame


def _segment_gaps(
    result: TrainResult, rows: np.ndarray, y: np.ndarray, p_new: np.ndarray, p_old: np.ndarray
) -> list[dict]:
    config = result.config
    if not config.segments:
        return []
    seg = result.data.frame.iloc[rows][list(config.segments)].reset_index(drop=True)
    new = segment_metrics(seg, y, p_new, min_rows=config.retrain.segment_min_rows)
    old = segment_metrics(seg, y, p_old, min_rows=config.retrain.segment_min_rows)
    out = []
    for a, b in zip(new.to_dict("records"), old.to_dict("records"), strict=True):
        if a["n"] < config.retrain.segment_min_rows:
            continue
        rate = a["observed_rate"]
        out.append(
            {
                "field": a["field"],
                "level": a["level"],
                "n": int(a["n"]),
                "observed_rate": a["observed_rate"],
                "challenger_gap": abs(a["predicted_rate"] - a["observed_rate"]),
                "champion_gap": abs(b["predicted_rate"] - b["observed_rate"]),
                "noise": 2.0 * float(np.sqrt(rate * (1 - rate) / a["n"])),
            }
        )
    return out


def _check(name: str, new: float, old: float, limit: float, passed: bool) -> dict:
    return {"check": name, "challenger": new, "champion": old, "limit": limit, "passed": passed}


def decide(
    config: TaskConfig,
    new: dict,
    old: dict,
    segments: list[dict],
    backtest: list[dict],
) -> tuple[bool, list[dict], list[str]]:
    """Apply the promotion rules of ``config.retrain`` to the evidence.

    Returns
    -------
    promote : bool
    checks : list of dict
    reasons : list of str
        A sentence per failed check (empty when promoted).

    Examples
    --------
    >>> promote, checks, reasons = decide(cfg, {"roc_auc": .75, "brier": .20},
    ...     {"roc_auc": .70, "brier": .22}, [], [])  # doctest: +SKIP
    >>> promote  # doctest: +SKIP
    True
    """
    r = config.retrain
    checks = [
        _check(
            "roc_auc",
            new["roc_auc"],
            old["roc_auc"],
            old["roc_auc"] - r.auc_margin,
            new["roc_auc"] >= old["roc_auc"] - r.auc_margin,
        ),
        _check(
            "brier",
            new["brier"],
            old["brier"],
            old["brier"] + r.brier_tolerance,
            new["brier"] <= old["brier"] + r.brier_tolerance,
        ),
        _check(
            "brier_gain",
            old["brier"] - new["brier"],
            0.0,
            r.min_brier_gain,
            old["brier"] - new["brier"] >= r.min_brier_gain,
        ),
    ]
    worse = [
        s
        for s in segments
        if s["challenger_gap"] > s["champion_gap"] + r.calibration_tolerance + s.get("noise", 0.0)
    ]
    checks.append(
        _check(
            "segment_calibration",
            max(
                (s["challenger_gap"] - s["champion_gap"] - s.get("noise", 0.0) for s in segments),
                default=0.0,
            ),
            0.0,
            r.calibration_tolerance,
            not worse,
        )
    )
    if backtest:
        bt = pd.DataFrame(backtest)
        means = bt.groupby("model")["roc_auc"].mean()
        if {"challenger", "champion"} <= set(means.index):
            a, b = float(means["challenger"]), float(means["champion"])
            checks.append(_check("backtest_auc", a, b, b - r.auc_margin, a >= b - r.auc_margin))
    reasons = []
    for c in checks:
        if c["passed"]:
            continue
        if c["check"] == "segment_calibration":
            shown = ", ".join(f"{s['field']}={s['level']}" for s in worse[:5])
            reasons.append(f"calibration worse by more than {r.calibration_tolerance} in {shown}")
        elif c["check"] == "brier_gain":
            reasons.append(
                f"Brier score improves by {c['challenger']:.4f}, less than the "
                f"{r.min_brier_gain} needed to replace the champion"
            )
        else:
            reasons.append(
                f"{c['check']}: challenger {c['challenger']:.4f} vs champion "
                f"{c['champion']:.4f} (limit {c['limit']:.4f})"
            )
    return not reasons, checks, reasons


def retrain_task(
    config: TaskConfig,
    dry_run: bool = False,
    tracking_uri: str | None = None,
    workdir: str | Path | None = None,
    quiet: bool = False,
    data: TaskData | None = None,
) -> RetrainResult:
    """Train a challenger, judge it against the champion, promote it only on evidence.

    Parameters
    ----------
    config : TaskConfig
        The task; ``retrain`` holds the promotion rules.
    dry_run : bool
        Decide and report, but log, register and move nothing.
    tracking_uri : str, optional
        See :func:`crm_predict.tracking.resolve_tracking_uri`.
    workdir : str or Path, optional
        Folder of the default MLflow store.
    quiet : bool
        No progress bar.
    data : TaskData, optional
        Already loaded data (the latest export).

    Returns
    -------
    RetrainResult

    Examples
    --------
    >>> cfg = load_config("configs/leads_demo.yaml")  # doctest: +SKIP
    >>> result = retrain_task(cfg, dry_run=True)  # doctest: +SKIP
    >>> result.decision, result.reasons  # doctest: +SKIP
    ('keep', ['Brier score improves by 0.0002, less than the 0.001 needed ...'])
    """
    start = time.perf_counter()
    uri = resolve(tracking_uri, workdir)
    with steps(6, quiet=quiet) as progress:
        progress.step("loading the latest data")
        data = data if data is not None else load_task_data(config)
        progress.step("training the challenger")
        result = train_task(config, models=("gbm",), quiet=True, data=data)
        challenger = result.models["gbm"]
        progress.step("loading the champion")
        version = champion_version(config.name, uri)
        champion, label = (None, None)
        if version is not None:
            champion, label = load_bundle(f"models:/{config.name}@champion", uri)
        window = conversion_window(config)
        rows = judged_rows(result, window)
        if len(rows) < 10:
            raise CRMPredictError(
                f"only {len(rows)} holdout {config.records} are older than the conversion window "
                f"({window} days, retrain.conversion_window_days); need more data"
            )
        y = result.labels.to_numpy()[rows].astype(int)
        p_new = challenger.pipeline.predict_proba(result.frame.iloc[rows])[:, 1]
        holdout = {
            "rows": len(rows),
            "holdout_rows": len(result.split.test),
            "conversion_window_days": window,
            "challenger": holdout_metrics(y, p_new),
        }
        progress.step("judging both on the most recent holdout")
        segments, backtest, drift = [], [], None
        recipes = {"challenger": (challenger.pipeline, result.frame)}
        if champion is not None:
            old_frame = _champion_frame(champion, data)
            p_old = champion.pipeline.predict_proba(old_frame.iloc[rows])[:, 1]
            holdout["champion"] = holdout_metrics(y, p_old)
            segments = _segment_gaps(result, rows, y, p_new, p_old)
            if not _same_recipe(champion.config, config):
                recipes["champion"] = (champion.pipeline, old_frame)
            if getattr(champion, "reference", None):
                train = old_frame.iloc[result.split.train]
                scores = champion.pipeline.predict_proba(train)[:, 1]
                found = compare_profile(champion.reference, train, scores)
                flagged = found.flagged()
                drift = {
                    "max_psi": found.max_psi,
                    "score_psi": found.score_psi,
                    "flagged": flagged[["field", "psi", "status", "new_levels"]].to_dict("records"),
                }
        progress.step("rolling-origin backtests")
        folds = backtest_folds(result, config.retrain.backtest_folds)
        backtest = run_backtest(result, folds, recipes)
        if champion is None:
            promote, checks, reasons = True, [], ["no champion yet: the challenger becomes it"]
            decision = "first"
        else:
            promote, checks, reasons = decide(
                config, holdout["challenger"], holdout["champion"], segments, backtest
            )
            decision = "promote" if promote else "keep"
            if promote:
                reasons = ["not worse on AUC, Brier score, segment calibration or backtests"]
        out = RetrainResult(
            decision,
            promote,
            reasons,
            checks,
            holdout,
            segments,
            backtest,
            drift,
            result,
            label,
            dry_run,
        )
        progress.step("recording the decision" if not dry_run else "dry run: nothing recorded")
        if not dry_run:
            out.tracking = record_retrain(
                result, out.to_dict(), out.model_card(), promote, tracking_uri, workdir
            )
    out.seconds = time.perf_counter() - start
    return out
