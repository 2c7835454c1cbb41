"""Alt texts that carry each chart's numbers, for screen readers and when images are off.

Each function reads the same table the chart is drawn from, so the words and the picture
cannot disagree; a long table is cut to its first rows (the largest, by the chart's order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from crm_predict.explain.reasons import label_of, strength, value_text

ALT_ITEMS = 6
"""Rows of a chart named in its alt text."""


def drivers_alt(table: pd.DataFrame) -> str:
    """The drivers bar chart: each field's average push, largest first.

    Examples
    --------
    >>> drivers_alt(pd.DataFrame({"label": ["Source"], "mean_abs_points": [0.061]}))
    'Average effect of each CRM field on lead scores, largest first: Source 6.1 pts'
    """
    items = [
        f"{label} {strength(p)[1:]}"
        for label, p in zip(
            table["label"].head(ALT_ITEMS), table["mean_abs_points"].head(ALT_ITEMS), strict=True
        )
    ]
    return "Average effect of each CRM field on lead scores, largest first: " + "; ".join(items)


def beeswarm_alt(points: np.ndarray, labels: Sequence[str]) -> str:
    """The beeswarm: each field's range of pushes over the leads.

    Examples
    --------
    >>> beeswarm_alt(np.array([[0.02], [-0.05]]), ["Source"])
    'Effect of each CRM field over 2 leads, lowest to highest push: Source −5.0 pts to +2.0 pts'
    """
    items = [
        f"{label} {strength(points[:, i].min())} to {strength(points[:, i].max())}"
        for i, label in enumerate(labels[:ALT_ITEMS])
    ]
    return (
        f"Effect of each CRM field over {len(points):,} leads, lowest to highest push: "
        + "; ".join(items)
    )


def forest_alt(table: pd.DataFrame) -> str:
    """The Bayesian segment forest: each level's rate and 90% interval.

    Examples
    --------
    >>> t = pd.DataFrame({"field": ["source"], "level": ["web"], "rate": [0.2],
    ...                   "rate_low": [0.18], "rate_high": [0.22]})
    >>> forest_alt(t)
    'Conversion rate per segment level with 90% intervals: Source web 20% (18%–22%)'
    """
    items = [
        f"{label_of(str(r['field']))} {value_text(r['level'])} "
        f"{r['rate']:.0%} ({r['rate_low']:.0%}–{r['rate_high']:.0%})"
        for r in table.head(ALT_ITEMS).to_dict("records")
    ]
    return "Conversion rate per segment level with 90% intervals: " + "; ".join(items)


def calibration_alt(records: Sequence[Mapping]) -> str:
    """The calibration curve: predicted against actual rate per score band.

    Examples
    --------
    >>> calibration_alt([{"mean_predicted": 0.1, "observed_rate": 0.12}])
    'Calibration on the test leads, predicted → actual: 10% → 12%'
    """
    items = [f"{r['mean_predicted']:.0%} → {r['observed_rate']:.0%}" for r in records]
    return "Calibration on the test leads, predicted → actual: " + "; ".join(items)


def lift_alt(records: Sequence[Mapping]) -> str:
    """The lift chart: conversion rate per tenth of the ranked test leads.

    Examples
    --------
    >>> lift_alt([{"rate": 0.6, "n": 10, "positives": 6}, {"rate": 0.0, "n": 10, "positives": 0}])
    'Conversion rate per tenth of the ranked test leads, best first: 60%, 0%; all test leads 30%'
    """
    n = sum(r["n"] for r in records)
    overall = sum(r["positives"] for r in records) / max(n, 1)
    rates = ", ".join(f"{r['rate']:.0%}" for r in records)
    return (
        f"Conversion rate per tenth of the ranked test leads, best first: {rates}; "
        f"all test leads {overall:.0%}"
    )


def curves_alt(field: str, curves: Sequence[Mapping]) -> str:
    """The conversion curves of one field: each level's predicted share at the last day.

    Examples
    --------
    >>> curves_alt("Source", [{"level": "web", "days": [0, 90], "predicted": [0, 0.21]}])
    'Share of leads converted by days since creation, by Source: web 21% by day 90'
    """
    items = [
        f"{value_text(c['level'])} {float(c['predicted'][-1]):.0%} "
        f"by day {float(c['days'][-1]):.0f}"
        for c in curves[:ALT_ITEMS]
        if len(c["days"])
    ]
    return f"Share of leads converted by days since creation, by {field}: " + "; ".join(items)


def waterfall_alt(
    lead_id: str, steps: Sequence[tuple[str, float]], base: float, score: float
) -> str:
    """The waterfall's numbers in words, for the chart's alt text.

    Examples
    --------
    >>> waterfall_alt("L-1", [("Source = referral", 0.12)], 0.2, 0.32)
    'Score of lead L-1 built up: starting point 20%; Source = referral +12.0 pts; score 32%'
    """
    parts = [f"starting point {base:.0%}", *(f"{label} {strength(p)}" for label, p in steps)]
    return f"Score of lead {lead_id} built up: {'; '.join(parts)}; score {score:.0%}"
