"""Scoring: the model bundles, the frame builder, batch scoring of a lead list and SQL output."""

from crm_predict.scoring.batch import (
    ScoreSummary,
    rejected_path,
    score_leads,
)
from crm_predict.scoring.bundle import (
    Bundle,
    ModelBundle,
    TimingBundle,
    make_bundle,
    reason_floor,
    reason_values,
)
from crm_predict.scoring.scorer import (
    Scorer,
)
from crm_predict.scoring.sql import (
    upsert_scores,
)
from crm_predict.scoring.task_models import (
    TaskModels,
)

__all__ = [
    "Bundle",
    "ModelBundle",
    "ScoreSummary",
    "Scorer",
    "TaskModels",
    "TimingBundle",
    "make_bundle",
    "reason_floor",
    "reason_values",
    "rejected_path",
    "score_leads",
    "upsert_scores",
]
