"""The demo's HTML report in a real browser: headless Chromium, network blocked.

Acceptance for the manager's report: it renders with no console error, requests nothing
beyond the file and its inline images, and looks like the screenshot in the README
(``docs/report.png``, regenerated with ``python -m tests.browser``). Without Chromium the
test is skipped locally and fails in CI (``CI=true``), where ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from crm_predict.demo import run_demo
from tests.browser import find_chromium, open_page

pytestmark = pytest.mark.integration
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report.png"
_PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        message = "chromium is not installed (Debian: apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == _PNG
    return struct.unpack(">II", data[16:24])


def test_the_harness_sees_console_errors_and_network_requests(chromium, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><body><p>x</p><script>console.error("boom");</script>'
        '<img src="https://example.invalid/x.png"></body></html>',
        encoding="utf-8",
    )
    run = open_page(page, binary=chromium)
    assert any("boom" in e for e in run.errors)
    assert run.network_requests == ["https://example.invalid/x.png"]


def test_demo_report_renders_offline_without_errors(chromium, tmp_path):
    outputs = run_demo(tmp_path / "demo", n_leads=4000, quiet=True)
    report = outputs["report"]
    run = open_page(report, binary=chromium)
    assert run.errors == []
    assert run.network_requests == []
    assert run.requests[0] == report.resolve().as_uri()
    assert all(u.startswith("data:image/png;base64,") for u in run.requests[1:])
    width, height = _png_size(run.screenshot)
    assert width == 1280 and height == run.height > 3000
    (tmp_path / "report.png").write_bytes(run.screenshot)


def test_the_readme_screenshot_is_committed():
    width, height = _png_size(DOCS_SCREENSHOT.read_bytes())
    assert width == 1280 and height > 800
    readme = (DOCS_SCREENSHOT.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "docs/report.png" in readme
