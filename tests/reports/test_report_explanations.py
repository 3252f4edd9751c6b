"""The explanations page: the scorecard beside chance, sanity verdicts, attributions per
modality, figures from the result alone with Plotly inlined once, names escaped."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from markupsafe import escape

from harness.core.explanations import (
    Agreement,
    Curve,
    ExplanationsSection,
    GroundTruthScore,
    MethodResult,
    MetricScore,
    SampleAttribution,
    SampleInput,
    SanityCheck,
)
from harness.core.result import StageSection
from harness.core.twin import ConversionReport, OutputParity, ParityCheck, PreparationStep
from harness.reports import render_report
from harness.reports.figures import explanations as figs
from harness.reports.format import arrow, attribution_colour, number, rank_shade
from harness.reports.render import explanations_figures
from harness.reports.vocabulary import load_vocabulary
from tests.reports.test_report_render import StructureChecker, make_result, section

HOSTILE = "<script>alert(1)</script>"
PLOTLY_MARKER = "* plotly.js v"
SCRIPT_SRC = re.compile(r"<script[^>]*\ssrc\s*=", re.IGNORECASE)
METHODS = ("IntegratedGradients", "GuidedBackprop", HOSTILE)
METRICS = (  # name, higher_is_better
    ("infidelity", False),
    ("faithfulness_correlation", True),
    ("sparseness", True),
)
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
SHAPES = {"image": (4, 5), "tokens": (6,), "vector": (3,)}
LAYER = '"><img src=x onerror=alert(2)>'  # a model-provided layer name


# --- a hand-built, fully populated section ---------------------------------------------------


def attribution(index: int, sample: int, shape: tuple[int, ...]) -> SampleAttribution:
    size = int(np.prod(shape))
    values = tuple(float(v) for v in np.linspace(-1.0, 1.0, size) * (index + 1) + 0.1 * sample)
    return SampleAttribution(sample, target=sample % 3, shape=shape, values=values,
                             original_shape=shape)  # fmt: skip


def metrics(index: int) -> tuple[MetricScore, ...]:
    out = []
    for k, (name, higher) in enumerate(METRICS):
        value: float | None = 0.1 * (index + 1) + k
        params: dict[str, str | int | float] = {"samples": 2}
        if name == "infidelity" and index == 2:
            value, params = None, {"skipped": "needs a forward pass per noise draw"}
        out.append(MetricScore(name, value, higher, params, per_sample=(0.1, 0.2)))
    return tuple(out)


def curves(index: int, scale: float = 1.0) -> tuple[Curve, ...]:
    falling = tuple(scale * (1 - f) ** (index + 1) for f in FRACTIONS)
    rising = tuple(scale * f ** (1 / (index + 1)) for f in FRACTIONS)
    return (
        Curve("deletion", FRACTIONS, falling, auc=0.2 * (index + 1)),
        Curve("insertion", FRACTIONS, rising, auc=0.8 - 0.1 * index),
    )


def method(index: int, name: str, modality: str) -> MethodResult:
    passed = name != "GuidedBackprop"
    correlations = (0.6, 0.3, 0.1) if passed else (0.98, 0.95, 0.93)
    return MethodResult(
        name=name,
        status="ok",
        backend="twin",
        parameters={"n_steps": 32, "internal_batch_size": 16},
        seconds=0.5 * (index + 1),
        metrics=metrics(index),
        curves=curves(index),
        sanity=SanityCheck(
            layers=(LAYER, "/conv1/Conv", "/fc/Gemm"),
            correlations=correlations,
            final_correlation=correlations[-1],
            threshold=0.5,
            passed=passed,
        ),
        ground_truth=GroundTruthScore(auroc=0.9 - 0.1 * index, top_k_precision=0.7, samples=2),
        attributions=tuple(attribution(index, s, SHAPES[modality]) for s in (0, 3)),
    )


def random_baseline() -> MethodResult:
    return MethodResult(
        name="random",
        status="ok",
        parameters={"seed": 0},
        seconds=0.01,
        metrics=tuple(MetricScore(n, 0.05, h, {"samples": 2}) for n, h in METRICS),
        curves=curves(0, scale=0.5),
        ground_truth=GroundTruthScore(auroc=0.5, top_k_precision=0.2, samples=2),
    )


def conversion() -> ConversionReport:
    return ConversionReport(
        status="converted",
        reason=None,
        rtol=1e-3,
        atol=1e-5,
        steps=(PreparationStep("fold_constants", "folded constant subgraphs", 4),),
        parity=(
            ParityCheck(
                {"pixel_values": (1, 3, 4, 5)},
                (OutputParity("logits", 2e-6, 3e-5, True), OutputParity(HOSTILE, 0.1, 0.2, False)),
            ),
        ),
        custom_converters=("Gelu-20",),
    )


def make_section(modality: str, **overrides: Any) -> ExplanationsSection:
    rho = ((1.0, 0.4, -0.2), (0.4, 1.0, 0.1), (-0.2, 0.1, 1.0))
    overlap = ((1.0, 0.5, 0.25), (0.5, 1.0, 0.4), (0.25, 0.4, 1.0))
    fields: dict[str, Any] = {
        "status": "ok",
        "modality": modality,
        "samples": 2,
        "target": "the predicted class per sample",
        "baseline": "zeros",
        "batching": {"internal_batch_size": 16, "perturbations_per_eval": 8},
        "conversion": conversion(),
        "methods": (
            *(method(i, name, modality) for i, name in enumerate(METHODS)),
            MethodResult("Lime", "skipped", reason="does not apply to token ids"),
            MethodResult("DeepLift", "failed", reason="onnx2torch lacks LSTM"),
        ),
        "random_baseline": random_baseline(),
        "agreement": Agreement(METHODS, rho, overlap, top_k_fraction=0.1),
    }
    fields.update(overrides)
    return ExplanationsSection(**fields)


@pytest.fixture(scope="module", params=["image", "tokens", "vector"])
def modality(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def html(modality: str) -> str:
    return render_report(make_result(explanations=make_section(modality)))


@pytest.fixture(scope="module")
def own(html: str) -> str:
    return section(html, "stage-explanations")


def expected_figures(modality: str) -> list[str]:
    names = ["deletion", "insertion", "agreement", "ground-truth", "sanity"]
    if modality != "tokens":
        names.append("attributions")
    return sorted(f"explanations-{n}" for n in names)


# --- the page as a whole --------------------------------------------------------------------


def test_figures_are_present_with_captions(html: str, modality: str) -> None:
    ids = re.findall(r'<figure id="fig-(explanations-[\w-]+)">', html)
    assert sorted(ids) == expected_figures(modality)
    assert html.count("<figcaption>") == len(ids)


def test_plotly_js_is_inlined_exactly_once_in_head(html: str) -> None:
    assert html.count(PLOTLY_MARKER) == 1
    assert PLOTLY_MARKER in html[: html.index("</head>")]
    assert not SCRIPT_SRC.search(html)


def test_structure_stays_balanced(html: str) -> None:
    checker = StructureChecker()
    checker.feed(html)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []


def test_hostile_names_are_escaped(html: str) -> None:
    assert HOSTILE not in html
    assert LAYER not in html
    assert str(escape(HOSTILE)) in html
    assert str(escape(LAYER)) in html


def test_summary_line_and_conversion(own: str, modality: str) -> None:
    assert f"<code>{modality}</code> inputs" in own
    assert "2 samples &middot; target: the predicted class per sample" in own
    assert "baseline: zeros" in own
    assert "internal_batch_size: <code>16</code>" in own
    assert "perturbations_per_eval: <code>8</code>" in own
    assert "ONNX-to-PyTorch conversion" in own
    assert "rtol = 0.001, atol = 1×10⁻⁵" in own
    assert "<code>pixel_values=1x3x4x5</code>" in own
    assert "<code>fold_constants</code>" in own
    assert "<code>Gelu-20</code>" in own


# --- the scorecard --------------------------------------------------------------------------


def scorecard_html(own: str) -> str:
    start = own.index('<table class="scorecard"')
    return own[start : own.index("</table>", start)]


def test_scorecard_shows_every_method_and_metric_with_direction(own: str) -> None:
    card = scorecard_html(own)
    for name in METHODS:
        assert f'<th scope="row">{escape(name)}</th>' in card
    for name, higher in METRICS:
        assert f"<code>{name}</code> {arrow(higher)}" in card
    assert "random (random baseline)" in card
    assert "(random 0.05)" in card


def test_none_metric_shows_its_reason(own: str) -> None:
    assert "n/a (needs a forward pass per noise draw)" in scorecard_html(own)


def test_scorecard_ranks_take_the_direction_into_account() -> None:
    card = figs.scorecard(make_section("vector"))
    assert card is not None
    infidelity = [row.cells[0] for row in card.rows]  # lower is better
    assert [c.rank for c in infidelity] == [1, 2, None]
    assert infidelity[0].shade == rank_shade(1, 2)
    sparseness = [row.cells[2] for row in card.rows]  # higher is better
    assert [c.rank for c in sparseness] == [3, 2, 1]
    assert all(c.random == 0.05 for c in sparseness)
    assert [c.beats_random for c in infidelity] == [False, False, None]
    assert card.baseline is not None and card.baseline.method == "random"


# --- verdicts, tables -----------------------------------------------------------------------


def test_mprt_failure_is_flagged(own: str) -> None:
    warnings = own[own.index('<ul class="warnings">') :]
    warnings = warnings[: warnings.index("</ul>")]
    assert "<strong>GuidedBackprop</strong> fails the randomisation sanity check" in warnings
    assert "IntegratedGradients</strong> fails" not in warnings
    assert '<span class="status status-failed">failed</span>: fails the randomisation' in own
    assert own.count('<span class="status status-ok">passed</span>') == 2
    assert '<td class="num">0.93</td>' in own  # GuidedBackprop's final correlation


def test_ground_truth_table(own: str) -> None:
    assert "<h3>Ground truth</h3>" in own
    assert '<td class="num">0.9</td><td class="num">0.7</td>' in own
    assert "random (random baseline)" in own


def test_skipped_and_failed_methods_with_reasons(own: str) -> None:
    assert "does not apply to token ids" in own
    assert "onnx2torch lacks LSTM" in own
    assert '<span class="status status-skipped">skipped</span>' in own


def test_method_parameters_are_folded(own: str) -> None:
    assert own.count('<details class="method">') == len(METHODS) + 1  # and the random one
    assert "<code>n_steps</code></th><td><code>32</code>" in own
    assert "skipped=needs a forward pass per noise draw" in own


def test_token_table_cells_are_present_and_coloured() -> None:
    sec = make_section("tokens")
    own = section(render_report(make_result(explanations=sec)), "stage-explanations")
    assert own.count('<table class="tokens"') == 2  # samples 0 and 3
    for sample in (0, 3):
        assert f"<strong>Sample {sample}</strong>" in own
    # One colour scale per sample, across methods: the largest |value| of any of them
    # (the third method's values are three times the first's).
    values = sec.methods[0].attributions[0].values
    scale = max(abs(v) for m in sec.methods[:3] for v in m.attributions[0].values)
    assert scale == pytest.approx(3 * max(abs(v) for v in values))
    for position, value in enumerate(values):
        # No input ids stored in this section: tokens are labelled by their positions.
        cell = (
            f'<td class="token" style="background: {attribution_colour(value, scale)}" '
            f'title="position {position}, #{position}: {number(value)}">#{position}</td>'
        )
        assert cell in own
    assert f"−{number(scale)}" in own and f"+{number(scale)}" in own  # the colour bar
    assert f'<th scope="row">{escape(HOSTILE)}</th>' in own


def token_section() -> ExplanationsSection:
    ids = (101, 7, 2, 102, 0, 0)
    shown = SampleInput(0, (6,), tuple(float(i) for i in ids), (6,), label=1)
    return make_section("tokens", inputs=(shown,))


def test_token_ids_are_shown_when_the_result_holds_the_input() -> None:
    own = section(render_report(make_result(explanations=token_section())), "stage-explanations")
    assert ">101</td>" in own and ">102</td>" in own and ", label 1" in own
    assert "give <code>--vocab FILE</code> for their strings" in own


def test_an_input_that_is_not_token_ids_labels_tokens_by_position() -> None:
    embeddings = SampleInput(0, (6, 2), tuple(0.5 * i for i in range(12)), (6, 2))
    sec = make_section("tokens", inputs=(embeddings,))
    table = figs.token_table(sec)
    assert table is not None and table[0].token_ids is None
    own = section(render_report(make_result(explanations=sec)), "stage-explanations")
    assert ">#0</td>" in own and ">#5</td>" in own


def test_a_vocabulary_turns_token_ids_into_strings(tmp_path) -> None:
    path = tmp_path / "vocab.txt"
    lines = ["[PAD]", "", "the", "<b>", "", "", "", "cat"] + [f"t{i}" for i in range(8, 103)]
    lines[101], lines[102] = "[CLS]", "[SEP]"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    vocabulary = load_vocabulary(path)
    assert vocabulary.text(7) == "cat" and vocabulary.text(5000) is None

    html = render_report(make_result(explanations=token_section()), vocabulary)

    own = section(html, "stage-explanations")
    for token in ("[CLS]", "cat", "the", "[SEP]", "[PAD]"):
        assert f">{token}</td>" in own
    assert "&lt;b&gt;" not in own  # id 3 is not in the sample; nothing else leaks in
    assert "strings from <code>vocab.txt</code>" in own


def test_token_table_is_cut_at_the_limit() -> None:
    long = SampleAttribution(0, 1, (300,), tuple(float(i) for i in range(300)), (300,))
    sec = make_section("tokens", methods=(MethodResult("Occlusion", "ok", attributions=(long,)),))
    table = figs.token_table(sec)
    assert table is not None and len(table[0].positions) == figs.TOKEN_LIMIT
    assert table[0].total_tokens == 300
    assert table[0].scale == figs.TOKEN_LIMIT - 1
    own = section(render_report(make_result(explanations=sec)), "stage-explanations")
    assert f"(first {figs.TOKEN_LIMIT} of 300 tokens)" in own


# --- skipped, failed, empty -----------------------------------------------------------------


@pytest.mark.parametrize(
    "section_",
    [
        ExplanationsSection("skipped", "skipped by --skip explanations"),
        ExplanationsSection("failed", "worker crashed: exit code -9"),
        StageSection("failed", "the old section type"),
        ExplanationsSection("ok"),
    ],
)
def test_no_figures_no_plotly(section_: ExplanationsSection) -> None:
    html = render_report(make_result(explanations=section_))
    assert "<figure" not in html
    assert "<script" not in html.lower()
    own = section(html, "stage-explanations")
    assert f"status-{section_.status}" in own
    assert str(escape(section_.reason or "—")) in own
    assert explanations_figures(section_) == {}


def test_skipped_section_shows_nothing_else() -> None:
    html = render_report(make_result(explanations=make_section("image", status="skipped")))
    own = section(html, "stage-explanations")
    assert "Scorecard" not in own
    assert "<figure" not in html


# --- figure builders ------------------------------------------------------------------------


def test_image_heatmaps_hold_the_reshaped_values() -> None:
    sec = make_section("image")
    fig = figs.image_attributions_figure(sec)
    assert fig is not None
    assert len(fig.data) == 2 * len(METHODS)  # rows = samples, columns = methods
    first = sec.methods[0].attributions[0]
    expected = np.asarray(first.values).reshape(first.shape)
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), expected)
    last = sec.methods[2].attributions[1]
    np.testing.assert_array_equal(
        np.asarray(fig.data[-1].z), np.asarray(last.values).reshape(last.shape)
    )
    # Column titles name the methods once; rows are labelled by their sample.
    assert [a.text for a in fig.layout.annotations] == [escape(m) for m in METHODS]
    assert fig.layout.yaxis.title.text == "sample 0"


def test_image_maps_of_a_sample_share_one_symmetric_scale() -> None:
    sec = make_section("image")
    fig = figs.image_attributions_figure(sec)
    assert fig is not None
    for row in range(2):  # samples 0 and 3
        axis = fig.layout[f"coloraxis{row + 1 if row else ''}"]
        largest = max(abs(v) for m in sec.methods[:3] for v in m.attributions[row].values)
        assert (axis.cmin, axis.cmid, axis.cmax) == (-largest, 0.0, largest)
        assert axis.colorbar.title.text == "attribution"
        traces = [t for t in fig.data if t.coloraxis == f"coloraxis{row + 1 if row else ''}"]
        assert len(traces) == len(METHODS)  # every method of that sample on that scale


def test_image_input_is_shown_beside_its_maps() -> None:
    pixels = tuple(float(v) for v in range(20))
    shown = SampleInput(0, (4, 5), pixels, (1, 4, 5), label=7)
    sec = make_section("image", inputs=(shown,))
    fig = figs.image_attributions_figure(sec)
    assert fig is not None
    assert fig.layout.annotations[0].text == "input"
    inputs = [t for t in fig.data if t.name == "input"]
    assert len(inputs) == 1  # sample 3's input is not stored: its cell stays empty
    np.testing.assert_array_equal(np.asarray(inputs[0].z), np.reshape(pixels, (4, 5)))
    assert fig.layout.yaxis.title.text == "sample 0, label 7"


def test_image_channels_are_summed() -> None:
    values = tuple(float(v) for v in range(2 * 3 * 4))
    sample = SampleAttribution(0, 0, (2, 3, 4), values, (2, 3, 4))
    sec = make_section("image", methods=(MethodResult("Saliency", "ok", attributions=(sample,)),))
    fig = figs.image_attributions_figure(sec)
    assert fig is not None
    expected = np.asarray(values).reshape(2, 3, 4).sum(axis=0)
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), expected)


def test_image_samples_are_capped() -> None:
    many = tuple(attribution(0, s, (2, 2)) for s in range(7))
    sec = make_section("image", methods=(MethodResult("Saliency", "ok", attributions=many),))
    assert figs.displayed_samples(sec) == tuple(range(figs.MAX_SAMPLES))


def test_vector_bars_per_feature() -> None:
    sec = make_section("vector")
    fig = figs.vector_attributions_figure(sec)
    assert fig is not None and fig.layout.barmode == "group"
    assert len(fig.data) == 2 * len(METHODS)
    first = sec.methods[0].attributions[0]
    assert list(fig.data[0].x) == [0, 1, 2]
    np.testing.assert_array_equal(np.asarray(fig.data[0].y), first.values)
    assert [t.showlegend for t in fig.data] == [True] * 3 + [False] * 3


@pytest.mark.parametrize("name", ["deletion", "insertion"])
def test_curves_match_the_result(name: str) -> None:
    sec = make_section("image")
    fig = figs.curve_figure(sec, name)  # type: ignore[arg-type]
    assert fig is not None
    assert len(fig.data) == len(METHODS) + 1
    for trace, m in zip(fig.data, [*sec.methods[:3], sec.random_baseline], strict=True):
        assert m is not None
        curve = next(c for c in m.curves if c.name == name)
        assert tuple(trace.x) == curve.fractions
        assert tuple(trace.y) == curve.scores
    assert fig.data[-1].line.dash == "dash"
    auc = next(c.auc for c in sec.methods[0].curves if c.name == name)
    assert fig.data[0].name == f"IntegratedGradients (AUC {auc:.3g})"


def test_agreement_heatmap_holds_the_matrix() -> None:
    sec = make_section("image")
    fig = figs.agreement_figure(sec)
    assert fig is not None and sec.agreement is not None
    assert [tuple(row) for row in fig.data[0].z] == list(sec.agreement.spearman)
    assert fig.data[0].texttemplate == "%{z:.2f}"
    assert list(fig.data[0].x) == ["IntegratedGradients", "GuidedBackprop", str(escape(HOSTILE))]


def test_ground_truth_bars_with_the_random_line() -> None:
    fig = figs.ground_truth_figure(make_section("image"))
    assert fig is not None
    assert list(fig.data[0].y) == pytest.approx([0.9, 0.8, 0.7])
    assert fig.layout.shapes[0].y0 == 0.5


def test_sanity_lines_with_the_threshold() -> None:
    fig = figs.sanity_figure(make_section("image"))
    assert fig is not None
    assert [tuple(t.y) for t in fig.data][1] == (0.98, 0.95, 0.93)
    assert list(fig.data[0].x) == [1, 2, 3]  # steps numbered, layer names kept out
    assert "fails" in fig.data[1].name
    assert fig.layout.shapes[0].y0 == 0.5


def test_builders_return_none_without_data() -> None:
    bare = ExplanationsSection("ok", modality="image", methods=(MethodResult("Saliency", "ok"),))
    assert figs.image_attributions_figure(bare) is None
    assert figs.vector_attributions_figure(bare) is None
    assert figs.token_table(bare) is None
    assert figs.curve_figure(bare, "deletion") is None
    assert figs.agreement_figure(bare) is None
    assert figs.ground_truth_figure(bare) is None
    assert figs.sanity_figure(bare) is None
    assert figs.scorecard(bare) is None
    assert explanations_figures(bare) == {}


# --- formatters -----------------------------------------------------------------------------


def test_attribution_colour() -> None:
    # At most 0.6 opaque, so that dark text on the cell keeps a 4.5:1 contrast.
    assert attribution_colour(1.0, 2.0) == "rgba(214, 39, 40, 0.30)"
    assert attribution_colour(-2.0, 2.0) == "rgba(31, 119, 180, 0.60)"
    assert attribution_colour(0.5, 0.0) == "rgba(0, 0, 0, 0)"
    assert attribution_colour(float("nan"), 1.0) == "rgba(0, 0, 0, 0)"


def test_rank_shade() -> None:
    assert rank_shade(1, 1) is None
    assert rank_shade(1, 3) == "hsl(130, 70%, 88%)"
    assert rank_shade(2, 3) == "hsl(65, 70%, 88%)"
    assert rank_shade(3, 3) == "hsl(0, 70%, 88%)"
    assert (arrow(True), arrow(False)) == ("↑", "↓")
