"""Hierarchical Bayesian conversion model that sales managers can read.

The log-odds of converting are an intercept, plus one varying intercept per grouping field
(each field with its own learned spread), plus slopes on standardised numeric features.
Every level's rate comes with an interval ("referral leads in EMEA convert at 23%
(19–27%)"), thin levels are shrunk toward the population, and a level never seen in
training is scored at the population rate with a wider interval.

Building, sampling and persisting are separate (house rule 4): :meth:`build_model` only
builds the PyMC model, :meth:`fit` samples it, :meth:`save` writes ArviZ netCDF plus JSON.

Speed: rows with identical covariates are collapsed into binomial cells (exact), the
binomial log-likelihood is written directly, group effects are centred ``ZeroSumNormal``
where levels are data-rich, and nutpie samples with a low-rank-modified mass matrix.
``benchmarks/bayes.py`` measures each of these choices.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from crm_predict.features._base import check_frame
from crm_predict.models.bayes_outputs import (
    MISSING_SUFFIX,
    PosteriorDraws,
    convergence,
    numeric_rows,
    posterior_draws,
    read_folder,
    row_summary,
    segment_rows,
    write_folder,
)

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

MISSING_LEVEL = "(missing)"
SAMPLERS = ("nutpie", "pymc")
# nutpie's default 0.8 left a rare divergence with the low-rank mass matrix; 0.85 removed it
# at no cost in gradient evaluations on the benchmark. Weakly identified (non-centred)
# fields have a funnel in one direction or the other, so those models step more carefully.
TARGET_ACCEPT = 0.85
TARGET_ACCEPT_WEAK = 0.95
# A field's effects are sampled centred when the spread between its levels (estimated from
# the raw rates) is at least this many times a typical level's standard error: then the data
# pin each level and centring avoids the non-centred funnel. Weakly identified fields (thin
# levels, no real differences) are sampled non-centred. See benchmarks/bayes.py.
CENTRED_MIN_RATIO = 2.0
_FITTED = (
    "categorical_",
    "numeric_",
    "interactions_",
    "tokens_",
    "levels_",
    "declared_",
    "level_n_",
    "level_k_",
    "parent_codes_",
    "means_",
    "sds_",
    "missing_share_",
    "slope_names_",
    "centred_",
    "n_cells_",
    "classes_",
    "n_features_in_",
    "fit_seconds_",
    "diagnostics_",
)


class BayesConvergenceWarning(UserWarning):
    """The sampler did not converge: R-hat > 1.01, bulk ESS < 400 or divergences."""


class BayesianConversionModel(ClassifierMixin, BaseEstimator):
    """Hierarchical logistic regression of lead conversion, sampled with NUTS.

    Parameters
    ----------
    categorical, numeric : list of str, optional
        Grouping fields and numeric features. ``None`` infers them: category, text and
        boolean columns group, numeric columns get a slope.
    interactions : list of (str, str), optional
        Pairs of grouping fields that get an extra varying intercept over their combined
        level.
    priors : dict, optional
        Overrides merged over :data:`DEFAULT_PRIORS`, e.g. ``{"slope": {"sigma": 0.5}}``.
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and the number of chains. 1000 draws,
        not 500: with 500 the rank-normalised R-hat of some variable exceeded 1.01 in most
        benchmark runs from estimator noise alone (see ``benchmarks/bayes.py``).
    sampler : {"nutpie", "pymc"}
        NUTS implementation: nutpie (compiled with numba, fastest) or PyMC's own.
    random_state : int
        Seed: the same data and seed give the same posterior.
    progressbar : bool
        Show the sampler's progress bar.
    thin_width : float
        :meth:`segment_table` flags a level whose rate interval is wider than this.

    Attributes
    ----------
    idata_ : arviz.InferenceData
        The posterior (``intercept``, ``sigma_<field>``, ``b_<field>``, ``slope``).
    levels_ : dict of str to list of str
        Learned levels per field (interactions included as ``"a × b"``).
    means_, sds_ : dict of str to float
        Standardisation of the numeric features.
    centred_ : dict of str to bool
        Whether each field's effects were sampled centred.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"source": pd.Categorical(["web", "referral"] * 50),
    ...                   "contacts": [1.0, 3.0] * 50})
    >>> y = [0, 1, 0, 0] * 25
    >>> model = BayesianConversionModel(draws=200, tune=200).fit(X, y)  # doctest: +SKIP
    >>> model.segment_table()[["level", "rate", "rate_low", "rate_high"]]  # doctest: +SKIP
    """

    def __init__(
        self,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        interactions: list[tuple[str, str]] | None = None,
        priors: dict[str, dict[str, float]] | None = None,
        draws: int = 1000,
        tune: int = 500,
        chains: int = 2,
        sampler: str = "nutpie",
        random_state: int | None = 42,
        progressbar: bool = False,
        thin_width: float = 0.25,
    ) -> None:
        self.categorical = categorical
        self.numeric = numeric
        self.interactions = interactions
        self.priors = priors
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.sampler = sampler
        self.random_state = random_state
        self.progressbar = progressbar
        self.thin_width = thin_width

    # ------------------------------------------------------------------ build and fit
    def build_model(self, X: Any, y: Any) -> pm.Model:
        """Learn the encoding (levels, means, SDs) from ``X, y`` and build the PyMC model.

        Nothing is sampled. Rows with identical covariates are collapsed into binomial
        cells first, which is exact.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Two classes; the second of the sorted classes counts as converted.

        Returns
        -------
        pymc.Model

        Examples
        --------
        >>> import pandas as pd
        >>> X = pd.DataFrame({"source": pd.Categorical(["web", "referral", "event"] * 4)})
        >>> model = BayesianConversionModel().build_model(X, [0, 1] * 6)
        >>> sorted(model.named_vars)
        ['b_source', 'intercept', 'loglik', 'sigma_source']
        """
        priors = self._merged_priors()
        self._check_params()
        frame = check_frame(self, X, reset=True)
        target = self._learn_target(y, len(frame))
        self._learn_encoding(frame, target)
        codes, Z = self._encode(frame)
        cells = _collapse(codes, Z, target)
        self.n_cells_ = len(cells["k"])
        return _make_model(
            cells, self.tokens_, self.levels_, self.slope_names_, self.centred_, priors
        )

    def fit(self, X: Any, y: Any) -> BayesianConversionModel:
        """Build the model and sample its posterior with NUTS.

        Warns with :class:`BayesConvergenceWarning` when the chains did not converge.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self

        Examples
        --------
        >>> model = BayesianConversionModel(draws=1000).fit(X, y)  # doctest: +SKIP
        >>> model.diagnostics()["converged"]  # doctest: +SKIP
        True
        """
        start = time.perf_counter()
        model = self.build_model(X, y)
        weak = not all(self.centred_.values())
        idata = _sample(
            model,
            sampler=self.sampler,
            target_accept=TARGET_ACCEPT_WEAK if weak else TARGET_ACCEPT,
            draws=self.draws,
            tune=self.tune,
            chains=self.chains,
            random_state=self.random_state,
            progressbar=self.progressbar,
        )
        keep = _posterior_names(self.tokens_, self.levels_, self.slope_names_)
        stats = [s for s in ("diverging", "n_steps", "step_size") if s in idata.sample_stats]
        self.idata_ = az.InferenceData(
            posterior=idata.posterior[keep], sample_stats=idata.sample_stats[stats]
        )
        self.fit_seconds_ = time.perf_counter() - start
        self.diagnostics_ = convergence(self.idata_, self.fit_seconds_)
        self._draws = self._posterior_draws()
        if not self.diagnostics_["converged"]:
            d = self.diagnostics_
            warnings.warn(
                f"the sampler did not converge (max R-hat {d['max_rhat']:.3f}, min bulk ESS "
                f"{d['min_ess_bulk']:.0f}, {d['divergences']} divergences); treat the "
                "intervals with care, or raise draws/tune",
                BayesConvergenceWarning,
                stacklevel=2,
            )
        return self

    # ------------------------------------------------------------------ scoring
    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior mean probability of each class, shape (n_samples, 2).

        The mean over draws of the probability, not the probability at the mean log-odds.

        Examples
        --------
        >>> model.predict_proba(X)[:, 1]  # doctest: +SKIP
        """
        mean, _, _ = row_summary(self._posterior(), *self._encode(self._frame(X)), prob=None)
        return np.column_stack([1.0 - mean, mean])

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class: converted when the posterior mean probability is at least 0.5."""
        converted = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[converted.astype(int)]

    def predict_interval(self, X: Any, prob: float = 0.9) -> pd.DataFrame:
        """Posterior mean conversion probability per row with its equal-tailed interval.

        Parameters
        ----------
        X : DataFrame or array-like
        prob : float
            Interval mass.

        Returns
        -------
        DataFrame
            ``p_mean, p_low, p_high``, indexed like ``X``.

        Examples
        --------
        >>> model.predict_interval(X, prob=0.9).head()  # doctest: +SKIP
        """
        frame = self._frame(X)
        mean, low, high = row_summary(self._posterior(), *self._encode(frame), prob=prob)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame({"p_mean": mean, "p_low": low, "p_high": high}, index=index)

    # ------------------------------------------------------------------ reading the posterior
    def segment_table(self, prob: float = 0.9) -> pd.DataFrame:
        """Conversion rate of every level of every field, with the other fields at average.

        ``rate`` is the posterior mean of ``sigmoid(intercept + level effect)`` (numerics at
        their mean); for an interaction level both main effects are added too. Levels
        declared by a categorical dtype but absent from training are reported at the
        population rate with ``n = 0``.

        Returns
        -------
        DataFrame
            ``field, level, n, observed_rate, rate, rate_low, rate_high, thin_data``.

        Examples
        --------
        >>> table = model.segment_table()  # doctest: +SKIP
        >>> row = table.query("field == 'source' and level == 'referral'").iloc[0]  # doctest: +SKIP
        >>> f"{row.rate:.0%} ({row.rate_low:.0%}–{row.rate_high:.0%})"  # doctest: +SKIP
        '23% (19–27%)'
        """
        fields = {
            field: {
                "levels": self.levels_[field],
                "declared": self.declared_[field],
                "n": self.level_n_[field],
                "k": self.level_k_[field],
                "parents": list(self._parents().get(field, ())),
                "parent_codes": self.parent_codes_.get(field, []),
            }
            for field in self.tokens_
        }
        return segment_rows(self._posterior(), fields, prob, self.thin_width)

    def numeric_effects(self, prob: float = 0.9) -> pd.DataFrame:
        """Odds multiplier for +1 raw unit of each numeric feature, with its interval.

        Returns
        -------
        DataFrame
            ``feature, odds_ratio, low, high, per``; ``per`` is ``"+1 unit"`` or, for the
            indicator of a column that had missing values, ``"missing vs recorded"``.

        Examples
        --------
        >>> row = model.numeric_effects().iloc[0]  # doctest: +SKIP
        >>> f"each extra {row.feature} changes the odds by ×{row.odds_ratio:.2f}"  # doctest: +SKIP
        """
        return numeric_rows(self._posterior(), self.slope_names_, self.sds_, prob)

    def diagnostics(self) -> dict[str, Any]:
        """Sampler health: ``fit_seconds, max_rhat, min_ess_bulk, divergences, converged``.

        Examples
        --------
        >>> model.diagnostics()["converged"]  # doctest: +SKIP
        True
        """
        check_is_fitted(self, "idata_")
        return dict(self.diagnostics_)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to a folder: ``posterior.nc`` (ArviZ) and ``model.json``.

        Examples
        --------
        >>> model.save("models/bayes")  # doctest: +SKIP
        """
        check_is_fitted(self, "idata_")
        fitted = {name: getattr(self, name) for name in _FITTED}
        fitted["interactions_"] = [list(pair) for pair in self.interactions_]
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = list(self.feature_names_in_)
        params = self.get_params()
        params["interactions"] = (
            None if self.interactions is None else [list(pair) for pair in self.interactions]
        )
        return write_folder(path, self.idata_, {"params": params, "fitted": fitted})

    @classmethod
    def load(cls, path: str | Path) -> BayesianConversionModel:
        """Restore a model written by :meth:`save`; it predicts identically.

        Examples
        --------
        >>> model = BayesianConversionModel.load("models/bayes")  # doctest: +SKIP
        """
        idata, meta = read_folder(path)
        params = meta["params"]
        if params["interactions"] is not None:
            params["interactions"] = [tuple(pair) for pair in params["interactions"]]
        model = cls(**params)
        fitted = meta["fitted"]
        fitted["interactions_"] = [tuple(pair) for pair in fitted["interactions_"]]
        fitted["classes_"] = np.asarray(fitted["classes_"])
        if "feature_names_in_" in fitted:
            fitted["feature_names_in_"] = np.asarray(fitted["feature_names_in_"], dtype=object)
        for name, value in fitted.items():
            setattr(model, name, value)
        model.idata_ = idata
        model._draws = model._posterior_draws()
        return model

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_draws", None)  # derived from idata_; rebuilt on unpickling
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "idata_" in state:
            self._draws = self._posterior_draws()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ internals
    def _check_params(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        for name in ("draws", "tune", "chains"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < (0 if name == "tune" else 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def _merged_priors(self) -> dict[str, dict[str, float]]:
        merged = {key: dict(value) for key, value in DEFAULT_PRIORS.items()}
        for key, override in (self.priors or {}).items():
            if key not in DEFAULT_PRIORS:
                raise ValueError(
                    f"unknown prior key {key!r}; expected one of {sorted(DEFAULT_PRIORS)}"
                )
            if not isinstance(override, dict):
                raise ValueError(f"priors[{key!r}] must be a dict such as {DEFAULT_PRIORS[key]}")
            for arg, value in override.items():
                if arg not in DEFAULT_PRIORS[key]:
                    raise ValueError(
                        f"unknown prior key {key!r}.{arg!r}; expected {sorted(DEFAULT_PRIORS[key])}"
                    )
                merged[key][arg] = float(value)
        return merged

    def _learn_target(self, y: Any, n_rows: int) -> np.ndarray:
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
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(
                f"BayesianConversionModel needs exactly two classes in y (converted or not), "
                f"got {len(self.classes_)} class(es)"
            )
        return (y == self.classes_[1]).astype(np.int64)

    def _learn_encoding(self, frame: pd.DataFrame, target: np.ndarray) -> None:
        cats, nums = _roles(frame, self.categorical, self.numeric)
        self.categorical_, self.numeric_ = cats, nums
        self.interactions_ = [tuple(pair) for pair in (self.interactions or [])]
        self.levels_, self.declared_, self.level_n_, self.level_k_ = {}, {}, {}, {}
        self.parent_codes_ = {}
        codes = {}
        for col in cats:
            text = _text(frame[col])
            declared = _declared(frame[col], text)
            seen = set(text.dropna())
            self.levels_[col] = [level for level in declared if level in seen]
            self.declared_[col] = declared
            codes[col] = _codes(text, self.levels_[col])
        for a, b in self.interactions_:
            for name in (a, b):
                if name not in cats:
                    raise ValueError(f"interaction field {name!r} is not a grouping field")
            field = _pair_name(a, b)
            combos = pd.DataFrame({"a": codes[a], "b": codes[b]}).drop_duplicates()
            combos = combos.sort_values(["a", "b"]).to_numpy()
            self.parent_codes_[field] = combos.tolist()
            self.levels_[field] = [
                f"{self.levels_[a][i]} × {self.levels_[b][j]}" for i, j in combos
            ]
            self.declared_[field] = list(self.levels_[field])
            codes[field] = _pair_codes(codes[a], codes[b], combos)
        for field, code in codes.items():
            size = len(self.levels_[field])
            self.level_n_[field] = np.bincount(code, minlength=size).tolist()
            self.level_k_[field] = np.bincount(code, weights=target, minlength=size).astype(int)
            self.level_k_[field] = self.level_k_[field].tolist()
        self.tokens_ = _tokens(list(codes))
        self.centred_ = {field: self._prefer_centred(field) for field in self.tokens_}
        self.means_, self.sds_, self.missing_share_ = {}, {}, {}
        for col in nums:
            x = _numbers(frame[col], col)
            observed = x[~np.isnan(x)]
            mean = float(observed.mean()) if len(observed) else 0.0
            sd = float(observed.std()) if len(observed) else 0.0
            self.means_[col], self.sds_[col] = mean, sd if sd > 0 else 1.0
            if len(observed) < len(x):
                self.missing_share_[col] = 1.0 - len(observed) / len(x)
        self.slope_names_ = [*nums, *(f"{col}{MISSING_SUFFIX}" for col in self.missing_share_)]

    def _encode(self, frame: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Level codes per field (``-1`` = unseen) and the standardised numeric matrix."""
        codes = {col: _codes(_text(frame[col]), self.levels_[col]) for col in self.categorical_}
        for a, b in self.interactions_:
            field = _pair_name(a, b)
            codes[field] = _pair_codes(codes[a], codes[b], np.asarray(self.parent_codes_[field]))
        columns = []
        for col in self.numeric_:
            x = (_numbers(frame[col], col) - self.means_[col]) / self.sds_[col]
            columns.append(np.nan_to_num(x, nan=0.0))
        for col, share in self.missing_share_.items():
            columns.append(frame[col].isna().to_numpy(dtype=float) - share)
        Z = np.column_stack(columns) if columns else np.zeros((len(frame), 0))
        return codes, Z

    def _frame(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "idata_")
        return check_frame(self, X, reset=False)

    def _posterior(self) -> PosteriorDraws:
        check_is_fitted(self, "idata_")
        return self._draws

    def _posterior_draws(self) -> PosteriorDraws:
        """Flattened draws; built once after fit, load or unpickling so scoring is read-only."""
        seed = self.random_state if isinstance(self.random_state, int) else 0
        return posterior_draws(
            self.idata_, self.tokens_, self.levels_, len(self.slope_names_), seed
        )

    def _prefer_centred(self, field: str) -> bool:
        """Centre a field when its levels' spread dwarfs their standard errors."""
        n, k = np.asarray(self.level_n_[field]), np.asarray(self.level_k_[field])
        logit, var = _raw_logits(n, k)
        for parent, parent_codes in zip(
            self._parents().get(field, ()),
            np.asarray(self.parent_codes_.get(field, [])).T,
            strict=False,
        ):
            # judge an interaction by what its main effects leave unexplained
            p_n, p_k = np.asarray(self.level_n_[parent]), np.asarray(self.level_k_[parent])
            logit = logit - _raw_logits(p_n, p_k)[0][parent_codes]
        tau = np.sqrt(_between_level_variance(logit, var))
        return bool(tau >= CENTRED_MIN_RATIO * np.sqrt(np.median(var)))

    def _parents(self) -> dict[str, tuple[str, str]]:
        return {_pair_name(a, b): (a, b) for a, b in self.interactions_}


# ---------------------------------------------------------------------- data helpers
def _roles(
    frame: pd.DataFrame, categorical: list[str] | None, numeric: list[str] | None
) -> tuple[list[str], list[str]]:
    for role, names in (("categorical", categorical), ("numeric", numeric)):
        for name in names or []:
            if name not in frame.columns:
                raise ValueError(f"column {name!r} listed in {role} is missing from X")
    if categorical is None:
        categorical = [
            c for c in frame.columns if c not in (numeric or []) and _is_grouping(frame[c])
        ]
    if numeric is None:
        numeric = [
            c
            for c in frame.columns
            if c not in categorical and pd.api.types.is_numeric_dtype(frame[c])
        ]
    return [str(c) for c in categorical], [str(c) for c in numeric]


def _is_grouping(column: pd.Series) -> bool:
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
    text = values.map(str, na_action="ignore")
    return text.where(values.notna(), MISSING_LEVEL)


def _declared(column: pd.Series, text: pd.Series) -> list[str]:
    if isinstance(column.dtype, pd.CategoricalDtype):
        declared = [str(c) for c in column.cat.categories]
        if MISSING_LEVEL not in declared and column.isna().any():
            declared.append(MISSING_LEVEL)
        return declared
    return sorted(set(text))


def _codes(text: pd.Series, levels: list[str]) -> np.ndarray:
    index = pd.Index(levels)
    return np.asarray(index.get_indexer(text.to_numpy()), dtype=np.int64)


def _pair_name(a: str, b: str) -> str:
    return f"{a} × {b}"


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


def _between_level_variance(logit: np.ndarray, var: np.ndarray) -> float:
    """DerSimonian–Laird moment estimate of the spread of true level effects."""
    if len(logit) < 2:
        return 0.0
    w = 1.0 / var
    centre = np.sum(w * logit) / np.sum(w)
    q = np.sum(w * (logit - centre) ** 2)
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    return float(max(0.0, (q - (len(logit) - 1)) / c))


def _numbers(column: pd.Series, name: str) -> np.ndarray:
    try:
        x = pd.to_numeric(column, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise ValueError(f"numeric column {name!r} holds values that are not numbers") from err
    if np.isinf(x).any():
        raise ValueError(f"Input X contains infinity in numeric column {name!r}")
    return x


def _tokens(fields: list[str]) -> dict[str, str]:
    """Variable-name-safe, unique token per field (names end up in netCDF)."""
    tokens: dict[str, str] = {}
    for i, field in enumerate(fields):
        token = re.sub(r"\W+", "_", field).strip("_") or f"field{i}"
        tokens[field] = token if token not in tokens.values() else f"{token}_{i}"
    return tokens


def _collapse(codes: dict[str, np.ndarray], Z: np.ndarray, target: np.ndarray) -> dict[str, Any]:
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


# ---------------------------------------------------------------------- model and sampler
def _make_model(
    cells: dict[str, Any],
    tokens: dict[str, str],
    levels: dict[str, list[str]],
    slope_names: list[str],
    centred: dict[str, bool],
    priors: dict[str, dict[str, float]],
) -> pm.Model:
    coords = {f"{token}_level": levels[field] for field, token in tokens.items()}
    if slope_names:
        coords["feature"] = slope_names
    with pm.Model(coords=coords) as model:
        eta = pm.Normal("intercept", **priors["intercept"])
        for field, token in tokens.items():
            prior = priors["interaction_sigma" if " × " in field else "group_sigma"]
            sigma = pm.HalfNormal(f"sigma_{token}", **prior)
            if len(levels[field]) < 2:
                continue  # one level: its effect is the intercept's; sigma serves unseen levels
            dim = f"{token}_level"
            if centred[field]:
                effect = pm.ZeroSumNormal(f"b_{token}", sigma=sigma, dims=dim)
            else:
                offset = pm.ZeroSumNormal(f"z_{token}", sigma=1.0, dims=dim)
                effect = pm.Deterministic(f"b_{token}", offset * sigma, dims=dim)
            eta = eta + effect[cells["codes"][field]]
        if slope_names:
            slope = pm.Normal("slope", **priors["slope"], dims="feature")
            eta = eta + pt.dot(cells["Z"], slope)
        # Binomial log-likelihood without its constant: cheaper to differentiate than
        # pm.Binomial(logit_p=...) and identical up to log C(n, k).
        pm.Potential("loglik", pt.sum(cells["k"] * eta - cells["n"] * pt.softplus(eta)))
    return model


def _posterior_names(
    tokens: dict[str, str], levels: dict[str, list[str]], slope_names: list[str]
) -> list[str]:
    names = ["intercept"]
    for field, token in tokens.items():
        names.append(f"sigma_{token}")
        if len(levels[field]) >= 2:
            names.append(f"b_{token}")
    return names + (["slope"] if slope_names else [])


def _sample(
    model: pm.Model,
    *,
    sampler: str,
    draws: int,
    tune: int,
    chains: int,
    random_state: int | None,
    progressbar: bool,
    target_accept: float,
) -> az.InferenceData:
    """Run NUTS on ``model``; the only place that samples (unit tests replace it)."""
    cores = min(chains, os.cpu_count() or 1)
    if sampler == "nutpie":
        import nutpie

        names = [v.name for v in model.free_RVs + model.deterministics]
        compiled = nutpie.compile_pymc_model(model, var_names=names)
        return nutpie.sample(
            compiled,
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
            init="jitter+adapt_full",
            target_accept=target_accept,
            compute_convergence_checks=False,
        )
