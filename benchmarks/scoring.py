"""Scoring benchmark: exact per-lead reasons (TreeSHAP grouped to CRM fields) at scale.

Run ``python benchmarks/scoring.py [--rows 1000000]`` from the repository root. It trains a
LightGBM model of 500 trees x 31 leaves on 16 CRM-like features (6 categoricals, 5 small
counts, 5 continuous values with NaN; 50,000 synthetic rows), then scores ``--rows`` fresh
rows from the same generator, 100,000 at a time, with each method in its own process (so
each reports its own peak RSS). Slow reference methods run on a subsample and are
extrapolated. Timings cover scoring only (not data generation); the machine may be shared,
so each timed section also reports CPU seconds. The markdown table goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

CATEGORICALS = {
    "source": 8,
    "industry": 12,
    "region": 4,
    "country": 15,
    "size_band": 6,
    "job_level": 5,
}
FIELDS = {  # CRM field each model feature comes from: 16 features -> 10 fields
    "source": "source",
    "industry": "industry",
    "region": "geography",
    "country": "geography",
    "size_band": "company",
    "employees": "company",
    "job_level": "contact",
    "emails_opened": "email",
    "emails_30d": "email",
    "web_visits": "web",
    "web_minutes": "web",
    "calls": "sales_touches",
    "meetings": "sales_touches",
    "deal_value": "deal",
    "days_since_touch": "recency",
    "engagement": "contact",
}
CHUNK = 100_000


def make_leads(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic leads and a conversion label with planted effects."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for name, k in CATEGORICALS.items():
        weights = np.random.default_rng(k * 31 + len(name)).dirichlet(np.full(k, 1.5))
        cols[name] = pd.Categorical.from_codes(
            rng.choice(k, n, p=weights), categories=[f"{name}_{i}" for i in range(k)]
        )
    for name, mean in (
        ("emails_opened", 2.0),
        ("emails_30d", 0.8),
        ("web_visits", 3.0),
        ("calls", 0.7),
        ("meetings", 0.3),
    ):
        cols[name] = rng.poisson(mean, n).astype(float)

    def with_nan(values: np.ndarray, share: float) -> np.ndarray:
        return np.where(rng.random(n) < share, np.nan, values)

    cols["employees"] = with_nan(np.round(np.exp(rng.normal(4, 1.5, n))), 0.15)
    cols["deal_value"] = with_nan(np.round(np.exp(rng.normal(9, 1, n)), -2), 0.25)
    cols["days_since_touch"] = with_nan(rng.exponential(30, n).round(), 0.1)
    cols["engagement"] = rng.normal(0, 1, n)
    cols["web_minutes"] = with_nan(rng.gamma(2, 5, n), 0.3)
    X = pd.DataFrame(cols)[list(FIELDS)]
    logit = (
        -1
        + 0.3 * X["emails_opened"]
        - 0.02 * X["days_since_touch"].fillna(60)
        + 0.5 * X["meetings"]
        + 0.4 * X["engagement"]
        + 0.4 * (X["source"].cat.codes % 3)
        + 0.2 * np.log1p(X["employees"].fillna(10))
        - 0.3 * (X["region"].cat.codes == 1)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    return X, y


def chunks(rows: int, seed: int = 1):
    """The scored rows, ``CHUNK`` at a time (the same rows for every method)."""
    for i, start in enumerate(range(0, rows, CHUNK)):
        yield make_leads(min(CHUNK, rows - start), seed * 1_000_003 + i)[0]


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    """Adds up wall and CPU seconds of the timed sections only."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu

    def best(self, fn, repeat: int) -> None:
        """Run ``fn`` ``repeat`` times and count only its fastest run (the machine is shared)."""
        walls, cpus = [], []
        for _ in range(repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        self.wall += min(walls)
        self.cpu += min(cpus)


def grouped_reference(booster: lgb.Booster, X: pd.DataFrame, names: list[str]) -> np.ndarray:
    contrib = booster.predict(X, pred_contrib=True)
    fields = np.array([FIELDS[f] for f in booster.feature_name()])
    return np.column_stack([contrib[:, :-1][:, fields == name].sum(1) for name in names])


def worker(method: str, model_path: str, rows: int, options: dict) -> dict:
    """Run one method in this process and return its measurements."""
    booster = lgb.Booster(model_file=model_path)
    result: dict = {"rows": rows}
    timer = Timer()
    repeat = options.get("repeat", 1)
    if method == "predict":
        for X in chunks(rows):
            timer.best(lambda X=X: booster.predict(X, raw_score=True, num_threads=2), repeat)
    elif method == "pred_contrib":
        for X in chunks(rows):
            timer.best(lambda X=X: booster.predict(X, pred_contrib=True, num_threads=2), repeat)
    elif method == "shap":
        import shap

        explainer = shap.TreeExplainer(booster)
        for X in chunks(rows):
            timer.best(lambda X=X: explainer.shap_values(X), repeat)
    elif method == "jit":
        from crm_predict.explain.treeshap import TreeEnsemble

        X, y = make_leads(500, 5)
        tiny = lgb.train(
            {"objective": "binary", "verbose": -1, "num_leaves": 4}, lgb.Dataset(X, y), 3
        )
        with timer:
            TreeEnsemble.from_booster(tiny).contributions(X.iloc[:10])
    else:
        from crm_predict.explain.treeshap import TreeEnsemble

        warm = Timer()
        with warm:  # compile, or load the kernels from numba's cache, on a tiny input
            TreeEnsemble.from_booster(booster, num_iteration=1).contributions(next(chunks(10)))
        result["warmup_s"] = warm.wall
        build = Timer()
        with build:
            ens = TreeEnsemble.from_booster(booster, max_table=options["max_table"])
        result.update(
            build_s=build.wall,
            build_cpu_s=build.cpu,
            table_mib=ens.table_bytes / 2**20,
            units=ens.n_units,
        )
        groups = FIELDS if options["grouped"] else None
        keywords = {
            "groups": groups,
            "n_jobs": options["threads"],
            "tabled": options["tabled"],
            "block_rows": options["block_rows"],
        }
        for X in chunks(rows):
            timer.best(lambda X=X: ens.contributions(X, **keywords), repeat)
        if options["check"]:
            X = next(chunks(2000, seed=7))
            contrib, base, names = ens.contributions(X, groups=FIELDS)
            result["max_diff"] = float(np.abs(contrib - grouped_reference(booster, X, names)).max())
            raw = booster.predict(X, raw_score=True)
            result["additivity"] = float(np.abs(contrib.sum(1) + base - raw).max())
    result.update(seconds=timer.wall, cpu_s=timer.cpu, peak_mib=peak_mib())
    return result


def run(method: str, model_path: str, rows: int, env: dict | None = None, **options) -> dict:
    """Run ``method`` in a fresh interpreter (its own peak RSS) and return its measurements."""
    args = [
        sys.executable,
        __file__,
        "--worker",
        method,
        "--model",
        model_path,
        "--rows",
        str(rows),
        "--options",
        json.dumps(options),
    ]
    out = subprocess.run(
        args, capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Train the reference model, run every method, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=10_000, help="rows for pred_contrib")
    parser.add_argument("--lever-rows", type=int, default=200_000, help="rows for lever rows")
    parser.add_argument("--repeat", type=int, default=2, help="runs per chunk; best counts")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.rows, json.loads(args.options))))
        return
    n, lever, sample = args.rows, min(args.lever_rows, args.rows), min(args.sample, args.rows)
    ours = {
        "max_table": 4096,
        "threads": 2,
        "grouped": True,
        "tabled": True,
        "check": False,
        "block_rows": 8192,
        "repeat": args.repeat,
    }
    plan = [  # label, method, rows timed, options, extrapolated to ``n``
        ("`predict(raw_score=True)`, 2 threads", "predict", n, {}, False),
        ("`predict(pred_contrib=True)`, 2 threads", "pred_contrib", sample, {}, True),
        ("`shap.TreeExplainer(booster).shap_values`", "shap", sample // 4, {}, True),
        ("**ours**: tables, 2 threads, 10 fields", "ours", n, {"check": True}, False),
        ("lever: ours, same, on the lever rows", "ours", lever, {}, False),
        (
            "lever: no tables (per-row TreeSHAP in numba)",
            "ours",
            sample // 4,
            {"tabled": False},
            True,
        ),
        ("lever: tables, 1 thread", "ours", lever, {"threads": 1}, False),
        (
            "lever: 256-row blocks (tables fall out of cache)",
            "ours",
            lever,
            {"block_rows": 256},
            False,
        ),
        ("lever: per feature, not grouped (16 columns)", "ours", lever, {"grouped": False}, False),
        ("lever: smaller units (max_table=1024)", "ours", lever, {"max_table": 1024}, False),
        ("lever: larger units (max_table=16384)", "ours", lever, {"max_table": 16384}, False),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        model_path = str(Path(tmp) / "model.txt")
        X, y = make_leads(50_000, 0)
        params = {
            "objective": "binary",
            "num_leaves": 31,
            "learning_rate": 0.05,
            "verbose": -1,
            "num_threads": 2,
            "seed": 0,
        }
        start = time.perf_counter()
        lgb.train(params, lgb.Dataset(X, y), 500).save_model(model_path)
        train_s = time.perf_counter() - start
        cold = run("jit", model_path, 0, env={"NUMBA_CACHE_DIR": str(Path(tmp) / "numba")})
        results = []
        for label, method, rows, extra, scaled in plan:
            options = {**ours, **extra} if method == "ours" else {"repeat": args.repeat}
            results.append((label, run(method, model_path, rows, **options), scaled))
    print(
        f"# scoring benchmark, {date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, lightgbm {lgb.__version__}\n"
    )
    print(
        f"Model: 500 trees x 31 leaves, 16 features, trained on 50,000 rows in {train_s:.0f} s."
        f" Scored rows: {n:,}, in chunks of {CHUNK:,}; best of {args.repeat} runs per chunk."
        " Seconds and CPU s of extrapolated rows are scaled to all rows.\n"
    )
    print("| method | rows | seconds | rows/s | CPU s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for label, r, scaled in results:
        scale = n / r["rows"] if scaled else 1.0
        shown = f"{n:,} (extrapolated from {r['rows']:,})" if scaled else f"{r['rows']:,}"
        print(
            f"| {label} | {shown} | {r['seconds'] * scale:.1f} | {r['rows'] / r['seconds']:,.0f}"
            f" | {r['cpu_s'] * scale:.1f} | {r['peak_mib']:.0f} |"
        )
    main_row = results[3][1]
    total = main_row["warmup_s"] + main_row["build_s"] + main_row["seconds"]
    print(
        f"\nOurs, one-off costs: JIT compile (cold numba cache) {cold['seconds']:.1f} s; "
        f"loading the cached kernels {main_row['warmup_s']:.1f} s; parsing the model and "
        f"tabulating {main_row['units']:,} units {main_row['build_s']:.1f} s "
        f"({main_row['build_cpu_s']:.1f} CPU s; tables {main_row['table_mib']:.0f} MiB). "
        f"End to end with a warm cache: {total:.1f} s."
    )
    print(
        f"Ours vs `pred_contrib` summed per field (2,000 rows): max |diff| "
        f"{main_row['max_diff']:.1e}; max |sum + base - raw score| "
        f"{main_row['additivity']:.1e}.\n"
    )
    for label, r, _ in results[4:]:
        print(
            f"- {label}: build {r['build_s']:.1f} s, tables {r['table_mib']:.0f} MiB, "
            f"{r['units']:,} units"
        )


if __name__ == "__main__":
    main()
