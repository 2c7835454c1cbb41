"""Feature builders: scikit-learn transformers that turn CRM fields into model matrices."""

from crm_predict.features.activity import ActivityAggregator
from crm_predict.features.assemble import (
    AS_OF,
    build_feature_pipeline,
    build_model_frame,
    field_of,
    task_frame,
)
from crm_predict.features.categorical import CategoricalEncoder
from crm_predict.features.dates import DateFeatures, EngagementFeatures, SizeBands
from crm_predict.features.numeric import NumericTransformer

__all__ = [
    "AS_OF",
    "ActivityAggregator",
    "CategoricalEncoder",
    "DateFeatures",
    "EngagementFeatures",
    "NumericTransformer",
    "SizeBands",
    "build_feature_pipeline",
    "build_model_frame",
    "field_of",
    "task_frame",
]
