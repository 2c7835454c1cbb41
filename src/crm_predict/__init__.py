"""crm_predict: turn CRM records into predictions people act on.

Which leads will become customers and how soon, which customers are about to leave, and
why. See the README for the tour.
"""

from crm_predict.config import TaskConfig, load_config
from crm_predict.exceptions import ConfigError, CRMPredictError, DataValidationError
from crm_predict.loading import TaskData, load_task_data

__version__ = "0.1.0"

__all__ = [
    "CRMPredictError",
    "ConfigError",
    "DataValidationError",
    "TaskConfig",
    "TaskData",
    "__version__",
    "load_config",
    "load_task_data",
]
