"""Synthetic CRM data with planted, documented ground truth.

The generator writes what a B2B CRM export looks like: one row per lead with its source,
region, company and engagement fields, plus a table of touches (calls, e-mails, meetings,
demos, proposals). Every lead's true probability of ever converting is a logistic function
of planted effects, so tests can check that a fitted model finds them.

Planted truth (log-odds, see :data:`PLANTED`):

* one effect per level of ``source``, ``region``, ``industry``, ``size_band``,
  ``budget_band`` and ``owner``, plus ``decision_maker``;
* ``log1p(pricing_page_visits)`` and ``log1p(touches in the first 14 days)`` raise the odds;
  every day before the first touch (speed to lead) lowers them;
* no deal closes within its first 14 days (:data:`EARLY_DAYS`, a minimum sales cycle), so a
  lead seen 14 days after creation shows every planted driver and nothing of its outcome;
* time to close is 14 days plus a log-normal whose median depends on the size band:
  enterprise leads convert more often **and** more slowly;
* leads whose outcome lies after the data's ``as_of`` date are still open (right-censored);
* a few thin levels (source ``podcast``, industry ``government``, country ``Iceland``) have
  fewer than 30 leads (at most :data:`THIN_MAX`, whatever ``n_leads``);
* won leads get onboarding touches *after* they close: a feature builder that ignores the
  as-of date leaks the outcome;
* optionally (``drift_from``) the market changes on a date: from then on referrals stop
  converting (:data:`DRIFT_EFFECTS`), a new source, ``social media``, brings a share of
  the leads, and (``drift_shift``) every lead's log-odds move, so the base rate changes.
  Leads created before that date are identical to the undrifted data's.
  :func:`crm_predict.data.synthetic.drift.drift_scenario` is the setting the tests and benchmarks
  use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

START = pd.Timestamp("2023-01-01")
AS_OF = pd.Timestamp("2025-01-01")

SOURCES = {  # level: (share, log-odds effect)
    "web form": (0.30, 0.0),
    "paid search": (0.20, -0.3),
    "referral": (0.12, 1.0),
    "event": (0.10, 0.4),
    "cold call": (0.13, -0.9),
    "partner": (0.08, 0.6),
    "webinar": (0.0685, 0.2),
    "podcast": (0.0015, 0.5),
}
REGIONS = {
    "North America": (0.40, 0.0, ["United States", "Canada"]),
    "EMEA": (0.30, 0.2, ["Germany", "United Kingdom", "France", "Iceland"]),
    "APAC": (0.20, -0.2, ["Australia", "Japan", "India"]),
    "LATAM": (0.10, -0.4, ["Brazil", "Mexico"]),
}
INDUSTRIES = {
    "software": (0.25, 0.3),
    "manufacturing": (0.20, -0.1),
    "healthcare": (0.15, 0.0),
    "finance": (0.15, 0.2),
    "retail": (0.13, -0.3),
    "education": (0.119, -0.2),
    "government": (0.001, 0.4),
}
SIZE_BANDS = {  # band: (log-odds effect, median days to convert after the first 14)
    "small": (-0.2, 10.0),
    "mid": (0.0, 20.0),
    "large": (0.3, 35.0),
    "enterprise": (0.6, 60.0),
}
SIZE_EDGES = [50, 250, 1000]
BUDGETS = {"low": (0.3, -0.4), "medium": (0.3, 0.0), "high": (0.2, 0.5), None: (0.2, -0.1)}
PRODUCTS = ["CRM Suite", "Analytics", "Support Desk", "Marketing Cloud"]
OWNERS = [
    "Ana Ruiz",
    "Ben Okafor",
    "Chen Wei",
    "Dara Byrne",
    "Eli Novak",
    "Fatima Zahra",
    "Gus Lindqvist",
    "Hana Sato",
    "Ivan Petrov",
    "Jo Mensah",
    "Kai Müller",
    "Lena Costa",
]
TOUCH_TYPES = {"call": 0.35, "email": 0.35, "meeting": 0.12, "demo": 0.1, "proposal": 0.08}

THIN_MAX = 25  # most leads a thin level (podcast, government, Iceland) gets

INTERCEPT = -1.1
DECISION_MAKER = 0.5
B_PRICING = 0.35  # per log1p(pricing page visits)
B_TOUCHES = 0.45  # per log1p(touches in the first 14 days)
B_FIRST_TOUCH_DAY = -0.12  # per day from creation to the first touch (capped at 14)
LOST_MEDIAN_DAYS = 30.0  # after the first 14
EARLY_DAYS = 14
NEW_SOURCE = "social media"
NEW_SOURCE_SHARE = 0.2
DRIFT_EFFECTS = {"referral": -1.5, NEW_SOURCE: 0.7}  # source log-odds after the drift date


@dataclass(frozen=True)
class SyntheticCRM:
    """A generated CRM: the tables a user would export, and the truth they would not have.

    Attributes
    ----------
    leads : DataFrame
        One row per lead, as exported (status open / won / lost, ``closed_at``).
    activities : DataFrame
        One row per touch.
    truth : DataFrame
        Per lead: ``p_convert`` (true probability of ever converting), ``converts``
        (whether it eventually does), ``days_to_close``, ``size_band`` and the activity
        drivers (``touches_first_14d``, ``days_to_first_touch``). Never give these to a
        model.
    effects : dict
        Planted log-odds effects, per field and level.
    as_of : Timestamp
        The export date; outcomes after it are unknown (open leads).
    """

    leads: pd.DataFrame
    activities: pd.DataFrame
    truth: pd.DataFrame
    effects: dict[str, dict[str, float]] = field(default_factory=dict)
    as_of: pd.Timestamp = AS_OF


def _pick(rng: np.random.Generator, table: dict, n: int) -> np.ndarray:
    levels = list(table)
    share = np.array([v[0] for v in table.values()], dtype=float)
    idx = rng.choice(len(levels), size=n, p=share / share.sum())
    return np.array(levels, dtype=object)[idx]


def _size_band(employees: np.ndarray) -> np.ndarray:
    labels = np.array(list(SIZE_BANDS), dtype=object)
    return labels[np.searchsorted(SIZE_EDGES, employees, side="right")]


def planted_effects(seed: int = 42) -> dict[str, dict[str, float]]:
    """Return the planted log-odds effect of every level, per field.

    Parameters
    ----------
    seed : int
        Seed of the generator (owner effects are drawn from it).

    Returns
    -------
    dict
        ``{field: {level: effect}}``; numeric drivers sit under ``"numeric"``.
    """
    rng = np.random.default_rng([seed, 1])
    owner = rng.normal(0.0, 0.25, len(OWNERS))
    return {
        "intercept": {"": INTERCEPT},
        "source": {k: v[1] for k, v in SOURCES.items()},
        "region": {k: v[1] for k, v in REGIONS.items()},
        "industry": {k: v[1] for k, v in INDUSTRIES.items()},
        "size_band": {k: v[0] for k, v in SIZE_BANDS.items()},
        "budget_band": {("unknown" if k is None else k): v[1] for k, v in BUDGETS.items()},
        "owner": dict(zip(OWNERS, owner.round(3), strict=True)),
        "decision_maker": {"True": DECISION_MAKER, "False": 0.0},
        "numeric": {
            "log1p_pricing_page_visits": B_PRICING,
            "log1p_touches_first_14d": B_TOUCHES,
            "days_to_first_touch": B_FIRST_TOUCH_DAY,
        },
    }


def _touch_times(
    rng: np.random.Generator, first_delay: np.ndarray, n_early: np.ndarray, n_late: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row index and day offset of every touch: the first, the early ones, the later ones."""
    has_first = first_delay < EARLY_DAYS
    rows_first = np.flatnonzero(has_first)
    rows_early = np.repeat(np.arange(len(n_early)), np.maximum(n_early - 1, 0))
    early = first_delay[rows_early] + rng.uniform(0, 1, len(rows_early)) * (
        EARLY_DAYS - first_delay[rows_early]
    )
    rows_late = np.repeat(np.arange(len(n_late)), n_late)
    late = EARLY_DAYS + rng.uniform(0, 76, len(rows_late))
    rows = np.r_[rows_first, rows_early, rows_late]
    offset = np.r_[first_delay[rows_first], early, late]
    return rows, offset


