"""Task configuration: one YAML file per prediction task, validated by pydantic.

Every model forbids unknown keys, and an unknown key's error suggests the closest known
one. Relative paths are resolved against the YAML file's folder, so a config works
whatever the current directory is. ``extends: other.yaml`` deep-merges this file over
another one (used for overlays such as "the same task, with the leaky fields").
"""

from __future__ import annotations

import difflib
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crm_predict.exceptions import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SQLSource(_Strict):
    """A query against a database reachable through a SQLAlchemy URL."""

    url: str
    query: str


CUSTOMER_TABLES = ("customers", "tickets", "surveys", "usage", "changes")


class SyntheticSource(_Strict):
    """A table from the built-in synthetic CRM generator (:mod:`crm_predict.datasets`)."""

    dataset: Literal["leads", "customers"] = "leads"
    table: Literal["leads", "activities", "customers", "tickets", "surveys", "usage", "changes"] = (
        "leads"
    )
    n_leads: int = Field(20_000, gt=0)
    n_customers: int = Field(5_000, gt=0, description="size of the customers dataset")
    seed: int = 42

    @model_validator(mode="before")
    @classmethod
    def _dataset_of_table(cls, raw: Any) -> Any:
        # A customer-side table names its dataset: {table: tickets} means the customers one.
        if isinstance(raw, dict) and "dataset" not in raw and raw.get("table") in CUSTOMER_TABLES:
            return {**raw, "dataset": "customers"}
        return raw

    @model_validator(mode="after")
    def _table_in_dataset(self) -> SyntheticSource:
        tables = CUSTOMER_TABLES if self.dataset == "customers" else ("leads", "activities")
        if self.table not in tables:
            raise ValueError(
                f"the synthetic {self.dataset} dataset has no table {self.table!r} "
                f"(choose from {', '.join(tables)})"
            )
        return self


class TableSource(_Strict):
    """Where one table comes from: exactly one of ``path``, ``sql`` or ``synthetic``."""

    path: Path | None = None
    sql: SQLSource | None = None
    synthetic: SyntheticSource | None = None
    format: Literal["auto", "csv", "parquet", "excel"] = "auto"
    sheet: str | int | None = None
    sep: str = ","
    encoding: str = "utf-8"

    @model_validator(mode="after")
    def _one_origin(self) -> TableSource:
        given = [k for k in ("path", "sql", "synthetic") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of 'path', 'sql' or 'synthetic' (got {given or 'none'})"
            )
        return self

    def describe(self) -> str:
        """Return a short human-readable name of the source, for messages."""
        if self.path is not None:
            return str(self.path)
        if self.sql is not None:
            return f"SQL query on {self.sql.url.split('@')[-1]}"
        assert self.synthetic is not None
        return f"synthetic {self.synthetic.table} (seed {self.synthetic.seed})"


class JoinSpec(TableSource):
    """A table joined onto the main table, e.g. accounts on ``account``.

    (The key is called ``key``, not ``on``: YAML reads a bare ``on`` as ``true``.)
    """

    name: str
    key: str
    right_key: str | None = None
    how: Literal["left", "inner"] = "left"
    columns: list[str] | None = None

    @property
    def key_in_table(self) -> str:
        """Key column in the joined table (defaults to ``key``)."""
        return self.right_key or self.key


class ActivitySpec(TableSource):
    """A table of touches (calls, e-mails, meetings), one row per touch."""

    id_column: str
    time_column: str
    type_column: str | None = None
    direction_column: str | None = None
    windows: list[int] = Field(default_factory=lambda: [7, 30, 90])


class ChurnTableSpec(TableSource):
    """A customer event table (tickets, surveys, usage or plan changes) for churn features.

    ``columns`` maps the canonical names the churn features read (see
    :data:`crm_predict.features.churn.TABLE_COLUMNS`) to this table's own column names;
    a canonical name not listed is expected as is.
    """

    columns: dict[str, str] = Field(default_factory=dict)


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


class BayesSpec(_Strict):
    """The Bayesian hierarchical model: which fields, priors and how long to sample."""

    categorical: list[str] | None = Field(
        None, description="grouping fields (default: every categorical field and size band)"
    )
    numeric: list[str] | None = Field(
        None, description="fields with a slope (default: the numeric and count fields)"
    )
    interactions: list[tuple[str, str]] = Field(default_factory=list)
    priors: dict[str, dict[str, float]] = Field(default_factory=dict)
    draws: int = Field(1000, gt=0)
    tune: int = Field(500, gt=0)
    chains: int = Field(2, gt=0)


class TimingSpec(_Strict):
    """The time-to-event model (:mod:`crm_predict.models.timing`): horizons and time grid."""

    horizons: list[int] = Field(
        default_factory=lambda: [30, 60, 90],
        min_length=1,
        description="days for the p_convert_<h>d columns of the score file",
    )
    period_days: int = Field(7, gt=0, description="length of one hazard period in days")
    max_days: int = Field(
        365, gt=0, description="periods past this share one hazard; p_ever is within it"
    )
    seed: int | None = Field(None, description="seed of the model (default: the task's seed)")

    @model_validator(mode="after")
    def _sane(self) -> TimingSpec:
        if min(self.horizons) <= 0:
            raise ValueError("timing.horizons must be positive numbers of days")
        if self.max_days < self.period_days:
            raise ValueError("timing.max_days must be at least timing.period_days")
        return self


