"""crm_predict: turn CRM records into predictions people act on.

Which leads will become customers and how soon, which customers are about to leave, and
why. See the README for the tour.
"""

from crm_predict import _legacy
from crm_predict.config import TaskConfig, load_config
from crm_predict.data.loading import TaskData, load_task_data
from crm_predict.exceptions import ConfigError, CRMPredictError, DataValidationError

__version__ = "0.2.0"

_legacy.install()  # models saved by 0.1 name its module paths

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
