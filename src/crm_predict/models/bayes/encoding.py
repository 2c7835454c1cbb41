"""Encoding leads for :class:`~crm_predict.models.bayes.model.BayesianConversionModel`.

Turns the rows of ``X`` into what the PyMC model reads: one integer level code per grouping
field (and per interaction of two fields), standardised numeric columns with missing-value
indicators, and the 0/1 target. :func:`learn_encoding` learns the encoding in ``fit``
(levels, level counts, means, SDs), :func:`encode_rows` applies it to new rows, and
:func:`collapse_cells` turns encoded training rows into binomial cells, after
:func:`bin_numerics` optionally replaces each numeric by its quantile bin's mean.
:func:`level_spread_ratio` says whether a field's level effects are pinned by the data.

Examples
--------
>>> import numpy as np
>>> import pandas as pd
>>> X = pd.DataFrame({"source": ["web", "referral", None, "web"],
...                   "contacts": [1.0, 3.0, 2.0, 2.0]})
>>> enc = learn_encoding(X, np.array([0, 1, 0, 1]), None, None, None)
>>> enc["levels_"]["source"]
['(missing)', 'referral', 'web']
>>> codes, Z = encode_rows(X, enc)
>>> codes["source"].tolist()
[2, 1, 0, 2]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

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
    "nested_in_",
    "tokens_",
    "means_",
    "sds_",
    "missing_share_",
    "slope_names_",
)
"""Fitted attributes that :func:`learn_encoding` returns and :func:`encode_rows` reads."""


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
    enc["nested_in_"] = _nesting({c: codes[c] for c in cats})
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


def bin_numerics(Z: np.ndarray, n_bins: int | None) -> np.ndarray:
    """Replace each standardised numeric by the mean of its quantile bin, for the likelihood.

    A column with at most ``n_bins`` distinct values (a count, a missing-value indicator)
    is kept exact; the others are cut at their ``n_bins``-quantiles (tied edges merge, so
    a column that is mostly one value gets fewer bins). Only the fit reads binned values,
    so more rows share covariates and collapse into binomial cells; scoring uses the exact
    values, on the same standardised scale. ``None`` keeps every column exact.

    Examples
    --------
    >>> Z = np.column_stack([np.arange(8.0), [0.0, 1.0] * 4])
    >>> bin_numerics(Z, 2)
    array([[1.5, 0. ],
           [1.5, 1. ],
           [1.5, 0. ],
           [1.5, 1. ],
           [5.5, 0. ],
           [5.5, 1. ],
           [5.5, 0. ],
           [5.5, 1. ]])
    """
    if n_bins is None:
        return Z
    if not isinstance(n_bins, int | np.integer) or isinstance(n_bins, bool) or n_bins < 2:
        raise ValueError(f"numeric_bins must be None or an integer of at least 2, got {n_bins!r}")
    binned = np.array(Z, dtype=float, copy=True)
    for j in range(Z.shape[1]):
        x = binned[:, j]
        if len(np.unique(x)) <= n_bins:
            continue
        edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
        bins = np.searchsorted(edges, x, side="right")
        sums = np.bincount(bins, weights=x, minlength=len(edges) + 1)
        counts = np.bincount(bins, minlength=len(edges) + 1)
        binned[:, j] = (sums / np.maximum(counts, 1))[bins]
    return binned


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
    A field nested in another (country in region) is judged by what the outer field leaves
    unexplained: otherwise the outer field's differences look like its own, it is sampled
    centred, and when the outer field takes the effect its spread collapses into a funnel.
    """
    n, k = np.asarray(enc["level_n_"][field]), np.asarray(enc["level_k_"][field])
    logit, var = _raw_logits(n, k)
    parents = list(
        zip(
            enc["parents_"].get(field, ()),
            np.asarray(enc["parent_codes_"].get(field, [])).T,
            strict=False,
        )
    )
    if field in enc.get("nested_in_", {}):
        parent, parent_codes = enc["nested_in_"][field]
        parents.append((parent, np.asarray(parent_codes)))
    for parent, parent_codes in parents:
        p_n, p_k = np.asarray(enc["level_n_"][parent]), np.asarray(enc["level_k_"][parent])
        logit = logit - _raw_logits(p_n, p_k)[0][parent_codes]
    if len(logit) < 2:
        return 0.0
    w = 1.0 / var
    q = np.sum(w * (logit - np.sum(w * logit) / np.sum(w)) ** 2)
    tau2 = max(0.0, (q - (len(logit) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    return float(np.sqrt(tau2 / np.median(var)))


def _nesting(codes: dict[str, np.ndarray]) -> dict[str, list]:
    """Fields whose every level lies within one level of a coarser field.

    Returns ``{field: [outer field, outer level code per level]}``, the finest such outer
    field for each nested one.
    """
    nested: dict[str, list] = {}
    for inner, a in codes.items():
        n_inner = int(a.max()) + 1 if len(a) else 0
        best = None
        for outer, b in codes.items():
            n_outer = int(b.max()) + 1 if len(b) else 0
            if outer == inner or not 2 <= n_outer < n_inner:
                continue
            pairs = np.unique(np.column_stack([a, b]), axis=0)
            if len(pairs) == len(np.unique(a)) and (best is None or n_outer > best[2]):
                outer_of = np.zeros(n_inner, dtype=int)
                outer_of[pairs[:, 0]] = pairs[:, 1]
                best = (outer, outer_of.tolist(), n_outer)
        if best is not None:
            nested[inner] = [best[0], best[1]]
    return nested


def learn_target(y: Any, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Check a two-class target; return its sorted classes and the 0/1 "converted" vector.

    The second of the two sorted classes counts as converted.
    """
    if y is None:
        raise ValueError(
            "BayesianConversionModel requires y to be passed, but the target y is None"
        )
    y = column_or_1d(y, warn=True)
    if len(y) != n_rows:
        raise ValueError(f"y has {len(y)} values but X has {n_rows} rows")
    check_classification_targets(y)
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    if kind != "binary":
        raise ValueError(
            f"Only binary classification is supported. The type of the target is {kind}."
        )
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(
            f"BayesianConversionModel needs exactly two classes in y (converted or not), "
            f"got {len(classes)} class(es)"
        )
    return classes, (y == classes[1]).astype(np.int64)


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
