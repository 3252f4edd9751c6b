"""Every zoo report and the compare page, measured in Chromium at 1280 and 1920 px: nothing
overflows the page outside a scroll container, no table cell is narrower than its longest
word, no two titles or controls of a figure overlap, every figure has a caption and axis
titles, and axe-core finds no serious or critical accessibility violation. Each page is
also saved as a full-page screenshot ($HARNESS_SCREENSHOT_DIR, else a temporary folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.browser.conftest import ZOO
from tests.browser.layout_probe import (
    LayoutReport,
    measure_layout,
    serious_accessibility_violations,
)
from tests.browser.report_probe import ReportProbe

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = (1280, 1920)
PAGES = (*sorted(model.stem for model in ZOO.glob("*.onnx")), "compare")


def page_path(name: str, zoo_audits: dict[str, Path], compare_page: Path) -> Path:
    return compare_page if name == "compare" else zoo_audits[name] / "report.html"


@pytest.fixture
def sized_probe(browser: Browser, request: pytest.FixtureRequest) -> Iterator[ReportProbe]:
    context = browser.new_context(viewport={"width": request.param, "height": 900})
    try:
        yield ReportProbe(context.new_page())
    finally:
        context.close()


def assert_laid_out(layout: LayoutReport) -> None:
    assert layout.overflowing == [], "elements past the page's edge, outside a scroll container"
    assert not layout.page_too_wide, "the page scrolls sideways"
    assert layout.squeezed == [], "table cells narrower than their longest word"
    assert layout.overlaps == [], "figure titles or controls overlap"
    assert layout.unlabelled == [], "figures without a caption, axis titles or colour-bar title"


@pytest.mark.parametrize("sized_probe", WIDTHS, indirect=True, ids=lambda w: f"{w}px")
@pytest.mark.parametrize("name", PAGES)
def test_page_layout_holds_at_common_widths(
    name: str,
    sized_probe: ReportProbe,
    zoo_audits: dict[str, Path],
    compare_page: Path,
    screenshot_root: Path,
) -> None:
    report = sized_probe.open(page_path(name, zoo_audits, compare_page))
    assert report.errors == [] and report.unrendered_figures == []

    layout = measure_layout(sized_probe.page)

    width = sized_probe.page.viewport_size["width"]  # type: ignore[index]
    sized_probe.screenshot(screenshot_root / f"{name}-{width}.png")
    assert_laid_out(layout)


@pytest.mark.parametrize("name", PAGES)
def test_page_has_no_serious_accessibility_violation(
    name: str, probe: ReportProbe, zoo_audits: dict[str, Path], compare_page: Path
) -> None:
    # Once per page (at 1280 px): axe's rules read the markup and colours, not the width.
    probe.open(page_path(name, zoo_audits, compare_page))
    assert serious_accessibility_violations(probe.page) == []


LAYOUT_FAULTS = """<!DOCTYPE html><html lang="en"><head><title>faults</title>
<script>{plotly}</script></head><body style="margin: 0">
<table><tr><td style="width: 30px; max-width: 30px; word-break: break-all">Severity</td></tr>
</table>
<div style="width: 3000px">far too wide</div>
<div style="overflow-x: auto"><div style="width: 3000px">wide, in a scroll container</div></div>
<figure><div id="crowded" class="plotly-graph-div" style="width: 600px; height: 400px"></div>
</figure>
<script>
Plotly.newPlot("crowded", [{{x: [1, 2], y: [3, 4]}}], {{
  annotations: [{{text: "head 0", x: 0.1, y: 1.05, xref: "paper", yref: "paper",
                  showarrow: false}}],
  updatemenus: [{{buttons: [{{label: "sample 0", method: "restyle", args: [{{}}]}}],
                  x: 0.05, y: 1.08, xanchor: "left", yanchor: "top"}}]
}});
</script>
</body></html>"""


def test_layout_probe_reports_each_fault_it_looks_for(probe: ReportProbe, tmp_path: Path) -> None:
    from harness.reports.render import plotly_js

    page = tmp_path / "faults.html"
    page.write_text(LAYOUT_FAULTS.format(plotly=plotly_js()), encoding="utf-8")
    probe.open(page)

    layout = measure_layout(probe.page)

    assert any("far too wide" in element for element in layout.overflowing)
    assert not any("in a scroll container" in element for element in layout.overflowing)
    assert layout.page_too_wide
    assert any('"Severity" needs' in cell for cell in layout.squeezed)
    assert any("head 0" in pair and "sample 0" in pair for pair in layout.overlaps)
    assert "crowded: x axes without a title" in layout.unlabelled
    assert any("no caption" in figure for figure in layout.unlabelled)


def test_axe_reports_a_serious_violation(probe: ReportProbe, tmp_path: Path) -> None:
    page = tmp_path / "unreadable.html"
    page.write_text(
        '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body>'
        '<p style="color: #ccc; background: #fff">grey on white</p></body></html>',
        encoding="utf-8",
    )
    probe.open(page)
    violations = serious_accessibility_violations(probe.page)
    assert any(v.startswith("color-contrast (serious)") for v in violations)
