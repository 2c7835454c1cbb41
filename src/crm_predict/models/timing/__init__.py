"""The discrete-time hazard model: time to convert (or churn) with competing outcomes."""

from crm_predict.models.timing.hazard_calibration import (
    fit_hazard_calibration,
    hazard_probabilities,
    softmax,
)
from crm_predict.models.timing.lifetime import (
    expected_remaining_days,
)
from crm_predict.models.timing.model import (
    TimeToConvertModel,
)
from crm_predict.models.timing.periods import (
    as_array,
    event_codes,
    expand_periods,
)

__all__ = [
    "TimeToConvertModel",
    "as_array",
    "event_codes",
    "expand_periods",
    "expected_remaining_days",
    "fit_hazard_calibration",
    "hazard_probabilities",
    "softmax",
]
