"""Open an HTML file in headless Chromium with the network blocked; record what happened.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL bytes on file descriptors 3 and 4), so the standard library is
enough: no websocket client, no Selenium or Playwright. The page's own events give the
evidence a report needs: every request it made (``Network.requestWillBeSent``), console
errors and uncaught exceptions (``Runtime.*``, ``Log.entryAdded``), and a screenshot.

Networking is blocked three ways, so a page that tries to reach out is caught, not served:
all URLs but ``file:`` and ``data:`` are refused by ``Network.setBlockedURLs``, the proxy
is a closed local port and every host name resolves to nothing.

Regenerate the README screenshots with
``python -m tests.browser demo_output/report.html docs/report.png`` and, for a phone,
``python -m tests.browser demo_output/report.html docs/report-phone.png 1800 390``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOCAL_SCHEMES = ("file:", "data:", "about:")
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--hide-scrollbars",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def find_chromium() -> str | None:
    """Path of a Chromium-family browser, or None."""
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


@dataclass
class PageRun:
    """What a page did while it loaded."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    height: int = 0
    screenshot: bytes = b""
    probe: object = None

    @property
    def network_requests(self) -> list[str]:
        """Requests for anything but the file itself and inline ``data:`` images."""
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]


class _Pipe:
    """DevTools protocol over the browser's fds 3 (commands in) and 4 (replies out)."""

    def __init__(self, binary: str, profile: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child, before exec: put the pipe ends on fds 3 and 4
            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, *_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire,
            start_new_session=True,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        reply = self._until(lambda m: m.get("id") == self._next, 60, method)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_for(self, method: str, timeout: float) -> dict:
        seen = next((e for e in self.events if e.get("method") == method), None)
        return seen or self._until(lambda m: m.get("method") == method, timeout, method)

    def _until(self, done, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if done(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise TimeoutError(f"no answer to {what} from chromium")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium closed the pipe waiting for {what}")
                self._buffer += chunk

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.write(
                self._to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0"
            )
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)


def open_page(
    page: str | Path,
    width: int = 1280,
    clip_height: int | None = None,
    clip_from: str | None = None,
    binary: str | None = None,
    settle: float = 0.5,
    probe: str | None = None,
) -> PageRun:
    """Load ``page`` in headless Chromium offline; return requests, errors and a screenshot.

    Parameters
    ----------
    page : str or Path
        An HTML file.
    width : int
        Viewport width in CSS pixels.
    clip_height : int, optional
        Screenshot only this many pixels from the top (the whole page when None).
    clip_from : str, optional
        The id of an element: the screenshot starts at its top instead of the page's.
    binary : str, optional
        The browser (default: :func:`find_chromium`).
    settle : float
        Seconds to keep listening after the load event, for late requests or errors.
    probe : str, optional
        A JavaScript expression evaluated once the page has loaded; its JSON value lands
        in ``PageRun.probe`` (layout measures, computed styles).

    Returns
    -------
    PageRun
    """
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium found")
    url = Path(page).resolve().as_uri()
    run = PageRun()
    with tempfile.TemporaryDirectory(prefix="crm-predict-chromium-") as profile:
        cdp = _Pipe(binary, profile)
        try:
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Page", "Runtime", "Log", "Network"):
                cdp.send(f"{domain}.enable", session=session)
            blocked = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]
            cdp.send("Network.setBlockedURLs", {"urls": blocked}, session=session)
            cdp.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
                session=session,
            )
            cdp.events.clear()
            cdp.send("Page.navigate", {"url": url}, session=session)
            cdp.wait_for("Page.loadEventFired", 60)
            time.sleep(settle)
            if probe is not None:
                result = cdp.send(
                    "Runtime.evaluate",
                    {"expression": probe, "returnByValue": True},
                    session=session,
                )["result"]
                run.probe = result.get("value")
            metrics = cdp.send("Page.getLayoutMetrics", session=session)
            run.height = int(metrics["cssContentSize"]["height"])
            top = 0
            if clip_from is not None:
                where = f"document.getElementById({json.dumps(clip_from)}).offsetTop"
                top = cdp.send(
                    "Runtime.evaluate",
                    {"expression": where, "returnByValue": True},
                    session=session,
                )["result"]["value"]
            rest = run.height - top
            height = rest if clip_height is None else min(clip_height, rest)
            shot = cdp.send(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": top, "width": width, "height": height, "scale": 1},
                },
                session=session,
            )
            run.screenshot = base64.b64decode(shot["data"])
            cdp.send("Runtime.evaluate", {"expression": "0"}, session=session)  # drain events
        finally:
            cdp.close()
    urls: dict[str, str] = {}
    for event in cdp.events:
        _record(event, run, urls)
    return run


def _record(event: dict, run: PageRun, urls: dict[str, str]) -> None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Network.requestWillBeSent":
        run.requests.append(params["request"]["url"])
        urls[params["requestId"]] = params["request"]["url"]
    elif method == "Network.loadingFailed":
        url = urls.get(params["requestId"], "?")
        run.errors.append(f"failed to load {url[:80]}: {params.get('errorText', '')}")
    elif method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        run.errors.append(details.get("exception", {}).get("description") or details["text"])
    elif method == "Runtime.consoleAPICalled":
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        if params["type"] in ("error", "assert"):
            run.errors.append(f"console.{params['type']}: {text}")
        elif params["type"] == "warning":
            run.warnings.append(text)
    elif method == "Log.entryAdded":
        entry = params["entry"]
        if entry["level"] == "error":
            run.errors.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}")
        elif entry["level"] == "warning":
            run.warnings.append(entry["text"])


def main() -> None:
    """``python -m tests.browser REPORT.html SCREENSHOT.png [HEIGHT] [WIDTH] [SECTION_ID]``."""
    page, out = sys.argv[1], Path(sys.argv[2])
    height = int(sys.argv[3]) if len(sys.argv) > 3 else 1500
    width = int(sys.argv[4]) if len(sys.argv) > 4 else 1280
    section = sys.argv[5] if len(sys.argv) > 5 else None
    run = open_page(page, width=width, clip_height=height, clip_from=section)
    if run.errors or run.network_requests:
        sys.exit(f"errors: {run.errors}; network requests: {run.network_requests}")
    out.write_bytes(run.screenshot)
    print(f"{out}: {len(run.screenshot):,} bytes, page is {run.height:,} px tall")


if __name__ == "__main__":
    main()
