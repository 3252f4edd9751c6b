"""Layout and accessibility measured on a page already open in Chromium (``ReportProbe``).

What a reader would see as broken, from bounding boxes rather than from the HTML:

- overflow: an element reaching past the page's right edge that no scroll container
  (an ancestor with ``overflow-x: auto | scroll``) holds, or a page wider than its window;
- squeezed cells: a table cell whose content box is narrower than its longest word (the
  word then breaks mid-way, "Severi / ty"), measured with the cell's own font;
- overlaps: two titles or controls of one figure (subplot titles, the figure title, axis
  titles, legend, dropdown menus) whose boxes intersect, as the sample dropdown once
  covered "head 0";
- unlabelled figures: a ``<figure>`` without a caption (its title), or a Plotly figure
  whose x or y axes show tick labels with no axis title anywhere in that direction, or a
  colour bar without a title (what the colour measures);
- accessibility: axe-core's serious and critical violations (``axe-playwright-python``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

__all__ = ["LayoutReport", "measure_layout", "serious_accessibility_violations"]

SERIOUS = ("serious", "critical")

_LAYOUT_JS = r"""() => {
  const EPS = 1.5;
  const width = document.documentElement.clientWidth;
  const describe = el => {
    const id = el.id ? '#' + el.id : '';
    const cls = el.classList && el.classList.length ? '.' + [...el.classList].join('.') : '';
    const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
    return `${el.tagName.toLowerCase()}${id}${cls} "${text}"`;
  };
  const scrolls = el => {
    const style = getComputedStyle(el);
    return ['auto', 'scroll'].includes(style.overflowX) || style.overflowX === 'hidden';
  };
  const visible = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };

  // 1. overflow past the right edge, outside any scroll container
  const overflowing = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
    if (!visible(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.right <= width + EPS && r.left >= -EPS) continue;
    if (r.right <= 0) continue;  // parked off-screen on purpose (Plotly's text tester)
    let held = false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (scrolls(a)) { held = true; break; }
    }
    if (!held) overflowing.push(describe(el));
  }
  const pageTooWide = document.documentElement.scrollWidth > width + EPS;

  // 2. table cells narrower than their longest word
  const canvas = document.createElement('canvas').getContext('2d');
  const squeezed = [];
  for (const cell of document.querySelectorAll('td, th')) {
    if (!visible(cell)) continue;
    const words = (cell.innerText || '').split(/\s+/).filter(Boolean);
    if (!words.length) continue;
    const style = getComputedStyle(cell);
    let longest = 0, word = '';
    // each word measured in the font of the element that holds it (code, small, strong)
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const holder = node.parentElement;
      if (!visible(holder)) continue;
      const hs = getComputedStyle(holder);
      canvas.font = `${hs.fontStyle} ${hs.fontWeight} ${hs.fontSize} ${hs.fontFamily}`;
      for (const w of node.textContent.split(/\s+/).filter(Boolean)) {
        const m = canvas.measureText(w).width;
        if (m > longest) { longest = m; word = w; }
      }
    }
    const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    const content = cell.clientWidth - padding;
    if (longest > content + 2) {
      const need = `needs ${Math.ceil(longest)} px, has ${Math.floor(content)}`;
      squeezed.push(`${describe(cell)}: "${word}" ${need}`);
    }
  }

  // 3. overlapping titles and controls within each figure
  const overlaps = [];
  const boxesOf = div => {
    const sel = ['.annotation', '.gtitle', '.g-xtitle', '.g-ytitle', '.g-x2title', '.g-y2title',
                 '.legend', '.updatemenu-header-group', '.cbtitle'];
    const out = [];
    for (const el of div.querySelectorAll(sel.join(','))) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) out.push([el, r]);
    }
    // axis titles beyond the first of each kind have classes like g-x3title
    const numbered = '[class^="g-x"][class$="title"], [class^="g-y"][class$="title"]';
    for (const el of div.querySelectorAll(numbered)) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && !out.some(([e]) => e === el)) out.push([el, r]);
    }
    return out;
  };
  // Tick labels, each on its own: checked against the titles and controls, not each other
  // (neighbouring labels of one axis may touch).
  const ticksOf = div => [...div.querySelectorAll('.xtick text, .ytick text')]
    .map(el => [el, el.getBoundingClientRect()]).filter(([, r]) => r.width > 0 && r.height > 0);
  const label = el =>
    (el.getAttribute('class') || '') + ' "' + (el.textContent || '').trim().slice(0, 30) + '"';
  for (const div of document.querySelectorAll('.plotly-graph-div')) {
    const boxes = boxesOf(div);
    const pairs = [];
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) pairs.push([boxes[i], boxes[j]]);
    }
    for (const tick of ticksOf(div)) for (const box of boxes) pairs.push([tick, box]);
    {
      for (const [[a, ra], [b, rb]] of pairs) {
        if (a.contains(b) || b.contains(a)) continue;
        const x = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
        const y = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
        if (x > EPS && y > EPS) overlaps.push(`${div.id}: ${label(a)} overlaps ${label(b)}`);
      }
    }
  }

  // 4. figures: a caption, axis titles where ticks are labelled, colour bars titled
  const unlabelled = [];
  for (const fig of document.querySelectorAll('figure')) {
    const caption = fig.querySelector('figcaption');
    if (!caption || !caption.textContent.trim()) unlabelled.push(`${describe(fig)}: no caption`);
  }
  for (const div of document.querySelectorAll('.plotly-graph-div')) {
    const layout = div._fullLayout;
    if (!layout) { unlabelled.push(`${div.id}: not plotted`); continue; }
    for (const dir of ['x', 'y']) {
      // Titles from the figure's own layout: the full layout fills in a placeholder
      // ("Click to enter X axis title") that is never drawn.
      const keys = Object.keys(layout).filter(k => new RegExp(`^${dir}axis\\d*$`).test(k))
        .filter(k => layout[k].visible !== false);
      const ticked = keys.filter(k => layout[k].showticklabels && (layout[k]._vals || []).length);
      const titleOf = k => {
        const title = (div.layout[k] || {}).title;
        return (typeof title === 'string' ? title : (title || {}).text || '').trim();
      };
      const titled = keys.filter(titleOf);
      if (ticked.length && !titled.length) {
        unlabelled.push(`${div.id}: ${dir} axes without a title`);
      }
    }
    const barTitle = bar => ((bar || {}).title || {}).text || '';
    (div.data || []).forEach((trace, i) => {
      const shown = (div._fullData[i] || {}).showscale;
      if (shown && !barTitle(trace.colorbar).trim()) {
        unlabelled.push(`${div.id}: a colour bar without a title`);
      }
    });
    for (const key of Object.keys(layout).filter(k => /^coloraxis\d*$/.test(k))) {
      if (layout[key].showscale && !barTitle((div.layout[key] || {}).colorbar).trim()) {
        unlabelled.push(`${div.id}: ${key} without a colour bar title`);
      }
    }
  }
  return {overflowing, pageTooWide, squeezed, overlaps, unlabelled};
}"""


@dataclass
class LayoutReport:
    """What is out of place on one page at one width; every list empty when it is right."""

    width: int
    overflowing: list[str] = field(default_factory=list)
    page_too_wide: bool = False
    squeezed: list[str] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)


def measure_layout(page: Page) -> LayoutReport:
    """Measure the page as it is now (open its <details> first to measure everything)."""
    found: dict[str, Any] = page.evaluate(_LAYOUT_JS)
    return LayoutReport(
        width=page.viewport_size["width"] if page.viewport_size else 0,
        overflowing=found["overflowing"],
        page_too_wide=found["pageTooWide"],
        squeezed=found["squeezed"],
        overlaps=found["overlaps"],
        unlabelled=found["unlabelled"],
    )


def serious_accessibility_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']}; e.g. {v['nodes'][0]['target']}"
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]
