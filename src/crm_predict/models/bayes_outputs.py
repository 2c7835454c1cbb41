"""The NumPy side of :class:`~crm_predict.models.bayes.BayesianConversionModel`.

Everything that needs no PyMC lives here, so ``bayes.py`` keeps to the estimator, the
model and the sampler: turning rows into level codes and standardised numerics (the
"encoding" learned in ``fit``), collapsing them into binomial cells, reading the posterior
(row probabilities, segment rates, odds ratios), convergence diagnostics and the on-disk
format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
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
MISSING_LEVEL = "(missing)"
MISSING_SUFFIX = " (missing)"
PAIR = " × "
ENCODING = (
    "categorical_",
    "numeric_",
    "interactions_",
    "levels_",
    "declared_",
    "level_n_",
    "level_k_",
    "parents_",
    "parent_codes_",
    "tokens_",
    "means_",
    "sds_",
    "missing_share_",
    "slope_names_",
)
"""Fitted attributes that :func:`learn_encoding` returns and :func:`encode_rows` reads."""
# Rows scored at once: rows x draws doubles stay near 16 MB whatever the lead list's size.
_CELLS_PER_CHUNK = 2_000_000


# ---------------------------------------------------------------------- encoding rows
def learn_encoding(
    frame: pd.DataFrame,
    target: np.ndarray,
    categorical: list[str] | None,
    numeric: list[str] | None,
    interactions: list[tuple[str, str]] | None,
) -> dict[str, Any]:
    """Learn levels, level counts, numeric means/SDs and missing shares from training rows.

    Missing values of a grouping field become the level ``(missing)``. A numeric column with
    missing values in training also gets a centred missing-value indicator.

    Returns
    -------
    dict
        One entry per name in :data:`ENCODING`; plain lists and dicts, JSON-ready.
    """
    cats, nums = _roles(frame, categorical, numeric)
    enc: dict[str, Any] = {"categorical_": cats, "numeric_": nums}
    enc["interactions_"] = [tuple(pair) for pair in (interactions or [])]
    levels, declared, parents, parent_codes, codes = {}, {}, {}, {}, {}
    for col in cats:
        text = _text(frame[col])
        declared[col] = _declared(frame[col], text)
        seen = set(text)
        levels[col] = [level for level in declared[col] if level in seen]
        codes[col] = _codes(text, levels[col])
    for a, b in enc["interactions_"]:
        for name in (a, b):
            if name not in cats:
                raise ValueError(f"interaction field {name!r} is not a grouping field")
        field = f"{a}{PAIR}{b}"
        combos = pd.DataFrame({"a": codes[a], "b": codes[b]}).drop_duplicates()
        combos = combos.sort_values(["a", "b"]).to_numpy()
        parents[field], parent_codes[field] = [a, b], combos.tolist()
        levels[field] = [f"{levels[a][i]}{PAIR}{levels[b][j]}" for i, j in combos]
        declared[field] = list(levels[field])
        codes[field] = _pair_codes(codes[a], codes[b], combos)
    enc |= {"levels_": levels, "declared_": declared, "parents_": parents}
    enc["parent_codes_"] = parent_codes
    enc["level_n_"] = {
        f: np.bincount(c, minlength=len(levels[f])).tolist() for f, c in codes.items()
    }
    enc["level_k_"] = {
        f: np.bincount(c, weights=target, minlength=len(levels[f])).astype(int).tolist()
        for f, c in codes.items()
    }
    enc["tokens_"] = _tokens(list(codes))
    enc["means_"], enc["sds_"], enc["missing_share_"] = {}, {}, {}
    for col in nums:
        x = _numbers(frame[col], col)
        observed = x[~np.isnan(x)]
        sd = float(observed.std()) if len(observed) else 0.0
        enc["means_"][col] = float(observed.mean()) if len(observed) else 0.0
        enc["sds_"][col] = sd if sd > 0 else 1.0
        if len(observed) < len(x):
            enc["missing_share_"][col] = 1.0 - len(observed) / len(x)
    enc["slope_names_"] = [*nums, *(f"{c}{MISSING_SUFFIX}" for c in enc["missing_share_"])]
    return enc


def encode_rows(
    frame: pd.DataFrame, enc: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Level codes per field (``-1``: unseen in training) and the standardised numerics."""
    codes = {col: _codes(_text(frame[col]), enc["levels_"][col]) for col in enc["categorical_"]}
    for field, (a, b) in enc["parents_"].items():
        codes[field] = _pair_codes(codes[a], codes[b], np.asarray(enc["parent_codes_"][field]))
    columns = []
    for col in enc["numeric_"]:
        x = (_numbers(frame[col], col) - enc["means_"][col]) / enc["sds_"][col]
        columns.append(np.nan_to_num(x, nan=0.0))  # missing: at the training mean
    for col, share in enc["missing_share_"].items():
        columns.append(frame[col].isna().to_numpy(dtype=float) - share)
    Z = np.column_stack(columns) if columns else np.zeros((len(frame), 0))
    return codes, Z


