"""Holdout evaluation of a time-to-event model against Kaplan–Meier and Cox baselines.

Every metric comes from scikit-survival; nothing here re-implements one. The baselines know
one event only, so the comparison uses the *conversion subdistribution* framing (as in
Fine–Gray): a lost record stays "at risk" of converting until its administrative censoring
time (``as_of − created``) and is censored there, never counted as converted. In that
framing a baseline's survival function is ``1 − CIF_convert``, directly comparable with
``1 − CIF`` of our competing-risks model. Censoring is administrative (by ``as_of``), which
is what the IPCW weights of the Brier score and Uno's concordance assume.

CoxPH is scikit-survival's :class:`~sksurv.linear_model.CoxPHSurvivalAnalysis` (lifelines
cannot be installed beside pandas 3), fitted on one-hot, median-imputed, standardised
features with a small ridge penalty.

Horizon calibration: among holdout records followed for at least ``h`` days, the expected
calibration error between the predicted probability of converting within ``h`` days and
whether they did (:func:`crm_predict.evaluate.calibration.expected_calibration_error`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    integrated_brier_score,
)
from sksurv.nonparametric import kaplan_meier_estimator

from crm_predict.evaluate.calibration import expected_calibration_error
from crm_predict.models.timing.model import EVENT

COX_ALPHA = 1.0


@dataclass(frozen=True)
class TimingOutcomes:
    """Observed outcomes of a set of records, in days.

    Attributes
    ----------
    durations : ndarray
        Days to the close date (closed) or to ``as_of`` (open).
    events : ndarray of int
        0 open, 1 event of interest, 2 competing outcome.
    follow_up : ndarray
        Days from creation to ``as_of``.
    """

    durations: np.ndarray
    events: np.ndarray
    follow_up: np.ndarray

    def subset(self, rows: np.ndarray) -> TimingOutcomes:
        """The outcomes of ``rows`` (positions)."""
        return TimingOutcomes(self.durations[rows], self.events[rows], self.follow_up[rows])

    def subdistribution(self) -> np.ndarray:
        """scikit-survival's structured ``(event, time)`` array, lost kept at risk to as_of.

        Examples
        --------
        >>> o = TimingOutcomes(np.array([3.0, 5.0]), np.array([1, 2]), np.array([10.0, 9.0]))
        >>> o.subdistribution()["time"].tolist()
        [3.0, 9.0]
        """
        event = self.events == EVENT
        t = np.where(event, self.durations, self.follow_up)
        out = np.empty(len(t), dtype=[("event", bool), ("time", float)])
        out["event"], out["time"] = event, np.maximum(t, 1e-6)
        return out

    def converted_within(self, days: float) -> tuple[np.ndarray, np.ndarray]:
        """``(judged, converted)``: records followed ``days`` or more, and whether they
        reached the event within ``days``."""
        judged = self.follow_up >= days
        hit = (self.events == EVENT) & (self.durations <= days)
        return judged, hit[judged]


def evaluation_times(train: TimingOutcomes, test: TimingOutcomes, horizon: float) -> np.ndarray:
    """A grid of days inside the holdout's follow-up (as the Brier score requires).

    Up to ``horizon`` days, the 90th percentile of the holdout's observed times and the
    largest time observed in training; 20 points.
    """
    t_test = test.subdistribution()["time"]
    t_train = train.subdistribution()["time"]
    lo = max(1.0, float(np.min(t_test)) + 1e-3)
    hi = min(float(horizon), float(np.quantile(t_test, 0.9)), float(np.max(t_train)) - 1e-3)
    if hi <= lo:
        raise ValueError(
            "the holdout's follow-up is too short to evaluate a time-to-event model "
            f"(from {lo:.0f} to {hi:.0f} days)"
        )
    return np.linspace(lo, hi, 20)


def _step(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Value of a right-continuous step function (1 before its first jump) at ``at``."""
    pos = np.searchsorted(x, at, side="right") - 1
    return np.where(pos >= 0, y[np.clip(pos, 0, None)], 1.0)


