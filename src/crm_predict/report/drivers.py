"""What moves scores: per-field contributions summarised for charts, lead by lead.

The numbers come from :func:`crm_predict.explain.contributions.contributions` (exact: the average
lead's score plus every field's push equals the lead's score) on model-frame rows built by the
scorer of ``crm-predict score``; this module only picks the leads and summarises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_predict.explain.age import AGE_FIELD, age_offsets, with_age
from crm_predict.explain.contributions import contributions
from crm_predict.explain.reasons import N_AGAINST, N_FOR, field_value, label_of
from crm_predict.scoring.bundle import reason_floor, reason_values
from crm_predict.scoring.scorer import Scorer

DETAIL_LEADS = 5
"""Top leads shown as waterfalls."""
DETAIL_STEPS = 8
"""Fields per waterfall; the rest are summed into one step."""


@dataclass
class Waterfall:
    """One lead's score taken apart: base rate plus each field's push, in probability units.

    Attributes
    ----------
    lead_id : str
    base : float
        Score of the average lead (the model's base rate).
    score : float
        This lead's score; ``base + sum(points) == score``.
    steps : list of (str, float)
        ``("Source = referral", 0.12)``, biggest first; the smallest are summed into one
        "Other fields" step.
    """

    lead_id: str
    base: float
    score: float
    steps: list[tuple[str, float]]


@dataclass
class Drivers:
    """How much each CRM field moves scores over a sample of the lead list.

    Attributes
    ----------
    table : DataFrame
        ``field, label, mean_abs_points`` (probability units), largest first, and
        ``bayes_mean_abs_points`` (the Bayesian model's, same leads) when one was given.
    points : ndarray, shape (n_sample, n_fields)
        Per-lead contributions, columns in ``table`` order.
    colour : ndarray, shape (n_sample, n_fields)
        Each value's rank in [0, 1] within the sample for numeric fields, NaN otherwise.
    n_leads : int
        Leads in the sample.
    """

    table: pd.DataFrame
    points: np.ndarray
    colour: np.ndarray
    n_leads: int


def explain_leads(
    scorer: Scorer,
    raw: pd.DataFrame,
    pos: np.ndarray,
    leads: pd.DataFrame,
    sample: int,
    seed: int,
) -> tuple[Drivers, list[Waterfall]]:
    """Per-field contributions for a random sample (drivers) and the top leads (waterfalls).

    The scorer's models say what is explained: the main model (explainable:
    ``scorer.models.main.explains``); with a Bayesian model, its per-field contributions
    over the same sample go in the table beside the main model's; with a time-to-convert
    model, the score is conditioned on each lead's time open (:mod:`crm_predict.explain.age`),
    one more bar of the waterfall, as in the score file.

    Parameters
    ----------
    scorer : Scorer
        Builds model-frame rows exactly as the score run did, with the score run's models.
    raw : DataFrame
        The raw lead list.
    pos : ndarray of int
        Row of ``raw`` for each row of ``leads``.
    leads : DataFrame
        The score file's rows in rank order.
    sample : int
        Leads in the drivers sample (seeded, uniform without replacement).
    seed : int
        Seed of the sample.

    Returns
    -------
    Drivers, list of Waterfall
        One contributions pass over the sample and the top :data:`DETAIL_LEADS` leads.

    Examples
    --------
    >>> drivers, tops = explain_leads(scorer, raw, pos, leads, 4000, 0)  # doctest: +SKIP
    >>> drivers.table.head(3)  # doctest: +SKIP
    """
    bundle, bayes, timing = scorer.models.main, scorer.models.bayes, scorer.models.timing
    n = len(leads)
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(n, size=min(n, sample), replace=False))
    detail = np.arange(min(n, DETAIL_LEADS))
    rows = np.union1d(picked, detail)
    frame = scorer.frame(raw.iloc[pos[rows]].reset_index(drop=True))
    contrib = contributions(bundle.pipeline, frame)
    values = reason_values(bundle.pipeline, frame).reset_index(drop=True)
    if timing is not None and not bundle.config.is_churn:
        aged = timing.score_rows(frame, as_of=scorer.as_of, fresh=True)
        contrib = with_age(contrib, age_offsets(aged))
        values[AGE_FIELD] = np.round(aged["age_days"].to_numpy(dtype=float))
    in_sample = np.searchsorted(rows, picked)
    points = contrib.points[in_sample]
    mean_abs = np.abs(points).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    fields = [contrib.fields[j] for j in order]
    table = pd.DataFrame(
        {
            "field": fields,
            "label": [label_of(f) for f in fields],
            "mean_abs_points": mean_abs[order],
        }
    )
    if bayes is not None:
        other = contributions(bayes.pipeline, frame)
        means = np.abs(other.points[in_sample]).mean(axis=0)
        other_mean = dict(zip(other.fields, means, strict=True))
        table["bayes_mean_abs_points"] = [other_mean.get(f, np.nan) for f in fields]
    colour = np.full((len(picked), len(fields)), np.nan)
    for i, name in enumerate(fields):
        if name in values.columns:
            col = values[name].iloc[in_sample]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                colour[:, i] = col.rank(pct=True).to_numpy(dtype=float)
    drivers = Drivers(table, points[:, order], colour, len(picked))
    waterfalls = []
    columns = {c: values[c].array for c in values.columns}
    floor = reason_floor(bundle.config) / 100
    for r in np.searchsorted(rows, detail):
        kept = bars(contrib.points[r], floor)
        steps = [
            (
                bundle.rates.what(contrib.fields[j], field_value(columns, r, contrib.fields[j])),
                float(contrib.points[r, j]),
            )
            for j in kept
        ]
        rest = np.delete(contrib.points[r], kept)
        if len(rest):
            steps.append((f"{len(rest)} other fields", float(rest.sum())))
        waterfalls.append(
            Waterfall(
                str(leads[bundle.config.id_column].iloc[rows[r]]),
                float(contrib.p_base[r]),
                float(contrib.p[r]),
                steps,
            )
        )
    return drivers, waterfalls


def bars(points: np.ndarray, floor: float) -> list[int]:
    """The fields a waterfall draws, largest push first: every field the score file gives
    as a reason (:func:`crm_predict.explain.reasons.top_reasons`), then the largest of the rest, up
    to :data:`DETAIL_STEPS`.

    Examples
    --------
    >>> bars(np.array([0.001, 0.05, -0.02, 0.0]), 0.01)[:2]
    [1, 2]
    """
    ups = [int(j) for j in np.argsort(-points, kind="stable")[:N_FOR] if points[j] >= floor]
    downs = [int(j) for j in np.argsort(points, kind="stable")[:N_AGAINST] if points[j] <= -floor]
    largest = [int(j) for j in np.argsort(-np.abs(points), kind="stable")]
    kept = list(dict.fromkeys([*ups, *downs, *largest]))[: max(DETAIL_STEPS, len(ups) + len(downs))]
    return sorted(kept, key=lambda j: -abs(points[j]))
