"""The efficiency page: figures from the result alone, Plotly inlined once, numbers with CIs."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from markupsafe import escape

from harness.core.efficiency import (
    BackendRun,
    ColdStart,
    EfficiencySection,
    Estimate,
    LatencyStats,
    MemoryPeaks,
    NodeFlops,
    NodeTime,
    OpFlops,
    OpProfile,
    OpTime,
    Roofline,
    Throughput,
    ThroughputPoint,
    Work,
)
from harness.core.result import AuditResult
from harness.reports import render_report
from harness.reports.figures import efficiency as figs
from harness.reports.format import ci, estimate, percent, ratio, sig4
from harness.reports.render import efficiency_figures, figure_html, plotly_js
from tests.reports.test_report_render import StructureChecker, make_result, section

BREAKOUT = "</script><script>alert(1)</script>"
MIN_SAMPLES = {"p50": 10, "p90": 64, "p95": 130, "p99": 662}
PLOTLY_MARKER = "* plotly.js v"  # the bundle's licence header, once per copy
SCRIPT_SRC = re.compile(r"<script[^>]*\ssrc\s*=", re.IGNORECASE)


# --- a hand-built, fully populated section ---------------------------------------------------


def latency_samples(n: int, seed: int) -> tuple[float, ...]:
    rng = np.random.default_rng(seed)
    return tuple(float(x) for x in rng.lognormal(mean=np.log(2.0), sigma=0.15, size=n))


def estimate_of(value: float | None, n: int, min_samples: int) -> Estimate:
    if n < min_samples or value is None:
        return Estimate(None, None, None, insufficient=True, min_samples=min_samples)
    return Estimate(value, value * 0.97, value * 1.04, insufficient=False, min_samples=min_samples)


def make_latency(samples: tuple[float, ...], batch_size: int = 1) -> LatencyStats:
    array = np.asarray(samples)
    n = array.size
    percentiles = {
        name: estimate_of(float(np.percentile(array, int(name[1:]))), n, need)
        for name, need in MIN_SAMPLES.items()
    }
    std = float(array.std(ddof=1)) if n > 1 else 0.0
    return LatencyStats(
        batch_size=batch_size,
        n=n,
        min_ms=float(array.min()),
        mean_ms=float(array.mean()),
        std_ms=std,
        cv=std / float(array.mean()),
        max_ms=float(array.max()),
        percentiles_ms=percentiles,
        warmup_calls=25,
        warmup_settled=n >= 500,
        sampling_seconds=float(array.sum() / 1e3),
        stopped_because="ci within target" if n >= 500 else "time limit",
        target_ci_rel_width=0.02,
        samples_ms=samples,
    )


OP_TYPES = (
    "Conv", "Relu", "MaxPool", "Gemm", "Add", "Mul", "Reshape", "Transpose",
    "Softmax", "BatchNormalization", "Concat", "Flatten", "Sigmoid", "Tanh", BREAKOUT,
)  # fmt: skip


def make_op_profile() -> OpProfile:
    times = [400.0 / (i + 1) for i in range(len(OP_TYPES))]
    total = sum(times)
    return OpProfile(
        runs=10,
        by_op=tuple(
            OpTime(op, count=i + 1, mean_us=t, share=t / total)
            for i, (op, t) in enumerate(zip(OP_TYPES, times, strict=True))
        ),
        slowest_nodes=(
            NodeTime("/conv1/Conv", "Conv", 250.0),
            NodeTime(BREAKOUT, "Relu", 120.0),
        ),
    )


def make_throughput() -> Throughput:
    points = []
    for batch in (1, 2, 4, 8):
        p50_ms = 2.0 + 0.8 * batch
        points.append(
            ThroughputPoint(
                batch_size=batch,
                samples_per_s=Estimate(
                    batch / p50_ms * 1e3,
                    batch / (p50_ms * 1.05) * 1e3,
                    batch / (p50_ms * 0.97) * 1e3,
                    insufficient=False,
                    min_samples=10,
                ),
                latency_p50_ms=p50_ms,
                n=200,
            )
        )
    return Throughput(points=tuple(points), best_batch_size=8, stopped_because="budget limit")


def make_run(n: int = 700, seed: int = 0, **overrides: Any) -> BackendRun:
    latency = make_latency(latency_samples(n, seed))
    fields: dict[str, Any] = {
        "backend": "onnxruntime",
        "device": "cpu",
        "settings": {
            "runtime": "onnxruntime 1.18.1",
            "intra_op_threads": "2",
            "graph_optimization_level": "ORT_ENABLE_ALL",
        },
        "cold_start": ColdStart(load_ms=35.5, session_ms=12.25, first_call_ms=9.5),
        "latency": latency,
        "throughput": make_throughput(),
        "memory": MemoryPeaks(
            method="vmhwm",
            baseline_rss_bytes=200 * 1024**2,
            session_peak_bytes=6 * 1024**2,
            inference_peak_bytes=3 * 1024**2,
            weight_bytes=1024**2,
        ),
        "roofline": Roofline(
            peak_gflops=150.0,
            peak_matmul_size=1024,
            bandwidth_gbs=20.0,
            achieved_gflops=4.5,
            percent_of_peak=3.0,
            arithmetic_intensity=2.5,
            ridge_intensity=7.5,
        ),
        "op_profile": make_op_profile(),
    }
    fields.update(overrides)
    return BackendRun(**fields)


def make_work() -> Work:
    return Work(
        batch_size=1,
        flops=9_000_000,
        macs=4_500_000,
        by_op=(
            OpFlops("Conv", 2, 8_000_000, 4_000_000),
            OpFlops("Gemm", 1, 990_000, 495_000),
            OpFlops(BREAKOUT, 1, 10_000, 5_000),
        ),
        top_nodes=(NodeFlops("/conv2/Conv", "Conv", 6_000_000), NodeFlops(BREAKOUT, "Conv", 1)),
        uncounted_ops=("Reshape", "Flatten"),
        weight_bytes=1024**2,
        activation_bytes=2_551_808,
        arithmetic_intensity=2.5,
    )


def make_efficiency() -> EfficiencySection:
    """Two runs: 700 samples (p99 sufficient, everything measured) and 100 samples (p99
    insufficient; no throughput, memory or op profile; roofline without bandwidth)."""
    short = make_run(
        n=100,
        seed=1,
        backend="torch",
        settings={"runtime": "torch 2.3.1 eager", "intra_op_threads": "2"},
        cold_start=ColdStart(load_ms=80.0, session_ms=0.0, first_call_ms=15.0),
        throughput=None,
        memory=None,
        roofline=Roofline(150.0, 1024, None, 3.0, 2.0, 2.5, None),
        op_profile=None,
    )
    return EfficiencySection(
        status="ok",
        budget="quick",
        isolation="subprocess",
        runs=(make_run(), short),
        work=make_work(),
        not_measured={"onnxruntime/cuda": "skipped: no CUDA device"},
    )


EXPECTED_FIGURES = [
    *(
        f"run0-{name}"
        for name in (
            "latency-histogram",
            "latency-cdf",
            "cold-start",
            "throughput",
            "memory",
            "roofline",
            "op-time",
        )
    ),
    *(f"run1-{name}" for name in ("latency-histogram", "latency-cdf", "cold-start", "roofline")),
    "work-flops",
]


@pytest.fixture(scope="module")
def efficiency() -> EfficiencySection:
    return make_efficiency()


@pytest.fixture(scope="module")
def html(efficiency: EfficiencySection) -> str:
    return render_report(make_result(efficiency=efficiency))


def run_block(html: str, index: int) -> str:
    start = html.index(f'id="efficiency-run{index}"')
    return html[start : html.index("</details>", start)]


def percentile_row(block: str, name: str) -> str:
    table = block[block.index('<table class="percentiles"') :]
    start = table.index(f"<td>{name}</td>")
    return table[start : table.index("</tr>", start)]


# --- the page as a whole ----------------------------------------------------------------------


def test_plotly_js_is_inlined_exactly_once_in_head(html: str) -> None:
    assert html.count(PLOTLY_MARKER) == 1
    head = html[: html.index("</head>")]
    assert PLOTLY_MARKER in head
    assert not SCRIPT_SRC.search(html)
    assert "<link" not in html.lower()
    # The bundle mentions the CDN once as data; the page adds no reference of its own.
    assert html.count("cdn.plot.ly") == plotly_js().count("cdn.plot.ly")


def test_every_expected_figure_is_present_with_a_caption(html: str) -> None:
    ids = re.findall(r'<figure id="fig-([\w-]+)">', html)
    assert ids == EXPECTED_FIGURES
    assert html.count("<figcaption>") == len(EXPECTED_FIGURES)
    # One script per figure plus the bundle's.
    assert html.count("<script>") == len(EXPECTED_FIGURES) + 1
    assert html.count("</script>") == len(EXPECTED_FIGURES) + 1


def test_structure_stays_balanced_with_figures(html: str) -> None:
    checker = StructureChecker()
    checker.feed(html)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []


def test_rendering_is_deterministic_and_rerenders_from_json(efficiency: EfficiencySection) -> None:
    result = make_result(efficiency=efficiency)
    first = render_report(result)
    assert render_report(result) == first
    assert render_report(AuditResult.from_json(result.to_json())) == first


def test_report_size_stays_well_under_10_mb(html: str) -> None:
    assert len(html.encode()) < 7 * 1024**2


def test_many_samples_do_not_grow_the_page(efficiency: EfficiencySection) -> None:
    big = make_run(n=200_000, seed=3)
    section_big = EfficiencySection("ok", runs=(big,), work=make_work())
    small = len(render_report(make_result(efficiency=EfficiencySection("ok", runs=(make_run(),)))))
    large = len(render_report(make_result(efficiency=section_big)))
    assert large - small < 100_000


# --- skipped and failed --------------------------------------------------------------------


def test_import_reports_leaves_plotly_and_numpy_unloaded() -> None:
    code = (
        "import sys, harness.reports; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'plotly', 'numpy'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "section_",
    [
        EfficiencySection("skipped", "not implemented"),
        EfficiencySection("failed", "worker crashed: exit code -9"),
        EfficiencySection("ok"),
    ],
)
def test_no_figures_no_plotly(section_: EfficiencySection) -> None:
    html = render_report(make_result(efficiency=section_))
    assert "<figure" not in html
    assert "<script" not in html.lower()
    assert PLOTLY_MARKER not in html
    own = section(html, "stage-efficiency")
    assert f"status-{section_.status}" in own
    assert str(escape(section_.reason or "—")) in own


def test_skipped_section_lists_what_was_not_measured() -> None:
    html = render_report(
        make_result(
            efficiency=EfficiencySection(
                "skipped", "skipped by --skip", not_measured={"torch/cuda": "no CUDA device"}
            )
        )
    )
    assert "<li><code>torch/cuda</code>: no CUDA device</li>" in html


# --- numbers ----------------------------------------------------------------------------------


def test_settings_line(html: str) -> None:
    block = run_block(html, 0)
    assert "<code>onnxruntime</code> on <code>cpu</code>" in block
    assert "intra_op_threads: <code>2</code>" in block
    assert "graph_optimization_level: <code>ORT_ENABLE_ALL</code>" in block
    assert "<code>torch</code> on <code>cpu</code>" in run_block(html, 1)


def test_percentiles_with_their_confidence_intervals(
    html: str, efficiency: EfficiencySection
) -> None:
    block = run_block(html, 0)
    for name, est in efficiency.runs[0].latency.percentiles_ms.items():
        assert not est.insufficient
        row = percentile_row(block, name)
        assert f'<td class="num">{sig4(est.value)}</td>' in row
        assert f"[{sig4(est.ci_low)}, {sig4(est.ci_high)}]" in row


def test_insufficient_percentile_is_never_a_number(
    html: str, efficiency: EfficiencySection
) -> None:
    block = run_block(html, 1)
    row = percentile_row(block, "p99")
    assert "insufficient (n &lt; 662)" in row
    assert "[" not in row  # no interval either
    raw_p99 = np.percentile(efficiency.runs[1].latency.samples_ms, 99)
    assert sig4(float(raw_p99)) not in block
    # p90 needs 64 samples and has 100: a number.
    assert "insufficient" not in percentile_row(block, "p90")


def test_latency_summary(html: str, efficiency: EfficiencySection) -> None:
    block = run_block(html, 0)
    lat = efficiency.runs[0].latency
    assert "700 in" in block
    assert f"{sig4(lat.min_ms)} / {sig4(lat.mean_ms)} / {sig4(lat.max_ms)} ms" in block
    assert f"({percent(lat.cv)})" in block
    assert "25 calls;\n    the running median settled" in block
    assert "ci within target (target: median CI within 2.0% of the median)" in block
    assert "stopped at its bound before the running median settled" in run_block(html, 1)


def test_cold_start_throughput_memory_roofline(html: str) -> None:
    block = run_block(html, 0)
    assert '<th scope="row">Model load</th><td class="num">35.5 ms</td>' in block
    assert '<th scope="row">Session creation</th><td class="num">12.25 ms</td>' in block
    assert '<td class="num">8 (best)</td>' in block
    assert "Best batch size: <strong>8</strong>" in block
    assert "The sweep stopped: budget limit." in block
    assert "6.0 MiB (6,291,456 bytes) above baseline" in block
    assert "Peak inference memory is <strong>3×</strong> the weights." in block
    assert "4.5 GFLOP/s (3.0% of peak)" in block
    assert "150 GFLOP/s (float32 1024×1024 matmul)" in block
    assert "the model is\n    memory-bound on this machine" in block
    short = run_block(html, 1)
    assert short.count("Not measured.") == 2  # throughput, memory
    assert "Not profiled." in short
    assert "<td>not measured</td>" in short  # bandwidth


def test_op_time_and_work_tables(html: str) -> None:
    block = run_block(html, 0)
    assert "onnxruntime's profiler over 10 inferences." in block
    assert (
        '<td><code>/conv1/Conv</code></td><td><code>Conv</code></td><td class="num">250</td>'
        in block
    )
    own = section(html, "stage-efficiency")
    assert "9 MFLOPs (9,000,000)" in own  # SI prefix for the work, the exact count beside
    assert "4.5 MMACs (4,500,000)" in own
    assert '<td class="num">88.9%</td>' in own  # Conv's share of FLOPs
    assert "<code>Reshape</code>, <code>Flatten</code>" in own
    assert "<li><code>onnxruntime/cuda</code>: skipped: no CUDA device</li>" in own


def test_node_names_cannot_break_out_of_a_script(html: str) -> None:
    assert "<script>alert(1)" not in html
    assert BREAKOUT not in html
    # Shown as text in the tables, and still present (escaped) in the figures' data.
    assert str(escape(BREAKOUT)) in html
    assert "\\u003cscript\\u003ealert(1)" in html


def test_figure_html_escapes_the_caption_and_keeps_scripts_closed() -> None:
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=[BREAKOUT], y=[1]), layout={"title": {"text": BREAKOUT}})
    fragment = str(figure_html(fig, div_id="t", caption=BREAKOUT))
    assert fragment.count("<script>") == 1 and fragment.count("</script>") == 1
    assert "<script>alert" not in fragment
    assert fragment.startswith('<figure id="fig-t">') and fragment.endswith("</figure>")
    assert f"<figcaption>{escape(BREAKOUT)}</figcaption>" in fragment


def test_efficiency_figures_only_for_an_ok_section(efficiency: EfficiencySection) -> None:
    assert list(efficiency_figures(efficiency)) == EXPECTED_FIGURES
    assert efficiency_figures(EfficiencySection("failed", "boom", runs=efficiency.runs)) == {}


# --- the figure builders as pure functions ----------------------------------------------------


def histogram_counts(fig: Any) -> np.ndarray:
    """The per-bin counts of a histogram figure: its step trace, less the closing point."""
    return np.asarray(fig.data[0].y)[:-1]


def test_histogram_counts_every_sample(efficiency: EfficiencySection) -> None:
    for run in efficiency.runs:
        fig = figs.latency_histogram_figure(run)
        assert fig is not None
        counts = histogram_counts(fig)
        assert counts.sum() == run.latency.n
        assert len(counts) <= figs.HISTOGRAM_MAX_BINS
        edges = np.asarray(fig.data[0].x)
        assert edges[0] == run.latency.min_ms and edges[-1] == run.latency.max_ms
        assert fig.layout.xaxis.title.text == "latency per call (ms)"  # a narrow spread


def test_a_long_tail_gets_log_spaced_bins() -> None:
    bulk = latency_samples(700, seed=5)
    run = with_samples(make_run(), (*bulk, 40.0, 80.0))  # two calls 20-40x the median
    fig = figs.latency_histogram_figure(run)
    assert fig is not None
    edges = np.asarray(fig.data[0].x)
    assert np.allclose(edges[1:] / edges[:-1], edges[1] / edges[0])  # geometric
    assert (edges[0], edges[-1]) == (min(run.latency.samples_ms), 80.0)
    assert fig.layout.xaxis.type == "log"
    counts = histogram_counts(fig)
    assert counts.sum() == 702
    assert counts.max() < 700 / 2  # the bulk spreads over several bins
    cdf = figs.latency_cdf_figure(run)
    assert cdf is not None and cdf.layout.xaxis.type == "log"


def test_histogram_marks_only_sufficient_percentiles(efficiency: EfficiencySection) -> None:
    long_fig = figs.latency_histogram_figure(efficiency.runs[0])
    short_fig = figs.latency_histogram_figure(efficiency.runs[1])
    assert long_fig is not None and short_fig is not None
    p99 = efficiency.runs[0].latency.percentiles_ms["p99"].value
    marks = {trace.name.split(" ")[0]: trace for trace in long_fig.data[1:]}
    assert set(marks) == {"p50", "p99"}
    assert list(marks["p99"].x) == [p99, p99]
    assert [trace.name.split(" ")[0] for trace in short_fig.data[1:]] == ["p50"]


def with_samples(run: BackendRun, samples: tuple[float, ...]) -> BackendRun:
    return dataclasses.replace(run, latency=dataclasses.replace(run.latency, samples_ms=samples))


def test_histogram_of_identical_samples() -> None:
    fig = figs.latency_histogram_figure(with_samples(make_run(), (1.5,) * 50))
    assert fig is not None
    assert histogram_counts(fig).sum() == 50


@pytest.mark.parametrize("n", [1, 100, 700, 20_000])
def test_cdf_is_monotone_ends_at_one_and_is_downsampled(n: int) -> None:
    run = make_run(n=n, seed=n)
    fig = figs.latency_cdf_figure(run)
    assert fig is not None
    x, y = np.asarray(fig.data[0].x), np.asarray(fig.data[0].y)
    assert len(x) == len(y) <= figs.CDF_POINTS
    assert len(x) == min(n, figs.CDF_POINTS)
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) > 0)
    assert y[-1] == 1.0
    assert x[0] == min(run.latency.samples_ms) and x[-1] == max(run.latency.samples_ms)
    assert np.all((y > 0) & (y <= 1))


def test_no_samples_no_latency_figures() -> None:
    run = with_samples(make_run(), ())
    assert figs.latency_histogram_figure(run) is None
    assert figs.latency_cdf_figure(run) is None


def test_throughput_error_bars_are_the_estimates_ci(efficiency: EfficiencySection) -> None:
    run = efficiency.runs[0]
    assert run.throughput is not None
    fig = figs.throughput_figure(run)
    assert fig is not None
    trace = fig.data[0]
    points = run.throughput.points
    assert list(trace.x) == [p.batch_size for p in points]
    assert list(trace.y) == [p.samples_per_s.value for p in points]
    for p, plus, minus in zip(points, trace.error_y.array, trace.error_y.arrayminus, strict=True):
        est = p.samples_per_s
        assert est.value is not None and est.ci_low is not None and est.ci_high is not None
        assert plus == pytest.approx(est.ci_high - est.value)
        assert minus == pytest.approx(est.value - est.ci_low)
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.yaxis.title.text == "throughput (samples/s)"


def test_roofline_point_is_the_sections_numbers(efficiency: EfficiencySection) -> None:
    for run in efficiency.runs:
        roof = run.roofline
        assert roof is not None
        fig = figs.roofline_figure(run)
        assert fig is not None
        roof_line, point = fig.data
        assert list(point.x) == [roof.arithmetic_intensity]
        assert list(point.y) == [roof.achieved_gflops]
        roof_y = np.asarray(roof_line.y)
        assert roof_y.max() == pytest.approx(roof.peak_gflops)
        if roof.bandwidth_gbs is None:
            assert np.all(roof_y == roof.peak_gflops)
        else:  # the memory slope below the ridge
            x = np.asarray(roof_line.x)
            below = x < roof.peak_gflops / roof.bandwidth_gbs
            assert np.allclose(roof_y[below], roof.bandwidth_gbs * x[below])
        assert (fig.layout.xaxis.type, fig.layout.yaxis.type) == ("log", "log")


def test_op_time_keeps_the_top_twelve_and_sums_the_rest(efficiency: EfficiencySection) -> None:
    run = efficiency.runs[0]
    assert run.op_profile is not None
    fig = figs.op_time_figure(run)
    assert fig is not None
    names, values = list(fig.data[0].y), list(fig.data[0].x)
    ops = run.op_profile.by_op
    assert names[:12] == [op.op_type for op in ops[:12]]
    assert names[12] == "other (3 op types)"
    assert values[12] == pytest.approx(sum(op.mean_us for op in ops[12:]))
    assert sum(values) == pytest.approx(sum(op.mean_us for op in ops))


def test_flops_memory_and_cold_start_figures(efficiency: EfficiencySection) -> None:
    work = efficiency.work
    assert work is not None
    flops = figs.flops_by_op_figure(work)
    assert flops is not None
    assert list(flops.data[0].x) == [op.flops for op in work.by_op]
    memory = figs.memory_figure(efficiency.runs[0])
    assert memory is not None
    assert list(memory.data[0].y) == [1.0, 200.0, 6.0, 3.0]
    assert memory.layout.yaxis.title.text == "memory (MiB)"
    cold = figs.cold_start_figure(efficiency.runs[0])
    assert cold is not None
    p50 = efficiency.runs[0].latency.percentiles_ms["p50"].value
    assert list(cold.data[0].y) == [35.5, 12.25, 9.5, p50]


def test_absent_data_gives_no_figure(efficiency: EfficiencySection) -> None:
    short = efficiency.runs[1]
    assert figs.throughput_figure(short) is None
    assert figs.memory_figure(short) is None
    assert figs.op_time_figure(short) is None
    assert figs.flops_by_op_figure(None) is None
    assert figs.roofline_figure(make_run(roofline=None)) is None


# --- formatters -------------------------------------------------------------------------------


def test_estimate_and_ci_text() -> None:
    sufficient = Estimate(2.0, 1.5, 2.25, insufficient=False, min_samples=64)
    insufficient = Estimate(None, None, None, insufficient=True, min_samples=662)
    assert (estimate(sufficient), ci(sufficient)) == ("2", "[1.5, 2.25]")
    assert (estimate(insufficient), ci(insufficient)) == ("insufficient (n < 662)", "—")
    assert ci(Estimate(2.0, None, None, insufficient=False, min_samples=1)) == "—"


def test_percent_and_ratio() -> None:
    assert percent(0.1234) == "12.3%"
    assert percent(None) == "—"
    assert ratio(3.1, 1.0) == "3.1×"
    assert ratio(1.0, 0) == "—"
