"""Churn benchmark: calibrated LightGBM, Bayesian model and the logistic baseline.

Runs ``configs/telco_churn.yaml`` (real data, stratified 80/20 holdout, seed 42) and
``configs/churn_demo.yaml`` (synthetic customers) through
:func:`crm_predict.training.train.train_task` and prints a markdown table of holdout ROC AUC, Brier
score, ECE and fit seconds. With ``--seeds`` it also repeats the telco split over several seeds
(LightGBM and logistic only), to show how much of the holdout AUC is the split.

Usage::

    .venv/bin/python benchmarks/churn.py [--no-bayes] [--seeds 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from crm_predict.config import load_config
from crm_predict.training.train import train_task

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("telco_churn.yaml", "churn_demo.yaml")


def run(config_name: str, models: tuple[str, ...], overrides: dict | None = None) -> list[dict]:
    """Train one config and return one row per model."""
    cfg = load_config(ROOT / "configs" / config_name, overrides)
    start = time.perf_counter()
    result = train_task(cfg, models=models, quiet=True)
    total = time.perf_counter() - start
    rows = []
    for name, model in result.models.items():
        m = model.metrics
        rows.append(
            {
                "config": cfg.name,
                "model": name,
                "n_train": len(result.split.train),
                "n_test": len(result.split.test),
                "roc_auc": m["roc_auc"],
                "brier": m["brier"],
                "ece": m["ece"],
                "fit_s": m["fit_seconds"],
                "total_s": total,
            }
        )
    return rows


def main() -> None:
    """Print the benchmark tables."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-bayes", action="store_true")
    parser.add_argument("--seeds", type=int, default=0)
    args = parser.parse_args()
    models = ("gbm",) if args.no_bayes else ("gbm", "bayes")
    rows = [r for name in CONFIGS for r in run(name, models)]
    print("| config | model | train | test | ROC AUC | Brier | ECE | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['config']} | {r['model']} | {r['n_train']:,} | {r['n_test']:,} | "
            f"{r['roc_auc']:.4f} | {r['brier']:.4f} | {r['ece']:.4f} | {r['fit_s']:.1f} |"
        )
    if args.seeds:
        runs: dict[str, list[dict]] = {}
        for seed in range(args.seeds):
            for r in run("telco_churn.yaml", ("gbm",), {"split": {"seed": seed}}):
                runs.setdefault(r["model"], []).append(r)
        print(f"\ntelco_churn over stratified split seeds 0..{args.seeds - 1}\n")
        print("| model | mean ROC AUC | min | max | mean Brier | mean ECE | max ECE |")
        print("|---|---|---|---|---|---|---|")
        for name, rs in runs.items():
            auc, brier, ece = ([r[k] for r in rs] for k in ("roc_auc", "brier", "ece"))
            print(
                f"| {name} | {np.mean(auc):.4f} | {np.min(auc):.4f} | {np.max(auc):.4f} | "
                f"{np.mean(brier):.4f} | {np.mean(ece):.4f} | {np.max(ece):.4f} |"
            )
        gap = [
            g["roc_auc"] - b["roc_auc"] for g, b in zip(runs["gbm"], runs["logreg"], strict=True)
        ]
        better = sum(d > 0 for d in gap)
        print(
            f"\ngbm minus logreg ROC AUC per seed: {' '.join(f'{d:+.4f}' for d in gap)} "
            f"(higher on {better} of {len(gap)})"
        )


if __name__ == "__main__":
    main()
