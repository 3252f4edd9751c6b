"""The attention page: figures from the result alone, tables beside them, flags, escaping."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from markupsafe import escape

from harness.core.attention import AttentionSection
from harness.core.result import AuditResult
from harness.reports import render_report
from harness.reports.figures import attention as figs
from harness.reports.render import attention_figures
from tests.core.test_core_attention_schema import full_section
from tests.reports.test_report_render import StructureChecker, make_result, section

HOSTILE = "</script><script>alert(1)</script>"
PLOTLY_MARKER = "* plotly.js v"


@pytest.fixture(scope="module")
def result() -> AuditResult:
    return make_result(attention=full_section(layer_name=HOSTILE))


@pytest.fixture(scope="module")
def html(result: AuditResult) -> str:
    return render_report(result)


@pytest.fixture(scope="module")
def page(html: str) -> str:
    return section(html, "stage-attention")


def test_every_figure_is_built_with_a_caption(result: AuditResult) -> None:
    figures = attention_figures(result.attention)
    keys = ["maps-0", "maps-1", "entropy", "rollout", "importance"]
    assert sorted(figures) == sorted(f"attention-{key}" for key in keys)
    for key, markup in figures.items():
        assert markup.startswith(f'<figure id="fig-{key}">') and "<figcaption>" in markup


def test_figures_are_on_the_page_with_plotly_inlined_once(html: str, page: str) -> None:
    assert html.count(PLOTLY_MARKER) == 1
    for key in ("maps-0", "maps-1", "entropy", "rollout", "importance"):
        assert page.count(f'id="fig-attention-{key}"') == 1


def test_structure_stays_balanced(html: str) -> None:
    checker = StructureChecker()
    checker.feed(html)
    checker.close()
    assert checker.errors == [] and checker.stack == []


def test_model_provided_names_are_escaped_and_kept_out_of_figures(
    result: AuditResult, html: str, page: str
) -> None:
    assert HOSTILE not in html
    assert str(escape(HOSTILE)) in page
    for layer in range(2):
        fig = figs.layer_maps_figure(result.attention, layer)
        assert fig is not None and "alert" not in fig.to_json()


def test_every_figure_has_its_numbers_in_a_table(page: str) -> None:
    assert "Checks per layer" in page and "max diff 1.7×10⁻⁷" in page
    assert '<td class="num">0.42</td>' in page  # entropy of layer 0, head 0
    assert "Rollout of sample 0" in page and "relevant" in page
    assert "Head importance" in page and "dominant" in page and "redundant" in page
    assert "Attention AUROC" in page and "0.97" in page


def test_padding_that_gets_attention_is_flagged(page: str) -> None:
    assert "Padding gets attention in layer 1" in page
    assert "up to 30.0% of its attention on padded keys" in page
    assert "Padding gets attention in layer 0" not in page


def test_a_cut_sample_and_what_was_not_done_are_said(page: str) -> None:
    assert "Sample 2 has 80 tokens; its maps show the first 3." in page
    assert "Samples: captured 4 of 8 samples" in page
    assert "maps of at most 64 tokens per sample" in page
    assert "com.microsoft.Attention ×1" in page


def test_maps_figure_switches_samples_with_a_dropdown(result: AuditResult) -> None:
    fig = figs.layer_maps_figure(result.attention, 0)
    assert fig is not None
    assert [trace.type for trace in fig.data] == ["heatmap", "heatmap"]
    assert list(fig.data[0].x) == ["0:18", "1:1", "2:36"]
    (menu,) = fig.layout.updatemenus
    labels = [button.label for button in menu.buttons]
    assert labels == ["sample 0", "sample 2, first 3 of 80 tokens"]
    second = menu.buttons[1].args[0]
    assert second["x"][0] == ["0:5", "1:2", "2:9"] and second["z"][0][0][0] == 0.1


def test_entropy_grid_and_importance_bars(result: AuditResult) -> None:
    grid = figs.entropy_grid_figure(result.attention)
    assert grid is not None
    assert [list(row) for row in grid.data[0].z] == [[0.42, 0.91], [0.42, 0.91]]
    bars = figs.head_importance_figure(result.attention)
    assert bars is not None
    assert list(bars.data[0].x) == ["L0 H0", "L0 H1", "L1 H0", "L1 H1"]
    colours = list(bars.data[0].marker.color)
    assert colours[0] != colours[1] != colours[2]


def test_rollout_bars_mark_the_ground_truth(result: AuditResult) -> None:
    fig = figs.rollout_figure(result.attention)
    assert fig is not None
    assert list(fig.data[0].y) == [0.2, 0.5, 0.3]
    colours = list(fig.data[0].marker.color)
    assert colours[1] != colours[0] == colours[2]
    assert not fig.layout.updatemenus  # only one sample has a rollout


def test_a_skipped_section_has_no_figures_and_no_plotly() -> None:
    skipped = AttentionSection(
        "skipped", "fused attention (com.microsoft.Attention ×2)", fused_ops=("x ×2",)
    )
    assert attention_figures(skipped) == {}
    html = render_report(make_result(attention=skipped))
    assert PLOTLY_MARKER not in html
    page = section(html, "stage-attention")
    assert "fused attention (com.microsoft.Attention ×2)" in page
    assert "Checks per layer" not in page


def test_a_section_without_ablation_or_display_renders(result: AuditResult) -> None:
    bare = replace(result.attention, ablation=None, display=(), rollout=None, ground_truth=None)
    assert sorted(attention_figures(bare)) == ["attention-entropy"]
    page = section(render_report(replace(result, attention=bare)), "stage-attention")
    assert "Head importance" not in page and "Attention maps" not in page


def test_the_page_rerenders_identically_from_its_json(result: AuditResult, html: str) -> None:
    back = AuditResult.from_dict(json.loads(result.to_json()))
    assert render_report(back) == html
