"""What a fitted :class:`~crm_predict.models.bayes.BayesianConversionModel` reports.

Posterior arithmetic (row probabilities, segment rates, odds ratios), convergence
diagnostics and the on-disk format live here so that ``bayes.py`` keeps to building and
sampling. Everything works on plain NumPy draws taken from the ArviZ ``InferenceData``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

POSTERIOR_FILE = "posterior.nc"
META_FILE = "model.json"
FORMAT_VERSION = 1
MISSING_SUFFIX = " (missing)"
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

    @property
    def n_draws(self) -> int:
        """Number of posterior draws (chains times draws per chain)."""
        return self.intercept.shape[0]

    def log_odds(self, codes: dict[str, np.ndarray], Z: np.ndarray) -> Iterator[np.ndarray]:
        """Yield log-odds draws, shape (chunk rows, n_draws), chunk by chunk in row order."""
        n = Z.shape[0]
        step = max(1, _CELLS_PER_CHUNK // max(1, self.n_draws))
        for start in range(0, n, step):
            rows = slice(start, min(n, start + step))
            eta = Z[rows] @ self.slopes + self.intercept
            for field, table in self.effects.items():
                eta += table[codes[field][rows]]
            yield eta


def posterior_draws(
    idata: az.InferenceData,
    tokens: dict[str, str],
    levels: dict[str, list[str]],
    n_slopes: int,
    seed: int,
) -> PosteriorDraws:
    """Flatten an ``InferenceData`` posterior into :class:`PosteriorDraws`.

    Parameters
    ----------
    idata : InferenceData
        Posterior with ``intercept``, ``sigma_<token>``, ``b_<token>`` and ``slope``.
    tokens : dict of str to str
        Field name to the variable-name token used in the model.
    levels : dict of str to list of str
        Learned levels per field (a field with one level has no ``b_`` variable).
    n_slopes : int
        Number of standardised numeric columns.
    seed : int
        Seed of the population draws for unseen levels, so scoring is reproducible.

    Returns
    -------
    PosteriorDraws
    """
    post = idata.posterior

    def flat(name: str) -> np.ndarray:
        values = post[name].to_numpy()
        return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])

    intercept = flat("intercept")
    n_draws = intercept.shape[0]
    effects = {}
    for i, (field, token) in enumerate(tokens.items()):
        sigma = flat(f"sigma_{token}")
        if f"b_{token}" in post:
            known = flat(f"b_{token}").T
        else:
            known = np.zeros((len(levels[field]), n_draws))
        unseen = np.random.default_rng([seed, i]).standard_normal(n_draws) * sigma
        effects[field] = np.vstack([known, unseen])
    slopes = flat("slope").T if n_slopes else np.zeros((0, n_draws))
    return PosteriorDraws(intercept=intercept, effects=effects, slopes=slopes)


def row_summary(
    draws: PosteriorDraws, codes: dict[str, np.ndarray], Z: np.ndarray, prob: float | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Posterior mean conversion probability per row and, if ``prob`` is given, its interval."""
    means, lows, highs = [], [], []
    for eta in draws.log_odds(codes, Z):
        p = expit(eta)
        means.append(p.mean(axis=1))
        if prob is not None:
            lo, hi = np.quantile(p, _tails(prob), axis=1)
            lows.append(lo)
            highs.append(hi)
    mean = np.concatenate(means) if means else np.zeros(0)
    if prob is None:
        return mean, None, None
    return mean, _concat(lows), _concat(highs)


def segment_rows(
    draws: PosteriorDraws,
    fields: dict[str, dict[str, Any]],
    prob: float,
    thin_width: float,
) -> pd.DataFrame:
    """Posterior conversion rate of every level of every field, other fields at average.

    Parameters
    ----------
    draws : PosteriorDraws
    fields : dict
        Per field: ``levels`` (learned), ``declared`` (all levels to report), ``n`` and ``k``
        (training rows and conversions per learned level), ``parents`` (for an interaction,
        the two fields it combines; empty otherwise) and ``parent_codes`` (per learned
        interaction level, the codes of its two parent levels).
    prob : float
        Interval mass.
    thin_width : float
        An interval wider than this flags the level as thin data.

    Returns
    -------
    DataFrame
        ``field, level, n, observed_rate, rate, rate_low, rate_high, thin_data``.
    """
    rows = []
    for field, info in fields.items():
        index = {level: i for i, level in enumerate(info["levels"])}
        for level in info["declared"]:
            i = index.get(level, -1)
            eta = draws.intercept + draws.effects[field][i]
            if info["parents"] and i >= 0:
                for parent, parent_code in zip(
                    info["parents"], info["parent_codes"][i], strict=True
                ):
                    eta = eta + draws.effects[parent][parent_code]
            rate = expit(eta)
            lo, hi = np.quantile(rate, _tails(prob))
            n = int(info["n"][i]) if i >= 0 else 0
            k = int(info["k"][i]) if i >= 0 else 0
            rows.append(
                {
                    "field": field,
                    "level": level,
                    "n": n,
                    "observed_rate": k / n if n else np.nan,
                    "rate": float(rate.mean()),
                    "rate_low": float(lo),
                    "rate_high": float(hi),
                }
            )
    table = pd.DataFrame(
        rows, columns=["field", "level", "n", "observed_rate", "rate", "rate_low", "rate_high"]
    )
    table["thin_data"] = (table["rate_high"] - table["rate_low"]) > thin_width
    return table


