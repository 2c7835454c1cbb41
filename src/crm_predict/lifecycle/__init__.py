"""Keeping models current: drift monitoring, tuning (Optuna), retraining and backtests."""

from crm_predict.lifecycle.backtest import (
    backtest_folds,
    conversion_window,
    holdout_metrics,
    judged_rows,
    run_backtest,
)
from crm_predict.lifecycle.monitor import (
    DriftResult,
    compare_profile,
    drift_table,
    monitor_leads,
    write_drift_json,
)
from crm_predict.lifecycle.retrain import (
    RetrainResult,
    decide,
    retrain_task,
)
from crm_predict.lifecycle.tune import (
    TuningResult,
    default_storage,
    open_study,
    tune_task,
)
from crm_predict.lifecycle.tune_objective import (
    PruningCallback,
    TuningData,
    TuningFold,
    blend_log_loss,
    make_objective,
    prepare_tuning_data,
)
from crm_predict.lifecycle.tune_space import (
    defaults_in,
    suggest_params,
    write_overlay,
)
from crm_predict.lifecycle.tune_storage import (
    open_storage,
)

__all__ = [
    "DriftResult",
    "PruningCallback",
    "RetrainResult",
    "TuningData",
    "TuningFold",
    "TuningResult",
    "backtest_folds",
    "blend_log_loss",
    "compare_profile",
    "conversion_window",
    "decide",
    "default_storage",
    "defaults_in",
    "drift_table",
    "holdout_metrics",
    "judged_rows",
    "make_objective",
    "monitor_leads",
    "open_storage",
    "open_study",
    "prepare_tuning_data",
    "retrain_task",
    "run_backtest",
    "suggest_params",
    "tune_task",
    "write_drift_json",
    "write_overlay",
]
