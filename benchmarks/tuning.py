"""Tuning benchmark: does an Optuna study beat the LightGBM defaults on the holdout?

Run ``python benchmarks/tuning.py [--n-leads 8000] [--trials 20] [--folds 3] [--append]`` from the
repository root. The synthetic demo task (``configs/leads_demo.yaml`` on ``--n-leads``
leads) is trained with the built-in LightGBM parameters, then tuned (mean validation log
loss over ``tuning.folds`` rolling-origin folds inside the training period; the holdout is
never seen by the study) and trained again with the best parameters. Both are scored on the
same time-ordered holdout. The markdown table is printed, and appended to
``benchmarks/RESULTS.md`` under "Tuning" with ``--append``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

from crm_predict.config import load_config
from crm_predict.data.loading import load_task_data
from crm_predict.lifecycle.tune import tune_task
from crm_predict.training.train import train_task

CONFIG = Path("configs/leads_demo.yaml")
RESULTS = Path("benchmarks/RESULTS.md")


def _holdout(config, data) -> dict:
    start = time.perf_counter()
    model = train_task(config, models=("gbm",), quiet=True, data=data).models["gbm"]
    return {**model.metrics, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-leads", type=int, default=8000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--folds", type=int, default=None, help="tuning.folds (default 3)")
    parser.add_argument("--append", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = yaml.safe_load(CONFIG.read_text())
        raw["source"]["synthetic"]["n_leads"] = args.n_leads
        raw["activities"]["synthetic"]["n_leads"] = args.n_leads
        if args.folds is not None:
            raw.setdefault("tuning", {})["folds"] = args.folds
        path = Path(tmp) / "leads_demo_bench.yaml"
        path.write_text(yaml.safe_dump(raw))
        config = load_config(path)
        data = load_task_data(config)
        default = _holdout(config, data)
        start = time.perf_counter()
        tuned_run = tune_task(
            config, args.trials, config_path=path, workdir=tmp, track=False, data=data
        )
        tune_s = time.perf_counter() - start
        tuned_cfg = load_config(tuned_run.overlay)
        tuned = _holdout(tuned_cfg, data)
    rows = [("LightGBM defaults", default, None), ("Optuna best", tuned, tuned_run)]
    lines = [
        "| model | trials (pruned) | CV log loss | holdout log loss | Brier | ROC AUC | ECE "
        "| tune s | fit s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m, run in rows:
        valid = run.best_value if run else tuned_run.default_value
        lines.append(
            f"| {name} | {f'{run.trials_total} ({run.pruned})' if run else '–'} | {valid:.4f} | "
            f"{m['log_loss']:.4f} | {m['brier']:.4f} | {m['roc_auc']:.3f} | {m['ece']:.3f} | "
            f"{f'{tune_s:.0f}' if run else '–'} | {m['fit_seconds']:.1f} |"
        )
    gain = default["log_loss"] - tuned["log_loss"]
    params = ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in sorted(tuned_run.best_params.items())
    )
    table = "\n".join(lines)
    text = (
        f"\n## Tuning (`python benchmarks/tuning.py --n-leads {args.n_leads} --trials "
        f"{args.trials}`), {date.today()}\n\n"
        f"Synthetic demo task, {args.n_leads:,} leads, time-ordered holdout; the study judged "
        f"trials by the mean log loss over {config.tuning.folds} rolling-origin folds of "
        f"{config.split.validation_size:.0%} of the training rows each (never the holdout). "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs (shared).\n\n"
        f"{table}\n\nHoldout log loss change: {gain:+.4f} "
        f"({'better' if gain > 0 else 'not better'} than the defaults). Best parameters: "
        f"{params}.\n"
    )
    print(text)
    if args.append:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write(text)


if __name__ == "__main__":
    main()
