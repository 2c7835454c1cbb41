"""Estimators: calibrated LightGBM blend, logistic baseline, the pipeline factory, and the
Bayesian (:mod:`crm_predict.models.bayes`) and time-to-event (:mod:`crm_predict.models.timing`)
models in their own subpackages."""

from crm_predict.models.baseline import (
    LogisticBaseline,
    logistic_baseline,
)
from crm_predict.models.blend import (
    BlendedLogit,
    blend_log_losses,
)
from crm_predict.models.calibration import (
    Calibration,
    OutOfFold,
    recalibrated_log_loss,
)
from crm_predict.models.factory import (
    build_pipeline,
    default_models,
    diagnostic_metrics,
    make_estimator,
)
from crm_predict.models.gbm import (
    CalibratedLGBM,
)

__all__ = [
    "BlendedLogit",
    "CalibratedLGBM",
    "Calibration",
    "LogisticBaseline",
    "OutOfFold",
    "blend_log_losses",
    "build_pipeline",
    "default_models",
    "diagnostic_metrics",
    "logistic_baseline",
    "make_estimator",
    "recalibrated_log_loss",
]
