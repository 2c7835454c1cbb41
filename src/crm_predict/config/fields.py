"""What the main table's fields mean: the outcome, the time columns, churn and feature roles.

The ``target``, ``time``, ``churn`` and ``features`` sections of a task; each forbids unknown
keys. :mod:`crm_predict.config.task` re-exports every class here.

Examples
--------
>>> spec = FeatureSpec(numeric=["employees", "deal_size"], leaky=["deal_size"])
>>> spec.model_fields_for("numeric")
['employees']
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from crm_predict.config.sources import ChurnTableSpec, _Strict


class ChurnSpec(_Strict):
    """Churn within a horizon: who is at risk at the snapshot, and the customer event tables.

    With ``signup`` and ``churn_date`` the task has the customers' history: labels, event
    features and time to churn are computed as of a snapshot. Without them (a flat export
    with a churn flag, such as IBM's telco sample) the target column is the label,
    ``horizon_days`` says over how many days it was observed, and the section only adds the
    retention list's lifetime, CLV and revenue at risk.
    """

    signup: str | None = Field(
        None, description="signup (customer since) date column of the main table"
    )
    churn_date: str | None = Field(
        None, description="churn date column; empty while the customer is active"
    )
    horizon_days: int = Field(90, gt=0, description="label: churned within this many days")
    snapshot: date | None = Field(
        None, description="date features are seen from in training (default as_of - horizon)"
    )
    tickets: ChurnTableSpec | None = None
    surveys: ChurnTableSpec | None = None
    usage: ChurnTableSpec | None = None
    changes: ChurnTableSpec | None = None
    revenue: str | None = Field(
        None, description="monthly recurring revenue column (CLV and revenue at risk)"
    )
    cost_to_serve: str | None = Field(
        None, description="monthly cost-to-serve column; CLV contribution = revenue - cost"
    )
    acquisition_cost: str | None = Field(
        None, description="acquisition cost column (CAC and CLV/CAC in the report)"
    )
    discount_rate: float = Field(0.0, ge=0, description="monthly discount rate of the CLV")
    rank_by: Literal["revenue_at_risk", "p_churn"] = Field(
        "revenue_at_risk", description="order of the retention list written by score"
    )

    @property
    def dated(self) -> bool:
        """Whether the task has the customers' history (signup and churn dates)."""
        return self.signup is not None

    @model_validator(mode="after")
    def _history(self) -> ChurnSpec:
        if (self.signup is None) != (self.churn_date is None):
            raise ValueError("give both 'signup' and 'churn_date', or neither (a flat export)")
        if not self.dated:
            needs = ["tickets", "surveys", "usage", "changes", "snapshot", "acquisition_cost"]
            given = [k for k in needs if getattr(self, k) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} need the customers' history: add 'signup' and "
                    "'churn_date' (date columns), or remove them"
                )
        return self


class TargetSpec(_Strict):
    """How the outcome column maps to positive, negative and still open (censored)."""

    column: str
    positive: list[str]
    negative: list[str]
    open: list[str] = Field(default_factory=list)
    open_negative_after_days: int | None = Field(
        None,
        gt=0,
        description="open leads older than this many days count as negatives; "
        "None keeps every open lead out of the training labels",
    )

    @field_validator("positive", "negative", "open", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, values: object) -> object:
        # YAML reads an unquoted Yes, No, true or off as a boolean, not the CRM's text.
        if isinstance(values, list) and any(isinstance(v, bool) for v in values):
            shown = ", ".join(repr(v) for v in values if isinstance(v, bool))
            raise ValueError(
                f"YAML read {shown} as true/false, not as text: quote the values as they "
                "are written in the export, e.g. positive: ['Yes'] and negative: ['No']"
            )
        return values

    @model_validator(mode="after")
    def _disjoint(self) -> TargetSpec:
        groups = {"positive": self.positive, "negative": self.negative, "open": self.open}
        seen: dict[str, str] = {}
        for group, values in groups.items():
            for value in values:
                if value in seen:
                    raise ValueError(f"value {value!r} is both {seen[value]} and {group}")
                seen[value] = group
        return self


class TimeSpec(_Strict):
    """Time columns and the date the data is seen from."""

    created: str | None = None
    closed: str | None = None
    as_of: date | None = Field(
        None, description="the data's 'today'; None uses the latest date found in the data"
    )
    snapshot_days: int = Field(
        0,
        ge=0,
        description="training rows are seen as they were this many days after creation "
        "(never after their close date), the age at which leads are first scored",
    )
    date_format: str | None = None


class SizeBands(_Strict):
    """Company-size bands cut from an employee count."""

    column: str
    edges: list[float] = Field(default_factory=lambda: [50, 250, 1000])
    labels: list[str] = Field(default_factory=lambda: ["small", "mid", "large", "enterprise"])

    @model_validator(mode="after")
    def _labels_fit(self) -> SizeBands:
        if len(self.labels) != len(self.edges) + 1:
            raise ValueError("size_bands.labels needs exactly one more entry than edges")
        if sorted(self.edges) != list(self.edges):
            raise ValueError("size_bands.edges must be increasing")
        return self


class FeatureSpec(_Strict):
    """The role of every CRM field the model may use."""

    categorical: list[str] = Field(default_factory=list)
    numeric: list[str] = Field(default_factory=list)
    count: list[str] = Field(default_factory=list)
    date: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)
    leaky: list[str] = Field(default_factory=list)
    use_leaky: bool = False
    size_bands: SizeBands | None = None
    rare_min_count: int = Field(20, ge=1)
    lead_age: bool = False
    calendar: bool = True

    def model_fields_for(self, role: str) -> list[str]:
        """Return the fields of ``role`` the model uses (leaky ones only when allowed)."""
        fields = list(getattr(self, role))
        if self.use_leaky:
            return fields
        return [f for f in fields if f not in self.leaky]
