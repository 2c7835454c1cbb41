"""Reading the posterior of :class:`~crm_predict.models.bayes.model.BayesianConversionModel`.

:func:`posterior_draws` flattens the sampled ``InferenceData`` into :class:`PosteriorDraws`
once, and the summaries read it: :func:`row_summary` (conversion probability per lead with
its interval), :func:`segment_rows` (rate of every level of every field),
:func:`numeric_rows` (odds ratio per numeric feature) and :func:`convergence` (R-hat, ESS
and divergences). Everything here is NumPy; the rows come encoded by
:mod:`crm_predict.models.bayes.encoding`.

Examples
--------
>>> draws = posterior_draws(model.idata_, model._encoding(), seed=0)  # doctest: +SKIP
>>> mean, low, high = row_summary(draws, codes, Z, prob=0.9)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from scipy.special import expit

from crm_predict.models.bayes.encoding import MISSING_SUFFIX

# Rows scored at once: rows x draws doubles stay near 16 MB whatever the lead list's size.
_CELLS_PER_CHUNK = 2_000_000


@dataclass(frozen=True)
class PosteriorDraws:
    """Posterior draws flattened over chains, ready for vectorised scoring.

    Attributes
    ----------
    intercept : ndarray, shape (n_draws,)
        Log-odds at the population level (every field at its average, numerics at their mean).
    effects : dict of str to ndarray, shape (n_levels + 1, n_draws)
        Per field, one row per learned level; the last row is a fresh draw from the field's
        population distribution ``N(0, sigma_field)``, used for levels unseen in training
        (code ``-1`` selects it).
    slopes : ndarray, shape (n_slopes, n_draws)
        Slopes on the standardised numeric columns.
    """

    intercept: np.ndarray
    effects: dict[str, np.ndarray]
    slopes: np.ndarray

    def log_odds(self, codes: dict[str, np.ndarray], Z: np.ndarray) -> Iterator[np.ndarray]:
        """Yield log-odds draws, shape (chunk rows, n_draws), chunk by chunk in row order."""
        n = Z.shape[0]
        step = max(1, _CELLS_PER_CHUNK // max(1, len(self.intercept)))
        for start in range(0, n, step):
            rows = slice(start, min(n, start + step))
            eta = Z[rows] @ self.slopes + self.intercept
            for field, table in self.effects.items():
                eta += table[codes[field][rows]]
            yield eta


def posterior_draws(idata: az.InferenceData, enc: Mapping[str, Any], seed: int) -> PosteriorDraws:
    """Flatten an ``InferenceData`` posterior into :class:`PosteriorDraws`.

    ``seed`` fixes the population draws used for unseen levels, so scoring is reproducible.
    """
    post = idata.posterior

    def flat(name: str) -> np.ndarray:
        values = post[name].to_numpy()
        return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])

    intercept = flat("intercept")
    effects = {}
    for i, (field, token) in enumerate(enc["tokens_"].items()):
        if f"b_{token}" in post:
            known = flat(f"b_{token}").T
        else:  # a field with a single level: its effect is part of the intercept
            known = np.zeros((len(enc["levels_"][field]), len(intercept)))
        unseen = np.random.default_rng([seed, i]).standard_normal(len(intercept))
        effects[field] = np.vstack([known, unseen * flat(f"sigma_{token}")])
    slopes = flat("slope").T if enc["slope_names_"] else np.zeros((0, len(intercept)))
    return PosteriorDraws(intercept=intercept, effects=effects, slopes=slopes)


def row_summary(
    draws: PosteriorDraws, codes: dict[str, np.ndarray], Z: np.ndarray, prob: float | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Posterior mean conversion probability per row and, if ``prob`` is given, its interval."""
    means, lows, highs = [np.zeros(0)], [np.zeros(0)], [np.zeros(0)]
    for eta in draws.log_odds(codes, Z):
        p = expit(eta)
        means.append(p.mean(axis=1))
        if prob is not None:
            lo, hi = np.quantile(p, _tails(prob), axis=1)
            lows.append(lo)
            highs.append(hi)
    if prob is None:
        return np.concatenate(means), None, None
    return np.concatenate(means), np.concatenate(lows), np.concatenate(highs)


def segment_rows(
    draws: PosteriorDraws, enc: Mapping[str, Any], prob: float, thin_width: float
) -> pd.DataFrame:
    """Posterior conversion rate of every level of every field, other fields at average.

    Per draw: ``sigmoid(intercept + level effect + the other fields' average effects)``,
    numerics at their mean. A field's average effect is weighted by its training rows, so
    "at average" means the mix of the lead population, and a thin level's uncertain effect
    hardly moves the other fields' rates (an unweighted average would pass its shrinkage on
    to every other rate). An interaction level adds both of its main effects; a level
    declared by the categorical dtype but absent from training is reported at the
    population rate with ``n = 0``.

    Returns
    -------
    DataFrame
        ``field, level, n, observed_rate, rate, rate_low, rate_high, thin_data``.
    """
    main = [field for field in enc["tokens_"] if field not in enc["parents_"]]
    average = {}
    for field in main:
        n = np.asarray(enc["level_n_"][field], dtype=float)
        average[field] = n / n.sum() @ draws.effects[field][:-1]
    rows = []
    for field in enc["tokens_"]:
        index = {level: i for i, level in enumerate(enc["levels_"][field])}
        parents = enc["parents_"].get(field, [])
        others = sum((average[g] for g in main if g != field and g not in parents), 0.0)
        for level in enc["declared_"][field]:
            i = index.get(level, -1)
            eta = draws.intercept + others + draws.effects[field][i]
            if parents and i >= 0:
                for parent, code in zip(parents, enc["parent_codes_"][field][i], strict=True):
                    eta = eta + draws.effects[parent][code]
            rate = expit(eta)
            lo, hi = np.quantile(rate, _tails(prob))
            n = int(enc["level_n_"][field][i]) if i >= 0 else 0
            k = int(enc["level_k_"][field][i]) if i >= 0 else 0
            rows.append(
                (field, level, n, k / n if n else np.nan, float(rate.mean()), float(lo), float(hi))
            )
    columns = ["field", "level", "n", "observed_rate", "rate", "rate_low", "rate_high"]
    table = pd.DataFrame(rows, columns=columns)
    table["thin_data"] = (table["rate_high"] - table["rate_low"]) > thin_width
    return table


def numeric_rows(draws: PosteriorDraws, enc: Mapping[str, Any], prob: float) -> pd.DataFrame:
    """Odds multiplier per raw unit of each numeric feature (and for missing vs recorded).

    The point value is the posterior median of the odds ratio, the natural centre of a
    multiplicative effect; ``low`` and ``high`` bound the equal-tailed ``prob`` interval.
    """
    rows = []
    low, high = _tails(prob)
    for j, name in enumerate(enc["slope_names_"]):
        if name in enc["sds_"]:
            feature, per, scale = name, "+1 unit", enc["sds_"][name]
        else:
            feature, per, scale = name.removesuffix(MISSING_SUFFIX), "missing vs recorded", 1.0
        lo, mid, hi = np.quantile(np.exp(draws.slopes[j] / scale), [low, 0.5, high])
        rows.append((feature, float(mid), float(lo), float(hi), per))
    return pd.DataFrame(rows, columns=["feature", "odds_ratio", "low", "high", "per"])


