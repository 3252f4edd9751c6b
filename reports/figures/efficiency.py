"""Figures of the efficiency section, one pure function each.

Every builder reads only its part of ``EfficiencySection`` and returns a
``plotly.graph_objects.Figure``, or None when that part was not measured. Large arrays are
reduced for display (histogram counts, a CDF at most ``CDF_POINTS`` long); the result
keeps the raw samples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from harness.core.efficiency import BackendRun, Estimate, OpFlops, OpTime, Work
from harness.reports import format as fmt

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "CDF_POINTS",
    "HISTOGRAM_MAX_BINS",
    "LOG_SPREAD",
    "TOP_OPS",
    "axes_figure",
    "cdf_points",
    "cold_start_figure",
    "error_bars",
    "flops_by_op_figure",
    "histogram_edges",
    "latency_cdf_figure",
    "latency_histogram_figure",
    "memory_figure",
    "op_time_figure",
    "roofline_figure",
    "throughput_figure",
    "top_with_other",
]

CDF_POINTS = 500
HISTOGRAM_MAX_BINS = 100
LOG_SPREAD = 4.0  # max / min above which latency bins are log-spaced
TOP_OPS = 12
MIB = 1024**2
HEIGHT_PX = 360


def axes_figure(*traces: Any, x_title: str, y_title: str, **layout: Any) -> go.Figure:
    """A figure in the report's plain style: no heavy template, axis titles with units."""
    import plotly.graph_objects as go

    fig = go.Figure(data=list(traces))
    fig.update_layout(
        template="none",
        height=HEIGHT_PX,
        margin={"l": 70, "r": 20, "t": 20, "b": 60},
        font={"family": "system-ui, sans-serif", "size": 12},
        showlegend=len(traces) > 1,
        xaxis={"title": {"text": x_title}, "automargin": True},
        yaxis={"title": {"text": y_title}, "automargin": True},
    )
    fig.update_layout(**layout)
    return fig


def _label(run: BackendRun) -> str:
    return f"{run.backend}/{run.device}"


# --- latency ------------------------------------------------------------------------------


def _bin_count(values: np.ndarray) -> int:
    """Freedman-Diaconis (bin width 2 IQR / n^(1/3)), never fewer bins than the Rice rule
    (2 n^(1/3)) nor more than ``HISTOGRAM_MAX_BINS``."""
    n = values.size
    rice = int(np.ceil(2 * n ** (1 / 3)))
    q25, q75 = np.percentile(values, [25, 75])
    span = float(values.max() - values.min())
    width = 2 * float(q75 - q25) / n ** (1 / 3)
    fd = int(np.ceil(span / width)) if width > 0 else rice
    return max(1, min(HISTOGRAM_MAX_BINS, max(rice, fd)))


def histogram_edges(samples: np.ndarray) -> tuple[np.ndarray, bool]:
    """Bin edges over [min, max] and whether they are log-spaced: they are when the samples
    span more than ``LOG_SPREAD`` times, so that a long tail does not squeeze the bulk of the
    calls into a few bins."""
    low, high = float(samples.min()), float(samples.max())
    if high <= low:  # every sample equal: one bin around it
        return np.array([low - 0.5e-3, high + 0.5e-3]), False
    if low > 0 and high / low > LOG_SPREAD:
        logs = np.log(samples)
        edges = np.exp(np.linspace(logs.min(), logs.max(), _bin_count(logs) + 1))
        edges[0], edges[-1] = low, high  # exactly, or exp(log(x)) may drop the extremes
        return edges, True
    return np.linspace(low, high, _bin_count(samples) + 1), False


def latency_histogram_figure(run: BackendRun) -> go.Figure | None:
    """Counts of every timed call per latency bin, drawn as steps (exact on a log axis too);
    a vertical line at each of p50 and p99 that is sufficiently sampled."""
    import plotly.graph_objects as go

    samples = np.asarray(run.latency.samples_ms, dtype=np.float64)
    if samples.size == 0:
        return None
    edges, log_spaced = histogram_edges(samples)
    counts, _ = np.histogram(samples, bins=edges)
    # One point per edge: the step from edge i to i+1 is drawn at counts[i].
    steps = go.Scatter(
        x=edges,
        y=np.append(counts, counts[-1]),
        customdata=np.append(edges[1:], edges[-1]),
        mode="lines",
        line_shape="hv",
        fill="tozeroy",
        name="calls per bin",
        hovertemplate="%{x:.4g}–%{customdata:.4g} ms: %{y} calls<extra></extra>",
    )
    top = int(counts.max())
    marks = [
        go.Scatter(
            x=[estimate.value, estimate.value],
            y=[0, top],
            mode="lines",
            line={"dash": "dash"},
            name=f"{name} = {fmt.quantity(estimate.value, 'ms')}",
            hoverinfo="skip",
        )
        for name in ("p50", "p99")
        if (estimate := run.latency.percentiles_ms.get(name)) is not None
        and not estimate.insufficient
        and estimate.value is not None
    ]
    scale = " (log scale)" if log_spaced else ""
    return axes_figure(
        steps,
        *marks,
        x_title=f"latency per call (ms{scale})",
        y_title="calls per bin",
        xaxis_type="log" if log_spaced else "linear",
        yaxis={"rangemode": "tozero"},
    )