def collapse_cells(
    codes: dict[str, np.ndarray], Z: np.ndarray, target: np.ndarray
) -> dict[str, Any]:
    """Rows with identical covariates become one binomial cell (exact for the likelihood)."""
    columns = {f"c{i}": code for i, code in enumerate(codes.values())}
    columns |= {f"z{j}": Z[:, j] for j in range(Z.shape[1])}
    if not columns:
        return {"codes": {}, "Z": Z[:1], "k": target.sum(keepdims=True), "n": np.array([len(Z)])}
    frame = pd.DataFrame(columns).assign(_k=target)
    cells = frame.groupby(list(columns), sort=True)["_k"].agg(["sum", "size"]).reset_index()
    return {
        "codes": {field: cells[f"c{i}"].to_numpy() for i, field in enumerate(codes)},
        "Z": cells[[f"z{j}" for j in range(Z.shape[1])]].to_numpy(dtype=float),
        "k": cells["sum"].to_numpy(dtype=float),
        "n": cells["size"].to_numpy(dtype=float),
    }


def level_spread_ratio(enc: Mapping[str, Any], field: str) -> float:
    """Spread of a field's true level effects over a typical level's standard error.

    The spread is the DerSimonian–Laird moment estimate from the raw level rates; an
    interaction is judged by what its two main effects leave unexplained. A large ratio
    means the data pin every level, the regime where a centred parameterisation samples well.
    """
    n, k = np.asarray(enc["level_n_"][field]), np.asarray(enc["level_k_"][field])
    logit, var = _raw_logits(n, k)
    for parent, parent_codes in zip(
        enc["parents_"].get(field, ()),
        np.asarray(enc["parent_codes_"].get(field, [])).T,
        strict=False,
    ):
        p_n, p_k = np.asarray(enc["level_n_"][parent]), np.asarray(enc["level_k_"][parent])
        logit = logit - _raw_logits(p_n, p_k)[0][parent_codes]
    if len(logit) < 2:
        return 0.0
    w = 1.0 / var
    q = np.sum(w * (logit - np.sum(w * logit) / np.sum(w)) ** 2)
    tau2 = max(0.0, (q - (len(logit) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    return float(np.sqrt(tau2 / np.median(var)))


# ---------------------------------------------------------------------- reading the posterior
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


def convergence(idata: az.InferenceData, fit_seconds: float) -> dict[str, Any]:
    """Worst R-hat and bulk ESS over every posterior variable, and the divergence count.

    R-hat is ArviZ's rank-normalised split R-hat (the larger of the bulk and folded
    versions), the strictest of its variants.
    """
    post = idata.posterior
    rhat, ess = az.rhat(post), az.ess(post, method="bulk")
    max_rhat = max((float(np.nanmax(rhat[v].to_numpy())) for v in rhat.data_vars), default=1.0)
    min_ess = min((float(np.nanmin(ess[v].to_numpy())) for v in ess.data_vars), default=0.0)
    stats = idata.sample_stats if "sample_stats" in idata.groups() else {}
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    return {
        "fit_seconds": float(fit_seconds),
        "max_rhat": max_rhat,
        "min_ess_bulk": min_ess,
        "divergences": divergences,
        "converged": bool(max_rhat <= 1.01 and min_ess >= 400 and divergences == 0),
    }


# ---------------------------------------------------------------------- on disk
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
    groups = {}
    for group in ("posterior", "sample_stats"):
        with xr.open_dataset(folder / POSTERIOR_FILE, group=group, engine="h5netcdf") as ds:
            groups[group] = ds.load()  # in memory and the file closed: picklable, movable
    return az.InferenceData(**groups), meta


# ---------------------------------------------------------------------- helpers
def _roles(
    frame: pd.DataFrame, categorical: list[str] | None, numeric: list[str] | None
) -> tuple[list[str], list[str]]:
    for role, names in (("categorical", categorical), ("numeric", numeric)):
        for name in names or []:
            if name not in frame.columns:
                raise ValueError(f"column {name!r} listed in {role} is missing from X")
    if categorical is None:
        categorical = [c for c in frame.columns if c not in (numeric or []) and _groups(frame[c])]
    if numeric is None:
        numeric = [
            c
            for c in frame.columns
            if c not in categorical and pd.api.types.is_numeric_dtype(frame[c])
        ]
    return [str(c) for c in categorical], [str(c) for c in numeric]


def _groups(column: pd.Series) -> bool:
    """Category, boolean and text columns are grouping fields."""
    dtype = column.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _text(column: pd.Series) -> pd.Series:
    """Levels as strings, missing values as ``(missing)``."""
    values = column.astype(object)
    return values.map(str, na_action="ignore").where(values.notna(), MISSING_LEVEL)


def _declared(column: pd.Series, text: pd.Series) -> list[str]:
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return sorted(set(text))
    declared = [str(c) for c in column.cat.categories]
    if MISSING_LEVEL not in declared and column.isna().any():
        declared.append(MISSING_LEVEL)
    return declared


def _codes(text: pd.Series, levels: list[str]) -> np.ndarray:
    return np.asarray(pd.Index(levels).get_indexer(text.to_numpy()), dtype=np.int64)


def _pair_codes(a: np.ndarray, b: np.ndarray, combos: np.ndarray) -> np.ndarray:
    """Code of each row's (a, b) combination among ``combos``; ``-1`` when unseen."""
    if len(combos) == 0:
        return np.full(len(a), -1, dtype=np.int64)
    lookup = pd.MultiIndex.from_arrays([combos[:, 0], combos[:, 1]])
    codes = lookup.get_indexer(pd.MultiIndex.from_arrays([a, b]))
    return np.where((a < 0) | (b < 0), -1, codes).astype(np.int64)


def _raw_logits(n: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed observed log-odds per level and their approximate sampling variance."""
    p = (k + 0.5) / (n + 1.0)
    return np.log(p / (1 - p)), 1.0 / ((n + 1.0) * p * (1 - p))


def _numbers(column: pd.Series, name: str) -> np.ndarray:
    try:
        x = pd.to_numeric(column, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise ValueError(f"numeric column {name!r} holds values that are not numbers") from err
    if np.isinf(x).any():
        raise ValueError(f"Input X contains infinity in numeric column {name!r}")
    return x


def _tokens(fields: list[str]) -> dict[str, str]:
    """Variable-name-safe, unique token per field (the names end up in netCDF)."""
    tokens: dict[str, str] = {}
    for i, field in enumerate(fields):
        token = re.sub(r"\W+", "_", field).strip("_") or f"field{i}"
        tokens[field] = token if token not in tokens.values() else f"{token}_{i}"
    return tokens


def _tails(prob: float) -> tuple[float, float]:
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie strictly between 0 and 1, got {prob}")
    return (1 - prob) / 2, 1 - (1 - prob) / 2


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to model.json")
