"""How a task's models are fit, tuned and replaced: split, gbm, bayes, timing, tuning, retrain.

Each section forbids unknown keys; ``tuning.space`` maps LightGBM parameter names to a
:class:`ParamRange`. :mod:`crm_predict.config.task` re-exports every class here.

Examples
--------
>>> TuningSpec().space["num_leaves"]
ParamRange(low=4.0, high=48.0, log=True, integer=True)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from crm_predict.config.sources import _Strict


class SplitSpec(_Strict):
    """How the holdout is chosen."""

    method: Literal["auto", "time", "stratified"] = "auto"
    test_size: float = Field(0.2, gt=0, lt=1)
    validation_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42


class BayesSpec(_Strict):
    """The Bayesian hierarchical model: which fields, priors and how long to sample."""

    categorical: list[str] | None = Field(
        None, description="grouping fields (default: every categorical field and size band)"
    )
    numeric: list[str] | None = Field(
        None, description="fields with a slope (default: the numeric and count fields)"
    )
    interactions: list[tuple[str, str]] = Field(default_factory=list)
    priors: dict[str, dict[str, float]] = Field(default_factory=dict)
    draws: int = Field(1000, gt=0)
    tune: int = Field(500, gt=0)
    chains: int = Field(2, gt=0)
    numeric_bins: int | None = Field(
        None,
        ge=2,
        description="fit on numerics cut to this many quantile bins, so that rows collapse "
        "into fewer binomial cells (default: exact values)",
    )


class TimingSpec(_Strict):
    """The time-to-event model (:mod:`crm_predict.models.timing.model`): horizons and time grid."""

    horizons: list[int] = Field(
        default_factory=lambda: [30, 60, 90],
        min_length=1,
        description="days for the p_convert_<h>d columns of the score file",
    )
    period_days: int = Field(7, gt=0, description="length of one hazard period in days")
    max_days: int = Field(
        365, gt=0, description="periods past this share one hazard; p_ever is within it"
    )
    seed: int | None = Field(None, description="seed of the model (default: the task's seed)")

    @model_validator(mode="after")
    def _sane(self) -> TimingSpec:
        if min(self.horizons) <= 0:
            raise ValueError("timing.horizons must be positive numbers of days")
        if self.max_days < self.period_days:
            raise ValueError("timing.max_days must be at least timing.period_days")
        return self


class GBMSpec(_Strict):
    """The LightGBM model's parameters (``crm-predict tune`` writes them as an overlay)."""

    params: dict[str, float | int | str | bool] = Field(
        default_factory=dict,
        description="LightGBM parameters merged over the built-in defaults, e.g. num_leaves",
    )
    folds: int = Field(
        5,
        ge=1,
        description="cross-fitting folds on a stratified split; 1 for one validation slice",
    )
    time_folds: int = Field(
        3,
        ge=1,
        description="rolling-origin folds on a time split, each split.validation_size of the "
        "training records; rounds, blend and calibrator come from all of them, then the "
        "model is refitted on every training record",
    )


class CalibrationSpec(_Strict):
    """Where the probabilities are anchored in time."""

    recent_days: int | None = Field(
        None,
        gt=0,
        description="shift the LightGBM model's log-odds so that its mean probability over "
        "the training records created in the last N days equals their outcome rate (for "
        "an export whose rate has drifted); None keeps the whole training period",
    )


class ParamRange(_Strict):
    """One tuned LightGBM parameter: a range searched on a linear or log scale."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> ParamRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        return self


def _default_space() -> dict[str, ParamRange]:
    return {
        "num_leaves": ParamRange(low=4, high=48, log=True, integer=True),
        "learning_rate": ParamRange(low=0.01, high=0.2, log=True),
        "min_child_samples": ParamRange(low=20, high=300, log=True, integer=True),
        "reg_lambda": ParamRange(low=0.001, high=30.0, log=True),
        "colsample_bytree": ParamRange(low=0.5, high=1.0),
        "subsample": ParamRange(low=0.5, high=1.0),
    }


class TuningSpec(_Strict):
    """The Optuna search over the LightGBM model (``crm-predict tune``)."""

    space: dict[str, ParamRange] = Field(default_factory=_default_space)
    folds: int = Field(
        3,
        ge=1,
        description="validation folds per trial (rolling origin; stratified without dates)",
    )
    max_estimators: int = Field(2000, gt=0, description="cap on boosting rounds per trial")
    early_stopping_rounds: int = Field(100, gt=0)
    prune_warmup_rounds: int = Field(50, ge=0, description="rounds before a trial may be pruned")
    report_every: int = Field(10, gt=0, description="rounds between pruning checks")
    startup_trials: int = Field(8, gt=0, description="random trials before TPE takes over")
    seed: int | None = Field(None, description="sampler seed (default: the task's seed)")


class RetrainSpec(_Strict):
    """When a retrained challenger replaces the champion (``crm-predict retrain``)."""

    auc_margin: float = Field(0.01, ge=0, description="allowed ROC AUC drop on the holdout")
    brier_tolerance: float = Field(0.0, ge=0, description="allowed Brier score increase")
    min_brier_gain: float = Field(
        0.001, ge=0, description="Brier improvement needed to promote; ties keep the champion"
    )
    calibration_tolerance: float = Field(
        0.03,
        ge=0,
        description="allowed growth of a segment's |predicted - actual| rate gap, on top of "
        "two standard errors of its actual rate",
    )
    segment_min_rows: int = Field(100, gt=0, description="smallest segment level judged")
    backtest_folds: int = Field(3, ge=0, description="rolling-origin folds before the holdout")
    conversion_window_days: int | None = Field(
        None,
        gt=0,
        description="holdout leads younger than this are not judged (default: "
        "target.open_negative_after_days)",
    )