def convergence(
    idata: az.InferenceData, fit_seconds: float, tokens: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Worst R-hat and bulk ESS over every posterior variable, the divergence count, and
    which fields' parameters missed the bar (R-hat > 1.01 or bulk ESS < 400).

    R-hat is ArviZ's rank-normalised split R-hat (the larger of the bulk and folded
    versions), the strictest of its variants. A variable that is constant over the draws
    (the fixed spread of a few-level field) has no R-hat or ESS and is skipped. ``tokens``
    maps each field to its variable-name token, so that ``b_<token>`` and ``sigma_<token>``
    are reported under the field's name; ``slope`` is reported per numeric feature.
    """
    post = idata.posterior
    post = post[[v for v in post.data_vars if float(post[v].std()) > 0]]
    rhat, ess = az.rhat(post), az.ess(post, method="bulk")
    max_rhat = max((float(np.nanmax(rhat[v].to_numpy())) for v in rhat.data_vars), default=1.0)
    min_ess = min((float(np.nanmin(ess[v].to_numpy())) for v in ess.data_vars), default=0.0)
    stats = idata.sample_stats if "sample_stats" in idata.groups() else {}
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    at_fault = _at_fault(rhat, ess, {f"{t}": f for f, t in (tokens or {}).items()})
    return {
        "fit_seconds": float(fit_seconds),
        "max_rhat": max_rhat,
        "min_ess_bulk": min_ess,
        "divergences": divergences,
        "converged": bool(max_rhat <= 1.01 and min_ess >= 400 and divergences == 0),
        "at_fault": at_fault,
    }


def near_miss(diag: Mapping[str, Any], n_draws: int) -> bool:
    """Whether an unconverged run missed by a little: worth sampling again more carefully.

    R-hat at most 1.05, bulk ESS at least 100 and divergences in at most 1% of the
    ``n_draws`` draws. The runs that a second, more careful run fixed missed by one
    divergence or an R-hat of 1.011 (``benchmarks/RESULTS.md``, session 9); a posterior
    near separation (fields filled in after the outcome) missed by far more (R-hat 1.15,
    ESS 10, 19% of draws divergent) and was not fixed by it, at several times the cost.
    """
    return (
        diag["max_rhat"] <= 1.05
        and diag["min_ess_bulk"] >= 100
        and diag["divergences"] <= 0.01 * n_draws
    )


def convergence_advice(diag: Mapping[str, Any]) -> str:
    """What went wrong with an unconverged fit, which fields, and what the user can do."""
    parts = [
        f"the sampler did not converge (max R-hat {diag['max_rhat']:.3f}, min bulk ESS "
        f"{diag['min_ess_bulk']:.0f}, {diag['divergences']} divergences)"
    ]
    fault = diag.get("at_fault") or []
    if fault:
        worst = "; ".join(
            f"{f['name']} (R-hat {f['rhat']:.3f}, bulk ESS {f['ess_bulk']:.0f})" for f in fault[:4]
        )
        parts.append(f"parameters at fault: {worst}")
    advice = "raise bayes.draws (and bayes.tune) in the config"
    if fault and fault[0]["name"] != "intercept":
        advice += (
            f", merge the rare levels of {fault[0]['name']!r} or leave it out of "
            "bayes.categorical / bayes.numeric"
        )
    if diag["divergences"]:
        advice += "; divergences mean the posterior has a funnel: a field whose levels "
        advice += "barely differ is the usual cause, leave it out"
    return "; ".join(parts) + f". Intervals are not to be trusted as they are: {advice}"


def _at_fault(rhat: Any, ess: Any, fields: Mapping[str, str]) -> list[dict[str, Any]]:
    """Fields (and features, the intercept) whose parameters miss the bar, worst ESS first."""
    worst: dict[str, dict[str, Any]] = {}
    for var in rhat.data_vars:
        r, e = rhat[var], ess[var]
        if var == "slope":
            names = [str(c) for c in r.coords[r.dims[0]].to_numpy()] if r.dims else [var]
            values = np.atleast_1d(r.to_numpy()), np.atleast_1d(e.to_numpy())
            pairs = list(zip(names, *values, strict=True))
        else:
            token = var.split("_", 1)[1] if var.startswith(("b_", "sigma_")) else var
            name = fields.get(token, token)
            pairs = [(name, np.nanmax(r.to_numpy()), np.nanmin(e.to_numpy()))]
        for name, r_max, e_min in pairs:
            entry = worst.setdefault(name, {"name": name, "rhat": 1.0, "ess_bulk": np.inf})
            entry["rhat"] = max(entry["rhat"], float(r_max))
            entry["ess_bulk"] = min(entry["ess_bulk"], float(e_min))
    bad = [w for w in worst.values() if w["rhat"] > 1.01 or w["ess_bulk"] < 400]
    return sorted(bad, key=lambda w: (w["ess_bulk"], -w["rhat"]))


def _tails(prob: float) -> tuple[float, float]:
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie strictly between 0 and 1, got {prob}")
    return (1 - prob) / 2, 1 - (1 - prob) / 2


def field_terms(
    draws: PosteriorDraws, enc: Mapping[str, Any], codes: dict[str, np.ndarray], Z: np.ndarray
) -> tuple[pd.DataFrame, float]:
    """Posterior-mean log-odds term of each input column per row, and the mean intercept.

    The model's mean log-odds is exactly the intercept plus the row's terms. A grouping
    field's term is its level's mean effect (0 for an unseen level); an interaction's term is
    split evenly between its two fields; a numeric column's term is its slope times its
    standardised value plus, if it had missing values in training, its indicator's term.
    """
    terms: dict[str, np.ndarray] = {}
    for field, table in draws.effects.items():
        term = table.mean(axis=1)[codes[field]]
        if field in enc["parents_"]:
            for parent in enc["parents_"][field]:
                terms[parent] = terms[parent] + term / 2
        else:
            terms[field] = term
    slopes = draws.slopes.mean(axis=1)
    owners = [*enc["numeric_"], *enc["missing_share_"]]
    for j, owner in enumerate(owners):
        terms[owner] = terms.get(owner, 0.0) + Z[:, j] * slopes[j]
    return pd.DataFrame(terms), float(draws.intercept.mean())
