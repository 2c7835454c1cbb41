"""LightGBM blended with a logistic regression, cross-fitted and calibrated on unseen rows."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from threadpoolctl import threadpool_limits

from crm_predict.data.folds import fold_rows
from crm_predict.models.baseline import logistic_baseline
from crm_predict.models.blend import BLEND_WEIGHTS, BlendedLogit, blend_log_losses
from crm_predict.models.calibration import (
    CALIBRATION_METHODS,
    Calibration,
    OutOfFold,
    recalibrated_log_loss,
)
from crm_predict.models.one_se import simplest_within_one_se

__all__ = [
    "BLEND_WEIGHTS",
    "DEFAULT_LGBM_PARAMS",
    "PROBABILITY_FLOOR",
    "BlendedLogit",
    "CalibratedLGBM",
    "Calibration",
    "blend_log_losses",
]

PROBABILITY_FLOOR = 0.001
MIN_VALIDATION_ROWS = 5
"""Fewest validation rows of each outcome the blend weight and the calibrator are fitted on."""
DEFAULT_LGBM_PARAMS: dict[str, object] = {
    "n_estimators": 2000,
    "learning_rate": 0.03,
    "num_leaves": 31,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "cat_smooth": 10.0,
    "min_data_per_group": 50,
    "max_cat_to_onehot": 8,
}


class CalibratedLGBM(ClassifierMixin, BaseEstimator):
    """LightGBM blended with a logistic regression, calibrated on rows neither saw.

    The rows passed to ``fit`` are cut into validation folds:

    * ``time_ordered=True`` (pass time-sorted rows): ``folds`` rolling-origin folds, each a
      block of ``validation_fraction`` of the rows, the last one ending with the latest row,
      each fitted on every earlier row. No single slice decides: the number of boosting
      rounds, the blend weight and the calibrator come from all the folds' out-of-fold
      log-odds, and then the booster (with the folds' mean number of rounds) and the
      logistic regression are refitted on every row, so the model has seen the latest
      months. Real sales data drifts; recency matters more than a clean slice.
    * ``folds=1``: the last ``validation_fraction`` of the rows is the only validation
      slice and the rest is trained on (no refit).
    * ``folds=k >= 2``: stratified k-fold cross-fitting, each row validates exactly once and
      trains the other k − 1 fold models, so small exports lose no rows to calibration.

    Per fold a logistic regression and a LightGBM booster (early-stopped on the fold's
    validation rows) are fitted side by side. Their out-of-fold log-odds choose the blend
    weight (in steps of 0.05: 1 keeps only the logistic regression, 0 only LightGBM) by the
    log loss each blend has once recalibrated (a Platt fit on the same rows, per period on
    a time split: the weight is judged on how the blend ranks and separates leads, not on a
    base rate that the calibrator corrects anyway), and fit the calibrator; the
    calibration method is chosen by cross-validated log loss (the measure the champion is
    chosen by) when ``calibration="auto"``, with the champion's one-standard-error rule:
    the simplest of ``none`` (the blend's own log-odds, a probability scale already),
    ``sigmoid`` and ``isotonic`` within one standard error of the lowest. A map learnt
    from fold models, which saw fewer rows than the refitted model, can distort it. Cross-fitted,
    the model averages the fold boosters (a bagged average beats one booster refitted on every row)
    and refits the logistic regression on every row: the fold regressions differ little, and one
    model scores five times faster than their average. With one slice, the slice's regression is
    kept. CRM effects are often close to additive on the log-odds scale, where a linear model is
    hard to beat, while LightGBM finds the interactions and thresholds: the blend takes what the
    validation rows say each is worth. Class imbalance is left to the calibrator, so a score of 0.30
    means about 30% of such leads convert.

    Parameters
    ----------
    params : dict, optional
        LightGBM parameters merged over :data:`DEFAULT_LGBM_PARAMS`.
    validation_fraction : float
        Share of rows in the validation slice when ``folds`` is 1, and in each rolling-origin
        block when ``time_ordered``.
    folds : int
        Rolling-origin folds when ``time_ordered``; otherwise 1 for one validation slice at
        the end, ``k >= 2`` for stratified k-fold cross-fitting.
    time_ordered : bool
        The rows are sorted by time: validate forward in time on rolling-origin folds, then
        refit on every row.
    early_stopping_rounds : int
        Rounds without improvement before a booster stops.
    calibration : {"auto", "none", "isotonic", "sigmoid"}
        Calibration method.
    linear : bool
        Blend with a logistic regression; ``False`` keeps LightGBM alone.
    random_state : int
        Seed for LightGBM's bagging, the folds and the calibration folds.
    n_jobs : int
        Threads for LightGBM.

    Attributes
    ----------
    model_ : BlendedLogit
        The blend of the fold models, before calibration.
    boosters_ : list of lightgbm.LGBMClassifier
        The boosters, one per fold.
    linear_ : Pipeline or None
        The logistic regression (None when ``linear`` is False).
    weight_ : float
        Weight of the logistic part.
    blend_log_loss_ : dict
        Out-of-fold log loss of each blend weight tried, once recalibrated.
    fold_rounds_ : list of int
        Boosting rounds each fold's booster kept (early stopping).
    oof_ : OutOfFold
        The out-of-fold evidence (rows, outcomes, log-odds, cross-validated probabilities);
        read once after fitting (by ``train`` to choose the champion), not pickled.
    calibrator_ : Calibration
        Maps the blend's log-odds to probabilities.
    calibration_method_ : str
        The method used.
    calibration_loss_ : dict
        Cross-validated log loss of each candidate method.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=2000)})
    >>> y = (rng.uniform(size=2000) < 1 / (1 + np.exp(-2 * X["x"]))).astype(int)
    >>> model = CalibratedLGBM(params={"n_estimators": 50}, folds=3).fit(X, y)
    >>> model.predict_proba(X).shape
    (2000, 2)
    >>> len(model.boosters_)
    3
    """

    def __init__(
        self,
        params: dict | None = None,
        validation_fraction: float = 0.2,
        folds: int = 1,
        time_ordered: bool = False,
        early_stopping_rounds: int = 100,
        calibration: str = "auto",
        linear: bool = True,
        random_state: int = 42,
        n_jobs: int = 2,
    ) -> None:
        self.params = params
        self.validation_fraction = validation_fraction
        self.folds = folds
        self.time_ordered = time_ordered
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.linear = linear
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _booster(self) -> lgb.LGBMClassifier:
        params = {**DEFAULT_LGBM_PARAMS, **(self.params or {})}
        return lgb.LGBMClassifier(
            **params,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )

    def _fit_booster(
        self,
        X_fit: pd.DataFrame,
        y_fit: np.ndarray,
        X_valid: pd.DataFrame,
        y_valid: np.ndarray,
        linear_valid: np.ndarray | None,
    ) -> lgb.LGBMClassifier:
        """One fold's booster; ``linear_valid`` is the fold's logistic log-odds on X_valid.

        Unused here: the tuning objective overrides this to watch the blend while boosting.
        """
        return self._boost(X_fit, y_fit, X_valid, y_valid)

    def _boost(
        self,
        X_fit: pd.DataFrame,
        y_fit: np.ndarray,
        X_valid: pd.DataFrame,
        y_valid: np.ndarray,
        metrics: tuple = (),
        callbacks: tuple = (),
    ) -> lgb.LGBMClassifier:
        """Boost, stopping early on the validation log loss (extra ``metrics`` never stop)."""
        return self._booster().fit(
            X_fit,
            y_fit,
            eval_X=(X_valid,),
            eval_y=(y_valid,),
            eval_metric=["binary_logloss", *metrics],
            callbacks=[
                lgb.early_stopping(
                    self.early_stopping_rounds, first_metric_only=True, verbose=False
                ),
                *callbacks,
            ],
        )

    def fit(self, X: pd.DataFrame, y) -> CalibratedLGBM:
        """Fit the fold models, then the blend weight and calibrator on their validation rows.

        BLAS runs on one thread meanwhile: its calls are small (the logistic part, Platt
        fits on one column), and idle OpenBLAS threads would spin on LightGBM's cores.
        """
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y)

    def _fit(self, X: pd.DataFrame, y) -> CalibratedLGBM:
        if self.calibration not in ("auto", *CALIBRATION_METHODS):
            raise ValueError(
                f"calibration must be auto, none, isotonic or sigmoid, not {self.calibration!r}"
            )
        if y is None:
            raise ValueError("CalibratedLGBM requires y to be passed, but the target y is None")
        X = self._frame(X, reset=True)
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"Unknown label type: {kind}; CalibratedLGBM needs a 0/1 outcome")
        self.classes_ = unique_labels(y)
        if len(self.classes_) != 2:
            raise ValueError(
                "Only binary classification is supported: CalibratedLGBM needs exactly two "
                f"classes (outcomes) in the training rows, got {len(self.classes_)}"
            )
        y = (y == self.classes_[1]).astype(int)
        folds = self._fold_rows(y)
        rows = np.concatenate([valid for _, valid in folds])
        y_rows = y[rows]
        self._check_validation_rows(y_rows)
        linear_oof, tree_oof = np.zeros(len(y)), np.zeros(len(y))
        self.linear_, self.boosters_ = None, []
        for fit_idx, valid_idx in folds:
            X_fit, y_fit = X.iloc[fit_idx], y[fit_idx]
            X_valid, y_valid = X.iloc[valid_idx], y[valid_idx]
            if self.linear:
                self.linear_ = logistic_baseline(random_state=self.random_state).fit(X_fit, y_fit)
                linear_oof[valid_idx] = self.linear_.decision_function(X_valid)
            linear_valid = linear_oof[valid_idx] if self.linear else None
            booster = self._fit_booster(X_fit, y_fit, X_valid, y_valid, linear_valid)
            tree_oof[valid_idx] = booster.predict(X_valid, raw_score=True)
            self.boosters_.append(booster)
        self.fold_rounds_ = [int(b.best_iteration_ or b.n_estimators) for b in self.boosters_]
        linear_rows, tree_rows = linear_oof[rows], tree_oof[rows]
        tried = BLEND_WEIGHTS if self.linear else BLEND_WEIGHTS[:1]  # alone: LightGBM, w = 0
        # Recalibrated per fold on a time split: each period's own base rate is set aside,
        # so the weight is judged on how each blend ranks leads within a period.
        sizes = [len(v) for _, v in folds] if self.time_ordered else [len(y_rows)]
        self.blend_log_loss_ = {
            float(w): recalibrated_log_loss(y_rows, w * linear_rows + (1 - w) * tree_rows, sizes)
            for w in tried
        }
        self.weight_ = min(self.blend_log_loss_, key=self.blend_log_loss_.get)
        refit = self.time_ordered or len(folds) > 1
        if self.time_ordered:
            # One booster on every row, boosted as long as the folds found useful.
            rounds = max(1, int(round(np.mean(self.fold_rounds_))))
            self.boosters_ = [self._booster().set_params(n_estimators=rounds).fit(X, y)]
        linear_mean = None
        if self.linear:
            if refit:
                self.linear_ = logistic_baseline(random_state=self.random_state).fit(X, y)
            fitted_on = X if refit else X.iloc[folds[0][0]]
            encoded = self.linear_[:-1].transform(fitted_on)
            linear_mean = np.asarray(encoded, dtype=float).mean(axis=0)
        self.model_ = BlendedLogit(self.linear_, self.boosters_, self.weight_, linear_mean)
        raw = self.weight_ * linear_rows + (1 - self.weight_) * tree_rows
        auto = self.calibration == "auto"
        methods = list(CALIBRATION_METHODS) if auto else [self.calibration]
        floor = PROBABILITY_FLOOR
        cv = {m: np.clip(self._cv_predictions(m, raw, y_rows), floor, 1 - floor) for m in methods}
        rule = simplest_within_one_se(y_rows, cv, CALIBRATION_METHODS)
        self.calibration_loss_ = rule.log_loss
        self.calibration_method_ = rule.choice
        self.calibrator_ = Calibration(self.calibration_method_).fit(raw, y_rows)
        self.oof_ = OutOfFold(
            rows=rows,
            y=y_rows,
            linear=linear_rows if self.linear else None,
            raw=raw,
            proba=cv[self.calibration_method_],
            folds=[(fit, valid) for fit, valid in folds],
        )
        return self

    def _check_validation_rows(self, y_rows: np.ndarray) -> None:
        """Refuse to blend and calibrate on too few validation rows of an outcome."""
        fewer = int(np.bincount(y_rows, minlength=2).min())
        if fewer < MIN_VALIDATION_ROWS:
            remedy = (
                "a larger validation_fraction or folds >= 2" if self.folds == 1 else "more rows"
            )
            raise ValueError(
                f"CalibratedLGBM needs at least {MIN_VALIDATION_ROWS} validation rows of each "
                f"outcome to blend and calibrate, got {fewer} of the rarer one among "
                f"{len(y_rows)}: give {remedy}"
            )

    def _frame(self, X, reset: bool) -> pd.DataFrame:
        """``X`` as a DataFrame, its columns checked against the training ones.

        A DataFrame passes as it is (category columns stay categories for LightGBM); any
        other input goes through scikit-learn's ``check_array`` first.
        """
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            return X
        X = validate_data(
            self,
            X,
            reset=reset,
            ensure_all_finite="allow-nan",
            ensure_min_samples=2 if reset else 1,
        )
        return pd.DataFrame(X, columns=[f"Column_{j}" for j in range(X.shape[1])])

    def _fold_rows(self, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(fit rows, validation rows) of each fold."""
        return fold_rows(
            y, self.folds, self.time_ordered, self.validation_fraction, self.random_state
        )

    def _cv_predictions(self, method: str, raw: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cross-validated probabilities of one calibration method on out-of-fold log-odds."""
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=self.random_state)
        pred = np.empty(len(y))
        for fit_idx, test_idx in folds.split(raw, y):
            pred[test_idx] = (
                Calibration(method).fit(raw[fit_idx], y[fit_idx]).predict(raw[test_idx])
            )
        return pred

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: the live model keeps its evidence
        state.pop("oof_", None)  # training evidence: as large as the training set
        return state

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape ``(n, 2)``, kept within [0.001, 0.999].

        Isotonic calibration can output exactly 0 or 1 for a bin without positives or
        negatives; no CRM lead is certain, and log loss would punish that without limit.
        """
        p = self.calibrate(self.raw_score(X))
        return np.column_stack([1 - p, p])

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability of given log-odds (as :meth:`predict_proba` maps them)."""
        check_is_fitted(self, "calibrator_")
        p = self.calibrator_.predict(np.asarray(raw, dtype=float).ravel())
        p = np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
        offset = getattr(self, "offset_", 0.0)
        return expit(logit(p) + offset) if offset else p

    def anchor(self, X: pd.DataFrame, y) -> CalibratedLGBM:
        """Shift the calibrated log-odds so that the mean probability on ``X`` equals ``y``'s
        rate: for an export whose outcome rate has drifted, anchor to its recent records.

        Sets ``offset_`` (log-odds added after calibration); the ranking is unchanged.

        Parameters
        ----------
        X : DataFrame
            Recent records (model features).
        y : array-like
            Their 0/1 outcomes.

        Returns
        -------
        CalibratedLGBM
            ``self``.
        """
        self.offset_ = 0.0
        p = np.clip(self.predict_proba(X)[:, 1], PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
        target = float(np.mean(np.asarray(y) == self.classes_[1]))
        target = min(max(target, PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR)
        z = logit(p)
        self.offset_ = float(brentq(lambda d: expit(z + d).mean() - target, -20.0, 20.0))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The more likely class per row."""
        positive = self.predict_proba(X)[:, 1] > 0.5
        return self.classes_[positive.astype(int)]

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds before calibration: the blend of the logistic and LightGBM parts."""
        check_is_fitted(self, "model_")
        return self.model_.decision_function(self._frame(X, reset=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.classifier_tags.multi_class = False
        return tags
