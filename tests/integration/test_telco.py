"""IBM telco churn end to end: a flat export trains, and every customer gets a retention row.

Real data from ``../shared/data`` (skipped without it); LightGBM only, about 10 seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_predict.churn.retention import lifetime_from_horizon
from crm_predict.config import load_config
from crm_predict.scoring.batch import score_leads
from crm_predict.training.train import train_task

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "telco_churn.csv"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not DATA.is_file(), reason="../shared/data/telco_churn.csv not present"),
]


@pytest.fixture(scope="module")
def trained():
    return train_task(load_config(REPO / "configs" / "telco_churn.yaml"), quiet=True)


def test_the_model_keeps_up_with_the_logistic_baseline_and_is_calibrated(trained):
    # Telco is close to additive on the log-odds scale: the logistic baseline is as good as
    # anything measured there (benchmarks/RESULTS.md). Ours blends a logistic regression with
    # LightGBM (weight ~0.7 on the logistic part here), so it must keep up with it, not beat it
    # by more than noise: over ten splits the two tie.
    ours, baseline = trained.models["gbm"].metrics, trained.models["logreg"].metrics
    assert ours["roc_auc"] >= baseline["roc_auc"] - 0.005
    assert ours["ece"] <= 0.03


def test_every_customer_is_on_the_retention_list_with_clv(trained, tmp_path):
    customers = pd.read_csv(DATA).drop(columns=["Churn"])
    customers.to_csv(tmp_path / "customers.csv", index=False)
    out = tmp_path / "retention.parquet"  # full precision: a CSV is rounded for people
    summary = score_leads(
        trained.models["gbm"].bundle, out, as_of="2025-01-01", source=tmp_path / "customers.csv"
    )
    # The 11 blank TotalCharges (first-month customers) are scored as missing, not rejected.
    assert summary.rows_rejected == 0 and summary.rows_scored == len(customers)
    scored = pd.read_parquet(out).sort_values("rank")
    assert scored["p_churn"].is_monotonic_decreasing  # telco ranks by p_churn
    charges = customers.set_index("customerID")["MonthlyCharges"].loc[scored["customerID"]]
    life = lifetime_from_horizon(scored["p_churn"], 30)
    np.testing.assert_allclose(scored["clv"], charges.to_numpy() * np.maximum(life, 1), atol=0.01)
