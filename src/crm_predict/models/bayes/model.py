"""Hierarchical Bayesian conversion model that sales managers can read.

The log-odds of converting are an intercept, plus one varying intercept per grouping field
(each field with its own learned spread), plus slopes on standardised numeric features.
Every level's rate comes with an interval ("referral leads in EMEA convert at 23%
(19–27%)"), thin levels are shrunk toward the population, and a level never seen in
training is scored at the population rate with a wider interval.

Building, sampling and persisting are separate (house rule 4): :meth:`build_model` only
builds the PyMC model, :meth:`fit` samples it (both in :mod:`.bayes_sampling`), :meth:`save`
writes ArviZ netCDF plus JSON (:mod:`.bayes_io`). Rows are encoded by :mod:`.bayes_encoding`
and the posterior is summarised by :mod:`.bayes_outputs`; this module is the estimator.

Speed: rows with identical covariates are collapsed into binomial cells (exact), the
binomial log-likelihood is written directly, group effects sum to zero over the training
rows (a dominant level stays near the intercept) and are centred where levels are
data-rich, a field of four levels or fewer has a fixed spread instead of
a learned one (no funnel), and nutpie samples a hand-written, compiled-once log-density
(:mod:`.density`) with a low-rank-modified mass matrix.
``benchmarks/bayes.py`` measures each of these choices.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from crm_predict.features._base import check_frame
from crm_predict.models.bayes.density import make_density
from crm_predict.models.bayes.encoding import (
    ENCODING,
    bin_numerics,
    collapse_cells,
    encode_rows,
    learn_encoding,
    learn_target,
)
from crm_predict.models.bayes.io import SavedPosterior
from crm_predict.models.bayes.outputs import (
    PosteriorDraws,
    convergence,
    convergence_advice,
    field_terms,
    near_miss,
    numeric_rows,
    posterior_draws,
    row_summary,
    segment_rows,
)
from crm_predict.models.bayes.sampling import (
    TARGET_ACCEPT,
    TARGET_ACCEPT_WEAK,
    centred_fields,
    check_settings,
    make_model,
    merge_priors,
    trim_posterior,
)

# fit() looks ``_sample`` up here at call time, so unit tests can replace it (house rule 5).
from crm_predict.models.bayes.sampling import sample as _sample


class BayesConvergenceWarning(UserWarning):
    """The sampler did not converge: R-hat > 1.01, bulk ESS < 400 or divergences."""


class BayesianConversionModel(SavedPosterior, ClassifierMixin, BaseEstimator):
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
        Overrides merged over :data:`~crm_predict.models.bayes.sampling.DEFAULT_PRIORS`,
        e.g. ``{"slope": {"sigma": 0.5}}``.
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and the number of chains. 1000 draws,
        not 500: with 500 the rank-normalised R-hat of some variable exceeded 1.01 in most
        benchmark runs from estimator noise alone (see ``benchmarks/bayes.py``).
    sampler : {"nutpie", "pymc"}
        NUTS implementation: nutpie on the hand-written log-density (:mod:`.density`,
        fastest) or PyMC's own on the PyMC graph; the same posterior.
    random_state : int
        Seed: the same data and seed give the same posterior.
    progressbar : bool
        Show the sampler's progress bar.
    thin_width : float
        :meth:`segment_table` flags a level whose rate interval is wider than this.
    numeric_bins : int, optional
        Fit on each numeric's quantile-bin mean (this many bins) instead of its exact
        value, so that rows collapse into fewer binomial cells; scoring uses exact values.
        ``None`` (default) fits exact values. See :func:`.encoding.bin_numerics`.
    retry : bool
        When the chains narrowly missed converging (:func:`.outputs.near_miss`), sample
        once more with twice the warm-up and a target acceptance halfway to 1 (smaller
        steps, fewer divergences), keeping the second run. The others sample once.

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
        levels) or non-centred (weakly identified); see
        :data:`~crm_predict.models.bayes.sampling.CENTRED_MIN_RATIO`.

    Notes
    -----
    Level effects are normal with a learned spread per field, constrained to sum to zero
    over the training rows (:func:`~crm_predict.models.bayes.sampling.level_basis`), so
    the intercept is the average lead's log-odds; a field with at most
    :data:`~crm_predict.models.bayes.sampling.FIXED_SPREAD_MAX_LEVELS` levels has the
    fixed spread ``priors["group_sigma"]["sigma"]`` (its ``sigma_<field>`` is that
    constant) rather than a learned one. A missing value in a grouping field is
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

    _FITTED = (
        *ENCODING,
        "centred_",
        "n_cells_",
        "classes_",
        "n_features_in_",
        "fit_seconds_",
        "diagnostics_",
    )

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
        numeric_bins: int | None = None,
        retry: bool = True,
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
        self.numeric_bins = numeric_bins
        self.retry = retry

    # ------------------------------------------------------------------ build and fit
    def build_model(self, X: Any, y: Any) -> pm.Model:
        """Learn the encoding (levels, means, SDs) from ``X, y`` and build the PyMC model.

        Nothing is sampled. Rows with identical covariates are collapsed into binomial
        cells first, which is exact (after binning the numerics when ``numeric_bins``).

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
        >>> sources = ["web", "referral", "event", "fair", "other"]
        >>> X = pd.DataFrame({"source": pd.Categorical(sources * 3)})
        >>> model = BayesianConversionModel().build_model(X, [0, 1, 1] * 5)
        >>> sorted(model.named_vars)  # sources barely differ: sampled non-centred (z_source)
        ['b_source', 'intercept', 'loglik', 'sigma_source', 'z_source']
        """
        return make_model(*self._prepare(X, y))

    def fit(self, X: Any, y: Any) -> BayesianConversionModel:
        """Build the model and sample its posterior with NUTS.

        Samples a second time, more carefully, when the first run narrowly missed
        converging and ``retry`` is set; warns with :class:`BayesConvergenceWarning` when
        the kept run did not converge.

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
        prepared = self._prepare(X, y)
        # nutpie samples the hand-written density (no graph to compile); PyMC its graph.
        model = make_density(*prepared) if self.sampler == "nutpie" else make_model(*prepared)
        target = TARGET_ACCEPT if all(self.centred_.values()) else TARGET_ACCEPT_WEAK
        for attempt in range(1, 3 if self.retry else 2):
            idata = _sample(
                model,
                sampler=self.sampler,
                target_accept=target,
                draws=self.draws,
                tune=self.tune * attempt,
                chains=self.chains,
                random_state=self.random_state,
                progressbar=self.progressbar,
            )
            self.idata_ = trim_posterior(idata, self._encoding())
            self.fit_seconds_ = time.perf_counter() - start
            self.diagnostics_ = convergence(self.idata_, self.fit_seconds_, self.tokens_)
            self.diagnostics_["attempts"] = attempt
            if self.diagnostics_["converged"]:
                break
            if not near_miss(self.diagnostics_, self.draws * self.chains):
                break  # far off (e.g. near separation): a careful run would not fix it
            target = (1.0 + target) / 2  # smaller steps: halves the distance to 1
        self._draws = self._posterior_draws()
        if not self.diagnostics_["converged"]:
            warnings.warn(
                convergence_advice(self.diagnostics_), BayesConvergenceWarning, stacklevel=2
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

    def log_odds_terms(self, X: Any) -> tuple[pd.DataFrame, float]:
        """Each input column's posterior-mean share of each row's log-odds, and the intercept.

        ``intercept + terms.sum(axis=1)`` is the row's posterior-mean log-odds; an
        interaction's share is split evenly between its two fields.

        Examples
        --------
        >>> terms, intercept = model.log_odds_terms(X)  # doctest: +SKIP
        """
        terms, intercept = field_terms(
            self._posterior(), self._encoding(), *self._encode(self._frame(X))
        )
        return terms.set_axis(X.index if isinstance(X, pd.DataFrame) else terms.index), intercept

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
        """Sampler health: ``fit_seconds, max_rhat, min_ess_bulk, divergences, converged``,
        ``attempts`` (2 when the first run did not converge and ``retry`` sampled again),
        and ``at_fault``: the fields (numeric features, intercept) whose parameters have
        R-hat > 1.01 or bulk ESS < 400, each ``{"name", "rhat", "ess_bulk"}``, worst first.

        Examples
        --------
        >>> model.diagnostics()["converged"]  # doctest: +SKIP
        True
        """
        check_is_fitted(self, "idata_")
        return dict(self.diagnostics_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ internals
    def _prepare(self, X: Any, y: Any) -> tuple[dict[str, Any], ...]:
        """Learn the encoding and collapse the rows into cells: what either model reads."""
        priors = merge_priors(self.priors)
        check_settings(self.sampler, self.draws, self.tune, self.chains)
        frame = check_frame(self, X, reset=True)
        self.classes_, target = learn_target(y, len(frame))
        encoding = learn_encoding(frame, target, self.categorical, self.numeric, self.interactions)
        for name, value in encoding.items():
            setattr(self, name, value)
        self.centred_ = centred_fields(encoding)
        codes, Z = self._encode(frame)
        cells = collapse_cells(codes, bin_numerics(Z, self.numeric_bins), target)
        self.n_cells_ = len(cells["k"])
        return cells, encoding, self.centred_, priors

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
