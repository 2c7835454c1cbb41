"""Benchmark the levers that make the hierarchical Bayesian conversion model fast.

Generates a 36,000-row table shaped like the bank-telemarketing measurement in
``MEASUREMENTS.md`` (grouping fields with 12, 12, 3 and 4 levels; five correlated numerics,
some discrete like previous contacts, 3% of one missing), fits it with each variant in a
fresh process (so every wall time includes compilation) and prints a markdown table.
``cpu s`` is the process CPU time: on a shared machine it moves less than the wall time;
``--cases`` also prints ``fit cpu s``, the cpu seconds of the Bayesian fit alone (every
thread of the process: nutpie's chains are threads).

``--cases`` prints the acceptance table instead: package defaults on that 4-field table, on
a 10-field one shaped like a real telemarketing export (:func:`make_wide_table`), and on
every shipped config (trained as ``crm-predict train --models gbm,bayes`` does), each in a
fresh process, with the holdout AUC of LightGBM beside it and the load average around it.

Usage::

    python benchmarks/bayes.py                 # the default variants (about 6 minutes)
    python benchmarks/bayes.py --all           # also the slow ones (about 25 more minutes)
    python benchmarks/bayes.py --variants package,package-500
    python benchmarks/bayes.py --cases         # acceptance table (about 10 minutes)
    python benchmarks/bayes.py --cases bank-10,telco_churn
    python benchmarks/bayes.py --cases --bins 8 --tune 300   # a lever on every case
    python benchmarks/bayes.py --cases telco_churn --draws 1000 --tune 500
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from crm_predict.models.bayes.model import BayesianConversionModel
from crm_predict.models.bayes.outputs import convergence

FIELDS = {"job": 12, "month": 12, "marital": 3, "education": 4}
NUMERICS = ["age", "balance", "campaign", "pdays", "previous"]
# The real telemarketing export: 8 categorical fields plus the creation weekday and month.
# Level counts and the planted spread of each field's effects (some fields carry little,
# "default" is 98% one level, as in the export).
WIDE_FIELDS = {
    "job": (12, 0.35),
    "marital": (3, 0.15),
    "education": (4, 0.15),
    "default": (2, 0.3),
    "housing": (2, 0.4),
    "loan": (2, 0.25),
    "contact": (3, 0.6),
    "poutcome": (4, 1.0),
    "weekday": (7, 0.05),
    "month": (12, 0.7),
}
CONFIG_CASES = (
    "leads_demo",
    "maven_opportunities",
    "xeducation_leads",
    "telco_churn",
    "churn_demo",
    "xeducation_leads_leaky",
)
# The leaky X Education config (fields staff fill in after contact: near separation) is a
# stress case, run on request (--cases xeducation_leads_leaky), not an acceptance row.
CASES = ("bank-4", "bank-10", *CONFIG_CASES[:-1])


@dataclass(frozen=True)
class Variant:
    """One way of fitting the model."""

    what: str
    slow: bool = False
    categorical_only: bool = False
    wide: bool = False


VARIANTS = {
    "pymc-nc-rows": Variant("PyMC NUTS, non-centred Normal offsets, Bernoulli per row", True),
    "pymc-zsn-full-rows": Variant("PyMC NUTS, centred ZeroSumNormal, dense mass matrix"),
    "nutpie-nczsn-rows": Variant("nutpie, non-centred ZeroSumNormal, Bernoulli per row", True),
    "nutpie-zsn-rows": Variant("nutpie, centred ZeroSumNormal, Bernoulli per row"),
    "nutpie-zsn-cells": Variant("+ binomial cells, hand-written log-likelihood"),
    "package-500": Variant("+ low-rank mass matrix, target_accept 0.85 (package, 500 draws)"),
    "package": Variant("BayesianConversionModel() defaults: 1000 draws"),
    "package-pymc": Variant("BayesianConversionModel(sampler='pymc')", True),
    "cats-rows": Variant("grouping fields only: nutpie, centred ZSN, per row", False, True),
    "cats-package": Variant("grouping fields only: BayesianConversionModel()", False, True),
    "wide-package": Variant("10-field table: BayesianConversionModel()", wide=True),
    "wide-package-tune300": Variant("10-field table: 300 warm-up steps, not 500", wide=True),
    "wide-package-jax": Variant(
        "10-field table: nutpie's JAX backend (needs jax installed)", True, wide=True
    ),
}


def make_table(n: int = 36_000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Bank-telemarketing-like leads: 4 grouping fields and 5 correlated numerics."""
    rng = np.random.default_rng(seed)
    frame = {}
    logit = np.full(n, -1.8)
    for name, k in FIELDS.items():
        share = rng.dirichlet(np.full(k, 3.0))
        codes = rng.choice(k, size=n, p=share)
        frame[name] = pd.Categorical.from_codes(codes, [f"{name}_{i:02d}" for i in range(k)])
        logit += rng.normal(0.0, 0.5, k)[codes]
    age = np.clip(np.round(rng.normal(41, 10.5, n)), 18, 95)
    balance = np.round(np.exp(rng.normal(6.0, 1.2, n)) * (age / 40) - 300)
    balance[rng.uniform(size=n) < 0.03] = np.nan
    campaign = 1.0 + rng.poisson(np.exp(rng.normal(0.5, 0.7, n)))
    previous = rng.poisson(np.where(rng.uniform(size=n) < 0.18, 2.5, 0.0)).astype(float)
    days = np.round(rng.uniform(1, 400, n) / (1 + 0.3 * previous))
    pdays = np.where(previous > 0, days, -1.0)
    numerics = pd.DataFrame(
        {"age": age, "balance": balance, "campaign": campaign, "pdays": pdays, "previous": previous}
    )
    z = ((numerics - numerics.mean()) / numerics.std()).fillna(0.0).to_numpy()
    logit += z @ np.array([0.1, 0.15, -0.35, 0.25, 0.4])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.concat([pd.DataFrame(frame), numerics], axis=1), y


