"""Task configuration: one YAML file per prediction task, validated by pydantic.

Every model forbids unknown keys, and an unknown key's error suggests the closest known
one. Relative paths are resolved against the YAML file's folder, so a config works
whatever the current directory is. ``extends: other.yaml`` deep-merges this file over
another one (used for overlays such as "the same task, with the leaky fields").

The sections live in :mod:`crm_predict.config.sources` (where tables come from),
:mod:`crm_predict.config.fields` (target, time, churn, features) and
:mod:`crm_predict.config.training` (split, models, tuning, retraining); every one of them
is importable from here.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from crm_predict.config.fields import ChurnSpec, FeatureSpec, TargetSpec, TimeSpec
from crm_predict.config.sources import (
    ActivitySpec,
    JoinSpec,
    TableSource,
    _Strict,
)
from crm_predict.config.training import (
    BayesSpec,
    CalibrationSpec,
    GBMSpec,
    RetrainSpec,
    SplitSpec,
    TimingSpec,
    TuningSpec,
)
from crm_predict.exceptions import ConfigError

__all__ = ["TaskConfig", "load_config", "parse_config"]


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
    display: list[str] = Field(
        default_factory=list,
        description="columns of the lead list carried unchanged into the score file",
    )
    grades: dict[Literal["A", "B", "C"], float] = Field(
        default_factory=lambda: {"A": 0.6, "B": 0.4, "C": 0.2},
        description="lowest calibrated probability of grades A, B and C; below C is D",
    )
    reason_min_points: float = Field(
        1.0,
        ge=0,
        le=100,
        description="weakest push, in percentage points of the score, that a reason quotes",
    )
    split: SplitSpec = Field(default_factory=SplitSpec)
    bayes: BayesSpec = Field(default_factory=BayesSpec)
    timing: TimingSpec = Field(default_factory=TimingSpec)
    gbm: GBMSpec = Field(default_factory=GBMSpec)
    calibration: CalibrationSpec = Field(default_factory=CalibrationSpec)
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

    @model_validator(mode="after")
    def _display_columns(self) -> TaskConfig:
        repeated = sorted({c for c in self.display if self.display.count(c) > 1})
        if repeated:
            raise ValueError(f"display lists {', '.join(map(repr, repeated))} twice")
        if self.id_column in self.display:
            raise ValueError(
                f"display: {self.id_column!r} is the id_column, which the score file has already"
            )
        return self

    @property
    def is_churn(self) -> bool:
        """Whether this task predicts churn: ``kind: churn`` or a ``churn`` section.

        Its scores are then churn probabilities (``p_churn``), its rows customers, and its
        score file a retention list (:mod:`crm_predict.churn.retention`). Whether the
        customers' dated history is there is another question: :attr:`churn_history`.

        Returns
        -------
        bool

        Examples
        --------
        >>> cfg = TaskConfig.model_validate({
        ...     "name": "telco", "kind": "churn",
        ...     "source": {"path": "customers.csv"},
        ...     "id_column": "customer_id",
        ...     "target": {"column": "churned", "positive": ["yes"], "negative": ["no"]},
        ...     "features": {"categorical": ["plan"]},
        ... })
        >>> cfg.is_churn, cfg.records
        (True, 'customers')
        """
        return self.kind == "churn" or self.churn is not None

    @property
    def records(self) -> str:
        """What one row is called in messages: ``customers`` for a churn task, else ``leads``."""
        return "customers" if self.is_churn else "leads"

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
