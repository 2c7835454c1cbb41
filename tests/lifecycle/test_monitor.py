"""Drift monitoring: PSI, the reference profile and planted drift in CRM fields."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from crm_predict.config import parse_config
from crm_predict.evaluate.profile import reference_profile
from crm_predict.evaluate.psi import PSI_MAJOR, psi
from crm_predict.exceptions import CRMPredictError
from crm_predict.lifecycle.monitor import (
    compare_profile,
    drift_table,
    write_drift_json,
)


def test_psi_matches_a_hand_computed_example():
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)
    assert psi([50, 50], [25, 75]) == pytest.approx(expected)  # counts are normalised
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_psi_of_an_emptied_bin_is_large_but_finite():
    value = psi([0.5, 0.5], [1.0, 0.0])
    assert np.isfinite(value) and value > PSI_MAJOR
    with pytest.raises(ValueError, match="same"):
        psi([0.5, 0.5], [1.0])


def _config():
    return parse_config(
        {
            "name": "t",
            "source": {"path": "x.csv"},
            "id_column": "id",
            "target": {"column": "s", "positive": ["w"], "negative": ["l"]},
            "features": {"categorical": ["source", "region"], "numeric": ["visits", "budget"]},
        }
    )


def _leads(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "source": rng.choice(["web", "event", "referral"], n, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(["EMEA", "APAC"], n),
            "visits": rng.poisson(4, n).astype(float),
            "budget": np.where(rng.uniform(size=n) < 0.1, np.nan, rng.lognormal(3, 1, n)),
        }
    )


@pytest.fixture(scope="module")
def reference():
    frame = _leads(5000, 0)
    scores = np.random.default_rng(1).beta(2, 3, len(frame))
    return reference_profile(frame, _config(), scores)


def test_reference_profile_is_small_and_describes_each_field(reference):
    assert set(reference["fields"]) == {"source", "region", "visits", "budget"}
    src = reference["fields"]["source"]
    assert src["levels"]["web"] == pytest.approx(0.5, abs=0.03)
    assert reference["fields"]["budget"]["missing"] == pytest.approx(0.1, abs=0.02)
    budget = reference["fields"]["budget"]
    assert sum(budget["shares"]) + budget["missing"] == pytest.approx(1.0, abs=1e-4)
    assert len(json.dumps(reference)) < 5000


def test_the_same_market_shows_no_drift(reference):
    frame = _leads(3000, 2)
    result = compare_profile(reference, frame, np.random.default_rng(3).beta(2, 3, len(frame)))
    assert result.max_psi < 0.05
    assert result.flagged().empty


def test_planted_drift_is_flagged_field_by_field(reference):
    frame = _leads(3000, 2)
    rng = np.random.default_rng(4)
    # referral collapses into a new source, visits double, budget goes missing more often
    frame.loc[frame["source"] == "referral", "source"] = "social media"
    frame["visits"] = frame["visits"] * 2
    frame.loc[rng.uniform(size=len(frame)) < 0.3, "budget"] = np.nan
    scores = rng.beta(4, 2, len(frame))
    result = compare_profile(reference, frame, scores)
    rows = result.fields.set_index("field")
    assert rows.loc["source", "new_levels"] == ["social media"]
    assert rows.loc["source", "vanished_levels"] == ["referral"]
    assert rows.loc["source", "status"] == "major"
    assert rows.loc["visits", "psi"] > PSI_MAJOR
    assert rows.loc["budget", "missing_change"] == pytest.approx(0.27, abs=0.04)
    assert rows.loc["region", "status"] == "stable"
    assert result.score_psi > PSI_MAJOR
    assert set(result.flagged()["field"]) == {"source", "visits", "budget"}
    assert result.exceeds(0.25) and not result.exceeds(result.max_psi)


def test_drift_json_and_table(tmp_path, reference):
    result = compare_profile(reference, _leads(500, 5))
    path = write_drift_json(result, tmp_path / "drift.json")
    data = json.loads(path.read_text())
    assert [f["field"] for f in data["fields"]] == list(result.fields["field"])
    assert data["n_rows"] == 500 and math.isnan(data["score"]["psi"])
    assert drift_table(result).row_count == len(result.fields) + 1


def test_a_model_without_a_profile_says_how_to_fix_it():
    with pytest.raises(CRMPredictError, match="retrain"):
        compare_profile({}, _leads(10, 0))


def test_a_churn_model_is_monitored_on_its_churn_features_and_present_customers(tmp_path):
    """The churn features are profiled; customers gone by as_of are not part of the list."""
    from crm_predict.data.synthetic.customers import make_customers
    from crm_predict.lifecycle.monitor import monitor_leads
    from crm_predict.training.train import train_task
    from tests.helpers import churn_task

    config = churn_task(1500, 5)
    result = train_task(config, models=("gbm",), quiet=True)
    bundle = result.models["gbm"].bundle
    assert {"tickets_90d", "usage_trend", "csat_latest"} <= set(bundle.reference["fields"])
    customers = make_customers(1500, seed=5).customers
    customers.to_csv(tmp_path / "customers.csv", index=False)
    as_of = result.data.as_of
    drift = monitor_leads(bundle, tmp_path / "customers.csv", as_of)
    gone = pd.to_datetime(customers["churn_date"]) <= as_of
    assert drift.n_rows == int((~gone).sum()) < len(customers)
    assert "tickets_90d" in set(drift.fields["field"])
    assert drift.score_psi < PSI_MAJOR