def make_wide_table(n: int = 36_000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A wide telemarketing-like export: 10 grouping fields, 5 skewed correlated numerics.

    Base rate about 12%; call duration and number of contacts share a latent factor,
    balance grows with age, days since the last contact exist only for leads contacted
    before (``-1`` otherwise) and previous contacts act through them.
    """
    rng = np.random.default_rng(seed)
    frame, logit = {}, np.full(n, -2.8)
    for name, (k, spread) in WIDE_FIELDS.items():
        share = np.array([0.98, 0.02]) if name == "default" else rng.dirichlet(np.full(k, 1.5))
        codes = rng.choice(k, size=n, p=share)
        frame[name] = pd.Categorical.from_codes(codes, [f"{name}_{i:02d}" for i in range(k)])
        logit += rng.normal(0.0, spread, k)[codes]
    latent = rng.normal(size=n)
    age = np.clip(np.round(rng.normal(41, 10.5, n)), 18, 95)
    balance = np.round(np.exp(rng.normal(6.0, 1.3, n)) * (age / 40) - 300)
    duration = np.round(np.exp(rng.normal(5.2, 0.8, n) + 0.3 * latent))
    campaign = 1.0 + rng.poisson(np.exp(rng.normal(0.5, 0.7, n) - 0.2 * latent))
    previous = rng.poisson(np.where(rng.uniform(size=n) < 0.18, 2.5, 0.0)).astype(float)
    days = np.round(rng.uniform(1, 400, n) / (1 + 0.3 * previous))
    numerics = pd.DataFrame(
        {
            "age": age,
            "balance": balance,
            "duration": duration,
            "campaign": campaign,
            "pdays": np.where(previous > 0, days, -1.0),
        }
    )
    z = ((numerics - numerics.mean()) / numerics.std()).to_numpy()
    logit += z @ np.array([0.05, 0.1, 0.9, -0.3, 0.2]) + 0.3 * (previous > 0)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.concat([pd.DataFrame(frame), numerics], axis=1), y


def _row_model(X: pd.DataFrame, y: np.ndarray, parameterisation: str) -> pm.Model:
    """The per-row models measured before the package's model existed."""
    coords = {f: list(X[f].cat.categories) for f in FIELDS}
    numerics = [c for c in X.columns if c not in FIELDS]
    Z = X[numerics].to_numpy(dtype=float)
    Z = np.nan_to_num((Z - np.nanmean(Z, 0)) / np.nanstd(Z, 0))
    with pm.Model(coords=coords) as model:
        eta = pm.Normal("intercept", 0.0, 1.5)
        for f in FIELDS:
            sigma = pm.HalfNormal(f"sigma_{f}", 1.0)
            if parameterisation == "nc":
                effect = pm.Normal(f"z_{f}", 0.0, 1.0, dims=f) * sigma
            elif parameterisation == "nczsn":
                effect = pm.ZeroSumNormal(f"z_{f}", sigma=1.0, dims=f) * sigma
            else:
                effect = pm.ZeroSumNormal(f"b_{f}", sigma=sigma, dims=f)
            eta = eta + effect[X[f].cat.codes.to_numpy()]
        if numerics:
            eta = eta + pt.dot(Z, pm.Normal("slope", 0.0, 1.0, shape=len(numerics)))
        pm.Bernoulli("y", logit_p=eta, observed=y)
    return model


def run_one(name: str, n: int) -> dict:
    """Fit one variant; return its row of the table."""
    X, y = make_wide_table(n) if VARIANTS[name].wide else make_table(n)
    if VARIANTS[name].categorical_only:
        X = X[list(FIELDS)]
    if name == "wide-package-jax":
        import functools

        import nutpie

        nutpie.compile_pymc_model = functools.partial(
            nutpie.compile_pymc_model, backend="jax", gradient_backend="jax"
        )
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    cells = n
    if name.startswith(("package", "cats-package", "wide-package")):
        draws = 500 if name == "package-500" else 1000
        tune = 300 if name == "wide-package-tune300" else 500
        sampler = "pymc" if name == "package-pymc" else "nutpie"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = BayesianConversionModel(draws=draws, tune=tune, sampler=sampler).fit(X, y)
        idata, cells = fitted.idata_, fitted.n_cells_
    else:
        if name == "nutpie-zsn-cells":
            estimator = BayesianConversionModel(categorical=list(FIELDS))
            model = estimator.build_model(X, y)
            cells = estimator.n_cells_
        else:
            model = _row_model(X, y, "zsn" if name == "cats-rows" else name.split("-")[1])
        with threadpool_limits(limits=1):  # as the package samples: see bayes_sampling.sample
            if name.startswith("pymc"):
                init = "jitter+adapt_full" if "full" in name else "jitter+adapt_diag"
                with model:
                    idata = pm.sample(
                        500,
                        tune=500,
                        chains=2,
                        cores=2,
                        random_seed=1,
                        progressbar=False,
                        init=init,
                    )
            else:
                import nutpie

                idata = nutpie.sample(
                    nutpie.compile_pymc_model(model),
                    draws=500,
                    tune=500,
                    chains=2,
                    cores=2,
                    seed=1,
                    progress_bar=False,
                )
        idata.posterior = idata.posterior[
            [v for v in idata.posterior.data_vars if not v.endswith("__")]
        ]
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    diag = convergence(idata, wall)
    stats = idata.sample_stats
    return {
        "cells": cells,
        "wall": wall,
        "cpu": cpu,
        "rhat": diag["max_rhat"],
        "ess": diag["min_ess_bulk"],
        "divergences": diag["divergences"],
        "steps": float(stats["n_steps"].mean()) if "n_steps" in stats else float("nan"),
    }


def run_case(name: str, settings: dict | None = None, target_accept: float | None = None) -> dict:
    """Fit the package's default Bayesian model on one case, and LightGBM beside it.

    ``settings`` override the estimator's (and a config's ``bayes`` section's) ``tune``,
    ``draws`` and ``numeric_bins``; ``target_accept`` replaces the one for weakly identified fields.
    """
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    fit_cpu = _time_bayes_fits()
    if target_accept is not None:
        from crm_predict.models.bayes import model as bayes_model

        bayes_model.TARGET_ACCEPT_WEAK = target_accept
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    if name in CONFIG_CASES:
        from crm_predict.config import load_config
        from crm_predict.training.train import train_task

        config = load_config(f"configs/{name}.yaml")
        config = config.model_copy(update={"bayes": config.bayes.model_copy(update=settings)})
        result = train_task(config, models=("gbm", "bayes"), quiet=True)
        bayes = result.models["bayes"]
        model, wall = bayes.pipeline[-1], bayes.fit_seconds
        auc, gbm_auc = bayes.metrics["roc_auc"], result.models["gbm"].metrics["roc_auc"]
        loss = bayes.metrics["log_loss"]
        rows = len(result.split.train)
    else:
        import lightgbm as lgb

        X, y = make_table() if name == "bank-4" else make_wide_table()
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.2, stratify=y, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = BayesianConversionModel(**settings).fit(X_train, y_train)
        wall = time.perf_counter() - start
        p_test = model.predict_proba(X_test)[:, 1]
        auc, loss = roc_auc_score(y_test, p_test), log_loss(y_test, p_test)
        booster = lgb.LGBMClassifier(random_state=0, verbose=-1, n_jobs=2)
        gbm_auc = roc_auc_score(y_test, booster.fit(X_train, y_train).predict_proba(X_test)[:, 1])
        rows = len(X_train)
    diag, stats = model.diagnostics(), model.idata_.sample_stats
    return {
        "rows": rows,
        "cells": model.n_cells_,
        "wall": wall,
        "cpu": _cpu_seconds() - cpu_start,
        "fit_cpu": sum(fit_cpu),
        "rhat": diag["max_rhat"],
        "ess": diag["min_ess_bulk"],
        "divergences": diag["divergences"],
        "attempts": diag.get("attempts", 1),
        "at_fault": ", ".join(f["name"] for f in diag["at_fault"]),
        "steps": float(stats["n_steps"].mean()) if "n_steps" in stats else float("nan"),
        "auc": auc,
        "log_loss": loss,
        "gbm_auc": gbm_auc,
    }


def cases_table(names: list[str], options: list[str]) -> None:
    """Print the acceptance table, each case fitted in a fresh process with ``options``."""
    print(
        "| case | train rows | cells | wall s | fit cpu s | cpu s | max R-hat | min bulk ESS "
        "| ESS/s | divergences | runs | grad evals/draw | AUC | log loss | LightGBM AUC "
        "| converged | load avg |"
    )
    print("|" + "---|" * 17)
    for name in names:
        load = os.getloadavg()[0]
        out = subprocess.run(
            [sys.executable, __file__, "--case", name, *options],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1:]} |", flush=True)
            continue
        r = json.loads(lines[-1])
        print(json.dumps({"case": name, **r}), file=sys.stderr)  # every digit, for the record
        ok = r["rhat"] <= 1.01 and r["ess"] >= 400 and r["divergences"] == 0
        verdict = "yes" if ok else f"no ({r['at_fault'] or 'divergences'})"
        print(
            f"| {name} | {r['rows']:,} | {r['cells']:,} | {r['wall']:.1f} | {r['fit_cpu']:.1f} "
            f"| {r['cpu']:.0f} "
            f"| {r['rhat']:.3f} | {r['ess']:.0f} | {r['ess'] / r['wall']:.1f} "
            f"| {r['divergences']} | {r['attempts']} | {r['steps']:.1f} | {r['auc']:.3f} "
            f"| {r['log_loss']:.4f} "
            f"| {r['gbm_auc']:.3f} "
            f"| {verdict} | {load:.1f} → {os.getloadavg()[0]:.1f} |",
            flush=True,
        )


