"""LightGBM with early stopping and probability calibration on rows the booster never saw."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted

from crm_predict.models.baseline import logistic_baseline

PROBABILITY_FLOOR = 0.001
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


class BoostedLogit(ClassifierMixin, BaseEstimator):
    """A fitted logistic base plus a LightGBM booster that learned its residual log-odds.

    Only built by :class:`CalibratedLGBM`; exposes ``decision_function`` (total log-odds)
    so that scikit-learn's calibrators can read it. ``base_mean`` is the mean of the base's
    encoded training columns, the reference point of its exact linear contributions.
    """

    def __init__(self, base=None, booster=None, base_mean=None) -> None:
        self.base = base
        self.booster = booster
        self.base_mean = base_mean

    def fit(self, X, y):
        """Already fitted by :class:`CalibratedLGBM`; refitting is not supported."""
        raise NotImplementedError("BoostedLogit is assembled from fitted parts")

    @property
    def classes_(self) -> np.ndarray:
        """The booster's classes."""
        return self.booster.classes_

    def __sklearn_is_fitted__(self) -> bool:
        return self.booster is not None

    def base_score(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the logistic base (zeros without one)."""
        return self.base.decision_function(X) if self.base is not None else np.zeros(len(X))

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Total log-odds: base plus booster."""
        return self.base_score(X) + self.booster.predict(X, raw_score=True)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probabilities."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The more likely class (uncalibrated)."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class CalibratedLGBM(ClassifierMixin, BaseEstimator):
    """A LightGBM classifier, early-stopped and calibrated on a held-out validation slice.

    The last ``validation_fraction`` of the rows passed to ``fit`` (in the given order, so
    pass time-sorted rows for a time-ordered task) is never trained on: the booster stops
    early on it and the calibrator is fitted on it. The calibration method (``sigmoid`` or
    ``isotonic``) is chosen by cross-validated Brier score on that slice when
    ``calibration="auto"``. Class imbalance is left to the calibrator, so a score of 0.30
    means about 30% of such leads convert.

    Parameters
    ----------
    params : dict, optional
        LightGBM parameters merged over :data:`DEFAULT_LGBM_PARAMS`.
    validation_fraction : float
        Share of rows kept for early stopping and calibration.
    early_stopping_rounds : int
        Rounds without improvement before stopping.
    calibration : {"auto", "isotonic", "sigmoid"}
        Calibration method.
    linear_base : bool
        Boost from a logistic regression's log-odds (LightGBM's ``init_score``) instead of
        from a constant. CRM effects are often close to additive on the log-odds scale,
        where a linear model is hard to beat; the booster then only adds the interactions
        and non-linearities that early stopping finds worth it.
    random_state : int
        Seed for LightGBM's bagging and the calibration folds.
    n_jobs : int
        Threads for LightGBM.

    Attributes
    ----------
    booster_ : lightgbm.LGBMClassifier
        The fitted booster.
    model_ : BoostedLogit
        Logistic base plus booster, before calibration.
    calibrator_ : CalibratedClassifierCV
        The calibrated wrapper around the frozen booster.
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
    >>> model = CalibratedLGBM(params={"n_estimators": 50}).fit(X, y)
    >>> model.predict_proba(X).shape
    (2000, 2)
    """

    def __init__(
        self,
        params: dict | None = None,
        validation_fraction: float = 0.2,
        early_stopping_rounds: int = 100,
        calibration: str = "auto",
        linear_base: bool = True,
        random_state: int = 42,
        n_jobs: int = 2,
    ) -> None:
        self.params = params
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.linear_base = linear_base
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

    def fit(self, X: pd.DataFrame, y) -> CalibratedLGBM:
        """Fit the booster on the first rows, stop and calibrate on the last ones."""
        if self.calibration not in ("auto", "isotonic", "sigmoid"):
            raise ValueError(
                f"calibration must be auto, isotonic or sigmoid, not {self.calibration!r}"
            )
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        y = np.asarray(y).astype(int)
        self.classes_ = unique_labels(y)
        if len(self.classes_) != 2:
            raise ValueError("CalibratedLGBM needs both outcomes in the training rows")
        n_valid = max(2, int(round(len(y) * self.validation_fraction)))
        fit_rows, cal_rows = slice(0, len(y) - n_valid), slice(len(y) - n_valid, len(y))
        X_fit, y_fit = X.iloc[fit_rows], y[fit_rows]
        X_cal, y_cal = X.iloc[cal_rows], y[cal_rows]
        base = None
        if self.linear_base:
            base = logistic_baseline(random_state=self.random_state).fit(X_fit, y_fit)
        booster = self._booster()
        booster.fit(
            X_fit,
            y_fit,
            init_score=base.decision_function(X_fit) if base is not None else None,
            eval_X=(X_cal,),
            eval_y=(y_cal,),
            eval_init_score=[base.decision_function(X_cal)] if base is not None else None,
            eval_metric="binary_logloss",
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.booster_ = booster
        base_mean = None
        if base is not None:
            base_mean = np.asarray(base[:-1].transform(X_fit), dtype=float).mean(axis=0)
        self.model_ = BoostedLogit(base, booster, base_mean)
        methods = ["sigmoid", "isotonic"] if self.calibration == "auto" else [self.calibration]
        self.calibration_brier_ = {m: self._cv_brier(m, X_cal, y_cal) for m in methods}
        self.calibration_method_ = min(self.calibration_brier_, key=self.calibration_brier_.get)
        self.calibrator_ = CalibratedClassifierCV(
            FrozenEstimator(self.model_), method=self.calibration_method_
        ).fit(X_cal, y_cal)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def _cv_brier(self, method: str, X: pd.DataFrame, y: np.ndarray) -> float:
        """Cross-validated Brier score of one calibration method on the calibration slice.

        The model's log-odds are computed once and the calibrators fitted on them: the same
        fits as calibrating the frozen model fold by fold, without re-scoring it each time.
        """
        raw = self.model_.decision_function(X).reshape(-1, 1)
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=self.random_state)
        pred = np.empty(len(y))
        for fit_idx, test_idx in folds.split(raw, y):
            cal = CalibratedClassifierCV(FrozenEstimator(_RawScore()), method=method)
            cal.fit(raw[fit_idx], y[fit_idx])
            pred[test_idx] = cal.predict_proba(raw[test_idx])[:, 1]
        return float(brier_score_loss(y, pred))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape ``(n, 2)``, kept within [0.001, 0.999].

        Isotonic calibration can output exactly 0 or 1 for a bin without positives or
        negatives; no CRM lead is certain, and log loss would punish that without limit.
        """
        check_is_fitted(self, "calibrator_")
        p = np.clip(
            self.calibrator_.predict_proba(X)[:, 1], PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR
        )
        return np.column_stack([1 - p, p])

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability of given log-odds (as :meth:`predict_proba` maps them)."""
        check_is_fitted(self, "calibrator_")
        raw = np.asarray(raw, dtype=float)
        cals = self.calibrator_.calibrated_classifiers_
        p = np.mean([c.calibrators[0].predict(raw) for c in cals], axis=0)
        return np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The more likely class per row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds before calibration: logistic base plus booster."""
        check_is_fitted(self, "model_")
        return self.model_.decision_function(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags


class _RawScore(ClassifierMixin, BaseEstimator):
    """Reads log-odds computed beforehand from the single column it is given."""

    classes_ = np.array([0, 1])

    def fit(self, X, y):
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, 0]

    def predict(self, X) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)