def design_matrix(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """One-hot categoricals, median-imputed, standardised numerics, for a linear model."""
    both = pd.concat([train, test], keys=["train", "test"])
    cats = [c for c in both.columns if not pd.api.types.is_numeric_dtype(both[c])]
    for col in cats:
        both[col] = both[col].astype(str)
    coded = pd.get_dummies(both, columns=cats, drop_first=True, dtype=float).astype(float)
    tr, te = coded.loc["train"], coded.loc["test"]
    fill = tr.median()
    tr, te = tr.fillna(fill).fillna(0.0), te.fillna(fill).fillna(0.0)
    sd = tr.std().replace(0.0, np.nan)
    keep = sd.notna()
    mu, sd = tr.mean()[keep], sd[keep]
    return ((tr.loc[:, keep] - mu) / sd).to_numpy(), ((te.loc[:, keep] - mu) / sd).to_numpy()


def _scores(
    name: str,
    train: TimingOutcomes,
    test: TimingOutcomes,
    survival: np.ndarray,
    risk: np.ndarray,
    times: np.ndarray,
    horizons: Sequence[float],
    horizon_p: Callable[[float], np.ndarray],
    seconds: float,
) -> dict:
    y_train, y_test = train.subdistribution(), test.subdistribution()
    harrell = concordance_index_censored(y_test["event"], y_test["time"], risk)[0]
    uno = concordance_index_ipcw(y_train, y_test, risk, tau=float(times[-1]))[0]
    ibs = integrated_brier_score(y_train, y_test, survival, times)
    row = {"model": name, "c_index": harrell, "c_index_uno": uno, "ibs": ibs}
    for h in horizons:
        judged, hit = test.converted_within(h)
        p = np.clip(horizon_p(h)[judged], 0.0, 1.0)
        row[f"ece_{int(h)}d"] = (
            expected_calibration_error(hit.astype(int), p) if judged.any() else np.nan
        )
        row[f"n_{int(h)}d"] = int(judged.sum())
    row["fit_seconds"] = seconds
    return row


def compare_timing(
    cif: Callable[[np.ndarray], np.ndarray],
    X_train: pd.DataFrame,
    X_test: pd.DataFrame,
    train: TimingOutcomes,
    test: TimingOutcomes,
    horizons: Sequence[float] = (30, 60, 90),
    fit_seconds: float = float("nan"),
    name: str = "crm_predict",
    baselines: bool = True,
) -> pd.DataFrame:
    """Concordance, integrated Brier score and horizon calibration: ours and the baselines.

    Parameters
    ----------
    cif : callable
        ``cif(times)`` → our model's probability of the event within each of ``times``
        days for every holdout record, shape ``(n_test, len(times))``.
    X_train, X_test : DataFrame
        Feature rows the Cox baseline is fitted and evaluated on.
    train, test : TimingOutcomes
        Observed outcomes.
    horizons : sequence of float
        Days of the calibration checks.
    fit_seconds : float
        Our model's fit time, reported beside the baselines'.
    name : str
        Our model's name in the table.
    baselines : bool
        Also fit and score Kaplan–Meier and CoxPH.

    Returns
    -------
    DataFrame
        One row per model: ``c_index`` (Harrell), ``c_index_uno`` (IPCW, up to the last
        evaluation time), ``ibs``, ``ece_<h>d`` and ``n_<h>d`` per horizon, ``fit_seconds``.

    Examples
    --------
    >>> table = compare_timing(model_cif, Xtr, Xte, train, test)  # doctest: +SKIP
    >>> table.set_index("model").loc["Kaplan–Meier", "c_index"]  # doctest: +SKIP
    0.5
    """
    times = evaluation_times(train, test, max(horizons))
    grid = np.asarray(times, dtype=float)
    ours_cif = cif(np.r_[grid, np.asarray(horizons, dtype=float)])
    ours_curve, ours_h = ours_cif[:, : len(grid)], ours_cif[:, len(grid) :]
    rows = [
        _scores(
            name,
            train,
            test,
            1.0 - ours_curve,
            ours_curve.mean(axis=1),
            grid,
            horizons,
            lambda h: ours_h[:, list(horizons).index(h)],
            fit_seconds,
        )
    ]
    if not baselines:
        return pd.DataFrame(rows)
    y_train = train.subdistribution()
    start = time.perf_counter()
    km_t, km_s = kaplan_meier_estimator(y_train["event"], y_train["time"])
    km_seconds = time.perf_counter() - start
    n = len(test.durations)
    km_curve = np.tile(_step(km_t, km_s, grid), (n, 1))
    rows.append(
        _scores(
            "Kaplan–Meier",
            train,
            test,
            km_curve,
            np.zeros(n),
            grid,
            horizons,
            lambda h: np.full(n, 1.0 - _step(km_t, km_s, np.array([h]))[0]),
            km_seconds,
        )
    )
    start = time.perf_counter()
    A_train, A_test = design_matrix(X_train, X_test)
    cox = CoxPHSurvivalAnalysis(alpha=COX_ALPHA).fit(A_train, y_train)
    cox_seconds = time.perf_counter() - start
    surv = cox.predict_survival_function(A_test, return_array=True)

    def cox_at(days: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(cox.unique_times_, days, side="right") - 1
        return np.where(pos >= 0, surv[:, np.clip(pos, 0, None)], 1.0)

    rows.append(
        _scores(
            "CoxPH",
            train,
            test,
            cox_at(grid),
            cox.predict(A_test),
            grid,
            horizons,
            lambda h: 1.0 - cox_at(np.array([h]))[:, 0],
            cox_seconds,
        )
    )
    return pd.DataFrame(rows)
