"""The model's log-density and its gradient, hand-written and compiled once with numba.

The same posterior as the PyMC graph of :func:`~crm_predict.models.bayes.sampling.make_model`
(a test compares the two at random points), written as one fused loop over the binomial
cells: per cell the log-odds, the softplus and the sigmoid residual, scattered back into
the level effects' and the slopes' gradients. nutpie samples it through
:func:`nutpie.compiled_pyfunc.from_pyfunc`, so nothing is generated per model: the loop is
compiled once per machine (numba's file cache), where the PyMC graph took 12–47 cpu s to
compile per fit, and a gradient costs a fraction of the graph's (``benchmarks/bayes.py``).

The unconstrained vector is laid out as PyMC's value variables are, in the model's order:
``intercept``, then per field ``sigma_<t>_log__`` (learned spreads only) and the
coordinates of its effects in :func:`~.sampling.level_basis`: ``y_<t>`` (fixed spread or
centred) or ``z_<t>`` (non-centred), ``n - 1`` values; or ``z_<t>`` (nested fields, ``n``
values); then ``slope``; see :attr:`CellDensity.value_names`.

Examples
--------
>>> import numpy as np
>>> enc = {"tokens_": {"source": "source"}, "levels_": {"source": ["event", "web"]},
...        "level_n_": {"source": [10, 10]}, "slope_names_": [], "parents_": {}}
>>> cells = {"codes": {"source": np.array([0, 1])}, "Z": np.zeros((2, 0)),
...          "k": np.array([3.0, 5.0]), "n": np.array([10.0, 10.0])}
>>> from crm_predict.models.bayes.sampling import merge_priors
>>> density = make_density(cells, enc, {"source": True}, merge_priors(None))
>>> density.value_names
['intercept', 'y_source']
>>> logp, grad = density.logp_and_grad(np.zeros(density.ndim))
>>> grad.shape
(2,)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from crm_predict.models.bayes.sampling import fixed_spread, level_basis

# How a field's effects are parameterised (see make_model): of fixed spread, centred,
# non-centred (unit offsets times the spread), all three in the level basis; offsets
# centred within each outer level (a nested field), or no effect (a single level).
FIXED, CENTRED, NON_CENTRED, NESTED, NO_EFFECT = range(5)
# Taylor coefficients of exp and of atanh's series, for _softplus_sigmoid.
_E = tuple(1.0 / math.factorial(j) for j in range(14))
_A = tuple(1.0 / (2 * j + 1) for j in range(16))


@dataclass(frozen=True)
class CellDensity:
    """Everything the compiled log-density reads, and the names of what it samples.

    Build it with :func:`make_density`. ``spec`` holds one row per field: kind, number of
    levels, offset of its values in ``x``, index of its log-spread in ``x`` (``-1``:
    fixed), offset of its effects in the concatenated effect vector, offset of its outer
    levels in ``outer_of``; ``scales`` the field's prior spread.
    """

    ndim: int
    value_names: list[str]
    spec: np.ndarray
    scales: np.ndarray
    outer_of: np.ndarray
    bases: np.ndarray
    priors: np.ndarray
    codes: np.ndarray
    Z: np.ndarray
    k: np.ndarray
    n: np.ndarray
    n_effects: int
    base_logit: float
    tokens: list[str]
    coords: dict[str, list[str]]

    def logp_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log-density at the unconstrained point ``x`` (up to a constant) and its gradient."""
        grad = np.empty(self.ndim)
        logp = _logp_and_grad(
            np.ascontiguousarray(x, dtype=np.float64),
            grad,
            self.spec,
            self.scales,
            self.outer_of,
            self.bases,
            self.priors,
            self.codes,
            self.Z,
            self.k,
            self.n,
            self.n_effects,
        )
        return float(logp), grad

    def expand(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The posterior variables at ``x``: intercept, ``sigma_<t>``, ``b_<t>``, ``slope``."""
        effects = np.empty(self.n_effects)
        sigmas = np.empty(len(self.tokens))
        _effects(
            np.asarray(x, dtype=np.float64),
            self.spec,
            self.scales,
            self.outer_of,
            self.bases,
            effects,
            sigmas,
        )
        out = {"intercept": np.asarray(x[0])}
        for i, token in enumerate(self.tokens):
            kind, n_levels, _, _, start, _, _ = self.spec[i]
            out[f"sigma_{token}"] = np.asarray(sigmas[i])
            if kind != NO_EFFECT:
                out[f"b_{token}"] = effects[start : start + n_levels].copy()
        if self.Z.shape[1]:
            out["slope"] = np.asarray(x[self.ndim - self.Z.shape[1] :], dtype=np.float64)
        return out

    def initial_point(self, seed: int) -> np.ndarray:
        """A start as PyMC's: every value jittered by U(-1, 1), the intercept at the base rate."""
        x = np.random.default_rng(seed).uniform(-1.0, 1.0, self.ndim)
        x[0] += self.base_logit
        return x

    @property
    def dims(self) -> dict[str, tuple[str, ...]]:
        """Each posterior variable's dimensions, in :meth:`expand`'s order."""
        shaped = {f"b_{t}": (f"{t}_level",) for t in self.tokens} | {"slope": ("feature",)}
        return {name: shaped.get(name, ()) for name in self.expand(np.zeros(self.ndim))}

    def nutpie_model(self) -> Any:
        """The density as a nutpie model (:func:`nutpie.compiled_pyfunc.from_pyfunc`)."""
        from nutpie.compiled_pyfunc import from_pyfunc

        dims = self.dims
        return from_pyfunc(
            ndim=self.ndim,
            make_logp_fn=lambda: self.logp_and_grad,
            make_expand_fn=lambda *_: self.expand,
            expanded_dtypes=[np.dtype("float64")] * len(dims),
            expanded_shapes=[tuple(len(self.coords[d]) for d in dim) for dim in dims.values()],
            expanded_names=list(dims),
            coords=self.coords,
            dims={name: dim for name, dim in dims.items() if dim},
            make_initial_point_fn=self.initial_point,
        )


def make_density(
    cells: dict[str, Any],
    encoding: dict[str, Any],
    centred: dict[str, bool],
    priors: dict[str, dict[str, float]],
) -> CellDensity:
    """The compiled counterpart of :func:`~.sampling.make_model`, same arguments."""
    tokens, levels = encoding["tokens_"], encoding["levels_"]
    names, spec, scales, outer_of, columns = ["intercept"], [], [], [], []
    bases: list[np.ndarray] = []
    basis_at = 0
    offset, n_effects = 1, 0
    for field, token in tokens.items():
        prior = priors["interaction_sigma" if field in encoding["parents_"] else "group_sigma"]
        fixed, n_levels = fixed_spread(encoding, field), len(levels[field])
        nested = encoding.get("nested_in_", {}).get(field)
        sigma_at = -1 if fixed else offset
        if not fixed:
            names.append(f"sigma_{token}_log__")
            offset += 1
        if n_levels < 2:
            kind = NO_EFFECT
        elif fixed or centred[field]:
            kind = FIXED if fixed else CENTRED
        else:
            kind = NON_CENTRED if nested is None else NESTED
        size = {NO_EFFECT: 0, NESTED: n_levels}.get(kind, n_levels - 1)
        if size:
            names.append(f"{'y' if kind in (FIXED, CENTRED) else 'z'}_{token}")
        spec.append([kind, n_levels, offset, sigma_at, n_effects, len(outer_of), basis_at])
        if kind in (FIXED, CENTRED, NON_CENTRED):
            basis = level_basis(np.asarray(encoding["level_n_"][field], dtype=np.float64))
            bases.append(basis.ravel())
            basis_at += basis.size
        scales.append(prior["sigma"])
        if kind == NESTED:
            outer_of.extend(int(o) for o in nested[1])
        if kind != NO_EFFECT:
            columns.append(np.asarray(cells["codes"][field], dtype=np.int64) + n_effects)
            n_effects += n_levels
        offset += size
    Z = np.ascontiguousarray(cells["Z"], dtype=np.float64)
    if Z.shape[1]:
        names.append("slope")
    k, n = np.asarray(cells["k"], dtype=np.float64), np.asarray(cells["n"], dtype=np.float64)
    coords = {f"{t}_level": list(levels[f]) for f, t in tokens.items()}
    if Z.shape[1]:
        coords["feature"] = list(encoding["slope_names_"])
    rate = np.clip(k.sum() / max(n.sum(), 1.0), 1e-3, 1 - 1e-3)
    return CellDensity(
        ndim=offset + Z.shape[1],
        value_names=names,
        spec=np.asarray(spec, dtype=np.int64).reshape(-1, 7),
        scales=np.asarray(scales, dtype=np.float64),
        outer_of=np.asarray(outer_of, dtype=np.int64),
        bases=np.concatenate(bases) if bases else np.zeros(0),
        priors=np.array(
            [
                priors["intercept"]["mu"],
                priors["intercept"]["sigma"],
                priors["slope"]["mu"],
                priors["slope"]["sigma"],
            ]
        ),
        codes=np.ascontiguousarray(
            np.column_stack(columns) if columns else np.zeros((len(k), 0), np.int64)
        ),
        Z=Z,
        k=k,
        n=n,
        n_effects=n_effects,
        base_logit=float(np.log(rate / (1 - rate))),
        tokens=list(tokens.values()),
        coords=coords,
    )


@numba.njit(cache=True, nogil=True)
def _basis(bases: np.ndarray, at: int, n_lev: int) -> np.ndarray:
    """A field's :func:`~.sampling.level_basis`, ``(n_lev, n_lev - 1)``, from the flat store."""
    return bases[at : at + n_lev * (n_lev - 1)].reshape(n_lev, n_lev - 1)


@numba.njit(cache=True, nogil=True)
def _effects(x, spec, scales, outer_of, bases, effects, sigmas) -> None:
    """Every field's level effects (concatenated) and spread at ``x``."""
    for f in range(spec.shape[0]):
        kind, n_lev, at, sig_at, start, outer_at, basis_at = spec[f]
        sigma = scales[f] if sig_at < 0 else np.exp(x[sig_at])
        sigmas[f] = sigma
        if kind == NO_EFFECT:
            continue
        b = effects[start : start + n_lev]
        if kind == NESTED:
            z = x[at : at + n_lev]
            outer = outer_of[outer_at : outer_at + n_lev]
            n_outer = outer.max() + 1
            total, count = np.zeros(n_outer), np.zeros(n_outer)
            for i in range(n_lev):
                total[outer[i]] += z[i]
                count[outer[i]] += 1.0
            for i in range(n_lev):
                b[i] = (z[i] - total[outer[i]] / max(count[outer[i]], 1.0)) * sigma
        else:
            b[:] = _basis(bases, basis_at, n_lev) @ np.ascontiguousarray(x[at : at + n_lev - 1])
            if kind == NON_CENTRED:
                b *= sigma


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _softplus_sigmoid(eta: np.ndarray, softplus: np.ndarray, prob: np.ndarray) -> None:
    """``log(1 + exp(eta))`` and ``1 / (1 + exp(-eta))`` to 1e-15, in a loop that vectorises.

    The library ``exp`` and ``log1p`` are scalar calls (numba finds no SIMD maths library
    here) and took half of a gradient; these are branch-free polynomials: ``exp(-|eta|)``
    as ``2^-k exp(-r)`` with ``|r| <= ln(2) / 2`` (Taylor to degree 13), and
    ``log1p(t) = 2 atanh(t / (2 + t))`` as its series (``t / (2 + t) <= 1/3``, 16 terms).
    ``|eta|`` is capped at 700: beyond, ``exp(-|eta|) < 1e-304`` changes neither value.
    """
    for i in range(eta.shape[0]):
        a = min(abs(eta[i]), 700.0)
        k = np.floor(a * 1.4426950408889634 + 0.5)
        r = k * 0.6931471803691238 - a + k * 1.9082149292705877e-10  # ln 2 in two parts
        e = _E[13]
        e = e * r + _E[12]
        e = e * r + _E[11]
        e = e * r + _E[10]
        e = e * r + _E[9]
        e = e * r + _E[8]
        e = e * r + _E[7]
        e = e * r + _E[6]
        e = e * r + _E[5]
        e = e * r + _E[4]
        e = e * r + _E[3]
        e = e * r + _E[2]
        e = e * r + 1.0
        e = e * r + 1.0
        n = np.int32(k)  # 2^-k from the binary digits of k: selects, no table or branch
        e *= 0.5 if n & 1 else 1.0
        e *= 0.25 if n & 2 else 1.0
        e *= 2.0**-4 if n & 4 else 1.0
        e *= 2.0**-8 if n & 8 else 1.0
        e *= 2.0**-16 if n & 16 else 1.0
        e *= 2.0**-32 if n & 32 else 1.0
        e *= 2.0**-64 if n & 64 else 1.0
        e *= 2.0**-128 if n & 128 else 1.0
        e *= 2.0**-256 if n & 256 else 1.0
        t = e * (2.0**-512 if n & 512 else 1.0)  # exp(-|eta|)
        s = t / (2.0 + t)
        q = s * s
        c = _A[15]
        c = c * q + _A[14]
        c = c * q + _A[13]
        c = c * q + _A[12]
        c = c * q + _A[11]
        c = c * q + _A[10]
        c = c * q + _A[9]
        c = c * q + _A[8]
        c = c * q + _A[7]
        c = c * q + _A[6]
        c = c * q + _A[5]
        c = c * q + _A[4]
        c = c * q + _A[3]
        c = c * q + _A[2]
        c = c * q + _A[1]
        c = c * q + 1.0
        softplus[i] = max(eta[i], 0.0) + 2.0 * s * c
        positive = 1.0 if eta[i] > 0.0 else 0.0
        prob[i] = (t + (1.0 - t) * positive) / (1.0 + t)


@numba.njit(cache=True, nogil=True)
def _likelihood(intercept, effects, slope, codes, Z, k, n, g_effects, g_slope):
    """Binomial log-likelihood of the cells (no constant); fills the effects' and slopes'
    gradients and returns ``(loglik, gradient wrt the intercept)``.

    Three passes, so that the middle one (the transcendental functions) vectorises: the
    log-odds per cell (gathers), softplus and sigmoid, the residuals' scatter-adds.
    """
    n_cells, n_fields, p = k.shape[0], codes.shape[1], Z.shape[1]
    eta = np.full(n_cells, intercept)
    for i in range(n_cells):
        for j in range(n_fields):
            eta[i] += effects[codes[i, j]]
        for j in range(p):
            eta[i] += Z[i, j] * slope[j]
    softplus, prob = np.empty(n_cells), np.empty(n_cells)
    _softplus_sigmoid(eta, softplus, prob)
    loglik, g_int = 0.0, 0.0
    for i in range(n_cells):
        loglik += k[i] * eta[i] - n[i] * softplus[i]
        r = k[i] - n[i] * prob[i]
        g_int += r
        for j in range(n_fields):
            g_effects[codes[i, j]] += r
        for j in range(p):
            g_slope[j] += r * Z[i, j]
    return loglik, g_int


@numba.njit(cache=True, nogil=True)
def _logp_and_grad(x, grad, spec, scales, outer_of, bases, priors, codes, Z, k, n, n_effects):
    """Log-density (priors, transforms' Jacobians, likelihood) at ``x``; fills ``grad``."""
    grad[:] = 0.0
    effects, sigmas = np.empty(n_effects), np.empty(spec.shape[0])
    _effects(x, spec, scales, outer_of, bases, effects, sigmas)
    p = Z.shape[1]
    slope = x[x.shape[0] - p :]
    g_eff, g_slope = np.zeros(n_effects), np.zeros(p)
    logp, grad[0] = _likelihood(x[0], effects, slope, codes, Z, k, n, g_eff, g_slope)
    mu, sd, slope_mu, slope_sd = priors
    logp += -0.5 * ((x[0] - mu) / sd) ** 2
    grad[0] += -(x[0] - mu) / sd**2
    for j in range(p):
        d = (slope[j] - slope_mu) / slope_sd
        logp += -0.5 * d * d
        grad[x.shape[0] - p + j] = g_slope[j] - d / slope_sd
    for f in range(spec.shape[0]):
        kind, n_lev, at, sig_at, start, outer_at, basis_at = spec[f]
        sigma, scale = sigmas[f], scales[f]
        g_sigma = 0.0  # d logp / d sigma, chained to log sigma below
        g_b = g_eff[start : start + n_lev]
        if kind == NESTED:
            z = x[at : at + n_lev]
            outer = outer_of[outer_at : outer_at + n_lev]
            n_outer = outer.max() + 1
            g_total, count = np.zeros(n_outer), np.zeros(n_outer)
            for i in range(n_lev):
                g_total[outer[i]] += g_b[i]
                count[outer[i]] += 1.0
                g_sigma += g_b[i] * effects[start + i] / sigma
            for i in range(n_lev):
                logp += -0.5 * z[i] * z[i]
                share = g_total[outer[i]] / max(count[outer[i]], 1.0)
                grad[at + i] = sigma * (g_b[i] - share) - z[i]
        elif kind != NO_EFFECT:
            y = x[at : at + n_lev - 1]
            g_y = grad[at : at + n_lev - 1]
            squares = (y * y).sum()
            basis = _basis(bases, basis_at, n_lev)
            if kind == NON_CENTRED:
                for i in range(n_lev):
                    g_sigma += g_b[i] * effects[start + i] / sigma
                g_y[:] = basis.T @ (g_b * sigma)
                logp += -0.5 * squares
                g_y -= y
            else:
                g_y[:] = basis.T @ np.ascontiguousarray(g_b)
                logp += -0.5 * squares / sigma**2 - (n_lev - 1) * np.log(sigma)
                g_y -= y / sigma**2
                g_sigma += squares / sigma**3 - (n_lev - 1) / sigma
        if sig_at >= 0:
            # HalfNormal(scale) on sigma = exp(u), with the log transform's Jacobian u.
            logp += -0.5 * (sigma / scale) ** 2 + x[sig_at]
            grad[sig_at] = (g_sigma - sigma / scale**2) * sigma + 1.0
    return logp