class SplitSpec(_Strict):
    """How the holdout is chosen."""

    method: Literal["auto", "time", "stratified"] = "auto"
    test_size: float = Field(0.2, gt=0, lt=1)
    validation_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42


class GBMSpec(_Strict):
    """The LightGBM model's parameters (``crm-predict tune`` writes them as an overlay)."""

    params: dict[str, float | int | str | bool] = Field(
        default_factory=dict,
        description="LightGBM parameters merged over the built-in defaults, e.g. num_leaves",
    )


class ParamRange(_Strict):
    """One tuned LightGBM parameter: a range searched on a linear or log scale."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> ParamRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        return self


def _default_space() -> dict[str, ParamRange]:
    return {
        "num_leaves": ParamRange(low=4, high=48, log=True, integer=True),
        "learning_rate": ParamRange(low=0.01, high=0.2, log=True),
        "min_child_samples": ParamRange(low=20, high=300, log=True, integer=True),
        "reg_lambda": ParamRange(low=0.001, high=30.0, log=True),
        "colsample_bytree": ParamRange(low=0.5, high=1.0),
        "subsample": ParamRange(low=0.5, high=1.0),
    }


class TuningSpec(_Strict):
    """The Optuna search over the LightGBM model (``crm-predict tune``)."""

    space: dict[str, ParamRange] = Field(default_factory=_default_space)
    folds: int = Field(
        3,
        ge=1,
        description="validation folds per trial (rolling origin; stratified without dates)",
    )
    max_estimators: int = Field(2000, gt=0, description="cap on boosting rounds per trial")
    early_stopping_rounds: int = Field(100, gt=0)
    prune_warmup_rounds: int = Field(50, ge=0, description="rounds before a trial may be pruned")
    report_every: int = Field(10, gt=0, description="rounds between pruning checks")
    startup_trials: int = Field(8, gt=0, description="random trials before TPE takes over")
    seed: int | None = Field(None, description="sampler seed (default: the task's seed)")


class RetrainSpec(_Strict):
    """When a retrained challenger replaces the champion (``crm-predict retrain``)."""

    auc_margin: float = Field(0.01, ge=0, description="allowed ROC AUC drop on the holdout")
    brier_tolerance: float = Field(0.0, ge=0, description="allowed Brier score increase")
    min_brier_gain: float = Field(
        0.001, ge=0, description="Brier improvement needed to promote; ties keep the champion"
    )
    calibration_tolerance: float = Field(
        0.03,
        ge=0,
        description="allowed growth of a segment's |predicted - actual| rate gap, on top of "
        "two standard errors of its actual rate",
    )
    segment_min_rows: int = Field(100, gt=0, description="smallest segment level judged")
    backtest_folds: int = Field(3, ge=0, description="rolling-origin folds before the holdout")
    conversion_window_days: int | None = Field(
        None,
        gt=0,
        description="holdout leads younger than this are not judged (default: "
        "target.open_negative_after_days)",
    )


class TaskConfig(_Strict):
    """One prediction task: where the data is, what is predicted, which fields to use.

    Examples
    --------
    >>> cfg = TaskConfig.model_validate({
    ...     "name": "leads",
    ...     "source": {"path": "leads.csv"},
    ...     "id_column": "lead_id",
    ...     "target": {"column": "status", "positive": ["won"], "negative": ["lost"]},
    ...     "features": {"categorical": ["source"]},
    ... })
    >>> cfg.target.positive
    ['won']
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    kind: Literal["conversion", "churn"] = "conversion"
    source: TableSource
    joins: list[JoinSpec] = Field(default_factory=list)
    activities: ActivitySpec | None = None
    id_column: str
    target: TargetSpec
    time: TimeSpec = Field(default_factory=TimeSpec)
    features: FeatureSpec
    missing_values: list[str] = Field(default_factory=lambda: ["", "N/A", "NA", "null"])
    recode: dict[str, dict[str, str]] = Field(default_factory=dict)
    segments: list[str] = Field(default_factory=list)
    grades: dict[Literal["A", "B", "C"], float] = Field(
        default_factory=lambda: {"A": 0.6, "B": 0.4, "C": 0.2},
        description="lowest calibrated probability of grades A, B and C; below C is D",
    )
    split: SplitSpec = Field(default_factory=SplitSpec)
    bayes: BayesSpec = Field(default_factory=BayesSpec)
    timing: TimingSpec = Field(default_factory=TimingSpec)
    gbm: GBMSpec = Field(default_factory=GBMSpec)
    tuning: TuningSpec = Field(default_factory=TuningSpec)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)
    churn: ChurnSpec | None = None
    seed: int = 42

    @field_validator("grades")
    @classmethod
    def _grades_decrease(cls, grades: dict[str, float]) -> dict[str, float]:
        cut = [grades.get(g) for g in ("A", "B", "C")]
        if None in cut or not 1 > cut[0] > cut[1] > cut[2] > 0:
            raise ValueError(
                "grades needs A > B > C, each between 0 and 1, e.g. {A: 0.6, B: 0.4, C: 0.2}"
            )
        return grades

    @property
    def records(self) -> str:
        """What one row is called in messages: ``customers`` for a churn task, else ``leads``."""
        return "customers" if self.kind == "churn" or self.churn is not None else "leads"

    def column_requests(self) -> list[tuple[str, str]]:
        """Return ``(column, config key)`` for every column the main table must provide.

        Columns that come from a join are not listed: the joined table answers for them.
        """
        req: list[tuple[str, str]] = [(self.id_column, "id_column")]
        req.append((self.target.column, "target.column"))
        for key in ("created", "closed"):
            col = getattr(self.time, key)
            if col:
                req.append((col, f"time.{key}"))
        for role in ("categorical", "numeric", "count", "date"):
            req += [(c, f"features.{role}") for c in self.features.model_fields_for(role)]
        if self.features.size_bands:
            req.append((self.features.size_bands.column, "features.size_bands.column"))
        req += [(c, "segments") for c in self.segments]
        req += [(j.key, f"joins[{j.name}].key") for j in self.joins]
        if self.churn is not None:
            for key in ("signup", "churn_date", "revenue", "cost_to_serve", "acquisition_cost"):
                col = getattr(self.churn, key)
                if col:
                    req.append((col, f"churn.{key}"))
        return req

    @property
    def churn_history(self) -> ChurnSpec | None:
        """The ``churn`` section when it has the customers' history (signup and churn
        dates: snapshot labels, event features, time to churn); None otherwise."""
        return self.churn if self.churn is not None and self.churn.dated else None


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _known_keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _resolve_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = TaskConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        for cand in candidates:
            inner = [cand, *getattr(cand, "__args__", ())]
            sub = next((c for c in inner if isinstance(c, type) and issubclass(c, BaseModel)), None)
            if sub is not None:
                model = sub
                break
        else:
            return None
    return model


