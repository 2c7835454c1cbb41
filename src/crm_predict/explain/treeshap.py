"""Exact TreeSHAP for LightGBM, grouped to CRM fields, fast enough for a million leads.

``booster.predict(X, pred_contrib=True)`` runs TreeSHAP over every tree for every row. Here
the model is parsed once (:class:`TreeEnsemble`): every feature is binned once against all
thresholds the model uses, and each tree is cut into small subtrees (*units*). A unit's share
of the tree's SHAP vector depends on a row only through a small key (for each feature: which
of the unit's conditions on it the row meets), so every key is explained once, into a table,
and scoring a row costs a handful of look-ups and additions per tree. The values are
LightGBM's own (same covers, same missing-value routing), not an approximation.

Examples
--------
>>> contrib, base, names = grouped_contributions(booster, X, groups)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pandas as pd

from crm_predict.explain import _treeshap_core as core
from crm_predict.explain._treeshap_core import ZERO_THRESHOLD

_MEMO_BITS = 14  # leaves with more unique path features are not memoised while tabulating
# the order of the ``model`` tuple the kernels read (see crm_predict.explain._treeshap_core)
# fmt: off
_MODEL_ARRAYS = (
    "trees", "units", "ufeat", "ulocal", "ulut_off", "urep_off", "urep", "uradix",
    "unit_leaf_off", "unit_leaf", "leaf_path_off", "path_node", "path_left", "path_slot",
    "leaf_feat_off", "leaf_feat", "leaf_z", "local", "dec_off", "dec", "leaf_value", "tfeat",
)
# fmt: on


class TreeEnsemble:
    """A LightGBM model parsed into flat arrays and per-unit SHAP tables.

    Build it once with :meth:`from_booster` (about a second per 100 trees of 31 leaves) and
    call :meth:`contributions` on as many chunks as you like.

    Parameters
    ----------
    model : dict
        ``booster.dump_model()`` of a binary or regression model (one tree per round).
    max_table : int, default 4096
        Most keys one unit may tabulate: larger means fewer, bigger units (faster rows,
        more memory, slower build).
    n_jobs : int, default 2
        Threads for building the tables (-1: one per core).

    Examples
    --------
    >>> ens = TreeEnsemble.from_booster(booster)  # doctest: +SKIP
    >>> contrib, base, names = ens.contributions(X, groups={"calls": "activity"})  # doctest: +SKIP
    """

    def __init__(self, model: dict, max_table: int = 4096, n_jobs: int = 2) -> None:
        if model.get("num_tree_per_iteration", 1) != 1:
            raise NotImplementedError("multiclass models are not supported (one tree per round)")
        self.feature_names: list[str] = list(model["feature_names"])
        self.pandas_categorical: list[list] | None = model.get("pandas_categorical") or None
        flat = []
        for tree in model["tree_info"]:
            nodes: list[dict] = []
            leaves: list[dict] = []
            core.walk(tree["tree_structure"], nodes, leaves)
            flat.append((nodes, leaves))
        self._build_bins(flat, model["max_feature_idx"] + 1)
        self._build_trees(flat, max_table, n_jobs)
        self._groupings: dict[bytes, tuple[np.ndarray, ...]] = {}

    @classmethod
    def from_booster(
        cls,
        booster: lgb.Booster,
        num_iteration: int | None = None,
        max_table: int = 4096,
        n_jobs: int = 2,
    ) -> TreeEnsemble:
        """Parse ``booster.dump_model(num_iteration)``: the trees ``predict`` would use.

        Examples
        --------
        >>> ens = TreeEnsemble.from_booster(booster)  # doctest: +SKIP
        """
        model = booster.dump_model(num_iteration=num_iteration)
        return cls(model, max_table=max_table, n_jobs=n_jobs)

    @classmethod
    def from_boosters(
        cls,
        boosters: Sequence[lgb.Booster],
        weights: Sequence[float],
        max_table: int = 4096,
        n_jobs: int = 2,
    ) -> TreeEnsemble:
        """Parse the weighted sum of several boosters fitted on the same features.

        Every booster's trees (those ``predict`` would use) join one ensemble with their leaf
        values multiplied by the booster's weight: SHAP values are linear in the leaf
        values, so the ensemble's contributions are the weighted sum of the boosters'.

        Examples
        --------
        >>> ens = TreeEnsemble.from_boosters(fold_boosters, [0.2] * 5)  # doctest: +SKIP
        """
        if len(boosters) != len(weights) or not boosters:
            raise ValueError("give one weight per booster, and at least one booster")
        dumps = [b.dump_model() for b in boosters]
        names = dumps[0]["feature_names"]
        if any(d["feature_names"] != names for d in dumps[1:]):
            raise ValueError("the boosters were fitted on different features")
        model = dict(dumps[0])
        model["tree_info"] = [
            {**tree, "tree_structure": _scaled(tree["tree_structure"], float(w))}
            for dump, w in zip(dumps, weights, strict=True)
            for tree in dump["tree_info"]
        ]
        return cls(model, max_table=max_table, n_jobs=n_jobs)

    def _build_bins(self, flat: list, n_features: int) -> None:
        by_feature: list[list[dict]] = [[] for _ in range(n_features)]
        for nodes, _ in flat:
            for node in nodes:
                by_feature[node["split_feature"]].append(node)
        self._categorical = np.zeros(n_features, bool)
        self._breaks: list[np.ndarray] = []
        self._reps: list[np.ndarray] = []
        for f, nodes in enumerate(by_feature):
            if nodes and all(n["decision_type"] == "==" for n in nodes):
                self._categorical[f] = True
                cats = [int(c) for n in nodes for c in str(n["threshold"]).split("||")]
                breaks = np.unique(np.array(cats, dtype=np.int64))
                self._reps.append(np.r_[breaks.astype(float), np.nan])
            else:
                # the zero band gets bins of its own: missing_type=Zero splits treat it apart
                edges = [np.nextafter(-ZERO_THRESHOLD, -np.inf), ZERO_THRESHOLD]
                breaks = np.unique(np.r_[[float(n["threshold"]) for n in nodes], edges])
                self._reps.append(np.r_[breaks, np.inf, np.nan])
            self._breaks.append(breaks)

    def _build_trees(self, flat: list, max_table: int, n_jobs: int) -> None:
        a: dict[str, list] = {name: [] for name in _MODEL_ARRAYS}
        dec, ulut, urep, n_dec, n_lut, n_rep, n_table = [], [], [], 0, 0, 0, 0
        self.expected_value = 0.0
        for nodes, leaves in flat:
            values = np.array([leaf["leaf_value"] for leaf in leaves])
            counts = np.array([float(leaf.get("leaf_count", 1.0)) for leaf in leaves])
            self.expected_value += float((values * counts).sum() / counts.sum())
            used = list(dict.fromkeys(n["split_feature"] for n in nodes))
            decs = [core.decisions(n, self._reps[n["split_feature"]]) for n in nodes]
            starts = [len(a[k]) for k in ("local", "leaf_value", "units", "tfeat")]
            for path, features, zero in core.leaf_paths(nodes, leaves):
                if len(features) > 62:  # a leaf's conditions met are bits of an int64
                    raise NotImplementedError("a leaf splits on more than 62 distinct features")
                a["leaf_path_off"].append(len(a["path_node"]))
                a["path_node"] += [m for m, _, _ in path]
                a["path_left"] += [went_left for _, went_left, _ in path]
                a["path_slot"] += [slot for _, _, slot in path]
                a["leaf_feat_off"].append(len(a["leaf_feat"]))
                a["leaf_feat"] += [used.index(f) for f in features]
                a["leaf_z"] += zero
            for features, size, below in core.split(nodes, decs, max_table):
                a["unit_leaf_off"].append(len(a["unit_leaf"]))
                a["unit_leaf"] += [starts[1] + leaf for leaf in below]
                a["units"].append([len(a["ufeat"]), len(a["ufeat"]) + len(features)])
                a["units"][-1] += [n_table if size > 0 else -1, size]
                n_table += max(size, 0) * len(features)
                stride = 1
                for f, codes in features:
                    radix = int(codes.max()) + 1
                    a["ufeat"].append(f)
                    a["ulocal"].append(used.index(f))
                    a["ulut_off"].append(n_lut)
                    a["urep_off"].append(n_rep)
                    a["uradix"].append(radix)
                    ulut.append(codes.astype(np.int64) * stride)
                    urep.append(np.unique(codes, return_index=True)[1])
                    n_lut, n_rep, stride = n_lut + len(codes), n_rep + radix, stride * radix
            for node, d in zip(nodes, decs, strict=True):
                a["local"].append(used.index(node["split_feature"]))
                a["dec_off"].append(n_dec)
                dec.append(d)
                n_dec += len(d)
            a["leaf_value"] += list(values)
            a["tfeat"] += used
            ends = [len(a[k]) for k in ("local", "leaf_value", "units", "tfeat")]
            a["trees"].append([x for pair in zip(starts, ends, strict=True) for x in pair])
        for name, total in (("unit_leaf", "unit_leaf"), ("leaf_path", "path_node")):
            a[name + "_off"].append(len(a[total]))
        a["leaf_feat_off"].append(len(a["leaf_feat"]))
        a["dec"], a["ulut"], a["urep"] = dec, ulut, urep
        arrays = {}
        for name, value in a.items():
            if name in ("dec", "ulut", "urep"):
                dtype = bool if name == "dec" else np.int64
                arrays[name] = np.concatenate(value).astype(dtype) if value else np.zeros(0, dtype)
            else:
                dtype = np.float64 if name in ("leaf_z", "leaf_value") else np.int64
                arrays[name] = np.array(value, dtype=dtype)
        arrays["trees"] = arrays["trees"].reshape(-1, 8)
        arrays["units"] = arrays["units"].reshape(-1, 4)
        self._ulut = arrays["ulut"]
        self._model = tuple(arrays[name] for name in _MODEL_ARRAYS)
        trees = arrays["trees"]
        self._max_features = max(1, int((trees[:, 7] - trees[:, 6]).max(initial=0)))
        self._tables = np.zeros(n_table)
        bounds = np.linspace(0, len(trees), min(len(trees), 4 * _threads(n_jobs)) + 1)
        fill = (self._max_features, _MEMO_BITS, self._tables)
        spans = zip(bounds[:-1].astype(int), bounds[1:].astype(int), strict=True)
        _run(n_jobs, [(core.fill_tables, self._model, lo, hi, *fill) for lo, hi in spans])

    @property
    def n_units(self) -> int:
        """Units (tabulated subtrees, plus any leaf explained row by row) over all trees.

        Examples
        --------
        >>> TreeEnsemble.from_booster(booster).n_units  # doctest: +SKIP
        3096
        """
        return len(self._model[1])

    @property
    def table_bytes(self) -> int:
        """Memory held by the per-feature SHAP tables (each grouping used adds its own).

        Examples
        --------
        >>> TreeEnsemble.from_booster(booster).table_bytes / 2**20  # doctest: +SKIP
        124.6
        """
        return self._tables.nbytes

    def encode(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The float64 matrix LightGBM predicts on: category codes, NaN if missing or unseen.

        Examples
        --------
        >>> values = ens.encode(X)  # doctest: +SKIP
        """
        names = self.feature_names
        if not isinstance(X, pd.DataFrame):
            values = np.asarray(X, dtype=np.float64)
            if values.ndim != 2 or values.shape[1] != len(names):
                raise ValueError(f"expected a 2-d array with {len(names)} feature columns")
            return values
        if set(names) <= set(X.columns):
            X = X[names]
        elif X.shape[1] != len(names):
            missing = [n for n in names if n not in X.columns]
            raise ValueError(f"the frame lacks the model's features {missing}")
        cat_cols = [j for j, dt in enumerate(X.dtypes) if isinstance(dt, pd.CategoricalDtype)]
        known = self.pandas_categorical
        if known is not None and len(known) != len(cat_cols):
            raise ValueError(
                f"the model was trained with {len(known)} category columns, the frame has "
                f"{len(cat_cols)}: {[X.columns[j] for j in cat_cols]}"
            )
        values = np.empty(X.shape, dtype=np.float64)
        for j in range(X.shape[1]):
            column = X.iloc[:, j]
            if j in cat_cols:
                if known is not None:
                    categories = known[cat_cols.index(j)]
                    if list(column.cat.categories) != list(categories):
                        column = column.cat.set_categories(categories)
                codes = column.cat.codes.to_numpy()
                values[:, j] = np.where(codes < 0, np.nan, codes)
                continue
            try:
                values[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"column {X.columns[j]!r} has dtype {column.dtype}; convert text columns "
                    "to the pandas 'category' dtype the model was trained with"
                ) from err
        return values

    def _bin(self, values: np.ndarray) -> np.ndarray:
        """Each value's bin among the model's breakpoints (int32, features x rows)."""
        bins = np.zeros(values.shape[::-1], dtype=np.int32)
        for f, breaks in enumerate(self._breaks):
            x = np.ascontiguousarray(values[:, f])
            if not self._categorical[f]:
                bins[f] = np.searchsorted(breaks, x, side="left")
                bins[f, np.isnan(x)] = len(breaks) + 1
                continue
            # LightGBM casts to int (truncating): NaN, values <= -1 and values past int32
            # match no category, -0.5 is category 0
            with np.errstate(invalid="ignore"):
                valid = (x > -1) & (x < 2.0**31)
            code = np.where(valid, np.trunc(np.where(valid, x, 0)), -1).astype(np.int64)
            pos = np.minimum(np.searchsorted(breaks, code), len(breaks) - 1)
            bins[f] = np.where(valid & (breaks[pos] == code), pos, len(breaks))
        return bins

    def _grouping(self, columns: np.ndarray) -> tuple[np.ndarray, ...]:
        """Tables with each unit's columns summed per output column (cached per grouping)."""
        token = columns.tobytes()
        if token not in self._groupings:
            units, ufeat = self._model[1], self._model[2]
            gcol = [list(dict.fromkeys(columns[ufeat[u[0] : u[1]]])) for u in units]
            sizes = np.array([len(g) for g in gcol], dtype=np.int64)
            gcol_off = np.r_[0, np.cumsum(sizes)].astype(np.int64)
            tabled = units[:, 2] >= 0
            extent = np.where(tabled, units[:, 3] * sizes, 0)
            goff = np.where(tabled, np.cumsum(extent) - extent, -1).astype(np.int64)
            lengths = np.diff(np.r_[self._model[4], len(self._ulut)])
            width = np.repeat(np.repeat(sizes, units[:, 1] - units[:, 0]), lengths)
            glut = (self._ulut * width).astype(np.int32)
            gtables = np.empty(int(extent.sum()))
            flat = np.array([c for g in gcol for c in g], dtype=np.int64)
            core.group_tables(self._model, self._tables, columns, goff, gcol_off, flat, gtables)
            if len(self._groupings) >= 4:
                self._groupings.pop(next(iter(self._groupings)))
            self._groupings[token] = (glut, goff, gcol_off, flat, gtables)
        return self._groupings[token]

    def contributions(
        self,
        X: pd.DataFrame | np.ndarray,
        groups: Sequence[str] | Mapping[str, str] | None = None,
        n_jobs: int = 2,
        tabled: bool = True,
        block_rows: int = 8192,
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Exact SHAP values summed per group; see :func:`grouped_contributions`.

        ``tabled=False`` skips the tables and computes every leaf's terms for every row
        (plain per-row TreeSHAP): the same numbers, far slower, a baseline for benchmarks.
        Rows go ``block_rows`` at a time to ``n_jobs`` threads, so memory beyond the result
        stays bounded.

        Examples
        --------
        >>> contrib, base, names = ens.contributions(X, n_jobs=2)  # doctest: +SKIP
        """
        names, columns = _resolve_groups(groups, self.feature_names)
        n_rows = len(X)
        out = np.zeros((n_rows, len(names)))
        grouped = self._grouping(columns)

        def explain(start: int, stop: int) -> None:
            part = X.iloc[start:stop] if isinstance(X, pd.DataFrame) else X[start:stop]
            block = np.zeros((len(names), stop - start))
            bins = self._bin(self.encode(part))
            args = (columns, self._max_features, grouped, tabled, block)
            core.explain_rows(self._model, bins, 0, stop - start, *args)
            out[start:stop] = block.T

        starts = range(0, n_rows, block_rows)
        _run(n_jobs, [(explain, lo, min(n_rows, lo + block_rows)) for lo in starts])
        return out, np.full(n_rows, self.expected_value), names


def _scaled(node: dict, weight: float) -> dict:
    """A copy of a dumped tree with its leaf (and internal) values times ``weight``."""
    out = dict(node)
    for key in ("leaf_value", "internal_value"):
        if key in out:
            out[key] = out[key] * weight
    for side in ("left_child", "right_child"):
        if side in out:
            out[side] = _scaled(out[side], weight)
    return out


def _threads(n_jobs: int) -> int:
    return n_jobs if n_jobs >= 1 else os.cpu_count() or 1


def _run(n_jobs: int, tasks: list[tuple]) -> None:
    """Run ``(function, *args)`` tasks on ``n_jobs`` threads (-1: one per core); the kernels
    release the GIL, so threads use the cores."""
    n_jobs = _threads(n_jobs)
    if n_jobs == 1 or len(tasks) <= 1:
        for fn, *args in tasks:
            fn(*args)
        return
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        for future in [pool.submit(fn, *args) for fn, *args in tasks]:
            future.result()


def _resolve_groups(
    groups: Sequence[str] | Mapping[str, str] | None, features: list[str]
) -> tuple[list[str], np.ndarray]:
    """Group names (in order of each group's first feature) and each feature's column."""
    if groups is None:
        labels = list(features)
    elif isinstance(groups, Mapping):
        missing = [f for f in features if f not in groups]
        if missing:
            raise ValueError(f"groups has no entry for the model's features {missing}")
        labels = [groups[f] for f in features]
    else:
        labels = list(groups)
        if len(labels) != len(features):
            raise ValueError(
                f"groups names {len(labels)} groups for the model's {len(features)} features"
            )
    names = list(dict.fromkeys(labels))
    return names, np.array([names.index(g) for g in labels], dtype=np.int64)
