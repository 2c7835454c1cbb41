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
from threadpoolctl import threadpool_limits

from crm_predict.features._base import check_frame
from crm_predict.models.bayes_outputs import (
    ENCODING,
    PosteriorDraws,
    collapse_cells,
    convergence,
    encode_rows,
    learn_encoding,
    level_spread_ratio,
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
    *ENCODING,
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
        Whether each field's effects were sampled centred (data-rich, clearly different
        levels) or non-centred (weakly identified); see :data:`CENTRED_MIN_RATIO`.

    Notes
    -----
    Level effects are ``ZeroSumNormal`` per field. A missing value in a grouping field is
    the level ``(missing)``. At scoring time a level without training rows (a new value, or
    ``(missing)`` when training had none) gets a fresh draw from ``N(0, sigma_field)`` per
    posterior draw: the population rate, with a wider interval. A missing numeric value
    is scored at the training mean; a column that had missing values in training also gets
    a missing-value indicator slope.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"source": pd.Categorical(["web", "referral"] * 50),
    ...                   "contacts": [1.0, 3.0] * 50})
    >>> y = [0, 1, 0, 0] * 25
    >>> model = BayesianConversionModel().fit(X, y)  # doctest: +SKIP
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
        >>> sorted(model.named_vars)  # sources barely differ: sampled non-centred (z_source)
        ['b_source', 'intercept', 'loglik', 'sigma_source', 'z_source']
        """
        priors = self._merged_priors()
        self._check_params()
        frame = check_frame(self, X, reset=True)
        target = self._learn_target(y, len(frame))
        encoding = learn_encoding(frame, target, self.categorical, self.numeric, self.interactions)
        for name, value in encoding.items():
            setattr(self, name, value)
        self.centred_ = {
            field: level_spread_ratio(encoding, field) >= CENTRED_MIN_RATIO
            for field in self.tokens_
        }
        cells = collapse_cells(*self._encode(frame), target)
        self.n_cells_ = len(cells["k"])
        return _make_model(cells, encoding, self.centred_, priors)

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
        return segment_rows(self._posterior(), self._encoding(), prob, self.thin_width)

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
        return numeric_rows(self._posterior(), self._encoding(), prob)

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

    def _encoding(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ENCODING}

    def _encode(self, frame: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
        return encode_rows(frame, self._encoding())

    def _frame(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "idata_")
        return check_frame(self, X, reset=False)

    def _posterior(self) -> PosteriorDraws:
        check_is_fitted(self, "idata_")
        return self._draws

    def _posterior_draws(self) -> PosteriorDraws:
        """Flattened draws; built once after fit, load or unpickling so scoring is read-only."""
        seed = self.random_state if isinstance(self.random_state, int) else 0
        return posterior_draws(self.idata_, self._encoding(), seed)


# ---------------------------------------------------------------------- model and sampler
def _make_model(
    cells: dict[str, Any],
    encoding: dict[str, Any],
    centred: dict[str, bool],
    priors: dict[str, dict[str, float]],
) -> pm.Model:
    tokens, levels, slope_names = encoding["tokens_"], encoding["levels_"], encoding["slope_names_"]
    coords = {f"{token}_level": levels[field] for field, token in tokens.items()}
    if slope_names:
        coords["feature"] = slope_names
    with pm.Model(coords=coords) as model:
        eta = pm.Normal("intercept", **priors["intercept"])
        for field, token in tokens.items():
            prior = priors["interaction_sigma" if field in encoding["parents_"] else "group_sigma"]
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
    """Run NUTS on ``model``; the only place that samples (unit tests replace it).

    BLAS is limited to one thread: the chains already use the cores, and a multi-threaded
    ``dot`` that two chains call at once may split its sums differently from run to run,
    so the same seed would not always give the same draws.
    """
    cores = min(chains, os.cpu_count() or 1)
    with threadpool_limits(limits=1):
        if sampler == "nutpie":
            import nutpie

            names = [v.name for v in model.free_RVs + model.deterministics]
            return nutpie.sample(
                nutpie.compile_pymc_model(model, var_names=names),
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
                compute_convergence_checks=False,
            )
