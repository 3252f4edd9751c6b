"""Headless Chromium for the browser tests, a fresh page per test (``probe``), and the
bundled CNN audited once per session.

Chromium is Debian's (``/usr/bin/chromium``, or the path in ``HARNESS_CHROMIUM``), driven
by Playwright; Playwright's own browser download is never used. Without that executable
the tests skip, saying so; with it, anything else that goes wrong is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from harness.cli import main as harness_main
from tests.browser.report_probe import ReportProbe

CHROMIUM_ENV = "HARNESS_CHROMIUM"
SCREENSHOT_ENV = "HARNESS_SCREENSHOT_DIR"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CNN = Path(__file__).resolve().parents[2] / "models" / "zoo" / "cnn_digits.onnx"

# Root in CI (no user namespaces for the sandbox), no GPU on the runners.
_LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def chromium_path() -> Path:
    return Path(os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    executable = chromium_path()
    if not (executable.is_file() and os.access(executable, os.X_OK)):
        pytest.skip(
            f"no Chromium at {executable}: install Debian's chromium (apt-get install -y "
            f"chromium) or set {CHROMIUM_ENV} to a Chromium executable"
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=str(chromium_path()), headless=True, args=_LAUNCH_ARGS
    )
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def probe(browser: Browser) -> Iterator[ReportProbe]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield ReportProbe(context.new_page())
    finally:
        context.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    configured = os.environ.get(SCREENSHOT_ENV)
    return Path(configured) if configured else tmp_path


@pytest.fixture(scope="session")
def cnn_audit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled CNN audited once (quick budget); the folder holds result.json and
    report.html."""
    out = tmp_path_factory.mktemp("browser") / "audit-cnn"
    code = harness_main(["audit", str(CNN), "--budget", "quick", "--out", str(out), "--quiet"])
    # 1 is "completed, a check failed": the report is still whole, and is what we test.
    assert code in (0, 1), f"audit of {CNN.name} exited {code}"
    assert (out / "report.html").is_file() and (out / "result.json").is_file()
    return out
