"""The retention list: churn probability, remaining lifetime, CLV and revenue at risk.

``crm-predict score`` on a churn model (``kind: churn`` with a ``churn`` section) goes
through the same scorer as a lead list; this module adds the customer side:

* **Features as of the scoring date**: :class:`~crm_predict.features.churn.ChurnFeatures`
  over the config's event tables (tickets, surveys, usage, plan changes) before ``as_of``.
* **p_churn**: the classifier's probability of churning within ``churn.horizon_days``. The
  score file of a churn task names it ``p_churn`` (there is no ``p_convert`` column);
  ``p_low``/``p_high`` are the Bayesian model's 90% interval when it is registered.
* **expected_lifetime_months**: the expected remaining lifetime. With the task's
  time-to-churn model (``<task>-timing``, tenure clock, :mod:`crm_predict.training.churn_timing`)
  it is the area under the customer's survival curve from today's tenure. Without it, a
  documented simpler estimate: the monthly hazard implied by ``p_churn`` over the horizon,
  ``h = 1 − (1 − p_churn)^(30.44 / horizon_days)``, and the geometric mean lifetime
  ``1 / h`` months, capped at :data:`MAX_LIFETIME_MONTHS`. ``lifetime_from`` says which.
* **clv**: :func:`crm_predict.churn.cx.clv` with the monthly contribution
  ``churn.revenue − churn.cost_to_serve`` over ``max(expected_lifetime_months, 1)``
  months (the current month counts), discounted at ``churn.discount_rate``.
* **revenue_at_risk** = ``p_churn × clv``: the value expected to walk out within the
  horizon. The list is ranked by it (``churn.rank_by: revenue_at_risk``, the default) or
  by ``p_churn``; without ``churn.revenue`` there is no CLV and the rank is by ``p_churn``.
  With the horizon lifetime, ``p_churn × clv ≈ margin × p_churn / h``, about one month's
  margin for every customer: ranked by it, the list is ranked by revenue, not risk. Rank
  such a list by ``p_churn`` (as ``configs/telco_churn.yaml`` does).

A churn task without the customers' history (a flat export: ``churn`` without ``signup``
and ``churn_date``, see :class:`~crm_predict.config.task.ChurnSpec`) gets the same columns,
with the lifetime always from the horizon and no event features.
* **churn_reasons**: the model's top reasons for churn in CX words ("3 tickets in 30 days;
  CSAT fell from 5 to 2; usage down 40% on the 3 months before").
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from crm_predict.churn.cx import clv
from crm_predict.config import TaskConfig
from crm_predict.data import schema
from crm_predict.data.churn import read_churn_tables
from crm_predict.exceptions import DataValidationError
from crm_predict.features.churn import ChurnFeatures
from crm_predict.models.timing.lifetime import expected_remaining_days

__all__ = [
    "DAYS_PER_MONTH",
    "MAX_LIFETIME_MONTHS",
    "RETENTION_COLUMNS",
    "rank_column",
    "read_event_tables",
    "churn_feature_rows",
    "lifetime_from_horizon",
    "add_retention",
    "churn_row_problems",
    "churn_words",
    "NO_SIGNAL",
]

DAYS_PER_MONTH = 365.25 / 12
MAX_LIFETIME_MONTHS = 120.0
"""Cap of the horizon-based lifetime: a customer with p_churn ≈ 0 is not worth infinity."""
NO_SIGNAL = "no churn signal stands out (listed for its value)"
"""``churn_reasons`` of a customer no field pushes toward churn."""
RETENTION_COLUMNS = ("expected_lifetime_months", "lifetime_from", "clv", "revenue_at_risk")
_SURVEY_LABEL = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}


def rank_column(config: TaskConfig) -> str:
    """The score-file column the list is ranked by, highest first.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> rank_column(NS(is_churn=True, churn=NS(rank_by="revenue_at_risk", revenue="mrr")))
    'revenue_at_risk'
    >>> rank_column(NS(is_churn=False, churn=None))
    'p_convert'
    """
    if not config.is_churn:
        return "p_convert"
    spec = config.churn
    if spec is not None and spec.rank_by == "revenue_at_risk" and spec.revenue:
        return "revenue_at_risk"
    return "p_churn"


def read_event_tables(config: TaskConfig) -> dict[str, pd.DataFrame]:
    """The churn event tables of a task, read once for a whole scoring run."""

    tables, problems = read_churn_tables(config)
    if problems:
        raise DataValidationError(problems, source="churn event tables")
    return tables


def churn_feature_rows(
    chunk: pd.DataFrame,
    ids: pd.Series,
    config: TaskConfig,
    tables: dict[str, pd.DataFrame],
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """The churn features of raw customer rows, as of the scoring date.

    Parameters
    ----------
    chunk : DataFrame
        Raw customer rows with the ``churn.signup`` column.
    ids : Series
        Their ids, aligned with ``chunk``.
    config : TaskConfig
        A churn task.
    tables : dict
        :func:`read_event_tables`.
    as_of : Timestamp
        Events strictly before it are seen.

    Returns
    -------
    DataFrame
        One row per input row (same index), one column per churn feature.
    """
    spec = config.churn
    if spec.signup not in chunk.columns:
        raise DataValidationError(
            [f"column '{spec.signup}' is missing from the customer list (churn.signup)"]
        )
    X = pd.DataFrame(
        {
            "customer_id": ids.astype(str).to_numpy(),
            "signup_date": schema.to_dates(chunk[spec.signup]).to_numpy(),
        },
        index=chunk.index,
    )
    wanted = set(X["customer_id"])
    mine = {k: t[t["customer_id"].isin(wanted)] for k, t in tables.items()}
    builder = ChurnFeatures(**mine, as_of=pd.Timestamp(as_of)).fit(X)
    return builder.transform(X)


def lifetime_from_horizon(p_churn, horizon_days: int) -> np.ndarray:
    """Expected remaining months from a churn probability over a horizon (geometric).

    .. math:: h = 1 - (1 - p)^{30.44 / \\mathrm{horizon}}, \\qquad L = \\min(1 / h, 120)

    Examples
    --------
    >>> lifetime_from_horizon([0.25], 91.3125).round(2).tolist()  # 3 months: h = 9.1%
    [10.94]
    """
    p = np.clip(np.asarray(p_churn, dtype=float), 0.0, 1.0)
    monthly = 1.0 - (1.0 - p) ** (DAYS_PER_MONTH / float(horizon_days))
    with np.errstate(divide="ignore"):
        life = np.where(monthly > 0, 1.0 / monthly, np.inf)
    return np.clip(life, 1.0, MAX_LIFETIME_MONTHS)


def _number(chunk: pd.DataFrame, column: str | None) -> np.ndarray | None:
    if not column:
        return None
    if column not in chunk.columns:
        raise DataValidationError([f"column '{column}' is missing from the customer list"])
    return pd.to_numeric(chunk[column], errors="coerce").to_numpy(dtype=float)


def add_retention(
    out: pd.DataFrame,
    chunk: pd.DataFrame,
    frame: pd.DataFrame,
    features: pd.DataFrame | None,
    config: TaskConfig,
    as_of: pd.Timestamp,
    timing=None,
) -> pd.DataFrame:
    """Turn a scored chunk into retention-list rows (see the module notes).

    Parameters
    ----------
    out : DataFrame
        :meth:`crm_predict.scoring.bundle.ModelBundle.score_rows` output (``p_convert`` …).
    chunk : DataFrame
        The raw customer rows, aligned with ``out``.
    frame : DataFrame
        Their model-frame rows (for the time-to-churn model).
    features : DataFrame or None
        Their churn features (for the reason text).
    config : TaskConfig
        A churn task.
    as_of : Timestamp
        Today.
    timing : TimingBundle, optional
        The time-to-churn model.

    Returns
    -------
    DataFrame
        ``out`` with ``p_churn`` for ``p_convert``, :data:`RETENTION_COLUMNS` after
        ``grade`` (CLV columns only with ``churn.revenue``) and ``churn_reasons``; reason
        sentences speak of customers churning.
    """
    out = out.rename(columns={"p_convert": "p_churn"})
    for col in [c for c in out.columns if c.startswith("reason_") and out[c].dtype != float]:
        if not col.endswith(("_field", "_value", "_contribution")):
            out[col] = out[col].map(lambda t: churn_words(t) if isinstance(t, str) else t)
    spec = config.churn
    if spec is None:
        return out
    p = out["p_churn"].to_numpy(dtype=float)
    if timing is not None:
        signup = chunk[spec.signup].to_numpy() if spec.signup in chunk.columns else pd.NaT
        days = expected_remaining_days(timing, frame.assign(**{spec.signup: signup}), as_of)
        life, source = days / DAYS_PER_MONTH, "time-to-churn model"
    else:
        life, source = lifetime_from_horizon(p, spec.horizon_days), "churn horizon"
    cols: dict[str, object] = {"expected_lifetime_months": np.round(life, 3)}
    cols["lifetime_from"] = source
    revenue = _number(chunk, spec.revenue)
    if revenue is not None:
        cost = _number(chunk, spec.cost_to_serve)
        margin = revenue - (0.0 if cost is None else np.nan_to_num(cost))
        value = clv(margin, np.maximum(np.nan_to_num(life, nan=1.0), 1.0), spec.discount_rate)
        cols["clv"] = np.round(np.asarray(value, dtype=float), 2)
        cols["revenue_at_risk"] = np.round(p * np.asarray(value, dtype=float), 2)
    at = out.columns.get_loc("grade") + 1
    for offset, (name, values) in enumerate(cols.items()):
        out.insert(at + offset, name, values)
    reasons = [r or NO_SIGNAL for r in churn_reasons(out, features)]
    out.insert(at + len(cols), "churn_reasons", reasons)
    return out


def churn_row_problems(
    chunk: pd.DataFrame, config: TaskConfig, as_of: pd.Timestamp, problems: pd.Series
) -> pd.Series:
    """Add why a customer row cannot be on a retention list: gone already, or not yet there."""
    spec = config.churn_history
    if spec is None:
        return problems
    problems = problems.copy()
    if spec.churn_date in chunk.columns:
        gone = schema.to_dates(chunk[spec.churn_date])
        hit = (gone <= as_of).to_numpy() & (problems == "").to_numpy()
        problems[hit] = f"already churned ({spec.churn_date} on or before as_of)"
    if spec.signup in chunk.columns:
        start = schema.to_dates(chunk[spec.signup])
        hit = (start > as_of).to_numpy() & (problems == "").to_numpy()
        problems[hit] = f"not a customer yet on as_of ({spec.signup} after it)"
    return problems


def churn_words(text: str) -> str:
    """A lead sentence said of customers and churn.

    Examples
    --------
    >>> churn_words("Plan = basic: such leads convert at 12% vs 8% overall")
    'Plan = basic: such customers churn at 12% vs 8% overall'
    """
    for old, new in (
        ("leads convert", "customers churn"),
        ("lead converts", "customer churns"),
        ("converted", "churned"),
        ("converting", "churning"),
        ("conversions", "churns"),
        ("Conversions", "Churns"),
        ("conversion", "churn"),
        ("Conversion", "Churn"),
        ("convert", "churn"),
        ("Convert", "Churn"),
        ("leads", "customers"),
        ("Leads", "Customers"),
        ("lead", "customer"),
        ("Lead", "Customer"),
    ):
        text = text.replace(old, new)
    return text


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")


def _phrase(field: str, row: pd.Series) -> str | None:
    """A CX phrase for one churn feature of one customer (None: no phrase for it)."""
    v = row.get(field)
    if field.startswith("tickets_") and field[8:-1].isdigit() and field.endswith("d"):
        return None if pd.isna(v) else f"{_plural(v, 'ticket')} in {field[8:-1]} days"
    simple = {
        "tickets_total": lambda x: f"{_plural(x, 'ticket')} in total",
        "tickets_unresolved": lambda x: f"{_plural(x, 'unresolved ticket')}",
        "tickets_escalated_90d": lambda x: f"{_plural(x, 'escalated ticket')} in 90 days",
        "days_since_last_ticket": lambda x: f"last ticket {x:.0f} days ago",
        "downgrades_90d": lambda x: f"{_plural(x, 'downgrade')} in 90 days",
        "plan_changes_total": lambda x: _plural(x, "plan change"),
        "tenure_days": lambda x: f"customer for {x / DAYS_PER_MONTH:.0f} months",
        "usage_last_3": lambda x: f"usage {x:.1f} a month (last 3)",
        "revenue_change_90d": lambda x: (
            f"revenue {'cut' if x < 0 else 'raised'} by {abs(x):,.0f} a month in 90 days"
        ),
        "usage_trend": lambda x: (
            f"usage {'down' if x < 0 else 'up'} "
            f"{abs(math.expm1(x)) * 100:.0f}% on the 3 months before"
        ),
    }
    if field in simple:
        return None if pd.isna(v) else simple[field](float(v))
    survey, _, part = field.partition("_")
    if survey in _SURVEY_LABEL and part in ("latest", "trend", "answers"):
        name = _SURVEY_LABEL[survey]
        latest, trend = row.get(f"{survey}_latest"), row.get(f"{survey}_trend")
        if part == "answers":
            return None if pd.isna(v) else _plural(float(v), f"{name} answer")
        if pd.isna(latest):
            return f"no {name} answer"
        if pd.notna(trend) and trend != 0:
            word = "fell" if trend < 0 else "rose"
            return f"{name} {word} from {latest - trend:g} to {latest:g}"
        return f"{name} {latest:g}"
    return None


def churn_reasons(out: pd.DataFrame, features: pd.DataFrame | None, n: int = 3) -> list[str]:
    """Per customer, the model's top reasons for churn as one CX sentence.

    The fields come from the score's ``reason_for_<k>_field`` columns (the strongest pushes
    toward churn); a churn feature is said in CX words from its value, any other field
    keeps the model's own reason text.

    Examples
    --------
    >>> out = pd.DataFrame({"reason_for_1_field": ["csat_latest"], "reason_for_1": ["x"]})
    >>> feats = pd.DataFrame({"csat_latest": [2.0], "csat_trend": [-3.0]})
    >>> churn_reasons(out, feats)
    ['CSAT fell from 5 to 2']
    """
    texts = []
    feats = features.reset_index(drop=True) if features is not None else None
    for i in range(len(out)):
        row = feats.iloc[i] if feats is not None and i < len(feats) else pd.Series(dtype=float)
        parts: list[str] = []
        for k in range(1, n + 1):
            field = out.get(f"reason_for_{k}_field")
            name = field.iat[i] if field is not None else ""
            if not isinstance(name, str) or not name:
                continue
            phrase = _phrase(name, row)
            if phrase is None:
                text = out[f"reason_for_{k}"].iat[i] if f"reason_for_{k}" in out else ""
                phrase = text if isinstance(text, str) else ""
            if phrase and phrase not in parts:
                parts.append(phrase)
        texts.append("; ".join(parts))
    return texts
