"""Synthetic subscription customers with planted churn drivers and known ground truth.

The generator writes what a B2B subscription CRM exports: customers (plan, contract,
revenue, cost to serve, acquisition channel and cost, churn date and reason), support
tickets, survey answers (NPS 0–10, CSAT 1–5, CES 1–5), monthly usage and plan changes.
Customers live in 30-day billing periods from their signup; in each period they may churn
with a discrete-time hazard whose log-odds are (see :func:`planted_churn_effects`):

* an intercept plus one effect per ``contract`` level (two-year < annual < monthly) and
  per ``plan`` level;
* :data:`B_LOW_CSAT` when the latest CSAT answer before the period was 1 or 2;
* :data:`B_TICKETS` per ``log1p`` of tickets opened in the previous three periods;
* :data:`B_USAGE_TREND` per unit of usage trend: ``log1p`` of the mean logins of the
  previous three periods minus that of the three before (falling usage is negative, so it
  raises the hazard).

``region``, ``industry`` and ``acquisition_channel`` have no effect on churn: a model that
ranks them high is fitting noise. Every driver is computed from events dated *before* the
period, so features built as of a date can recover them. Dates stop at :data:`AS_OF`;
customers still there are ``active`` (right-censored).

Examples
--------
>>> crm = make_customers(300, seed=1)
>>> sorted(crm.customers["status"].unique())
['active', 'churned']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

START = pd.Timestamp("2022-01-01")
AS_OF = pd.Timestamp("2025-01-01")
PERIOD_DAYS = 30

CONTRACTS = {"monthly": (0.5, 0.0), "annual": (0.35, -1.0), "two_year": (0.15, -2.0)}
PLANS = {"basic": (0.45, 49.0, 0.3), "pro": (0.4, 149.0, 0.0), "enterprise": (0.15, 499.0, -0.3)}
SIZES = {"small": (0.5, 15.0), "mid": (0.35, 40.0), "large": (0.15, 100.0)}
REGIONS = {"North America": 0.4, "EMEA": 0.3, "APAC": 0.2, "LATAM": 0.1}
INDUSTRIES = {"software": 0.3, "retail": 0.2, "finance": 0.2, "healthcare": 0.15, "education": 0.15}
CHANNELS = {  # share, mean acquisition cost
    "web": (0.35, 250.0),
    "referral": (0.2, 150.0),
    "partner": (0.15, 600.0),
    "outbound": (0.2, 1500.0),
    "paid ads": (0.1, 800.0),
}
TOPICS = ["billing", "bug", "how-to", "integration", "outage"]
REASONS = ["price", "competitor", "product fit"]

INTERCEPT = -4.3
B_LOW_CSAT = 1.2
B_TICKETS = 0.8
B_USAGE_TREND = -1.5


@dataclass(frozen=True)
class SyntheticCustomers:
    """A generated customer base: the exported tables and the truth behind them.

    Attributes
    ----------
    customers : DataFrame
        One row per customer (``status`` active / churned, ``churn_date``, ``churn_reason``).
    tickets : DataFrame
        One row per support ticket (``closed_at`` NaT while unresolved).
    surveys : DataFrame
        One row per answer: ``survey`` (nps, csat or ces), ``score``, ``answered_at``.
    usage : DataFrame
        Logins per 30-day billing period, dated ``recorded_at`` (the period's end).
    changes : DataFrame
        Plan changes: ``changed_at``, ``old_plan``, ``new_plan``, old and new revenue.
    truth : DataFrame
        Per customer: latent ``satisfaction``, ``ticket_rate``, ``base_usage``,
        ``decline_period`` (NaN if usage never falls). Never give these to a model.
    effects : dict
        Planted log-odds effects on the per-period churn hazard.
    as_of : Timestamp
        The export date.
    """

    customers: pd.DataFrame
    tickets: pd.DataFrame
    surveys: pd.DataFrame
    usage: pd.DataFrame
    changes: pd.DataFrame
    truth: pd.DataFrame
    effects: dict[str, dict[str, float]] = field(default_factory=dict)
    as_of: pd.Timestamp = AS_OF


def planted_churn_effects() -> dict[str, dict[str, float]]:
    """Return the planted log-odds effects on the per-period churn hazard.

    Examples
    --------
    >>> planted_churn_effects()["contract"]["two_year"]
    -2.0
    """
    return {
        "intercept": {"": INTERCEPT},
        "contract": {k: v[1] for k, v in CONTRACTS.items()},
        "plan": {k: v[2] for k, v in PLANS.items()},
        "numeric": {
            "latest_csat_low": B_LOW_CSAT,
            "log1p_tickets_3_periods": B_TICKETS,
            "usage_trend": B_USAGE_TREND,
        },
        "none": {"region": 0.0, "industry": 0.0, "acquisition_channel": 0.0},
    }


def _pick(rng: np.random.Generator, shares: dict, n: int) -> np.ndarray:
    levels = list(shares)
    p = np.array([v[0] if isinstance(v, tuple) else v for v in shares.values()], dtype=float)
    return np.array(levels, dtype=object)[rng.choice(len(levels), size=n, p=p / p.sum())]


@lru_cache(maxsize=4)
def make_customers(n: int = 5000, seed: int = 42) -> SyntheticCustomers:
    """Generate ``n`` subscription customers and their tickets, surveys, usage and changes.

    Parameters
    ----------
    n : int
        Number of customers.
    seed : int
        Seed; the same ``(n, seed)`` always gives the same tables.

    Returns
    -------
    SyntheticCustomers
        Cached: treat the tables as read-only (copy before changing them).

    Examples
    --------
    >>> crm = make_customers(200, seed=3)
    >>> crm.customers.shape[0]
    200
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    rng = np.random.default_rng([seed, 8])
    ids = np.array([f"C{i:06d}" for i in range(n)], dtype=object)
    last_signup = (AS_OF - START).days - PERIOD_DAYS
    signup = START + pd.to_timedelta(rng.integers(0, last_signup, n), unit="D")
    contract = _pick(rng, CONTRACTS, n)
    plan = _pick(rng, PLANS, n)
    size = _pick(rng, SIZES, n)
    region, industry = _pick(rng, REGIONS, n), _pick(rng, INDUSTRIES, n)
    channel = _pick(rng, CHANNELS, n)
    base_usage = np.array([SIZES[s][1] for s in size]) * rng.lognormal(0.0, 0.4, n)
    satisfaction = rng.normal(0.0, 1.0, n)
    ticket_rate = rng.gamma(2.0, 0.15, n)
    n_periods = ((AS_OF - signup).days // PERIOD_DAYS).to_numpy()
    declines = rng.uniform(size=n) < 0.35
    decline_at = np.where(declines, rng.integers(0, np.maximum(n_periods, 1)), np.nan)

    plan_effect = {k: v[2] for k, v in PLANS.items()}
    contract_effect = {k: v[1] for k, v in CONTRACTS.items()}
    fixed = INTERCEPT + np.array([contract_effect[c] for c in contract])
    cur_plan = plan.copy()
    alive = np.ones(n, dtype=bool)
    churn_period = np.full(n, -1)
    churn_why = np.full(n, None, dtype=object)
    latest_csat = np.full(n, np.nan)
    usage_hist = np.zeros((n, 0))
    tick_hist = np.zeros((n, 0))
    rows_t, rows_s, rows_u, rows_c = [], [], [], []
    for k in range(int(n_periods.max()) + 1):
        live = alive & (k < n_periods)
        if not live.any():
            break
        start = signup + pd.to_timedelta(k * PERIOD_DAYS, unit="D")
        # Churn hazard of period k, from what happened before it.
        recent_t = tick_hist[:, -3:].sum(axis=1)
        last3 = usage_hist[:, -3:].mean(axis=1) if k >= 3 else np.zeros(n)
        prev3 = usage_hist[:, -6:-3].mean(axis=1) if k >= 6 else last3
        trend = np.log1p(last3) - np.log1p(prev3)
        lp = fixed + np.array([plan_effect[p] for p in cur_plan])
        lp = lp + B_LOW_CSAT * (latest_csat <= 2) + B_TICKETS * np.log1p(recent_t)
        lp = lp + B_USAGE_TREND * trend
        gone = live & (rng.uniform(size=n) < 1 / (1 + np.exp(-lp)))
        churn_period[gone] = k
        alive &= ~gone
        churn_why[gone & (latest_csat <= 2)] = "support experience"
        churn_why[gone & (churn_why == None) & (trend < -0.2)] = "no longer needed"  # noqa: E711
        rest = gone & (churn_why == None)  # noqa: E711
        churn_why[rest] = rng.choice(REASONS, rest.sum())
        live &= alive
        # Usage of period k.
        fall = np.where(np.isnan(decline_at) | (k < decline_at), 0.0, k - np.nan_to_num(decline_at))
        logins = np.where(live, rng.poisson(base_usage * np.exp(-0.25 * fall)), 0)
        usage_hist = np.column_stack([usage_hist, logins])
        idx = np.flatnonzero(live)
        end = start + pd.Timedelta(days=PERIOD_DAYS)
        rows_u.append(pd.DataFrame({"i": idx, "recorded_at": end[idx], "logins": logins[idx]}))
        # Tickets of period k, more once usage falls.
        count = np.where(live, rng.poisson(ticket_rate * (1 + 0.3 * np.minimum(fall, 5))), 0)
        tick_hist = np.column_stack([tick_hist, count])
        ti = np.repeat(np.arange(n), count)
        opened = start[ti] + pd.to_timedelta(rng.uniform(0, PERIOD_DAYS, ti.size), unit="D")
        escalated = rng.uniform(size=ti.size) < 0.15
        fcr = ~escalated & (rng.uniform(size=ti.size) < 0.6)
        hours = rng.lognormal(np.log(np.where(escalated, 96, np.where(fcr, 2, 24))), 0.6)
        closed = opened + pd.to_timedelta(hours, unit="h")
        topic = rng.choice(TOPICS, ti.size)
        rows_t.append(
            pd.DataFrame(
                {
                    "i": ti,
                    "opened_at": opened,
                    "closed_at": closed,
                    "topic": topic,
                    "first_contact_resolution": fcr,
                    "escalated": escalated,
                }
            )
        )
        # CSAT and CES after some tickets, NPS every third period.
        asked = rng.uniform(size=ti.size) < 0.5
        mood = satisfaction[ti] - 0.9 * escalated - 0.5 * ~fcr + rng.normal(0, 0.7, ti.size)
        score = np.clip(np.round(3.6 + 0.9 * mood), 1, 5)
        when = closed + pd.to_timedelta(rng.uniform(1, 48, ti.size), unit="h")
        rows_s.append(
            pd.DataFrame(
                {
                    "i": ti[asked],
                    "survey": "csat",
                    "score": score[asked],
                    "answered_at": when[asked],
                }
            )
        )
        for i_, s_ in zip(ti[asked], score[asked], strict=True):
            latest_csat[i_] = s_
        eff = rng.uniform(size=ti.size) < 0.35
        ces = np.clip(np.round(3.5 + 0.7 * mood + rng.normal(0, 0.5, ti.size)), 1, 5)
        rows_s.append(
            pd.DataFrame(
                {"i": ti[eff], "survey": "ces", "score": ces[eff], "answered_at": when[eff]}
            )
        )
        if k % 3 == 2:
            ask = live & (rng.uniform(size=n) < 0.4)
            nps = np.clip(
                np.round(7.5 + 1.6 * satisfaction - 0.3 * fall + rng.normal(0, 1.2, n)), 0, 10
            )
            day = start + pd.to_timedelta(rng.uniform(0, PERIOD_DAYS, n), unit="D")
            rows_s.append(
                pd.DataFrame(
                    {
                        "i": np.flatnonzero(ask),
                        "survey": "nps",
                        "score": nps[ask],
                        "answered_at": day[ask],
                    }
                )
            )
        # Plan changes: downgrades once usage falls, upgrades otherwise.
        move = live & (rng.uniform(size=n) < np.where(fall > 1, 0.06, 0.01))
        order = list(PLANS)
        for i_ in np.flatnonzero(move):
            pos = order.index(cur_plan[i_])
            new = order[max(pos - 1, 0)] if fall[i_] > 1 else order[min(pos + 1, 2)]
            if new != cur_plan[i_]:
                day = start[i_] + pd.Timedelta(days=float(rng.uniform(0, PERIOD_DAYS)))
                rows_c.append((i_, day, cur_plan[i_], new))
                cur_plan[i_] = new

    churn_date = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    hit = churn_period >= 0
    churn_date[hit] = (
        signup[hit]
        + pd.to_timedelta(churn_period[hit] * PERIOD_DAYS, unit="D")
        + pd.to_timedelta(rng.integers(0, PERIOD_DAYS, hit.sum()), unit="D")
    )
    churn_date = churn_date.where(churn_date < AS_OF)
    churned = churn_date.notna().to_numpy()
    price = {k: v[1] for k, v in PLANS.items()}
    revenue = np.array([price[p] for p in cur_plan]) * rng.lognormal(0, 0.1, n)
    cost = revenue * rng.uniform(0.2, 0.4, n) + 20 * ticket_rate
    acq = np.array([CHANNELS[c][1] for c in channel]) * rng.lognormal(0, 0.3, n)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": signup.normalize(),
            "plan": cur_plan,
            "contract": contract,
            "monthly_revenue": revenue.round(2),
            "cost_to_serve": cost.round(2),
            "region": region,
            "industry": industry,
            "size": size,
            "acquisition_channel": channel,
            "acquisition_cost": acq.round(2),
            "churn_date": churn_date.dt.normalize(),
            "churn_reason": np.where(churned, churn_why, None),
            "status": np.where(churned, "churned", "active"),
        }
    )
    gone_at = churn_date.to_numpy()

    def _finish(parts: list[pd.DataFrame], time_col: str) -> pd.DataFrame:
        frame = pd.concat(parts, ignore_index=True)
        limit = np.where(pd.isna(gone_at[frame["i"]]), AS_OF, gone_at[frame["i"]])
        frame = frame[frame[time_col].to_numpy() < limit.astype("datetime64[ns]")]
        frame.insert(0, "customer_id", ids[frame["i"].to_numpy()])
        return frame.drop(columns="i").sort_values([time_col, "customer_id"], kind="stable")

    tickets = _finish(rows_t, "opened_at")
    tickets["closed_at"] = tickets["closed_at"].where(tickets["closed_at"] < AS_OF)
    tickets.insert(0, "ticket_id", [f"T{i:07d}" for i in range(len(tickets))])
    surveys = _finish(rows_s, "answered_at")
    surveys["score"] = surveys["score"].astype(int)
    usage = _finish(rows_u, "recorded_at")
    changes = pd.DataFrame(rows_c, columns=["i", "changed_at", "old_plan", "new_plan"])
    changes = _finish([changes], "changed_at") if len(changes) else changes.drop(columns="i")
    base = changes["customer_id"].map(
        dict(zip(ids, revenue / [price[p] for p in cur_plan], strict=True))
    )
    changes["old_revenue"] = (changes["old_plan"].map(price) * base).round(2)
    changes["new_revenue"] = (changes["new_plan"].map(price) * base).round(2)
    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "satisfaction": satisfaction,
            "ticket_rate": ticket_rate,
            "base_usage": base_usage,
            "decline_period": decline_at,
        }
    )
    return SyntheticCustomers(
        customers=customers,
        tickets=tickets.reset_index(drop=True),
        surveys=surveys.reset_index(drop=True),
        usage=usage.reset_index(drop=True),
        changes=changes.reset_index(drop=True),
        truth=truth,
        effects=planted_churn_effects(),
    )
