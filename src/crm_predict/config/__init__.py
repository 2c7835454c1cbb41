"""Task configs: YAML validated by pydantic (task, sources, fields, training settings)."""

from crm_predict.config.fields import (
    ChurnSpec,
    FeatureSpec,
    SizeBands,
    TargetSpec,
    TimeSpec,
)
from crm_predict.config.sources import (
    ActivitySpec,
    ChurnTableSpec,
    JoinSpec,
    SQLSource,
    SyntheticSource,
    TableSource,
)
from crm_predict.config.task import (
    TaskConfig,
    load_config,
    parse_config,
)
from crm_predict.config.training import (
    BayesSpec,
    CalibrationSpec,
    GBMSpec,
    ParamRange,
    RetrainSpec,
    SplitSpec,
    TimingSpec,
    TuningSpec,
)

__all__ = [
    "ActivitySpec",
    "BayesSpec",
    "CalibrationSpec",
    "ChurnSpec",
    "ChurnTableSpec",
    "FeatureSpec",
    "GBMSpec",
    "JoinSpec",
    "ParamRange",
    "RetrainSpec",
    "SQLSource",
    "SizeBands",
    "SplitSpec",
    "SyntheticSource",
    "TableSource",
    "TargetSpec",
    "TaskConfig",
    "TimeSpec",
    "TimingSpec",
    "TuningSpec",
    "load_config",
    "parse_config",
]
