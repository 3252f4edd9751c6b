"""The HTML reports in a real browser: they load without errors, stay offline, draw every
figure, link within themselves, and show hostile model strings as text, never as markup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main as harness_main
from tests.browser.report_probe import PageReport, ReportProbe
from tests.browser.results import slower

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCRIPT_TAG = "<script>window.__pwned=1</script>"
ATTRIBUTE_BREAKOUT = '"><img src=x onerror="window.__pwned=1">'
MIN_SCREENSHOT_BYTES = 10_000


def assert_healthy(report: PageReport) -> None:
    assert report.errors == [], f"{report.url} logged errors"
    assert report.external_requests == [], f"{report.url} requested more than itself"
    assert report.declared_figures, "the report declares no Plotly figure"
    assert report.unrendered_figures == [], "figures without a drawn, visible plot"
    assert sorted(report.rendered_figures) == sorted(report.declared_figures)
    assert report.toc_links > 0, "no table of contents"
    assert report.broken_anchors == [], "in-page links to ids that do not exist"


def assert_screenshot(probe: ReportProbe, target: Path) -> None:
    probe.screenshot(target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_size > MIN_SCREENSHOT_BYTES, f"{target} is nearly empty"


def test_audit_report_renders_offline_with_every_figure(
    probe: ReportProbe, cnn_audit: Path, screenshot_dir: Path
) -> None:
    # The size bound: the bundled CNN's report (Plotly inlined once) under 10 MB.
    assert (cnn_audit / "report.html").stat().st_size < 10 * 1000**2
    report = probe.open(cnn_audit / "report.html")

    assert_healthy(report)
    assert_screenshot(probe, screenshot_dir / "report-cnn.png")


def test_compare_report_renders_offline_with_every_figure(
    probe: ReportProbe, cnn_audit: Path, screenshot_dir: Path, tmp_path: Path
) -> None:
    base = cnn_audit / "result.json"
    current = tmp_path / "current.json"
    result = json.loads(base.read_text(encoding="utf-8"))
    current.write_text(json.dumps(slower(result, 1.3)), encoding="utf-8")
    diff = tmp_path / "diff.html"

    code = harness_main(["compare", str(base), str(current), "-o", str(diff)])

    assert code == 0, f"compare exited {code}"
    report = probe.open(diff)
    assert_healthy(report)
    assert_screenshot(probe, screenshot_dir / "compare-cnn.png")


def make_hostile(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with model strings that are script if a report ever treats them as HTML:
    in the title and header, the metadata table (key and value) and a figure's labels."""
    model = result["model"]
    model["name"] = SCRIPT_TAG
    model["producer"] = ATTRIBUTE_BREAKOUT
    model["metadata"] = {SCRIPT_TAG: ATTRIBUTE_BREAKOUT, "plain": SCRIPT_TAG}
    for run in result["efficiency"]["runs"]:
        if run.get("op_profile"):
            run["op_profile"]["by_op"][0]["op_type"] = ATTRIBUTE_BREAKOUT
    return result


def test_hostile_model_strings_show_as_text_and_never_run(
    probe: ReportProbe, cnn_audit: Path, tmp_path: Path
) -> None:
    hostile = tmp_path / "result.json"
    result = json.loads((cnn_audit / "result.json").read_text(encoding="utf-8"))
    hostile.write_text(json.dumps(make_hostile(result)), encoding="utf-8")
    html = tmp_path / "hostile.html"
    assert harness_main(["report", str(hostile), "-o", str(html)]) == 0

    report = probe.open(html)

    assert probe.page.evaluate("() => typeof window.__pwned") == "undefined"
    assert report.errors == [] and report.external_requests == []
    assert probe.page.title() == f"Audit report: {SCRIPT_TAG}"
    assert probe.page.locator("header h1").inner_text() == f"Audit report: {SCRIPT_TAG}"
    text = probe.page.locator("body").inner_text()
    assert text.count(SCRIPT_TAG) >= 3 and ATTRIBUTE_BREAKOUT in text
    assert probe.page.locator("img").count() == 0
    assert report.unrendered_figures == []


FAULTY_PAGE = """<!DOCTYPE html><html><head><title>faulty</title></head><body>
<nav class="toc"><a href="#here">here</a> <a href="#nowhere">nowhere</a></nav>
<h2 id="here">here</h2>
<div id="never-plotted" class="plotly-graph-div"></div>
<img src="https://example.invalid/pixel.png" alt="">
<script>console.error("a logged error"); undefinedFunction();</script>
</body></html>
"""


def test_probe_reports_each_fault_it_looks_for(probe: ReportProbe, tmp_path: Path) -> None:
    page = tmp_path / "faulty.html"
    page.write_text(FAULTY_PAGE, encoding="utf-8")

    report = probe.open(page, figure_timeout_ms=200)

    assert any("a logged error" in error for error in report.errors)
    assert any(error.startswith("pageerror:") for error in report.errors)
    assert report.external_requests == ["https://example.invalid/pixel.png"]
    assert report.declared_figures == ["never-plotted"]
    assert report.unrendered_figures == ["never-plotted"] and report.rendered_figures == []
    assert report.broken_anchors == ["nowhere"]