def _activities(
    rng: np.random.Generator,
    lead_id: np.ndarray,
    created: pd.DatetimeIndex,
    touches: tuple[np.ndarray, np.ndarray, np.ndarray],
    closed: pd.Series,
    won: np.ndarray,
) -> pd.DataFrame:
    rows, offset = _touch_times(rng, *touches)
    ts = created.values[rows] + pd.to_timedelta(offset, unit="D").values
    close = closed.values[rows]
    keep = pd.isna(close) | (ts < close)
    # Onboarding touches after a win: real CRMs have them, and they must never leak.
    post_rows = np.repeat(np.flatnonzero(won), 2)
    post_ts = (
        closed.values[post_rows]
        + pd.to_timedelta(rng.uniform(1, 20, len(post_rows)), unit="D").values
    )
    types = list(TOUCH_TYPES)
    frame = pd.DataFrame(
        {
            "lead_id": np.r_[lead_id[rows[keep]], lead_id[post_rows]],
            "timestamp": np.r_[ts[keep], post_ts],
            "type": np.r_[
                rng.choice(types, keep.sum(), p=list(TOUCH_TYPES.values())),
                np.full(len(post_rows), "meeting"),
            ],
            "direction": np.r_[
                rng.choice(["out", "in"], keep.sum(), p=[0.7, 0.3]),
                np.full(len(post_rows), "out"),
            ],
        }
    )
    frame = frame[frame["timestamp"] < AS_OF].sort_values(["timestamp", "lead_id"])
    frame["timestamp"] = frame["timestamp"].dt.floor("min")
    frame.insert(0, "activity_id", [f"A{i:07d}" for i in range(len(frame))])
    return frame.reset_index(drop=True)


