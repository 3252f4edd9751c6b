"""A probe that opens one local HTML file in headless Chromium and records what a reader's
browser does with it: errors, requests leaving the file, Plotly figures, in-page links.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

__all__ = ["PageReport", "ReportProbe"]

_TIMEOUT_MS = 15_000
# What render.figure_html emits for each figure: Plotly's own container div.
_FIGURE_DIV = re.compile(r'<div id="([^"]+)" class="plotly-graph-div"')

# Per figure div: did Plotly take it (js-plotly-plot), and is its SVG there, with a width,
# holding at least one drawn trace (lines and bars are g.trace, heatmaps an <image>)?
_FIGURES_JS = """() => [...document.querySelectorAll('.plotly-graph-div')].map(div => {
  const svg = div.querySelector('.main-svg');
  return {
    id: div.id,
    plotted: div.classList.contains('js-plotly-plot'),
    width: svg ? svg.getBoundingClientRect().width : 0,
    drawn: div.querySelectorAll('g.trace, .plot image, .hm image').length,
  };
})"""
_OPEN_DETAILS_JS = "() => document.querySelectorAll('details').forEach(d => { d.open = true; })"
_BROKEN_ANCHORS_JS = """() => [...document.querySelectorAll('a[href^="#"]')]
  .map(a => decodeURIComponent(a.getAttribute('href').slice(1)))
  .filter(id => !document.getElementById(id))"""
_TOC_LINKS_JS = "() => document.querySelectorAll('nav.toc a[href^=\"#\"]').length"


@dataclass
class PageReport:
    """What one report did in the browser; every list is empty for a healthy report."""

    url: str
    errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    declared_figures: list[str] = field(default_factory=list)
    rendered_figures: list[str] = field(default_factory=list)
    unrendered_figures: list[str] = field(default_factory=list)
    toc_links: int = 0
    broken_anchors: list[str] = field(default_factory=list)


class ReportProbe:
    """Opens local HTML files in a fresh page, blocking every request but the file."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self._url = ""
        self._errors: list[str] = []
        self._external: list[str] = []
        page.set_default_timeout(_TIMEOUT_MS)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self._errors.append(f"pageerror: {exc}"))
        page.route("**/*", self._route)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self._errors.append(f"console.error: {message.text}")

    def _route(self, route: Route) -> None:
        url = route.request.url
        if url == self._url or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self._external.append(url)
            route.abort()

    def open(self, path: Path, figure_timeout_ms: int = _TIMEOUT_MS) -> PageReport:
        """Load ``path``, wait up to ``figure_timeout_ms`` for its figures, open every
        <details>, and measure."""
        html = path.read_text(encoding="utf-8")
        self._url = path.resolve().as_uri()
        self._errors.clear()
        self._external.clear()
        declared = _FIGURE_DIV.findall(html)
        self.page.goto(self._url, wait_until="load")
        self._wait_for_plots(len(declared), figure_timeout_ms)
        # Figures in folded sections must have rendered too: measure them unfolded, as a
        # reader would see them, without any resize event to help Plotly along.
        self.page.evaluate(_OPEN_DETAILS_JS)
        figures = self.page.evaluate(_FIGURES_JS)
        report = PageReport(url=self._url, declared_figures=declared)
        for figure in figures:
            ok = figure["plotted"] and figure["width"] > 0 and figure["drawn"] > 0
            (report.rendered_figures if ok else report.unrendered_figures).append(figure["id"])
        report.toc_links = self.page.evaluate(_TOC_LINKS_JS)
        report.broken_anchors = self.page.evaluate(_BROKEN_ANCHORS_JS)
        report.errors = list(self._errors)
        report.external_requests = list(self._external)
        return report

    def _wait_for_plots(self, expected: int, timeout_ms: int) -> None:
        """Give Plotly time to draw ``expected`` figures; the caller asserts the count."""
        # Fewer figures drawn is no error here: the test's count assertion says which.
        with contextlib.suppress(PlaywrightTimeoutError):
            self.page.wait_for_function(
                "n => [...document.querySelectorAll('.plotly-graph-div')]"
                ".filter(div => div.querySelector('.main-svg')).length >= n",
                arg=expected,
                timeout=timeout_ms,
            )

    def screenshot(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(target), full_page=True)
        return target
