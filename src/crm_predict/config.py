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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crm_predict.exceptions import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SQLSource(_Strict):
    """A query against a database reachable through a SQLAlchemy URL."""

    url: str
    query: str


class SyntheticSource(_Strict):
    """A table from the built-in synthetic CRM generator (:mod:`crm_predict.datasets`)."""

    dataset: Literal["leads"] = "leads"
    table: Literal["leads", "activities"] = "leads"
    n_leads: int = Field(20_000, gt=0)
    seed: int = 42


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


class SplitSpec(_Strict):
    """How the holdout is chosen."""

    method: Literal["auto", "time", "stratified"] = "auto"
    test_size: float = Field(0.2, gt=0, lt=1)
    validation_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42


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
    split: SplitSpec = Field(default_factory=SplitSpec)
    bayes: BayesSpec = Field(default_factory=BayesSpec)
    seed: int = 42

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
        return req


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