def _format_errors(err: ValidationError, origin: str) -> str:
    lines = [f"{origin}: invalid configuration"]
    for e in err.errors():
        loc = e["loc"]
        key = ".".join(str(p) for p in loc)
        if e["type"] == "extra_forbidden":
            model = _resolve_model(loc)
            hint = ""
            if model is not None:
                close = difflib.get_close_matches(str(loc[-1]), _known_keys(model), n=1)
                if close:
                    hint = f" (did you mean '{close[0]}'?)"
            lines.append(f"  - unknown key '{key}'{hint}")
        elif e["type"] == "missing":
            lines.append(f"  - missing required key '{key}'")
        elif e["type"] == "invalid_key" and isinstance(e["input"], bool):
            # YAML 1.1 reads a bare on/yes/true (off/no/false) key as a boolean.
            where = ".".join(str(p) for p in loc[:-1]) or "top level"
            if e["input"] and loc[:1] == ("joins",):
                lines.append(
                    f"  - {where}: 'on:' is read by YAML as true; name the join column "
                    "with 'key:' (and 'right_key:' if the joined table spells it differently)"
                )
            else:
                word = "on/yes/true" if e["input"] else "off/no/false"
                lines.append(
                    f"  - {where}: a bare {word} key is read by YAML as {e['input']}; quote it"
                )
        else:
            lines.append(f"  - {key}: {e['msg']}")
    return "\n".join(lines)


def _read_yaml(path: Path, depth: int = 0) -> dict[str, Any]:
    if depth > 5:
        raise ConfigError(f"{path}: 'extends' nests more than 5 levels")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    raw = _absolutise(raw, path.parent)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    return _deep_merge(_read_yaml((path.parent / parent).resolve(), depth + 1), raw)


def _absolutise(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Make every ``path:`` value relative to the YAML file that wrote it."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "path" and isinstance(value, str) and not Path(value).is_absolute():
            out[key] = str((folder / value).resolve())
        elif isinstance(value, dict):
            out[key] = _absolutise(value, folder)
        elif isinstance(value, list):
            out[key] = [_absolutise(v, folder) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def parse_config(raw: dict[str, Any], origin: str = "config") -> TaskConfig:
    """Validate a mapping into a :class:`TaskConfig`, raising a readable :class:`ConfigError`.

    Parameters
    ----------
    raw : dict
        The parsed YAML.
    origin : str
        Where it came from, for the error message.

    Returns
    -------
    TaskConfig
    """
    try:
        return TaskConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TaskConfig:
    """Read a task YAML (following ``extends``) and validate it.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    overrides : dict, optional
        Keys deep-merged over the file, e.g. ``{"features": {"use_leaky": True}}``.

    Returns
    -------
    TaskConfig

    Examples
    --------
    >>> cfg = load_config("configs/leads_demo.yaml")  # doctest: +SKIP
    >>> cfg.name  # doctest: +SKIP
    'leads_demo'
    """
    path = Path(path).resolve()
    raw = _read_yaml(path)
    if overrides:
        raw = _deep_merge(raw, overrides)
    return parse_config(raw, origin=str(path))
