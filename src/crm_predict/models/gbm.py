"""LightGBM blended with a logistic regression, cross-fitted and calibrated on unseen rows."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from crm_predict.models.baseline import logistic_baseline

PROBABILITY_FLOOR = 0.001
MIN_VALIDATION_ROWS = 5
"""Fewest validation rows of each outcome the blend weight and the calibrator are fitted on."""
BLEND_WEIGHTS = np.round(np.linspace(0.0, 1.0, 21), 2)
"""Weights of the logistic part tried when blending (steps of 0.05)."""
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


def blend_log_losses(y: np.ndarray, linear: np.ndarray, tree: np.ndarray) -> np.ndarray:
    """Log loss of each blend in :data:`BLEND_WEIGHTS` of two log-odds for outcomes ``y``.

    Blend ``w`` is ``w × linear + (1 − w) × tree``; its log loss is computed on the log-odds
    scale (``log(1 + e^z) − y·z``), exact where probabilities would round to 0 or 1.

    Parameters
    ----------
    y : ndarray
        0/1 outcomes.
    linear, tree : ndarray
        Log-odds of the logistic and LightGBM parts on the same rows.

    Returns
    -------
    ndarray
        One mean log loss per weight, in the order of :data:`BLEND_WEIGHTS`.

    Examples
    --------
    >>> losses = blend_log_losses(np.array([1, 0]), np.array([2.0, -2.0]), np.zeros(2))
    >>> float(losses[0].round(4)), float(losses[-1].round(4))
    (0.6931, 0.1269)
    """
    w = BLEND_WEIGHTS[:, None]
    z = w * np.asarray(linear, dtype=float) + (1 - w) * np.asarray(tree, dtype=float)
    return (np.logaddexp(0.0, z) - np.asarray(y) * z).mean(axis=1)


class BlendedLogit(ClassifierMixin, BaseEstimator):
    """Log-odds ``weight`` × logistic regression + (1 − ``weight``) × mean of the boosters.

    Only built by :class:`CalibratedLGBM`; exposes ``decision_function`` (total log-odds)
    so that the calibrator can read it.

    Parameters
    ----------
    linear : Pipeline or None
        A fitted :func:`~crm_predict.models.baseline.logistic_baseline`; None without a
        logistic part.
    boosters : list of lightgbm.LGBMClassifier
        Fitted boosters, trained from a constant score (one per fold).
    weight : float
        Weight of the logistic part, in [0, 1].
    linear_mean : ndarray or None
        Mean of the logistic regression's encoded training columns: the reference point of
        its exact linear contributions.
    """

    def __init__(self, linear=None, boosters=None, weight=0.0, linear_mean=None) -> None:
        self.linear = linear
        self.boosters = boosters
        self.weight = weight
        self.linear_mean = linear_mean

    def fit(self, X, y):
        """Already fitted by :class:`CalibratedLGBM`; refitting is not supported."""
        raise NotImplementedError("BlendedLogit is assembled from fitted parts")

    @property
    def classes_(self) -> np.ndarray:
        """The boosters' classes."""
        return self.boosters[0].classes_

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self.boosters)

    def linear_score(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the logistic regression (zeros without one)."""
        if self.linear is None:
            return np.zeros(len(X))
        return self.linear.decision_function(X)

    def tree_score(self, X: pd.DataFrame) -> np.ndarray:
        """Mean raw score (log-odds) of the boosters."""
        return np.mean([b.predict(X, raw_score=True) for b in self.boosters], axis=0)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Total log-odds: the weighted blend of both parts."""
        tree = self.tree_score(X) if self.weight < 1 else 0.0
        linear = self.linear_score(X) if self.weight > 0 else 0.0
        return self.weight * linear + (1 - self.weight) * tree

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probabilities."""
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The more likely class (uncalibrated)."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def tree_ensemble(self):
        """The LightGBM part as one :class:`~crm_predict.treeshap.TreeEnsemble`.

        Every booster's trees, leaf values scaled by ``(1 - weight) / n_boosters``, so that
        its exact TreeSHAP values are the LightGBM part's share of the blend. Parsed once
        and kept (not pickled).
        """
        if getattr(self, "_ensemble", None) is None:
            from crm_predict.treeshap import TreeEnsemble

            scale = (1 - self.weight) / len(self.boosters)
            self._ensemble = TreeEnsemble.from_boosters(
                [b.booster_ for b in self.boosters], [scale] * len(self.boosters)
            )
        return self._ensemble

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_ensemble", None)
        return state


class CalibratedLGBM(ClassifierMixin, BaseEstimator):
    """LightGBM blended with a logistic regression, calibrated on rows neither saw.

    The rows passed to ``fit`` are cut into validation folds. With ``folds=1`` the last
    ``validation_fraction`` of the rows (in the given order, so pass time-sorted rows for a
    time-ordered task) is the only validation slice and the rest is trained on. With
    ``folds=k >= 2`` the rows are cross-fitted: stratified k-fold, each row validates
    exactly once and trains the other k − 1 fold models, so every row is used for both and
    small exports lose no training rows to calibration.

    Per fold a logistic regression and a LightGBM booster (early-stopped on the fold's
    validation rows) are fitted side by side. Their log-odds on the validation rows
    choose the blend weight (by log loss, in steps of 0.05: 1 keeps only the logistic
    regression, 0 only LightGBM) and fit the calibrator; the calibration method
    (``sigmoid`` or ``isotonic``) is chosen by cross-validated Brier score when
    ``calibration="auto"``. The fitted model averages the fold boosters (a bagged
    average beats one booster refitted on every row). Cross-fitted, the logistic
    regression is then refitted on every row: the fold regressions differ little, and one
    model scores five times faster than their average. With one slice, the slice's
    regression is kept, so that the calibrator still sees it forward in time.
    CRM effects are often close to additive on the log-odds scale, where a linear model is
    hard to beat, while LightGBM finds the interactions and thresholds: the blend takes
    what the validation rows say each is worth. Class imbalance is left to the calibrator,
    so a score of 0.30 means about 30% of such leads convert.

    Parameters
    ----------
    params : dict, optional
        LightGBM parameters merged over :data:`DEFAULT_LGBM_PARAMS`.
    validation_fraction : float
        Share of rows in the validation slice when ``folds`` is 1.
    folds : int
        1 for one validation slice at the end, ``k >= 2`` for stratified k-fold
        cross-fitting.
    early_stopping_rounds : int
        Rounds without improvement before a booster stops.
    calibration : {"auto", "isotonic", "sigmoid"}
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
        Validation log loss of each blend weight tried.
    calibrator_ : Calibration
        Maps the blend's log-odds to probabilities.
    calibration_method_ : str
        The method used.
    calibration_brier_ : dict
        Cross-validated Brier score of each candidate method.

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
        early_stopping_rounds: int = 100,
        calibration: str = "auto",
        linear: bool = True,
        random_state: int = 42,
        n_jobs: int = 2,
    ) -> None:
        self.params = params
        self.validation_fraction = validation_fraction
        self.folds = folds
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
        """Fit the fold models, then the blend weight and calibrator on their validation rows."""
        if self.calibration not in ("auto", "isotonic", "sigmoid"):
            raise ValueError(
                f"calibration must be auto, isotonic or sigmoid, not {self.calibration!r}"
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
        linear_rows, tree_rows = linear_oof[rows], tree_oof[rows]

        def blend(w: float) -> np.ndarray:
            return w * linear_rows + (1 - w) * tree_rows

        losses = blend_log_losses(y_rows, linear_rows, tree_rows)
        tried = len(BLEND_WEIGHTS) if self.linear else 1  # without it, LightGBM alone: w = 0
        self.blend_log_loss_ = {
            float(w): float(v) for w, v in zip(BLEND_WEIGHTS[:tried], losses[:tried], strict=True)
        }
        self.weight_ = min(self.blend_log_loss_, key=self.blend_log_loss_.get)
        linear_mean = None
        if self.linear:
            if len(folds) > 1:
                self.linear_ = logistic_baseline(random_state=self.random_state).fit(X, y)
            fitted_on = X.iloc[folds[0][0]] if len(folds) == 1 else X
            encoded = self.linear_[:-1].transform(fitted_on)
            linear_mean = np.asarray(encoded, dtype=float).mean(axis=0)
        self.model_ = BlendedLogit(self.linear_, self.boosters_, self.weight_, linear_mean)
        raw = blend(self.weight_)
        methods = ["sigmoid", "isotonic"] if self.calibration == "auto" else [self.calibration]
        self.calibration_brier_ = {m: self._cv_brier(m, raw, y_rows) for m in methods}
        self.calibration_method_ = min(self.calibration_brier_, key=self.calibration_brier_.get)
        self.calibrator_ = Calibration(self.calibration_method_).fit(raw, y_rows)
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
        if not isinstance(self.folds, (int, np.integer)) or self.folds < 1:
            raise ValueError(f"folds must be a whole number of at least 1, not {self.folds!r}")
        n = len(y)
        if self.folds == 1:
            n_valid = max(2, int(round(n * self.validation_fraction)))
            return [(np.arange(n - n_valid), np.arange(n - n_valid, n))]
        smaller = int(np.bincount(y).min())
        if smaller < self.folds:
            raise ValueError(
                f"{self.folds} cross-fitting folds need at least {self.folds} rows of each "
                f"outcome; the rarer one has {smaller}: lower folds"
            )
        kfold = StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.random_state)
        return list(kfold.split(np.zeros(n), y))

    def _cv_brier(self, method: str, raw: np.ndarray, y: np.ndarray) -> float:
        """Cross-validated Brier score of one calibration method on validation log-odds."""
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=self.random_state)
        pred = np.empty(len(y))
        for fit_idx, test_idx in folds.split(raw, y):
            pred[test_idx] = (
                Calibration(method).fit(raw[fit_idx], y[fit_idx]).predict(raw[test_idx])
            )
        return float(brier_score_loss(y, pred))

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
        return np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)

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


class Calibration:
    """Probability of the outcome given log-odds: Platt scaling or isotonic regression.

    ``sigmoid`` fits a one-variable logistic regression on the log-odds (Platt scaling),
    ``isotonic`` a non-decreasing step function (scikit-learn's ``IsotonicRegression``).

    Parameters
    ----------
    method : {"sigmoid", "isotonic"}
        The calibration map.

    Examples
    --------
    >>> import numpy as np
    >>> raw = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
    >>> cal = Calibration("isotonic").fit(raw, np.array([0, 0, 1, 0, 1, 1]))
    >>> cal.predict(np.array([-5.0, 5.0])).tolist()
    [0.0, 1.0]
    """

    def __init__(self, method: str) -> None:
        self.method = method

    def fit(self, raw: np.ndarray, y: np.ndarray) -> Calibration:
        """Fit the map from log-odds ``raw`` to the 0/1 outcome ``y``."""
        if self.method == "sigmoid":
            self.map_ = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
        else:
            self.map_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of log-odds ``raw``."""
        if self.method == "sigmoid":
            return self.map_.predict_proba(raw.reshape(-1, 1))[:, 1]
        return self.map_.predict(raw)