@lru_cache(maxsize=8)
def make_leads(
    n_leads: int = 20_000,
    seed: int = 42,
    drift_from: str | pd.Timestamp | None = None,
    drift_shift: float = 0.0,
) -> SyntheticCRM:
    """Generate a synthetic lead CRM.

    Parameters
    ----------
    n_leads : int
        Number of leads.
    seed : int
        Seed; the same seed always gives the same tables.
    drift_from : str or Timestamp, optional
        Date from which the market drifts: referral leads stop converting and
        :data:`NEW_SOURCE` appears (see :data:`DRIFT_EFFECTS`). ``effects`` then has a
        ``source_after_drift`` entry. None (default) plants no drift.
    drift_shift : float
        Log-odds added to every lead created from ``drift_from`` on: the base rate moves
        (``effects["base_after_drift"]``). Ignored without ``drift_from``.

    Returns
    -------
    SyntheticCRM
        Leads, activities, truth and planted effects. Results are cached: treat the
        frames as read-only (copy before changing them).

    Examples
    --------
    >>> crm = make_leads(2_000, seed=1)
    >>> sorted(crm.leads["status"].unique())
    ['lost', 'open', 'won']
    """
    rng = np.random.default_rng(seed)
    effects = planted_effects(seed)
    n = n_leads
    span = (AS_OF - START).days
    created = START + pd.to_timedelta(np.sort(rng.uniform(0, span, n)), unit="D")
    created = pd.DatetimeIndex(created).floor("min")
    source = _pick(rng, SOURCES, n)
    region = _pick(rng, REGIONS, n)
    country = np.array(
        [REGIONS[r][2][rng.integers(len(REGIONS[r][2]))] for r in region], dtype=object
    )
    # Iceland is a thin level on purpose.
    iceland = country == "Iceland"
    country[iceland & (rng.uniform(size=n) > 0.015)] = "Germany"
    industry = _pick(rng, INDUSTRIES, n)
    # Thin means few leads, not a small share: cap them so they stay thin at any n_leads.
    for values, level, fallback in (
        (source, "podcast", "web form"),
        (industry, "government", "software"),
        (country, "Iceland", "Germany"),
    ):
        values[np.flatnonzero(values == level)[THIN_MAX:]] = fallback
    drifted = np.zeros(n, dtype=bool)
    if drift_from is not None:
        # A separate stream: every draw below, and so every lead before the date, is unchanged.
        drift_rng = np.random.default_rng([seed, 2])
        drifted = np.asarray(created >= pd.Timestamp(drift_from))
        moved = drifted & (drift_rng.uniform(size=n) < NEW_SOURCE_SHARE)
        source[moved] = NEW_SOURCE
        effects = {**effects, "source_after_drift": dict(DRIFT_EFFECTS)}
        effects["base_after_drift"] = {"shift": float(drift_shift)}
    employees = np.round(np.exp(rng.normal(5.3, 1.6, n))).astype(int) + 1
    size_band = _size_band(employees)
    budget = _pick(rng, BUDGETS, n)
    owner = np.array(OWNERS, dtype=object)[rng.integers(len(OWNERS), size=n)]
    product = np.array(PRODUCTS, dtype=object)[rng.integers(len(PRODUCTS), size=n)]
    decision_maker = rng.uniform(size=n) < 0.35
    web_visits = rng.negative_binomial(2, 0.25, n)
    pricing = rng.binomial(web_visits, 0.15)
    email_opens = rng.poisson(3.0, n)
    webinar = rng.uniform(size=n) < 0.15
    owner_pace = dict(zip(OWNERS, rng.uniform(0.7, 1.4, len(OWNERS)), strict=True))
    pace = np.array([owner_pace[o] for o in owner])
    first_delay = rng.exponential(2.0 / pace)
    rate = 1.5 * pace * np.where(source == "cold call", 1.4, 1.0)
    touches_14d = np.where(first_delay < EARLY_DAYS, 1 + rng.poisson(rate), 0)
    later_touches = rng.poisson(1.5, n)

    source_effect = np.array([effects["source"].get(s, 0.0) for s in source])
    for level, after in DRIFT_EFFECTS.items():
        source_effect[drifted & (source == level)] = after
    logit = (
        INTERCEPT
        + drift_shift * drifted
        + source_effect
        + np.array([effects["region"][r] for r in region])
        + np.array([effects["industry"][i] for i in industry])
        + np.array([effects["size_band"][b] for b in size_band])
        + np.array([effects["budget_band"]["unknown" if b is None else b] for b in budget])
        + np.array([effects["owner"][o] for o in owner])
        + DECISION_MAKER * decision_maker
        + B_PRICING * np.log1p(pricing)
        + B_TOUCHES * np.log1p(touches_14d)
        + B_FIRST_TOUCH_DAY * np.minimum(first_delay, EARLY_DAYS)
    )
    p = 1.0 / (1.0 + np.exp(-logit))
    converts = rng.uniform(size=n) < p
    median = np.array([SIZE_BANDS[b][1] for b in size_band])
    days = EARLY_DAYS + np.where(
        converts,
        np.exp(np.log(median) + 0.6 * rng.normal(size=n)),
        np.exp(np.log(LOST_MEDIAN_DAYS) + 0.7 * rng.normal(size=n)),
    )
    closed_at = created + pd.to_timedelta(days, unit="D")
    is_open = closed_at >= AS_OF
    status = np.where(is_open, "open", np.where(converts, "won", "lost"))
    closed_col = pd.Series(closed_at.floor("min"), dtype="datetime64[ns]")
    closed_col[is_open] = pd.NaT

    lead_id = np.array([f"L{i:06d}" for i in range(n)], dtype=object)
    leads = pd.DataFrame(
        {
            "lead_id": lead_id,
            "created_at": created,
            "source": source,
            "region": region,
            "country": country,
            "industry": industry,
            "employees": employees,
            "product_interest": product,
            "owner": owner,
            "decision_maker": decision_maker,
            "budget_band": budget,
            "web_visits": web_visits,
            "pricing_page_visits": pricing,
            "email_opens": email_opens,
            "webinar_attended": webinar,
            "status": status,
            "closed_at": closed_col,
        }
    )
    activities = _activities(
        rng,
        lead_id,
        created,
        (first_delay, touches_14d, later_touches),
        closed_col,
        status == "won",
    )
    truth = pd.DataFrame(
        {
            "lead_id": lead_id,
            "p_convert": p,
            "converts": converts,
            "days_to_close": days,
            "size_band": size_band,
            "touches_first_14d": touches_14d,
            "days_to_first_touch": first_delay,
        }
    )
    return SyntheticCRM(leads=leads, activities=activities, truth=truth, effects=effects)
