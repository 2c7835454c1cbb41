"""Reasons worth reading, checked over a whole score file: each clears the strength floor,
says its signed strength, never quotes a rate on the wrong side of the average, and is
one of the bars of the lead's waterfall."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_predict.data.synthetic.leads import make_leads
from crm_predict.explain.age import AGE_FIELD
from crm_predict.explain.reasons import (
    N_AGAINST,
    N_FOR,
    FieldRates,
    field_value,
    strength,
    top_reasons,
)
from crm_predict.report import build_report
from crm_predict.scoring.batch import score_leads
from crm_predict.scoring.task_models import TaskModels
from crm_predict.training.train import train_task
from tests.helpers import synthetic_task

AS_OF = "2025-01-01"
N_LEADS, SEED = 2000, 11
RATE = re.compile(r"convert at ([\d.]+)% vs ([\d.]+)% overall")
STRENGTH = re.compile(r": ([+−]\d+\.\d pts)")
SLOTS = [("for", k) for k in range(1, N_FOR + 1)] + [
    ("against", k) for k in range(1, N_AGAINST + 1)
]


@pytest.fixture(scope="module")
def trained():
    return train_task(
        synthetic_task(n_leads=N_LEADS, seed=SEED), models=("gbm", "timing"), quiet=True
    )


@pytest.fixture(scope="module")
def leads(tmp_path_factory) -> Path:
    frame = make_leads(N_LEADS, SEED).leads
    path = tmp_path_factory.mktemp("reasons") / "open_leads.csv"
    frame[frame["status"] == "open"].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def scored(trained, leads, tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("scored") / "scored.csv"
    bundle = trained.models["gbm"].bundle
    score_leads(TaskModels(bundle, timing=trained.timing.bundle), out, as_of=AS_OF, source=leads)
    return pd.read_csv(out, keep_default_na=False, na_values=[""])


def _reasons(scored: pd.DataFrame):
    """(kind, text, field, contribution) of every reason slot of every lead."""
    for kind, k in SLOTS:
        stem = f"reason_{kind}_{k}"
        yield from zip(
            [kind] * len(scored),
            scored[stem].fillna(""),
            scored[f"{stem}_field"].fillna(""),
            scored[f"{stem}_points"],
            strict=True,
        )


def test_every_reason_clears_the_floor_and_states_its_signed_strength(trained, scored):
    floor = trained.config.reason_min_points
    given = 0
    for kind, text, _, points in _reasons(scored):
        if not text:
            assert points == 0
            continue
        given += 1
        assert abs(points) >= floor, text
        assert (points > 0) == (kind == "for"), text
        match = STRENGTH.search(text)
        assert match is not None, text
        assert match.group(1) == strength(points / 100), text
    assert given > len(scored)


def test_a_quoted_rate_never_contradicts_the_push(scored):
    quoted = 0
    for kind, text, _, _ in _reasons(scored):
        match = RATE.search(text)
        if match is None:
            continue
        quoted += 1
        rate, overall = float(match.group(1)), float(match.group(2))
        assert rate > overall if kind == "for" else rate < overall, text
    assert quoted > 0


def test_reasons_fill_their_slots_strongest_first(scored):
    for kind, count in (("for", N_FOR), ("against", N_AGAINST)):
        sizes = np.column_stack(
            [scored[f"reason_{kind}_{k}_points"].abs() for k in range(1, count + 1)]
        )
        assert (np.diff(sizes, axis=1) <= 0).all()


def test_values_read_as_people_write_them(scored):
    texts = [text for _, text, _, _ in _reasons(scored) if text]
    assert not [t for t in texts if re.search(r"\d{2}:\d{2}:\d{2}|\bTrue\b|\bFalse\b", t)]
    ages = [text for _, text, field, _ in _reasons(scored) if field == AGE_FIELD]
    assert ages, "the time open gives no reason on any lead"
    assert all(re.fullmatch(r"Open for [\d,]+ days?: [+−]\d+\.\d pts", t) for t in ages), ages


def test_a_higher_floor_keeps_only_stronger_reasons(trained, leads):
    bundle = trained.models["gbm"].bundle
    strict = dataclasses.replace(
        bundle, config=bundle.config.model_copy(update={"reason_min_points": 5.0})
    )
    rows = pd.read_csv(leads).head(300)
    loose, tight = bundle.score_rows(rows, as_of=AS_OF), strict.score_rows(rows, as_of=AS_OF)
    pairs = [(f"reason_{kind}_{k}", kind) for kind, k in SLOTS]
    for stem, _ in pairs:
        kept = tight[f"{stem}_contribution"].to_numpy()
        assert ((kept == 0) | (np.abs(kept) >= 0.05)).all()
    n_loose = sum((loose[s] != "").sum() for s, _ in pairs)
    n_tight = sum((tight[s] != "").sum() for s, _ in pairs)
    assert n_tight < n_loose


def test_the_rate_is_dropped_not_bent_when_it_disagrees():
    rates = FieldRates(0.44, bins={"touches": ([0.0, 1.0, 1.5], [0.44, 0.6], [50, 50])})
    values = pd.DataFrame({"touches": [1.0, 1.2]})
    out = top_reasons(np.array([[-0.03], [0.05]]), ["touches"], values, rates)
    assert out["reason_against_1"].iat[0] == "Touches = 1: −3.0 pts"
    assert out["reason_for_1"].iat[1].endswith("(leads with 1–1.5 convert at 60% vs 44% overall)")


def test_the_reasons_are_the_largest_bars_of_the_waterfall(trained, leads, scored):
    bundle = trained.models["gbm"].bundle
    data = build_report(TaskModels(bundle, timing=trained.timing.bundle), leads, AS_OF)
    by_id = scored.assign(lead_id=scored["lead_id"].astype(str)).set_index("lead_id")
    assert data.waterfalls
    for w in data.waterfalls:
        bars = {label: points for label, points in w.steps if "other fields" not in label}
        row = by_id.loc[w.lead_id]
        for kind, k in SLOTS:
            text = row[f"reason_{kind}_{k}"]
            if not isinstance(text, str) or not text:
                continue
            drawn = [label for label in bars if text.startswith(f"{label}: ")]
            assert drawn, (w.lead_id, text, list(bars))
            assert text.startswith(f"{drawn[0]}: {strength(bars[drawn[0]])}")


def test_the_score_file_rounds_days_to_one_decimal(scored):
    days = [c for c in scored.columns if c.endswith("_days")]
    assert days
    for col in days:
        values = scored[col].dropna().to_numpy()
        np.testing.assert_array_equal(values, np.round(values, 1))


def test_each_sentence_is_what_describe_says_for_its_row():
    """The reasons are worded per distinct value; each must read as describe() words it."""
    rates = FieldRates(
        0.2,
        levels={"source": {"web": (0.1, 500), "referral": (0.41, 300), "(missing)": (0.3, 90)}},
        bins={"employees": ([0.0, 50.0, 500.0], [0.15, 0.35], [400, 300])},
    )
    values = pd.DataFrame(
        {
            "source": ["web", None, "referral", "fair", "web", "referral"],
            "employees": [10.0, np.nan, 700.0, 49.5, 10.0, 120.0],
            "touch_share__email": [0.7, 0.2, np.nan, 1.0, 0.5, 0.0],
            "touch_share__call": [0.3, 0.8, np.nan, 0.0, 0.5, 1.0],
        }
    )
    points = np.array(
        [
            [0.042, -0.031, 0.0],
            [0.0149, 0.02, -0.05],
            [-0.00049, 0.061, 0.0],
            [0.03, -0.0125, 0.012],
            [-0.02, 0.0351, 0.004],
            [0.25, -0.07, 0.0135],
        ]
    )
    fields = ["source", "employees", "touch_share"]
    out = top_reasons(points, fields, values, rates, min_points=0.1)
    columns = {c: values[c].array for c in values.columns}
    for kind, count in (("for", N_FOR), ("against", N_AGAINST)):
        for k in range(1, count + 1):
            for i in range(len(values)):
                name = out[f"reason_{kind}_{k}_field"].iat[i]
                if name == "":
                    assert out[f"reason_{kind}_{k}"].iat[i] == ""
                    continue
                c = out[f"reason_{kind}_{k}_contribution"].iat[i]
                value = field_value(columns, i, name)
                assert out[f"reason_{kind}_{k}"].iat[i] == rates.describe(name, value, c)
    assert out["reason_for_1"].iat[1] == "Employees is not recorded: +2.0 pts"
    assert out["reason_against_1"].iat[1].startswith("Touch mix: mostly call (80%): −5.0 pts")


def test_strengths_are_formatted_as_percent_format_does():
    from crm_predict.explain._words import _one_decimal

    rng = np.random.default_rng(3)
    values = np.concatenate(
        [rng.random(100_000) * 40, np.arange(0, 2000) / 20, [0.0, 0.05, 0.15, 0.25, np.nan, 1e12]]
    )
    assert _one_decimal(values).tolist() == [f"{v:.1f}" for v in values.tolist()]
