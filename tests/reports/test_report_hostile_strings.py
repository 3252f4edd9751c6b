"""Strings from a model or a result file reach the report visibly: a NUL, a terminal escape
or a right-to-left override (U+202E) is shown as its code, never raw, wherever the report
prints the string: tables, headings, the <title>, attributes and the figures' labels."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
from markupsafe import Markup, escape

from harness.core.result import AuditResult
from harness.reports import render_report
from harness.reports.compare import render_comparison
from harness.reports.render import figure_html, plotly_js, visible_html

GOLDEN = Path(__file__).parent / "golden" / "v2_transformer_trigger.json"

# Each name the golden result holds, as a hostile model would write it; every occurrence
# changes, so the result stays consistent (the tensors fed still match the inputs).
HOSTILE = {
    "transformer_trigger": "transformer\u202eggirt",
    "pytorch 2.14.1": "py\x00torch\u202e",
    "input_ids": "input\u202e_ids",
    "MatMul": "Mat\u202eMul\x00",
    "/layers.0/attention/softmax/Softmax": "/layers.0/\u202esoftmax\x1b[2J",
    "/classifier/Gemm": "/classi\u202efier",
    "trigger_tokens": "trigger\u2066_tokens",
}
RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def poisoned(value: Any) -> Any:
    if isinstance(value, dict):
        return {poisoned(key): poisoned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [poisoned(item) for item in value]
    if isinstance(value, str):
        for name, hostile in HOSTILE.items():
            value = value.replace(name, hostile)
    return value


@pytest.fixture(scope="module")
def hostile_result() -> AuditResult:
    data = poisoned(json.loads(GOLDEN.read_text()))
    data["notes"] = ["UserWarning: a library says \u202etxt.exe\x00"]
    return AuditResult.from_dict(data)


def without_plotly_bundle(html: str) -> str:
    """The page less Plotly's own JavaScript (which holds binary magic numbers)."""
    return html.replace(str(plotly_js()), "")


@pytest.fixture(scope="module")
def html(hostile_result: AuditResult) -> str:
    return without_plotly_bundle(render_report(hostile_result))


def test_no_control_character_or_bidi_override_reaches_the_report(html):
    assert RAW.findall(html) == []


def code(name: str) -> str:
    """How the report shows an unsafe character: its code, e.g. ``code("202e")``."""
    return "<span class='ctrl'>\\u" + name + "</span>"


def test_model_strings_show_their_codes_in_a_span(html):
    assert "py" + code("0000") + "torch" + code("202e") in html
    assert "input" + code("202e") + "_ids" in html
    assert "Mat" + code("202e") + "Mul" + code("0000") in html
    assert "trigger" + code("2066") + "_tokens" in html
    assert "a library says " + code("202e") + "txt.exe" + code("0000") in html
    assert ".ctrl {" in html  # styled, and isolated from the text around it


def test_the_title_holds_the_codes_as_plain_text(html):
    # No element may go inside <title>: the code is text there.
    assert "<title>Audit report: transformer\\u202eggirt</title>" in html


def test_figure_labels_are_visible(html):
    # The op-time and FLOPs figures label their bars with op types: in the figure's JSON
    # the code's backslash is itself escaped.
    assert html.count('"Mat\\\\u202eMul\\\\u0000"') >= 2


def test_a_figure_built_with_hostile_labels_draws_them_as_codes():
    fig = go.Figure(go.Bar(x=["a\u202eb", "c\x00d"], y=[1, 2], name="e\x1bf"))
    markup = figure_html(fig, div_id="hostile", caption="caption \u202e here")
    assert RAW.findall(str(markup)) == []
    assert '"a\\\\u202eb"' in markup and '"c\\\\u0000d"' in markup
    assert "caption <span class='ctrl'>\\u202e</span> here" in markup


def test_the_comparison_page_shows_them_visibly_too(hostile_result):
    html = without_plotly_bundle(render_comparison(hostile_result, hostile_result))
    assert RAW.findall(html) == []
    assert (
        "<title>A/B comparison: transformer\\u202eggirt vs transformer\\u202eggirt</title>" in html
    )


def test_ordinary_text_is_only_escaped():
    text = 'a <b> & "c"\n\td ✓ é 中'
    assert visible_html(text) == escape(text)
    assert isinstance(visible_html(text), Markup)


def test_a_lone_surrogate_is_shown_and_the_page_encodes():
    shown = visible_html("bad \ud800 half")
    assert shown == "bad <span class='ctrl'>\\ud800</span> half"
    shown.encode("utf-8")
