"""Online scoring: ``mlflow models serve`` on the registered model answers raw CRM rows."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.integration.servers import HOST, free_port, start_watchdog, stop_group, wait_until

pytestmark = pytest.mark.integration

PING_TIMEOUT_S = 90.0
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def served(logged_leads_model, tmp_path_factory) -> Iterator[str]:
    """``mlflow models serve`` on the registered champion, on 127.0.0.1; yields its URL."""
    root = tmp_path_factory.mktemp("serve")
    uris = logged_leads_model
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = uris["tracking_uri"]
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    # The server runs `uvicorn` by name: the venv's bin must be on PATH even when it isn't active.
    bin_dir = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    port = free_port()
    log = root / "serve.log"
    command = [
        str(bin_dir / "mlflow"),
        "models",
        "serve",
        "-m",
        uris["registered_model_uri"],
        "--env-manager",
        "local",
        "-h",
        HOST,
        "-p",
        str(port),
        "-w",
        "1",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    watchdog = start_watchdog(proc)
    url = f"http://{HOST}:{port}"
    try:
        wait_until(lambda: _ping(url), proc, PING_TIMEOUT_S, "mlflow models serve", log, 0.5)
        yield url
    finally:
        stop_group(proc, watchdog)


def _ping(url: str) -> bool:
    try:
        with _NO_PROXY.open(f"{url}/ping", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _json_rows(frame: pd.DataFrame) -> dict:
    """``dataframe_split`` with ISO datetimes, nulls for missing values, exact floats."""

    def cell(value):
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value.item() if isinstance(value, np.generic) else value

    return {
        "columns": list(frame.columns),
        "data": [[cell(v) for v in row] for row in frame.astype(object).itertuples(index=False)],
    }


def _invoke(url: str, frame: pd.DataFrame) -> pd.DataFrame:
    body = json.dumps({"dataframe_split": _json_rows(frame)}).encode()
    request = urllib.request.Request(
        f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    with _NO_PROXY.open(request, timeout=60) as response:
        return pd.DataFrame(json.load(response)["predictions"])


def test_served_model_scores_raw_rows_like_the_bundle(served, leads_model):
    rows = leads_model.test_frame().head(3)
    answer = _invoke(served, rows)

    expected = leads_model.models["gbm"].bundle.score_rows(rows)
    assert answer["lead_id"].tolist() == expected["lead_id"].tolist()
    np.testing.assert_allclose(answer["p_convert"], expected["p_convert"], rtol=1e-12)
    assert answer["grade"].tolist() == expected["grade"].tolist()
    reasons = [c for c in expected.columns if c.startswith("reason_") and c.endswith(("_1", "_2"))]
    assert reasons
    for column in reasons:
        assert answer[column].tolist() == expected[column].tolist(), column


def test_served_model_scores_rows_with_fields_missing(served):
    rows = pd.DataFrame(
        {"lead_id": ["N1"], "source": ["webinar"], "as_of": [pd.Timestamp("2025-01-01")]}
    )
    answer = _invoke(served, rows)
    assert answer["lead_id"].tolist() == ["N1"]
    assert 0 < answer["p_convert"].iloc[0] < 1
    assert answer["grade"].iloc[0] in {"A", "B", "C", "D"}
