"""Small builders shared by the tests."""

from __future__ import annotations

from typing import Any

from crm_predict.config import TaskConfig, parse_config


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
