"""Benchmark the levers that make the hierarchical Bayesian conversion model fast.

Generates a 36,000-row table shaped like the bank-telemarketing measurement in
``MEASUREMENTS.md`` (grouping fields with 12, 12, 3 and 4 levels; five correlated numerics,
some discrete like previous contacts), fits it with each variant in a fresh process (so
every wall time includes compilation) and prints a markdown table.

Usage::

    python benchmarks/bayes.py                   # the default variants (a few minutes)
    python benchmarks/bayes.py --all             # also the slow historic baselines (~20 min)
    python benchmarks/bayes.py --variants final,final-1000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from crm_predict.models import bayes
from crm_predict.models.bayes_outputs import convergence

FIELDS = {"job": 12, "month": 12, "marital": 3, "education": 4}
NUMERICS = ["age", "balance", "campaign", "pdays", "previous"]

VARIANTS = {
    # name: (description, slow)
    "pymc-nc-rows": ("PyMC NUTS, non-centred Normal offsets, Bernoulli per row", True),
    "pymc-zsn-full-rows": ("PyMC NUTS, centred ZeroSumNormal, dense mass matrix, per row", False),
    "nutpie-nczsn-rows": ("nutpie, non-centred ZeroSumNormal, Bernoulli per row", True),
    "nutpie-zsn-rows": ("nutpie, centred ZeroSumNormal, Bernoulli per row", False),
    "nutpie-zsn-cells": ("+ binomial cells, hand-written log-likelihood", False),
    "final": ("+ low-rank mass matrix = BayesianConversionModel (500 draws)", False),
    "final-1000": ("BayesianConversionModel, 1000 draws", False),
    "final-pymc": ("BayesianConversionModel, sampler='pymc'", False),
    "cats-rows": ("categoricals only: nutpie, centred ZSN, Bernoulli per row", False),
    "cats-final": ("categoricals only: BayesianConversionModel (cells)", False),
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


def _row_model(X: pd.DataFrame, y: np.ndarray, numerics: list[str], parameterisation: str):
    """The per-row models that were measured before the package's model existed."""
    coords = {f: list(X[f].cat.categories) for f in FIELDS}
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
    X, y = make_table(n)
    cats_only = name.startswith("cats-")
    numerics = [] if cats_only else NUMERICS
    data = X[[*FIELDS, *numerics]]
    start = time.perf_counter()
    cells = n
    if name.startswith("final") or name == "cats-final":
        draws = 1000 if name == "final-1000" else 500
        sampler = "pymc" if name == "final-pymc" else "nutpie"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = bayes.BayesianConversionModel(draws=draws, sampler=sampler).fit(data, y)
        idata, cells = model.idata_, model.n_cells_
    else:
        if name == "nutpie-zsn-cells":
            estimator = bayes.BayesianConversionModel(categorical=list(FIELDS))
            model = estimator.build_model(data, y)
            cells = estimator.n_cells_
        else:
            kind = name.split("-")[1] if not cats_only else "zsn"
            model = _row_model(data, y, numerics, kind)
        sampler = "pymc" if name.startswith("pymc") else "nutpie"
        if sampler == "nutpie":
            import nutpie

            compiled = nutpie.compile_pymc_model(model)
            idata = nutpie.sample(
                compiled, draws=500, tune=500, chains=2, cores=2, seed=1, progress_bar=False
            )
        else:
            init = "jitter+adapt_full" if "full" in name else "jitter+adapt_diag"
            with model:
                idata = pm.sample(
                    500, tune=500, chains=2, cores=2, random_seed=1, progressbar=False, init=init
                )
        keep = [v for v in idata.posterior.data_vars if not v.endswith("__")]
        idata.posterior = idata.posterior[keep]
    wall = time.perf_counter() - start
    diag = convergence(idata, wall)
    steps = float(idata.sample_stats["n_steps"].mean()) if "n_steps" in idata.sample_stats else 0
    return {
        "variant": name,
        "rows_or_cells": cells,
        "wall_s": round(wall, 1),
        "max_rhat": round(diag["max_rhat"], 3),
        "min_ess_bulk": round(diag["min_ess_bulk"]),
        "ess_per_s": round(diag["min_ess_bulk"] / wall, 1),
        "divergences": diag["divergences"],
        "grad_evals_per_draw": round(steps, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=36_000)
    parser.add_argument("--variants", help="comma-separated subset of: " + ", ".join(VARIANTS))
    parser.add_argument("--all", action="store_true", help="include the slow baselines")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.rows)))
        return
    names = (
        args.variants.split(",")
        if args.variants
        else [v for v, (_, slow) in VARIANTS.items() if args.all or not slow]
    )
    header = "| variant | what | rows/cells | wall s (incl. compile) | max R-hat | min bulk ESS |"
    header += " ESS/s | divergences | grad evals/draw |"
    print(header)
    print("|" + "---|" * 9)
    for name in names:
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--rows", str(args.rows)],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(lines[-1])
        print(
            f"| {name} | {VARIANTS[name][0]} | {r['rows_or_cells']} | {r['wall_s']} | "
            f"{r['max_rhat']} | {r['min_ess_bulk']} | {r['ess_per_s']} | {r['divergences']} | "
            f"{r['grad_evals_per_draw']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
