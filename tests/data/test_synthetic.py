"""The synthetic CRM: deterministic, realistic in shape, and its planted truth is recoverable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_predict.data.exports import write_leads
from crm_predict.data.synthetic.leads import AS_OF, make_leads, planted_effects

N, SEED = 20_000, 11


@pytest.fixture(scope="module")
def crm():
    return make_leads(N, SEED)


@pytest.fixture(scope="module")
def leads(crm) -> pd.DataFrame:
    """Leads with their truth columns alongside."""
    return crm.leads.merge(crm.truth, on="lead_id", validate="one_to_one")


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_tables():
    # Bypass the cache: a fresh run must reproduce the tables, not just return the same object.
    a = make_leads.__wrapped__(1500, 5)
    b = make_leads.__wrapped__(1500, 5)
    for name in ("leads", "activities", "truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    assert a.effects == b.effects


def test_different_seed_gives_different_tables():
    a = make_leads.__wrapped__(1500, 5)
    c = make_leads.__wrapped__(1500, 6)
    assert not a.leads["source"].equals(c.leads["source"])
    assert not a.truth["p_convert"].equals(c.truth["p_convert"])
    assert not a.activities["timestamp"].equals(c.activities["timestamp"])
    assert len(c.leads) == 1500


def test_planted_effects_match_the_generator(crm):
    assert crm.effects == planted_effects(SEED)
    assert planted_effects(SEED)["owner"] != planted_effects(SEED + 1)["owner"]


def test_write_leads_writes_the_three_tables(tmp_path):
    paths = write_leads(tmp_path / "crm", n_leads=300, seed=2)
    assert set(paths) == {"leads", "activities", "truth"}
    back = pd.read_csv(paths["leads"])
    assert len(back) == 300
    assert back["lead_id"].tolist() == make_leads(300, 2).leads["lead_id"].tolist()


# --- shape of the export -------------------------------------------------------------------


def test_lead_ids_are_unique_and_activities_point_at_leads(crm):
    assert crm.leads["lead_id"].is_unique
    assert crm.activities["activity_id"].is_unique
    assert set(crm.activities["lead_id"]) <= set(crm.leads["lead_id"])
    assert (crm.activities["timestamp"] < AS_OF).all()
    assert (crm.leads["created_at"] < AS_OF).all()


def test_every_status_is_present(crm):
    counts = crm.leads["status"].value_counts()
    assert set(counts.index) == {"open", "won", "lost"}
    assert (counts > 0.02 * N).all()


def test_open_leads_have_no_close_date_and_closed_ones_do(crm):
    status, closed = crm.leads["status"], crm.leads["closed_at"]
    assert closed[status == "open"].isna().all()
    assert closed[status != "open"].notna().all()
    done = status != "open"
    assert (closed[done] > crm.leads.loc[done, "created_at"]).all()
    assert (closed[done] < AS_OF).all()


def test_status_agrees_with_the_truth(leads):
    closed = leads[leads["status"] != "open"]
    assert ((closed["status"] == "won") == closed["converts"]).all()


def test_thin_levels_are_thin(crm):
    for field, level in [("source", "podcast"), ("industry", "government"), ("country", "Iceland")]:
        n = int((crm.leads[field] == level).sum())
        assert 0 < n < 30, (field, level, n)


@pytest.mark.parametrize("n_leads", [2_000, 60_000])
def test_thin_levels_stay_thin_at_any_size(n_leads):
    small = make_leads(n_leads, 1).leads
    for field, level in [("source", "podcast"), ("industry", "government"), ("country", "Iceland")]:
        assert (small[field] == level).sum() < 30


# --- planted truth is recoverable ----------------------------------------------------------


def test_source_conversion_rates_match_the_planted_probabilities(leads, crm):
    groups = leads.groupby("source").agg(
        n=("converts", "size"), observed=("converts", "mean"), planted=("p_convert", "mean")
    )
    big = groups[groups["n"] >= 500]
    assert len(big) >= 6
    # Each observed share lies within 4 standard errors of the mean true probability.
    se = np.sqrt(big["planted"] * (1 - big["planted"]) / big["n"])
    z = (big["observed"] - big["planted"]) / se
    assert (z.abs() < 4).all(), z.to_dict()


def test_source_conversion_rates_rank_like_the_planted_effects(leads, crm):
    groups = leads.groupby("source")["converts"].agg(["size", "mean"])
    big = groups[groups["size"] >= 500]
    effect = pd.Series(crm.effects["source"]).loc[big.index]
    by_rate = list(big["mean"].sort_values().index)
    by_effect = list(effect.sort_values().index)
    assert by_rate == by_effect
    assert by_rate[-1] == "referral"
    assert by_rate[0] == "cold call"


def test_enterprise_leads_convert_more_often_and_more_slowly(leads):
    rate = leads.groupby("size_band")["converts"].mean()
    slow = leads[leads["converts"]].groupby("size_band")["days_to_close"].median()
    assert rate["enterprise"] > rate["small"] + 0.05
    assert slow["enterprise"] > 1.5 * slow["small"]
    # Monotone across the bands.
    order = ["small", "mid", "large", "enterprise"]
    assert rate.loc[order].is_monotonic_increasing
    assert slow.loc[order].is_monotonic_increasing


def test_size_band_of_the_truth_matches_the_employee_count(leads):
    edges = [50, 250, 1000]
    labels = np.array(["small", "mid", "large", "enterprise"])
    expected = labels[np.searchsorted(edges, leads["employees"], side="right")]
    assert (leads["size_band"].to_numpy() == expected).all()


# --- the leak the as-of logic must stop ----------------------------------------------------


def touches_with_close(crm) -> pd.DataFrame:
    return crm.activities.merge(crm.leads[["lead_id", "status", "closed_at"]], on="lead_id")


def test_lost_leads_have_no_touch_after_closing(crm):
    acts = touches_with_close(crm)
    lost = acts[acts["status"] == "lost"]
    assert len(lost) > 1000
    assert (lost["timestamp"] <= lost["closed_at"]).all()


def test_won_leads_have_touches_after_closing(crm):
    acts = touches_with_close(crm)
    won = acts[acts["status"] == "won"]
    after = won[won["timestamp"] > won["closed_at"]]
    # Most won leads closed early enough to get onboarding touches before the export.
    assert after["lead_id"].nunique() > 0.8 * (crm.leads["status"] == "won").sum()
    assert (after["timestamp"] - after["closed_at"] < pd.Timedelta(days=21)).all()
