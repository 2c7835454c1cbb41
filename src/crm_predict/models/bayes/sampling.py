"""The PyMC graph of the Bayesian conversion model, and the NUTS run that samples it.

This is the PyMC side of :class:`~crm_predict.models.bayes.model.BayesianConversionModel`.

:func:`check_settings` and :func:`merge_priors` validate the sampler settings and priors,
:func:`centred_fields` picks each field's parameterisation, and :func:`make_model` turns
binomial cells (see :mod:`crm_predict.models.bayes.encoding`) into
a PyMC model: an intercept, one varying intercept per grouping field, its effects summing
to zero over the training rows (:func:`level_basis`; centred where the data pin the
levels, non-centred otherwise), slopes on the numeric
features and a hand-written binomial log-likelihood. :func:`sample` runs NUTS on it with
PyMC, or with nutpie on the same density written by hand
(:func:`~crm_predict.models.bayes.density.make_density`); it is the only function that
samples, and unit tests replace it through ``crm_predict.models.bayes.model._sample``.
:func:`trim_posterior` keeps the variables that :func:`posterior_names` lists.

Examples
--------
>>> import numpy as np
>>> enc = {"tokens_": {"source": "source"}, "levels_": {"source": ["event", "web"]},
...        "level_n_": {"source": [10, 10]}, "slope_names_": [], "parents_": {}}
>>> cells = {"codes": {"source": np.array([0, 1])}, "Z": np.zeros((2, 0)),
...          "k": np.array([3.0, 5.0]), "n": np.array([10.0, 10.0])}
>>> model = make_model(cells, enc, {"source": True}, merge_priors(None))
>>> sorted(model.named_vars)
['b_source', 'intercept', 'loglik', 'sigma_source', 'y_source']
>>> posterior_names(enc["tokens_"], enc["levels_"], enc["slope_names_"])
['intercept', 'sigma_source', 'b_source']
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pymc as pm
import pytensor.tensor as pt
from threadpoolctl import threadpool_limits

from crm_predict.models.bayes.encoding import level_spread_ratio

if TYPE_CHECKING:
    from crm_predict.models.bayes.density import CellDensity

DEFAULT_PRIORS: dict[str, dict[str, float]] = {
    "intercept": {"mu": 0.0, "sigma": 1.5},
    "group_sigma": {"sigma": 1.0},
    "interaction_sigma": {"sigma": 0.5},
    "slope": {"mu": 0.0, "sigma": 1.0},
}
"""Default priors on the log-odds scale; ``priors=`` overrides them key by key.

