"""Fixtures for integration tests: a real MLflow tracking server on loopback.

``mlflow_server`` (session scope) starts ``mlflow server`` on 127.0.0.1 with a SQLite backend
and a proxied artifact root in a temporary folder, and yields its ``http://127.0.0.1:<port>``
URI; the whole process group is stopped at the end of the session (or by a watchdog if
pytest itself dies). Tests for tuning, monitoring or retraining can take it as an argument.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.integration.servers import HOST, STOP_TIMEOUT_S, free_port, start_watchdog, tail

STARTUP_TIMEOUT_S = 90.0
POLL_INTERVAL_S = 0.5
PORT_ATTEMPTS = 3
# Set by mlflow.set_tracking_uri / set_registry_uri, so they leak from one test to the next.
URI_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
_LOOPBACK = "127.0.0.1,localhost"


def _no_proxy(env: dict[str, str]) -> None:
    """Keep loopback requests away from any HTTP proxy the user has configured."""
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = ",".join(v for v in (env.get(key), _LOOPBACK) if v)


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # The job runner spawns several huey consumers; none of our tests need it.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    _no_proxy(env)
    return env


def _mlflow_executable() -> Path:
    exe = Path(sys.executable).parent / ("mlflow.exe" if os.name == "nt" else "mlflow")
    if not exe.is_file():
        pytest.fail(f"mlflow executable not found next to {sys.executable}")
    return exe


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen, watchdog: subprocess.Popen | None) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it is still there."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)
    # uvicorn's worker shares the group; kill whatever survived, even if the parent exited.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)
    if watchdog is not None:
        watchdog.kill()
        watchdog.wait()


def _start(root: Path, attempt: int) -> tuple[subprocess.Popen, subprocess.Popen, str, Path]:
    port = free_port()
    log = root / f"server-{attempt}.log"
    command = [
        str(_mlflow_executable()),
        "server",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, start_watchdog(proc), f"http://{HOST}:{port}", log


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """A running ``mlflow server`` on 127.0.0.1; yields its tracking URI.

    Backend: SQLite in a temporary folder; artifacts are proxied by the server
    (``mlflow-artifacts:/``) into ``<tmp>/artifacts``. The process group is terminated at
    the end of the session.
    """
    root = tmp_path_factory.mktemp("mlflow_server")
    proc: subprocess.Popen | None = None
    watchdog: subprocess.Popen | None = None
    try:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            proc, watchdog, uri, log = _start(root, attempt)
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while time.monotonic() < deadline:
                if _healthy(f"{uri}/health"):
                    break
                if proc.poll() is not None:
                    break
                time.sleep(POLL_INTERVAL_S)
            if proc.poll() is None and _healthy(f"{uri}/health"):
                break
            exited = proc.poll()
            _stop(proc, watchdog)
            proc = None
            # Another process may have taken the port between our probe and the bind.
            if exited is not None and "address already in use" in tail(log).lower():
                continue
            state = (
                f"exited with code {exited} before answering /health"
                if exited is not None
                else f"did not answer /health within {STARTUP_TIMEOUT_S:.0f} s"
            )
            pytest.fail(f"mlflow server at {uri} {state}; log tail ({log}):\n{tail(log)}")
        else:
            pytest.fail(f"mlflow server found no free port after {PORT_ATTEMPTS} attempts")
        yield uri
    finally:
        if proc is not None:
            _stop(proc, watchdog)


@pytest.fixture(autouse=True)
def _mlflow_env(monkeypatch) -> Iterator[None]:
    """No user MLFLOW_TRACKING_URI in, no test's URI out.

    MLflow writes the URI it is given into ``os.environ``; restore the variables exactly,
    so later tests (and the unit tests' default SQLite store) are not pointed at a server
    that has been stopped.
    """
    saved = {k: os.environ.pop(k, None) for k in URI_VARS}
    env = dict(os.environ)
    _no_proxy(env)
    for key in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(key, env[key])
    # Fail in seconds, not minutes, if the server goes away mid-test.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def logged_leads_model(leads_model, tmp_path_factory) -> dict[str, str]:
    """``leads_model`` logged and registered (``leads_test@champion``) in a SQLite store of
    its own; returns :func:`crm_predict.tracking.log_training`'s URIs."""
    from crm_predict.tracking import log_training

    root = tmp_path_factory.mktemp("leads_store")
    with pytest.MonkeyPatch.context() as env:
        for key in URI_VARS:
            env.delenv(key, raising=False)
        return log_training(leads_model, workdir=root)
