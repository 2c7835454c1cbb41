"""Training a task: split, fit every model, out-of-fold evidence, the champion, the timing model."""

from crm_predict.training.churn_timing import (
    ChurnSurvival,
    churn_survival,
    fit_churn_timing,
)
from crm_predict.training.evidence import (
    out_of_fold,
)
from crm_predict.training.selection import (
    Selection,
    choose_champion,
    holdout_check,
    model_label,
)
from crm_predict.training.timing import (
    fit_timing,
    segment_curves,
    timing_split,
)
from crm_predict.training.timing_result import (
    TrainedTiming,
    timing_model,
)
from crm_predict.training.train import (
    TrainedModel,
    TrainResult,
    frame_columns,
    model_card,
    select_champion,
    timing_problem,
    train_task,
    write_metrics,
)

__all__ = [
    "ChurnSurvival",
    "Selection",
    "TrainResult",
    "TrainedModel",
    "TrainedTiming",
    "choose_champion",
    "churn_survival",
    "fit_churn_timing",
    "fit_timing",
    "frame_columns",
    "holdout_check",
    "model_card",
    "model_label",
    "out_of_fold",
    "segment_curves",
    "select_champion",
    "timing_model",
    "timing_problem",
    "timing_split",
    "train_task",
    "write_metrics",
]