def cdf_points(samples: np.ndarray, max_points: int = CDF_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The empirical CDF (x sorted, y = rank / n), at most ``max_points`` evenly spaced ranks.

    The first and last samples are always kept, so the curve ends at (max, 1).
    """
    ordered = np.sort(samples)
    n = ordered.size
    ranks = np.unique(np.round(np.linspace(0, n - 1, min(n, max_points))).astype(np.int64))
    return ordered[ranks], (ranks + 1) / n


def latency_cdf_figure(run: BackendRun) -> go.Figure | None:
    """Fraction of calls at or under each latency; a log axis when they span > ``LOG_SPREAD``x."""
    import plotly.graph_objects as go

    samples = np.asarray(run.latency.samples_ms, dtype=np.float64)
    if samples.size == 0:
        return None
    x, y = cdf_points(samples)
    log_x = x[0] > 0 and x[-1] / x[0] > LOG_SPREAD
    line = go.Scatter(
        x=x,
        y=y,
        mode="lines",
        line_shape="hv",
        name=_label(run),
        hovertemplate="%{y:.1%} of calls ≤ %{x:.4g} ms<extra></extra>",
    )
    return axes_figure(
        line,
        x_title="latency per call (ms, log scale)" if log_x else "latency per call (ms)",
        y_title="fraction of calls ≤ latency",
        xaxis_type="log" if log_x else "linear",
        yaxis={"range": [0, 1.02], "tickformat": ".0%"},
    )


# --- throughput -------------------------------------------------------------------------------


def error_bars(estimates: list[Estimate]) -> tuple[list[float], list[float]]:
    plus, minus = [], []
    for e in estimates:
        value = e.value if e.value is not None else 0.0
        plus.append(e.ci_high - value if e.ci_high is not None else 0.0)
        minus.append(value - e.ci_low if e.ci_low is not None else 0.0)
    return plus, minus


def throughput_figure(run: BackendRun) -> go.Figure | None:
    """Samples per second against batch size (log2 axis), with each median's 95% CI."""
    import plotly.graph_objects as go

    if run.throughput is None:
        return None
    points = [p for p in run.throughput.points if p.samples_per_s.value is not None]
    if not points:
        return None
    batches = [p.batch_size for p in points]
    plus, minus = error_bars([p.samples_per_s for p in points])
    line = go.Scatter(
        x=batches,
        y=[p.samples_per_s.value for p in points],
        error_y={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
        mode="lines+markers",
        name=_label(run),
        hovertemplate="batch %{x}: %{y:.4g} samples/s<extra></extra>",
    )
    return axes_figure(
        line,
        x_title="batch size (log₂ scale)",
        y_title="throughput (samples/s)",
        xaxis={"type": "log", "tickvals": batches, "ticktext": [str(b) for b in batches]},
        yaxis={"rangemode": "tozero"},
    )


# --- memory and cold start ---------------------------------------------------------------------


def memory_figure(run: BackendRun) -> go.Figure | None:
    """Peak memory of each phase (above the baseline) beside the model's weights, in MiB."""
    import plotly.graph_objects as go

    memory = run.memory
    if memory is None:
        return None
    bars = {
        "weights": memory.weight_bytes,
        "baseline RSS": memory.baseline_rss_bytes,
        "session creation peak": memory.session_peak_bytes,
        "inference peak": memory.inference_peak_bytes,
    }
    if memory.gpu_peak_bytes is not None:
        bars["GPU peak"] = memory.gpu_peak_bytes
    values = [b / MIB for b in bars.values()]
    trace = go.Bar(
        x=list(bars),
        y=values,
        name=_label(run),
        hovertemplate="%{x}: %{y:.4g} MiB<extra></extra>",
    )
    return axes_figure(trace, x_title="what is measured", y_title="memory (MiB)")


def cold_start_figure(run: BackendRun) -> go.Figure | None:
    """Load, session creation and first call beside the steady-state median (log axis)."""
    import plotly.graph_objects as go

    cold = run.cold_start
    bars = {
        "load": cold.load_ms,
        "session creation": cold.session_ms,
        "first call": cold.first_call_ms,
    }
    p50 = run.latency.percentiles_ms.get("p50")
    if p50 is not None and p50.value is not None:
        bars["steady-state p50"] = p50.value
    trace = go.Bar(
        x=list(bars),
        y=list(bars.values()),
        name=_label(run),
        hovertemplate="%{x}: %{y:.4g} ms<extra></extra>",
    )
    return axes_figure(
        trace,
        x_title="phase of the first inference",
        y_title="time (ms, log scale)",
        yaxis_type="log",
    )


# --- where time and work go -------------------------------------------------------------------


def top_with_other(
    items: list[tuple[str, float]], top: int = TOP_OPS
) -> tuple[list[str], list[float]]:
    """The ``top`` largest (name, value) pairs, most first, and the rest summed as "other"."""
    ordered = sorted(items, key=lambda item: item[1], reverse=True)
    head, rest = ordered[:top], ordered[top:]
    names = [name for name, _ in head]
    values = [value for _, value in head]
    if rest:
        names.append(f"other ({len(rest)} op types)")
        values.append(sum(value for _, value in rest))
    return names, values


def _horizontal_bars(names: list[str], values: list[float], x_title: str, hover: str) -> go.Figure:
    import plotly.graph_objects as go

    trace = go.Bar(
        x=values, y=names, orientation="h", hovertemplate=hover + "<extra></extra>", name=""
    )
    height = max(HEIGHT_PX, 60 + 24 * len(names))
    return axes_figure(
        trace,
        x_title=x_title,
        y_title="op type",
        height=height,
        yaxis={"autorange": "reversed", "type": "category"},
    )


def op_time_figure(run: BackendRun) -> go.Figure | None:
    """Time per inference by op type, from onnxruntime's profiler: top 12 and the rest."""
    if run.op_profile is None or not run.op_profile.by_op:
        return None
    ops: tuple[OpTime, ...] = run.op_profile.by_op
    names, values = top_with_other([(op.op_type, op.mean_us) for op in ops])
    return _horizontal_bars(
        names, values, "time per inference (µs)", "%{y}: %{x:.4g} µs per inference"
    )


def flops_by_op_figure(work: Work | None) -> go.Figure | None:
    """FLOPs of one inference by op type: top 12 and the rest; None when the count is
    incomplete (its sums are a lower bound)."""
    if work is None or not work.complete or not work.by_op:
        return None
    ops: tuple[OpFlops, ...] = work.by_op
    names, values = top_with_other([(op.op_type, float(op.flops)) for op in ops])
    return _horizontal_bars(names, values, "FLOPs per inference", "%{y}: %{x:.4s} FLOPs")


def roofline_figure(run: BackendRun) -> go.Figure | None:
    """The achieved point under the machine's roofs, log-log.

    The compute roof is flat at the measured peak; with a measured bandwidth the memory
    roof rises as bandwidth x intensity up to the ridge point.
    """
    import plotly.graph_objects as go

    # A peak the model outran was measured low (under contention): a point above the roof
    # would mislead, so no figure; the report says the peak is unreliable in words.
    roof = run.roofline
    if roof is None or not roof.peak_reliable:
        return None
    anchors = [roof.arithmetic_intensity] + ([roof.ridge_intensity] if roof.ridge_intensity else [])
    positive = [a for a in anchors if a > 0] or [1.0]
    x = np.geomspace(min(positive) / 10, max(positive) * 10, 200)
    if roof.bandwidth_gbs:
        roof_y = np.minimum(roof.peak_gflops, roof.bandwidth_gbs * x)
        peak = fmt.si(roof.peak_gflops * 1e9, "FLOP/s")
        roof_name = f"roof: {fmt.number(roof.bandwidth_gbs)} GB/s, {peak}"
    else:
        roof_y = np.full_like(x, roof.peak_gflops)
        roof_name = f"compute roof: {fmt.si(roof.peak_gflops * 1e9, 'FLOP/s')}"
    roof_line = go.Scatter(
        x=x, y=roof_y, mode="lines", name=roof_name, hoverinfo="skip", line={"dash": "dash"}
    )
    achieved = go.Scatter(
        x=[roof.arithmetic_intensity],
        y=[roof.achieved_gflops],
        mode="markers",
        marker={"size": 12},
        name=f"{_label(run)}: {fmt.si(roof.achieved_gflops * 1e9, 'FLOP/s')}",
        hovertemplate="%{x:.4g} FLOP/byte, %{y:.4g} GFLOP/s<extra></extra>",
    )
    return axes_figure(
        roof_line,
        achieved,
        x_title="arithmetic intensity (FLOP/byte, log scale)",
        y_title="GFLOP/s (log scale)",
        xaxis_type="log",
        yaxis_type="log",
        legend={"orientation": "h", "y": -0.25},
    )