``intercept``: Normal; ``group_sigma``: HalfNormal spread of each field's level effects;
``interaction_sigma``: HalfNormal spread of interaction effects; ``slope``: Normal slope
per standard deviation of a numeric feature (and per missing-value indicator).
"""

SAMPLERS = ("nutpie", "pymc")
# nutpie's default 0.8 left a rare divergence with the low-rank mass matrix; 0.85 still left
# one in half the seeds of telco_churn, 0.9 none in four, at the same 7 gradient evaluations
# per draw (benchmarks/RESULTS.md, session 8). Weakly identified (non-centred) fields have a
# funnel in one direction or the other, so those models step more carefully.
TARGET_ACCEPT = 0.9
TARGET_ACCEPT_WEAK = 0.95
# A field's effects are sampled centred when the spread between its levels (estimated from
# the raw rates) is at least this many times a typical level's standard error: then the data
# pin each level and centring avoids the non-centred funnel. Weakly identified fields (thin
# levels, no real differences) are sampled non-centred. See benchmarks/bayes.py.
CENTRED_MIN_RATIO = 2.0
# A field with this many levels or fewer gets effects of a fixed spread (the prior's
# ``group_sigma.sigma``) instead of a learned one: up to three contrasts say next to nothing
# about a spread, and a learned spread over them is a funnel that neither parameterisation
# samples well (a 2-level field held 216 bulk ESS and most divergences of a 10-field bank
# export; 4-level fields were at fault in telco and Maven, and fixing them took leads_demo
# from 3 and 2 divergences to none in two seeds; benchmarks/RESULTS.md, sessions 6 to 8).
# Its ``sigma_<field>`` is recorded as that constant.
FIXED_SPREAD_MAX_LEVELS = 4


def check_settings(sampler: str, draws: int, tune: int, chains: int) -> None:
    """Reject an unknown sampler, ``draws`` or ``chains`` below 1 and ``tune`` below 0."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    for name, value in (("draws", draws), ("tune", tune), ("chains", chains)):
        if not isinstance(value, int | np.integer) or value < (0 if name == "tune" else 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def merge_priors(priors: dict[str, dict[str, float]] | None) -> dict[str, dict[str, float]]:
    """Merge ``priors`` over :data:`DEFAULT_PRIORS` key by key, rejecting unknown keys."""
    merged = {key: dict(value) for key, value in DEFAULT_PRIORS.items()}
    for key, override in (priors or {}).items():
        if key not in DEFAULT_PRIORS:
            raise ValueError(f"unknown prior key {key!r}; expected one of {sorted(DEFAULT_PRIORS)}")
        if not isinstance(override, dict):
            raise ValueError(f"priors[{key!r}] must be a dict such as {DEFAULT_PRIORS[key]}")
        for arg, value in override.items():
            if arg not in DEFAULT_PRIORS[key]:
                raise ValueError(
                    f"unknown prior key {key!r}.{arg!r}; expected {sorted(DEFAULT_PRIORS[key])}"
                )
            merged[key][arg] = float(value)
    return merged


def centred_fields(encoding: Mapping[str, Any]) -> dict[str, bool]:
    """Per field, whether its effects are sampled centred: see :data:`CENTRED_MIN_RATIO`.

    A field of fixed spread (:data:`FIXED_SPREAD_MAX_LEVELS`) has no funnel: centred.
    """
    return {
        field: fixed_spread(encoding, field)
        or level_spread_ratio(encoding, field) >= CENTRED_MIN_RATIO
        for field in encoding["tokens_"]
    }


def fixed_spread(encoding: Mapping[str, Any], field: str) -> bool:
    """Whether ``field`` has so few levels that its spread is fixed, not learned."""
    return len(encoding["levels_"][field]) <= FIXED_SPREAD_MAX_LEVELS


def level_basis(counts: np.ndarray) -> np.ndarray:
    """Orthonormal basis, shape ``(n, n - 1)``, of the effects that sum to zero over the rows.

    Effects ``b = basis @ y`` satisfy ``counts @ b = 0``: weighted by training rows, so a
    dominant level (a ``(missing)`` with most rows) stays near the intercept and the
    intercept is the average lead's log-odds. It is a Householder reflection that takes the
    last axis to ``counts``'s direction; with equal counts it is PyMC's ``ZeroSumNormal``
    up to a rotation. Orthonormal, so ``y ~ Normal(0, sigma)`` gives the effects the
    zero-sum normal distribution of that hyperplane.
    """
    n = len(counts)
    a = counts / np.linalg.norm(counts)
    v = a.copy()
    v[-1] -= 1.0
    reflection = np.eye(n) - 2.0 * np.outer(v, v) / (v @ v)
    return np.ascontiguousarray(reflection[:, : n - 1])


def make_model(
    cells: dict[str, Any],
    encoding: dict[str, Any],
    centred: dict[str, bool],
    priors: dict[str, dict[str, float]],
) -> pm.Model:
    """Build the PyMC model of ``cells`` (from :func:`~.bayes_encoding.collapse_cells`).

    ``centred`` says per field whether its level effects are sampled centred (``b_<field>``
    directly) or non-centred (``z_<field>`` times ``sigma_<field>``; for a field nested in
    another, with its effects summing to zero within each outer level); ``priors`` is the
    output of :func:`merge_priors`.
    """
    tokens, levels, slope_names = encoding["tokens_"], encoding["levels_"], encoding["slope_names_"]
    coords = {f"{token}_level": levels[field] for field, token in tokens.items()}
    if slope_names:
        coords["feature"] = slope_names
    with pm.Model(coords=coords) as model:
        eta = pm.Normal("intercept", **priors["intercept"])
        for field, token in tokens.items():
            prior = priors["interaction_sigma" if field in encoding["parents_"] else "group_sigma"]
            fixed = fixed_spread(encoding, field)
            if fixed:
                sigma = pm.Deterministic(f"sigma_{token}", pt.as_tensor(prior["sigma"]))
            else:
                sigma = pm.HalfNormal(f"sigma_{token}", **prior)
            if len(levels[field]) < 2:
                continue  # one level: its effect is the intercept's; sigma serves unseen levels
            dim = f"{token}_level"
            nested = encoding.get("nested_in_", {}).get(field)
            basis = level_basis(np.asarray(encoding["level_n_"][field], dtype=float))
            free = len(levels[field]) - 1
            if fixed or centred[field]:
                spread = prior["sigma"] if fixed else sigma
                values = pm.Normal(f"y_{token}", sigma=spread, shape=free)
                effect = pm.Deterministic(f"b_{token}", pt.dot(basis, values), dims=dim)
            elif nested is not None:
                # Within each outer level (country within region) the effects sum to zero,
                # so the outer field alone carries the outer differences: no ridge between
                # the two fields' effects for the sampler to wander along.
                offset = pm.Normal(f"z_{token}", dims=dim)
                outer_of = np.asarray(nested[1])
                members = np.zeros((len(outer_of), int(outer_of.max()) + 1))
                members[np.arange(len(outer_of)), outer_of] = 1.0
                outer_mean = pt.dot(members.T, offset) / members.sum(axis=0).clip(min=1.0)
                effect = pm.Deterministic(
                    f"b_{token}", (offset - outer_mean[outer_of]) * sigma, dims=dim
                )
            else:
                offset = pm.Normal(f"z_{token}", shape=free)
                effect = pm.Deterministic(f"b_{token}", pt.dot(basis, offset) * sigma, dims=dim)
            eta = eta + effect[cells["codes"][field]]
        if slope_names:
            slope = pm.Normal("slope", **priors["slope"], dims="feature")
            eta = eta + pt.dot(cells["Z"], slope)
        # Binomial log-likelihood without its constant: cheaper to differentiate than
        # pm.Binomial(logit_p=...) and identical up to log C(n, k).
        pm.Potential("loglik", pt.sum(cells["k"] * eta - cells["n"] * pt.softplus(eta)))
    return model


def posterior_names(
    tokens: dict[str, str], levels: dict[str, list[str]], slope_names: list[str]
) -> list[str]:
    """Posterior variables kept after sampling (non-centred offsets ``z_<field>`` dropped)."""
    names = ["intercept"]
    for field, token in tokens.items():
        names.append(f"sigma_{token}")
        if len(levels[field]) >= 2:
            names.append(f"b_{token}")
    return names + (["slope"] if slope_names else [])


def trim_posterior(idata: az.InferenceData, encoding: Mapping[str, Any]) -> az.InferenceData:
    """Keep the :func:`posterior_names` variables and the divergence and step statistics."""
    keep = posterior_names(encoding["tokens_"], encoding["levels_"], encoding["slope_names_"])
    stats = [s for s in ("diverging", "n_steps", "step_size") if s in idata.sample_stats]
    return az.InferenceData(posterior=idata.posterior[keep], sample_stats=idata.sample_stats[stats])


def sample(
    model: pm.Model | CellDensity,
    *,
    sampler: str,
    draws: int,
    tune: int,
    chains: int,
    random_state: int | None,
    progressbar: bool,
    target_accept: float,
) -> az.InferenceData:
    """Run NUTS on ``model``; the only place that samples.

    nutpie samples the hand-written density (a :class:`~.density.CellDensity`), PyMC's
    sampler the PyMC graph (a ``pm.Model``); both are the same posterior.
    :class:`~crm_predict.models.bayes.model.BayesianConversionModel` calls this through the
    module global ``crm_predict.models.bayes.model._sample``, which unit tests replace.

    BLAS is limited to one thread: the chains already use the cores, and a multi-threaded
    ``dot`` that two chains call at once may split its sums differently from run to run,
    so the same seed would not always give the same draws.
    """
    cores = min(chains, os.cpu_count() or 1)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        # PyMC's sampler runs the model compiled by numba, which reaches BLAS through SciPy.
        # Only PyTensor's C backend, unused here, links a BLAS of its own; a graph rewrite
        # still asks for one and PyTensor warns that it found none. Scoped to this call:
        # importing crm_predict changes no PyTensor setting (house rule 7).
        warnings.filterwarnings("ignore", "PyTensor could not link to a BLAS", UserWarning)
        if sampler == "nutpie":
            import nutpie

            return nutpie.sample(
                model.nutpie_model(),
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                seed=random_state,
                progress_bar=progressbar,
                save_warmup=False,
                low_rank_modified_mass_matrix=True,
                target_accept=target_accept,
            )
        with model:
            return pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                random_seed=random_state,
                progressbar=progressbar,
                init="jitter+adapt_full",  # dense mass matrix: see MEASUREMENTS.md
                target_accept=target_accept,
                compile_kwargs={"mode": "NUMBA"},
                compute_convergence_checks=False,
            )
