"""The demo's CSV task and configs/leads_demo.yaml describe the same task."""

from __future__ import annotations

from pathlib import Path

from crm_predict.config import load_config, parse_config
from crm_predict.demo import demo_task


def test_demo_task_matches_the_shipped_config():
    shipped = load_config("configs/leads_demo.yaml")
    demo = parse_config(demo_task(Path("leads.csv"), Path("activities.csv")))
    for key in ("name", "id_column", "target", "time", "features", "segments", "split"):
        assert getattr(demo, key) == getattr(shipped, key), key
    assert demo.activities.windows == shipped.activities.windows