def _time_bayes_fits() -> list[float]:
    """Record the cpu seconds of every Bayesian fit (all its threads) in the returned list."""
    seconds: list[float] = []
    fit = BayesianConversionModel.fit

    def timed_fit(self: BayesianConversionModel, X: pd.DataFrame, y: np.ndarray):
        start = time.process_time()
        try:
            return fit(self, X, y)
        finally:
            seconds.append(time.process_time() - start)

    BayesianConversionModel.fit = timed_fit
    return seconds


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (PyMC's chain processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=36_000)
    parser.add_argument("--variants", help="comma-separated subset of: " + ", ".join(VARIANTS))
    parser.add_argument("--all", action="store_true", help="include the slow variants")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument(
        "--cases", nargs="?", const=",".join(CASES), help="acceptance table: " + ", ".join(CASES)
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--bins", type=int, help="--cases: numeric_bins of the model")
    parser.add_argument("--tune", type=int, help="--cases: warm-up steps per chain")
    parser.add_argument("--draws", type=int, help="--cases: posterior draws per chain")
    parser.add_argument("--target-accept", type=float, help="--cases: for weak fields")
    args = parser.parse_args()
    if args.case:
        settings = {"numeric_bins": args.bins, "tune": args.tune, "draws": args.draws}
        print(json.dumps(run_case(args.case, settings, args.target_accept)))
        return
    if args.cases:
        options = [
            f"--{flag}={value}"
            for flag, value in (
                ("bins", args.bins),
                ("tune", args.tune),
                ("draws", args.draws),
                ("target-accept", args.target_accept),
            )
            if value is not None
        ]
        cases_table(args.cases.split(","), options)
        return
    if args.one:
        print(json.dumps(run_one(args.one, args.rows)))
        return
    names = (
        args.variants.split(",")
        if args.variants
        else [name for name, v in VARIANTS.items() if args.all or not v.slow]
    )
    print(
        "| variant | what | rows or cells | wall s (incl. compile) | cpu s | max R-hat "
        "| min bulk ESS | ESS/s | divergences | grad evals/draw |"
    )
    print("|" + "---|" * 10)
    for name in names:
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--rows", str(args.rows)],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1:]} |", flush=True)
            continue
        r = json.loads(lines[-1])
        print(
            f"| {name} | {VARIANTS[name].what} | {r['cells']} | {r['wall']:.1f} | {r['cpu']:.0f} "
            f"| {r['rhat']:.3f} | {r['ess']:.0f} | {r['ess'] / r['wall']:.1f} "
            f"| {r['divergences']} | {r['steps']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
