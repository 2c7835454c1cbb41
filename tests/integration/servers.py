"""Process helpers for integration tests that start a server of their own.

A server runs in its own process group on 127.0.0.1; a watchdog beside it stops the group
if pytest dies without tearing down, and :func:`stop_group` ends it at teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

HOST = "127.0.0.1"
STOP_TIMEOUT_S = 10.0
# argv: pytest's pid, the server's process group, the seconds to wait after SIGTERM.
_WATCHDOG = """
import os, signal, sys, time
parent, group = int(sys.argv[1]), int(sys.argv[2])
def alive():
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
while os.getppid() == parent and alive():
    time.sleep(0.5)
if alive():
    os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + float(sys.argv[3])
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive():
        os.killpg(group, signal.SIGKILL)
"""


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``), where a missing tool must fail, not skip."""
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, so CI never skips silently."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: not skipping)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_watchdog(proc: subprocess.Popen) -> subprocess.Popen:
    """Stop ``proc``'s process group if this pytest process dies first."""
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(proc.pid), str(STOP_TIMEOUT_S)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def stop_group(
    proc: subprocess.Popen,
    watchdog: subprocess.Popen | None = None,
    first: signal.Signals = signal.SIGTERM,
) -> None:
    """Send ``first`` to the server, wait, then SIGKILL whatever is left of its group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)
    if watchdog is not None:
        watchdog.kill()
        watchdog.wait()


def wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen,
    timeout_s: float,
    what: str,
    log: Path,
    interval_s: float = 0.3,
) -> None:
    """Poll ``ready`` until it holds; fail with the log's tail if the server exits or stalls."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with code {proc.returncode}; log:\n{tail(log)}")
        time.sleep(interval_s)
    pytest.fail(f"{what} was not ready within {timeout_s:.0f} s; log:\n{tail(log)}")


def tail(log: Path, lines: int = 40) -> str:
    """The last lines of a server log."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
