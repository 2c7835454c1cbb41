"""Conversion benchmark: logistic regression, LightGBM defaults, ours, and the Bayesian model.

Run ``python benchmarks/conversion.py`` from the repository root (``../shared/data`` must be
beside it). Every model sees the same feature pipeline, split and holdout; the table is
printed as markdown for ``benchmarks/RESULTS.md``. The Bayesian model's row also gives its
sampling diagnostics: worst R-hat, smallest bulk ESS and bulk ESS per second of fit.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date

import lightgbm as lgb

from crm_predict.config import load_config
from crm_predict.data.loading import load_task_data
from crm_predict.data.split import split_task, training_labels
from crm_predict.evaluate.metrics import classification_metrics
from crm_predict.features import build_model_frame
from crm_predict.models.baseline import logistic_baseline
from crm_predict.training.train import build_pipeline, diagnostic_metrics, make_estimator

TASKS = ("leads_demo", "maven_opportunities", "xeducation_leads", "xeducation_leads_leaky")


BAYES = "crm_predict Bayesian (PyMC)"


def candidates(config, bayes: bool = True) -> dict:
    """The models compared, each reading the same features (ours as ``train`` builds it)."""
    seed = config.seed
    models = {
        "logistic regression": logistic_baseline(random_state=seed),
        "LightGBM defaults": lgb.LGBMClassifier(random_state=seed, verbose=-1, n_jobs=2),
        "crm_predict (calibrated)": make_estimator("gbm", config),
    }
    if bayes:
        models[BAYES] = make_estimator("bayes", config)
    return models


def run_task(name: str, bayes: bool = True) -> list[dict]:
    """Fit every candidate on one task and return a row per model."""
    config = load_config(f"configs/{name}.yaml")
    data = load_task_data(config)
    frame, aggregator = build_model_frame(data, config)
    acts = list(aggregator.get_feature_names_out()) if aggregator else None
    labels = training_labels(data, config)
    split = split_task(data, labels, config)
    y = labels.to_numpy()
    rows = []
    for model_name, estimator in candidates(config, bayes).items():
        pipe = build_pipeline(config, estimator, acts, data.as_of)
        start = time.perf_counter()
        pipe.fit(frame.iloc[split.train], y[split.train].astype(int))
        seconds = time.perf_counter() - start
        p = pipe.predict_proba(frame.iloc[split.test])[:, 1]
        m = classification_metrics(y[split.test].astype(int), p)
        diag = diagnostic_metrics("bayes", pipe) if model_name == BAYES else {}
        rows.append(
            {
                "task": name,
                "split": split.method,
                "model": model_name,
                "n_test": len(split.test),
                "fit_s": seconds,
                **m,
                **diag,
            }
        )
    return rows


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--no-bayes", action="store_true", help="skip the (slow) Bayesian model")
    args = parser.parse_args()
    print(
        f"# conversion benchmark, {date.today()}, {platform.processor() or platform.machine()}, "
        f"python {platform.python_version()}\n"
    )
    print(
        "| task | split | model | test rows | ROC AUC | PR AUC | Brier | ECE | fit s "
        "| max R-hat | min ESS | ESS/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for task in args.tasks:
        for r in run_task(task, bayes=not args.no_bayes):
            sampling = "| | |"
            if "max_rhat" in r:
                ess_rate = r["min_ess_bulk"] / r["fit_s"]
                sampling = f"{r['max_rhat']:.3f} | {r['min_ess_bulk']:.0f} | {ess_rate:.0f} |"
            print(
                f"| {r['task']} | {r['split']} | {r['model']} | {r['n_test']:,} | "
                f"{r['roc_auc']:.3f} | {r['pr_auc']:.3f} | {r['brier']:.4f} | "
                f"{r['ece']:.3f} | {r['fit_s']:.1f} | {sampling}",
                flush=True,
            )


if __name__ == "__main__":
    main()
