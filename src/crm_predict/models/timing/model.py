"""Time to an event with a competing outcome: a discrete-time hazard model on LightGBM.

Each record contributes one row per period (``period_days`` long) in which it was at risk,
from its entry age to the period of its event or censoring; the period index is a feature
beside the record's own. A LightGBM multiclass model learns, per period, the hazard of the
event of interest (a lead converting, a customer churning) and of the competing outcome (a
lead lost), so segments may differ in *how often* and in *how fast* they reach the event.

Open records are right-censored: they contribute the periods they were seen open, never a
negative label (:mod:`crm_predict.models.timing.periods` builds the rows, with the actuarial
weight of a period observed in part). The competing outcome is modelled as its own
cause-specific hazard, not censored: a lost lead can no longer convert, so the probability
of converting within ``h`` days is the cumulative incidence ``CIF(h) = sum_k S(k-1)
h_event(k)`` with ``S`` the event-free survival. Within a period, events are taken as
uniformly spread (linear interpolation).

Periods past ``max_days`` share the last period's hazard (its rows keep the period index
capped), so a record open longer than ``max_days`` is still scored. The hazards are
recalibrated on the validation slice when that carries forward in time
(:mod:`crm_predict.models.timing.hazard_calibration`).
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from crm_predict.models.timing.hazard_calibration import (
    fit_hazard_calibration,
    hazard_probabilities,
)
from crm_predict.models.timing.periods import (
    CENSORED,
    COMPETING,
    EVENT,
    PERIOD_FEATURE,
    as_array,
    expand_periods,
)

__all__ = ["CENSORED", "COMPETING", "EVENT", "PERIOD_FEATURE", "TimeToConvertModel"]

DEFAULT_PARAMS: dict[str, object] = {
    "learning_rate": 0.1,
    "max_bin": 63,
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "feature_fraction": 0.8,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "min_data_per_group": 50,
    "max_cat_to_onehot": 8,
}
_BATCH_RECORDS = 4000


class TimeToConvertModel(BaseEstimator):
    """Discrete-time competing-risks hazard model: will the event happen, and when.

    Parameters
    ----------
    period_days : int
        Length of one period in days.
    max_days : int
        Periods beyond this share one hazard; ``p_ever`` is the probability of the event
        within ``max_days`` from the record's current age.
    horizons : sequence of int
        Days for the ``p_<event_name>_<h>d`` columns of :meth:`predict_horizons`.
    event_name : str
        Word used in the output columns (``convert`` → ``p_convert_30d``).
    params : dict, optional
        LightGBM parameters merged over :data:`DEFAULT_PARAMS`.
    n_estimators : int
        Most boosting rounds.
    validation_fraction : float
        Share of records (the last ones passed to ``fit``, so pass time-sorted records)
        whose rows early-stop the booster; 0 trains ``n_estimators`` rounds on everything.
    early_stopping_rounds : int
        Rounds without improvement of the validation log loss before stopping.
    recalibrate : bool
        Recalibrate the hazards on the validation slice, if that holds up on its later half
        (:mod:`crm_predict.models.timing.hazard_calibration`); needs ``validation_fraction`` > 0.
    random_state : int
        Seed of LightGBM's bagging.
    n_jobs : int
        LightGBM threads. One by default: on a busy shared machine OpenMP threads that
        wait for each other made a fit 15 times slower than a single thread.

    Attributes
    ----------
    booster_ : lightgbm.Booster
        Three-class hazard model: still open, event, competing outcome.
    n_periods_ : int
        Periods with their own hazard (``ceil(max_days / period_days)``).
    best_iteration_ : int
        Boosting rounds kept.
    calibration_ : LogisticRegression or None
        Hazard recalibration, None where it was not kept (or not tried).
    feature_names_in_ : ndarray of str
        Columns of ``X`` seen in ``fit``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=600)})
    >>> days = rng.exponential(40 + 20 * (X["x"] > 0), size=600)
    >>> events = rng.choice([0, 1, 2], size=600, p=[0.2, 0.5, 0.3])
    >>> model = TimeToConvertModel(n_estimators=30, validation_fraction=0).fit(X, days, events)
    >>> list(model.predict_horizons(X.head(2)).columns)  # doctest: +NORMALIZE_WHITESPACE
    ['p_convert_30d', 'p_convert_60d', 'p_convert_90d', 'p_ever', 'median_days',
     'expected_days']
    """

    def __init__(
        self,
        period_days: int = 7,
        max_days: int = 365,
        horizons: Sequence[int] = (30, 60, 90),
        event_name: str = "convert",
        params: dict | None = None,
        n_estimators: int = 1000,
        validation_fraction: float = 0.2,
        early_stopping_rounds: int = 50,
        recalibrate: bool = True,
        random_state: int = 42,
        n_jobs: int = 1,
    ) -> None:
        self.period_days = period_days
        self.max_days = max_days
        self.horizons = horizons
        self.event_name = event_name
        self.params = params
        self.n_estimators = n_estimators
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.recalibrate = recalibrate
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ fitting
    def _check_settings(self) -> None:
        if not (isinstance(self.period_days, int | np.integer) and self.period_days > 0):
            raise ValueError(
                f"period_days must be a positive number of days, not {self.period_days!r}"
            )
        if not self.max_days >= self.period_days:
            raise ValueError("max_days must be at least period_days")
        if not len(self.horizons) or min(self.horizons) <= 0:
            raise ValueError("horizons must be positive numbers of days")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError("validation_fraction must be in [0, 1)")

    def period_rows(
        self, X: pd.DataFrame, durations, events, entry=None
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, labels, weights, record)``: see :func:`.periods.expand_periods`."""
        return expand_periods(X, durations, events, entry, self.period_days, self._n_periods())

    def _n_periods(self) -> int:
        return int(np.ceil(self.max_days / self.period_days))

    def fit(self, X: pd.DataFrame, durations, events, entry=None) -> TimeToConvertModel:
        """Fit the hazards.

        Parameters
        ----------
        X : DataFrame
            One row per record (e.g. the feature pipeline's output).
        durations : array-like of float
            Days from creation to the event, the competing outcome, or (open records) the
            data's date.
        events : array-like of int or bool
            0 still open (censored), 1 event of interest, 2 competing outcome.
        entry : array-like of float, optional
            Age in days at which each record was first seen open (delayed entry).

        Returns
        -------
        self
        """
        self._check_settings()
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        if PERIOD_FEATURE in X.columns:
            raise ValueError(f"X may not have a column named {PERIOD_FEATURE!r}")
        if len(X) == 0:
            raise ValueError("no records to fit on")
        rows, labels, weights, record = self.period_rows(X, durations, events, entry)
        if not (labels == EVENT).any():
            raise ValueError("no record reached the event of interest; nothing to learn when")
        params = {
            **DEFAULT_PARAMS,
            **(self.params or {}),
            "objective": "multiclass",
            "num_class": 3,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        n_valid = int(round(len(X) * self.validation_fraction))
        valid = record >= len(X) - n_valid if n_valid else np.zeros(len(record), bool)
        train_set = lgb.Dataset(rows[~valid], labels[~valid], weight=weights[~valid])
        callbacks, valid_sets = [], []
        if valid.any():
            valid_sets = [
                lgb.Dataset(rows[valid], labels[valid], weight=weights[valid], reference=train_set)
            ]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        self.booster_ = lgb.train(
            params,
            train_set,
            num_boost_round=self.n_estimators,
            valid_sets=valid_sets,
            callbacks=callbacks,
        )
        self.best_iteration_ = int(self.booster_.best_iteration or self.n_estimators)
        self.calibration_ = None
        if self.recalibrate and valid.any():
            raw = self.booster_.predict(
                rows[valid], num_iteration=self.best_iteration_, raw_score=True
            )
            self.calibration_ = fit_hazard_calibration(
                raw, labels[valid], weights[valid], record[valid]
            )
        self.n_periods_ = self._n_periods()
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_rows_ = len(rows)
        self.period_groups_ = self._period_groups()
        return self

    def _period_groups(self) -> np.ndarray:
        """Per period, the first period sharing all its splits: hazards are predicted once
        per group (trees rarely split on every period, so scoring gets cheaper)."""
        tree = self.booster_.dump_model(num_iteration=self.best_iteration_)
        col = tree["feature_names"].index(PERIOD_FEATURE)
        cuts: set[float] = set()
        stack = [t["tree_structure"] for t in tree["tree_info"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                if node["split_feature"] == col:
                    cuts.add(float(node["threshold"]))
                stack += [node["left_child"], node["right_child"]]
        periods = np.arange(self._n_periods())
        group = np.searchsorted(np.sort(list(cuts)), periods, side="left")
        first = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
        return first[np.searchsorted(first, periods, side="right") - 1]

    # --------------------------------------------------------------- prediction
    def hazards(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per record and period ``0 .. n_periods_ - 1``: event and competing hazards.

        Returns
        -------
        event, competing : ndarray of shape (n_records, n_periods_)
        """
        check_is_fitted(self, "booster_")
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the fitted columns {missing[:5]}")
        X = X[list(self.feature_names_in_)]
        reps, back = np.unique(self.period_groups_, return_inverse=True)
        G = len(reps)
        h_event = np.empty((len(X), G))
        h_comp = np.empty((len(X), G))
        for lo in range(0, len(X), _BATCH_RECORDS):
            part = X.iloc[lo : lo + _BATCH_RECORDS]
            rows = part.iloc[np.repeat(np.arange(len(part)), G)].reset_index(drop=True)
            rows[PERIOD_FEATURE] = np.tile(reps.astype(float), len(part))
            raw = self.booster_.predict(rows, num_iteration=self.best_iteration_, raw_score=True)
            prob = hazard_probabilities(raw, self.calibration_)
            h_event[lo : lo + len(part)] = prob[:, EVENT].reshape(len(part), G)
            h_comp[lo : lo + len(part)] = prob[:, COMPETING].reshape(len(part), G)
        return h_event[:, back], h_comp[:, back]

    def _knots(
        self, X: pd.DataFrame, age, window: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Knot times (days from now) and, at them, cumulative incidence of both outcomes
        conditional on being open at ``age``; linear between knots."""
        n = len(X)
        age = np.zeros(n) if age is None else as_array(age, "age", n)
        if (age < 0).any():
            raise ValueError("age must be zero or more days (a record created after as_of?)")
        h_event, h_comp = self.hazards(X)
        p, K = float(self.period_days), self.n_periods_
        k0 = np.floor(age / p).astype(np.int64)
        f0 = age / p - k0
        steps = int(np.ceil(window / p)) + 1
        idx = np.minimum(k0[:, None] + np.arange(steps)[None, :], K - 1)
        he = np.take_along_axis(h_event, idx, axis=1)
        hc = np.take_along_axis(h_comp, idx, axis=1)
        # First, partly elapsed period: condition on having survived its elapsed share.
        total = he[:, 0] + hc[:, 0]
        denom = np.maximum(1.0 - f0 * total, 1e-12)
        he[:, 0] *= (1.0 - f0) / denom
        hc[:, 0] *= (1.0 - f0) / denom
        surv = np.cumprod(np.column_stack([np.ones(n), 1.0 - he - hc]), axis=1)
        cif_e = np.column_stack([np.zeros(n), np.cumsum(surv[:, :-1] * he, axis=1)])
        cif_c = np.column_stack([np.zeros(n), np.cumsum(surv[:, :-1] * hc, axis=1)])
        first = (k0 + 1) * p - age
        times = np.column_stack([np.zeros(n), first[:, None] + p * np.arange(steps)[None, :]])
        return times, cif_e, cif_c, age

    @staticmethod
    def _at(times: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Linear interpolation of each record's knot curve at ``query`` days (n, m)."""
        out = np.empty((len(times), query.shape[1]))
        for i in range(len(times)):
            out[i] = np.interp(query[i], times[i], values[i])
        return out

    def cumulative_incidence(
        self, X: pd.DataFrame, times: Sequence[float], age=None, competing: bool = False
    ) -> np.ndarray:
        """Probability of the event (or the competing outcome) within each of ``times`` days.

        Parameters
        ----------
        X : DataFrame
            Records.
        times : sequence of float
            Days from the record's current ``age``.
        age : array-like of float, optional
            Days each record has already been open (0 when None); predictions are
            conditional on being open at that age.
        competing : bool
            Return the competing outcome's cumulative incidence instead.

        Returns
        -------
        ndarray of shape (n_records, len(times))
        """
        q = np.asarray(times, dtype=float)
        knots, cif_e, cif_c, _ = self._knots(X, age, float(q.max(initial=0.0)))
        query = np.broadcast_to(q, (len(knots), len(q)))
        return self._at(knots, cif_c if competing else cif_e, query)

    def predict_horizons(self, X: pd.DataFrame, age=None) -> pd.DataFrame:
        """Per record: event within each horizon, ever, and when.

        Parameters
        ----------
        X : DataFrame
            Records.
        age : array-like of float, optional
            Days each record has already been open (0 when None). Everything is
            conditional on the record being open at that age, and counted from it.

        Returns
        -------
        DataFrame
            Indexed like ``X``: ``p_<event>_<h>d`` per horizon; ``p_ever`` (the event
            within ``max_days``); ``median_days`` (days until half of ``p_ever`` is
            reached: the median wait of records that reach the event); and
            ``expected_days`` (their mean wait, within ``max_days``).
        """
        W = float(self.max_days)
        horizons = [float(h) for h in self.horizons]
        knots, cif_e, _, _ = self._knots(X, age, max(W, *horizons))
        n = len(knots)
        cols = {}
        at_h = self._at(knots, cif_e, np.broadcast_to(np.asarray(horizons), (n, len(horizons))))
        for j, h in enumerate(self.horizons):
            cols[f"p_{self.event_name}_{int(h)}d"] = np.clip(at_h[:, j], 0.0, 1.0)
        clipped = np.minimum(knots, W)
        values = self._at(knots, cif_e, clipped)
        ever = values[:, -1]
        cols["p_ever"] = np.clip(ever, 0.0, 1.0)
        median = np.full(n, np.nan)
        expected = np.full(n, np.nan)
        for i in np.flatnonzero(ever > 0):
            median[i] = np.interp(0.5 * ever[i], values[i], clipped[i])
            # Mean of a piecewise-uniform wait: W minus the area under CIF / CIF(W).
            area = np.trapezoid(values[i], clipped[i])
            expected[i] = W - area / ever[i]
        cols["median_days"] = median
        cols["expected_days"] = expected
        return pd.DataFrame(cols, index=X.index)

    def p_ever(self, X: pd.DataFrame, age=None) -> np.ndarray:
        """Probability of the event within ``max_days`` of ``age`` (0 when None): the
        ``p_ever`` column of :meth:`predict_horizons` alone."""
        W = float(self.max_days)
        horizons = [float(h) for h in self.horizons]
        knots, cif_e, _, _ = self._knots(X, age, max(W, *horizons))
        return np.clip(self._at(knots, cif_e, np.minimum(knots, W))[:, -1], 0.0, 1.0)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags
