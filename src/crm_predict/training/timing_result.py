"""What fitting a time-to-event model gives, and the unfitted model a task describes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from crm_predict.config import TaskConfig
from crm_predict.models.timing.model import TimeToConvertModel
from crm_predict.scoring.bundle import TimingBundle


@dataclass
class TrainedTiming:
    """A fitted time-to-event bundle and its holdout comparison with the baselines."""

    bundle: TimingBundle
    comparison: pd.DataFrame
    fit_seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, float]:
        """Our model's holdout numbers (c-index, IBS, horizon ECE, fit seconds)."""
        row = self.comparison.iloc[0].drop("model")
        return {k: float(v) for k, v in row.items()}


def timing_model(config: TaskConfig, event_name: str = "convert") -> TimeToConvertModel:
    """The unfitted hazard model a task's ``timing`` section describes."""
    spec = config.timing
    return TimeToConvertModel(
        period_days=spec.period_days,
        max_days=spec.max_days,
        horizons=tuple(spec.horizons),
        event_name=event_name,
        validation_fraction=config.split.validation_size,
        random_state=config.seed if spec.seed is None else spec.seed,
    )
