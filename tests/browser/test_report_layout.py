"""Every zoo report and the compare page, measured in Chromium at 1280 and 1920 px: nothing
overflows the page outside a scroll container, no table cell is narrower than its longest
word, no two titles or controls of a figure overlap, every figure has a caption and axis
titles, and axe-core finds no serious or critical accessibility violation. Each page is
also saved as a full-page screenshot at each width ($HARNESS_SCREENSHOT_DIR, else a
temporary folder).
"""

from __future__ import annotations

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
RELAYOUT_MS = 600  # Plotly redraws responsive figures on a (debounced) window resize


def page_path(name: str, zoo_audits: dict[str, Path], compare_page: Path) -> Path:
    return compare_page if name == "compare" else zoo_audits[name] / "report.html"


def problems(layout: LayoutReport) -> dict[str, list[str]]:
    """What is out of place, by kind; empty when the page is laid out right."""
    found = {
        "elements past the page's edge, outside a scroll container": layout.overflowing,
        "the page scrolls sideways": ["<html>"] if layout.page_too_wide else [],
        "table cells narrower than their longest word": layout.squeezed,
        "figure titles or controls that overlap": layout.overlaps,
        "figures without a caption, axis titles or colour-bar title": layout.unlabelled,
    }
    return {kind: items for kind, items in found.items() if items}


@pytest.mark.parametrize("name", PAGES)
def test_page_layout_and_accessibility(
    name: str,
    browser: Browser,
    zoo_audits: dict[str, Path],
    compare_page: Path,
    screenshot_root: Path,
) -> None:
    # One load per page: measured at each width in turn (Plotly's figures are responsive
    # and redraw on the resize), axe once (its rules read markup and colours, not width).
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    try:
        probe = ReportProbe(context.new_page())
        report = probe.open(page_path(name, zoo_audits, compare_page))
        assert report.errors == [] and report.unrendered_figures == []
        found = {}
        for width in WIDTHS:
            probe.page.set_viewport_size({"width": width, "height": 900})
            probe.page.wait_for_timeout(RELAYOUT_MS)
            found[width] = problems(measure_layout(probe.page))
            probe.screenshot(screenshot_root / f"{name}-{width}.png")
        violations = serious_accessibility_violations(probe.page)
    finally:
        context.close()
    assert found == {width: {} for width in WIDTHS}, f"layout faults by width: {found}"
    assert violations == [], "axe-core: serious or critical accessibility violations"


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
