"""Figures of the A/B comparison: one backend run of A and the same run of B, overlaid.

Pure functions from two ``BackendRun``s to a Plotly figure, or None when neither side has
the data. Traces are named "A" and "B" only: no model-provided string goes into a figure
(the page's header names the models, escaped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.core.efficiency import BackendRun
from harness.reports.figures.efficiency import axes_figure, error_bars, histogram_edges

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["SIDE_COLOURS", "latency_overlay_figure", "throughput_overlay_figure"]

SIDE_COLOURS = {"A": "#4c78a8", "B": "#f58518"}


def latency_overlay_figure(base: BackendRun, current: BackendRun) -> go.Figure | None:
    """The share of each side's calls per latency bin, over bins common to both (log-spaced
    on a log axis when the calls span more than ``LOG_SPREAD``x), drawn as steps; a dashed
    line at each side's median. Every sample is counted; only the bin heights are drawn."""
    import plotly.graph_objects as go

    sides = {
        label: np.asarray(run.latency.samples_ms, dtype=np.float64)
        for label, run in (("A", base), ("B", current))
    }
    sides = {label: samples for label, samples in sides.items() if samples.size}
    if not sides:
        return None
    edges, log_spaced = histogram_edges(np.concatenate(list(sides.values())))
    traces = []
    for label, samples in sides.items():
        counts, _ = np.histogram(samples, bins=edges)
        share = counts / samples.size
        traces.append(
            go.Scatter(
                x=edges,
                y=np.append(share, share[-1]),
                customdata=np.append(edges[1:], edges[-1]),
                mode="lines",
                line={"shape": "hv", "color": SIDE_COLOURS[label]},
                name=f"{label} ({samples.size} calls)",
                hovertemplate=f"{label}: %{{x:.4g}}–%{{customdata:.4g}} ms: "
                "%{y:.1%} of calls<extra></extra>",
            )
        )
    medians = [
        {
            "type": "line", "xref": "x", "yref": "paper", "x0": median, "x1": median,
            "y0": 0, "y1": 1, "line": {"color": SIDE_COLOURS[label], "dash": "dash", "width": 1},
        }
        for label, median in ((label, float(np.median(s))) for label, s in sides.items())
    ]  # fmt: skip
    return axes_figure(
        *traces,
        x_title="latency per call (ms, log scale)" if log_spaced else "latency per call (ms)",
        y_title="share of calls per bin",
        xaxis_type="log" if log_spaced else "linear",
        yaxis={"rangemode": "tozero", "tickformat": ".0%"},
        shapes=medians,
        showlegend=True,
    )


def throughput_overlay_figure(base: BackendRun, current: BackendRun) -> go.Figure | None:
    """Samples per second against batch size for A and B (log2 axis), with each median's
    95% CI; None when neither side swept batch sizes."""
    import plotly.graph_objects as go

    traces = []
    ticks: set[int] = set()
    for label, run in (("A", base), ("B", current)):
        points = run.throughput.points if run.throughput is not None else ()
        points = tuple(p for p in points if p.samples_per_s.value is not None)
        if not points:
            continue
        batches = [p.batch_size for p in points]
        ticks.update(batches)
        plus, minus = error_bars([p.samples_per_s for p in points])
        traces.append(
            go.Scatter(
                x=batches,
                y=[p.samples_per_s.value for p in points],
                error_y={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
                mode="lines+markers",
                line={"color": SIDE_COLOURS[label]},
                name=label,
                hovertemplate=f"{label}, batch %{{x}}: %{{y:.4g}} samples/s<extra></extra>",
            )
        )
    if not traces:
        return None
    tickvals = sorted(ticks)
    return axes_figure(
        *traces,
        x_title="batch size (log₂ scale)",
        y_title="throughput (samples/s)",
        xaxis={"type": "log", "tickvals": tickvals, "ticktext": [str(b) for b in tickvals]},
        yaxis={"rangemode": "tozero"},
        showlegend=True,
    )
