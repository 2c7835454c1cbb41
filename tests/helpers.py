"""Small builders shared by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from crm_predict.config import TaskConfig, parse_config

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "leads_demo.yaml"


def small_demo_config(folder: Path, n_leads: int) -> Path:
    """``configs/leads_demo.yaml`` (same task name) on fewer synthetic leads, in ``folder``."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["source"]["synthetic"]["n_leads"] = n_leads
    raw["activities"]["synthetic"]["n_leads"] = n_leads
    path = folder / "leads_demo_small.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def synthetic_task(n_leads: int = 3000, seed: int = 7, **overrides: Any) -> TaskConfig:
    """The demo task on a small synthetic CRM (read through the ``synthetic`` source)."""
    raw: dict[str, Any] = {
        "name": "leads_test",
        "source": {"synthetic": {"table": "leads", "n_leads": n_leads, "seed": seed}},
        "activities": {
            "synthetic": {"table": "activities", "n_leads": n_leads, "seed": seed},
            "id_column": "lead_id",
            "time_column": "timestamp",
            "type_column": "type",
            "direction_column": "direction",
        },
        "id_column": "lead_id",
        "target": {"column": "status", "positive": ["won"], "negative": ["lost"], "open": ["open"]},
        "time": {
            "created": "created_at",
            "closed": "closed_at",
            "as_of": "2025-01-01",
            "snapshot_days": 14,
        },
        "features": {
            "categorical": [
                "source",
                "region",
                "industry",
                "owner",
                "decision_maker",
                "budget_band",
            ],
            "count": ["web_visits", "pricing_page_visits", "email_opens"],
            "numeric": ["employees"],
            "size_bands": {"column": "employees"},
        },
        "segments": ["source", "region"],
        "seed": seed,
    }
    raw.update(overrides)
    return parse_config(raw, origin="test")


def churn_task(n_customers: int = 1500, seed: int = 5, **overrides: Any) -> TaskConfig:
    """A churn task on small synthetic customers, with every event table and CLV column."""

    def syn(table: str) -> dict[str, Any]:
        return {"synthetic": {"table": table, "n_customers": n_customers, "seed": seed}}

    raw: dict[str, Any] = {
        "name": "churn_test",
        "kind": "churn",
        "source": syn("customers"),
        "id_column": "customer_id",
        "target": {"column": "status", "positive": ["churned"], "negative": ["active"]},
        "time": {"as_of": "2025-01-01"},
        "churn": {
            "signup": "signup_date",
            "churn_date": "churn_date",
            "tickets": syn("tickets"),
            "surveys": syn("surveys"),
            "usage": {**syn("usage"), "columns": {"usage": "logins"}},
            "changes": syn("changes"),
            "revenue": "monthly_revenue",
            "cost_to_serve": "cost_to_serve",
            "acquisition_cost": "acquisition_cost",
        },
        "features": {"categorical": ["plan", "contract", "region"], "numeric": ["monthly_revenue"]},
        "segments": ["contract", "plan"],
        "split": {"method": "stratified"},
        "timing": {"period_days": 30, "max_days": 1095, "horizons": [30, 90]},
        "seed": seed,
    }
    raw.update(overrides)
    return parse_config(raw, origin="test")
