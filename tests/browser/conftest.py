"""Headless Chromium for the browser tests, a fresh page per test (``probe``), every zoo
model audited once per session (``zoo_audits``; the CNN's is ``cnn_audit``), and the
compare page built once from the CNN's result.

Chromium is Debian's (``/usr/bin/chromium``, or the path in ``HARNESS_CHROMIUM``), driven
by Playwright; Playwright's own browser download is never used. Without that executable
the tests skip, saying so; with it, anything else that goes wrong is a failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from harness.cli import main as harness_main
from tests.browser.report_probe import ReportProbe
from tests.browser.results import slower

CHROMIUM_ENV = "HARNESS_CHROMIUM"
SCREENSHOT_ENV = "HARNESS_SCREENSHOT_DIR"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
ZOO = Path(__file__).resolve().parents[2] / "models" / "zoo"
CNN = ZOO / "cnn_digits.onnx"

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


def audit_once(model: Path, out: Path) -> Path:
    """``model`` audited at the quick budget into ``out`` (result.json and report.html)."""
    code = harness_main(["audit", str(model), "--budget", "quick", "--out", str(out), "--quiet"])
    # 1 is "completed, a check failed": the report is still whole, and is what we test.
    assert code in (0, 1), f"audit of {model.name} exited {code}"
    assert (out / "report.html").is_file() and (out / "result.json").is_file()
    return out


@pytest.fixture(scope="session")
def zoo_audits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every model of the zoo (models/zoo/*.onnx) audited once, by name: its folder."""
    root = tmp_path_factory.mktemp("zoo")
    models = sorted(ZOO.glob("*.onnx"))
    assert models, f"no ONNX model in {ZOO}"
    return {model.stem: audit_once(model, root / model.stem) for model in models}


@pytest.fixture(scope="session")
def cnn_audit(zoo_audits: dict[str, Path]) -> Path:
    """The bundled CNN's audit (quick budget); the folder holds result.json and report.html."""
    return zoo_audits[CNN.stem]


@pytest.fixture(scope="session")
def compare_page(cnn_audit: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``harness compare`` of the CNN's result against a copy 1.3 times slower."""
    folder = tmp_path_factory.mktemp("compare")
    current = folder / "current.json"
    result = json.loads((cnn_audit / "result.json").read_text(encoding="utf-8"))
    current.write_text(json.dumps(slower(result, 1.3)), encoding="utf-8")
    page = folder / "compare.html"
    code = harness_main(["compare", str(cnn_audit / "result.json"), str(current), "-o", str(page)])
    assert code == 0, f"compare exited {code}"
    return page


@pytest.fixture(scope="session")
def screenshot_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $HARNESS_SCREENSHOT_DIR (CI keeps it as an artefact), else a
    temporary folder of this session."""
    configured = os.environ.get(SCREENSHOT_ENV)
    return Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
