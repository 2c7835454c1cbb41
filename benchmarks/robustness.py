"""Robustness benchmark: does the default path hold on every dataset we have?

Runs ``train`` as a user would (``train_task`` at the config's defaults) on every shipped
config and on the synthetic drift scenario
(:func:`crm_predict.data.synthetic.drift.drift_scenario`), and prints one markdown row per dataset:
the champion chosen on out-of-fold evidence, the holdout ROC AUC and log loss of every fitted model
on the same split, the holdout check and the base-rate check. The acceptance rule of issue 16 is
checked per row: the champion's holdout AUC is not below the logistic baseline's by more than 0.005,
and its log loss is not worse.

Run ``python benchmarks/robustness.py [--bayes] [--tasks a,b] [--recent-days N]`` from the
repository root (``../shared/data`` beside it for the real exports).
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date

from crm_predict.config import TaskConfig, load_config, parse_config
from crm_predict.data.synthetic.drift import DRIFT_FROM, DRIFT_SHIFT
from crm_predict.training.train import train_task

TASKS = (
    "drift_scenario",
    "leads_demo",
    "maven_opportunities",
    "xeducation_leads",
    "xeducation_leads_leaky",
    "telco_churn",
    "churn_demo",
)
MARGIN = 0.005


def load_task(name: str, recent_days: int | None = None) -> TaskConfig:
    """A shipped config, or the demo config on the drift scenario's leads; with
    ``recent_days``, ``calibration.recent_days`` set."""
    base = "leads_demo" if name == "drift_scenario" else name
    raw = load_config(f"configs/{base}.yaml").model_dump(mode="json", exclude_none=True)
    if name == "drift_scenario":
        drift = {"drift_from": DRIFT_FROM, "drift_shift": DRIFT_SHIFT}
        raw["name"] = "drift_scenario"
        raw["source"]["synthetic"].update(drift)
        raw["activities"]["synthetic"].update(drift)
    if recent_days:
        raw["calibration"] = {"recent_days": recent_days}
    return parse_config(raw, origin="benchmarks/robustness.py")


def run(name: str, bayes: bool, recent_days: int | None = None) -> dict:
    """Train one task at its defaults and return its row."""
    config = load_task(name, recent_days)
    start = time.perf_counter()
    result = train_task(config, models=("gbm", "bayes") if bayes else ("gbm",), quiet=True)
    seconds = time.perf_counter() - start
    metrics = {n: m.metrics for n, m in result.models.items()}
    champ, base = metrics[result.champion], metrics["logreg"]
    ok = (
        champ["roc_auc"] >= base["roc_auc"] - MARGIN
        and champ["log_loss"] <= base["log_loss"] + 1e-9
    )
    drift = result.drift or {}
    return {
        "task": name,
        "split": result.split.method,
        "train": len(result.split.train),
        "test": len(result.split.test),
        "rates": "—"
        if not drift
        else f"{drift['before']['rate']:.0%} / {drift['recent']['rate']:.0%} / "
        f"{drift['holdout']['rate']:.0%}",
        "models": metrics,
        "oof": result.selection.log_loss,
        "champion": result.champion,
        "warning": "yes" if result.selection.warning else "no",
        "drifted": "yes" if drift.get("drifted") else "no",
        "ok": ok,
        "ece": champ["ece"],
        "seconds": seconds,
    }


def _cell(row: dict, model: str) -> str:
    m = row["models"].get(model)
    if m is None:
        return "—"
    star = " ★" if model == row["champion"] else ""
    oof = row["oof"].get(model)
    return f"{m['roc_auc']:.4f} / {m['log_loss']:.4f} / {oof:.4f}{star}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bayes", action="store_true", help="also fit the Bayesian model")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--recent-days", type=int, default=None, help="set calibration.recent_days")
    args = parser.parse_args()
    rows = [run(t, args.bayes, args.recent_days) for t in args.tasks.split(",")]
    print(
        f"## Robustness ({date.today()}, {platform.machine()}, Python "
        f"{platform.python_version()})\n"
    )
    print("Cells: holdout ROC AUC / holdout log loss / out-of-fold log loss; ★ champion.\n")
    print(
        "| task | split | train / test | rate before / recent / holdout | LightGBM blend "
        "| logistic | Bayesian | holdout warning | drift said | rule holds | champion ECE | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['task']} | {r['split']} | {r['train']:,} / {r['test']:,} | {r['rates']} "
            f"| {_cell(r, 'gbm')} | {_cell(r, 'logreg')} | {_cell(r, 'bayes')} "
            f"| {r['warning']} | {r['drifted']} | {'yes' if r['ok'] else '**no**'} "
            f"| {r['ece']:.3f} | {r['seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