def numeric_rows(
    draws: PosteriorDraws,
    slope_names: list[str],
    sds: dict[str, float],
    prob: float,
) -> pd.DataFrame:
    """Odds multiplier per raw unit of each numeric feature (and for missing vs recorded).

    The point value is the posterior median of the odds ratio, the natural centre of a
    multiplicative effect; ``low`` and ``high`` are the equal-tailed ``prob`` interval.
    """
    rows = []
    for j, name in enumerate(slope_names):
        if name in sds:
            feature, per, scale = name, "+1 unit", sds[name]
        else:
            feature, per, scale = name.removesuffix(MISSING_SUFFIX), "missing vs recorded", 1.0
        ratio = np.exp(draws.slopes[j] / scale)
        lo, mid, hi = np.quantile(ratio, [_tails(prob)[0], 0.5, _tails(prob)[1]])
        rows.append({"feature": feature, "odds_ratio": mid, "low": lo, "high": hi, "per": per})
    return pd.DataFrame(rows, columns=["feature", "odds_ratio", "low", "high", "per"])


def convergence(idata: az.InferenceData, fit_seconds: float) -> dict[str, Any]:
    """Worst R-hat and bulk ESS over every posterior variable, and the divergence count.

    R-hat is ArviZ's rank-normalised split R-hat (the larger of the bulk and folded
    versions), the strictest of its variants.
    """
    post = idata.posterior
    rhat = az.rhat(post)
    ess = az.ess(post, method="bulk")
    max_rhat = max((float(np.nanmax(rhat[v].to_numpy())) for v in rhat.data_vars), default=1.0)
    min_ess = min((float(np.nanmin(ess[v].to_numpy())) for v in ess.data_vars), default=0.0)
    stats = getattr(idata, "sample_stats", None)
    divergences = int(stats["diverging"].sum()) if stats is not None else 0
    return {
        "fit_seconds": float(fit_seconds),
        "max_rhat": max_rhat,
        "min_ess_bulk": min_ess,
        "divergences": divergences,
        "converged": bool(max_rhat <= 1.01 and min_ess >= 400 and divergences == 0),
    }


def write_folder(path: str | Path, idata: az.InferenceData, meta: dict[str, Any]) -> Path:
    """Write ``posterior.nc`` (ArviZ netCDF) and ``model.json`` into ``path``."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(str(folder / POSTERIOR_FILE))
    text = json.dumps({"format_version": FORMAT_VERSION, **meta}, indent=2, default=_json)
    (folder / META_FILE).write_text(text, encoding="utf-8")
    return folder


def read_folder(path: str | Path) -> tuple[az.InferenceData, dict[str, Any]]:
    """Read what :func:`write_folder` wrote; the posterior is loaded into memory."""
    folder = Path(path)
    meta_path = folder / META_FILE
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: is {folder} a saved Bayesian model?")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.pop("format_version", None) != FORMAT_VERSION:
        raise ValueError(f"{meta_path} was written by an incompatible version of crm_predict")
    return read_netcdf(folder / POSTERIOR_FILE), meta


def read_netcdf(path: str | Path) -> az.InferenceData:
    """Load an InferenceData netCDF file fully into memory and close the file."""
    groups = {}
    for group in ("posterior", "sample_stats"):
        try:
            with xr.open_dataset(path, group=group, engine="h5netcdf") as ds:
                groups[group] = ds.load()
        except OSError:
            continue
    return az.InferenceData(**groups)


def _tails(prob: float) -> tuple[float, float]:
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie strictly between 0 and 1, got {prob}")
    return (1 - prob) / 2, 1 - (1 - prob) / 2


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to model.json")
