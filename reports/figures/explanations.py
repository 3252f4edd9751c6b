"""Figures and tables of the explanations section, one pure function each.

Plotly builders read only ``ExplanationsSection`` and return a ``plotly.graph_objects.Figure``
or None when the section lacks that part: attribution maps (images) and bars (vectors), the
deletion and insertion curves, the agreement matrix, ground-truth AUROC and the
randomisation sanity check. Two parts are HTML tables rather than figures, built here as
plain data for the templates: the scorecard (cells shaded by rank, the metric's direction
taken into account) and the token highlights.

Method names go into figures HTML-escaped, so that Plotly's pseudo-HTML shows them as text;
layer names (model-provided) never do: cascade steps are numbered and the page's table
names the layers. Plotly and numpy are imported inside the builders.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from harness.core.explanations import (
    ExplanationsSection,
    MethodResult,
    MetricScore,
    SampleAttribution,
    SampleInput,
)
from harness.reports import format as fmt
from harness.reports.format import rank_shade

if TYPE_CHECKING:
    import numpy as np
    import plotly.graph_objects as go

__all__ = [
    "MAX_SAMPLES",
    "TOKEN_LIMIT",
    "ScoreCell",
    "ScoreColumn",
    "Scorecard",
    "ScorecardRow",
    "TokenRow",
    "TokenSample",
    "agreement_figure",
    "attribution_map",
    "curve_figure",
    "displayed_samples",
    "ground_truth_figure",
    "image_attributions_figure",
    "sample_scale",
    "sanity_figure",
    "scorecard",
    "token_table",
    "vector_attributions_figure",
]

MAX_SAMPLES = 4  # display samples per attribution view
TOKEN_LIMIT = 128  # token positions shown per sample
PANEL_PX = 220  # most height of one attribution map
PAGE_PX = 1000  # about the width a figure gets on the page
HEIGHT_PX = 360
_FONT = {"family": "system-ui, sans-serif", "size": 12}
_PALETTE = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2",
    "#eeca3b", "#9d755d", "#ff9da6", "#bab0ac", "#17becf", "#bcbd22",
)  # fmt: skip
_RANDOM_COLOUR = "#6e7781"
_DIVERGING = "RdBu_r"  # red positive, blue negative


def _text(name: str) -> str:
    """``name`` for Plotly's pseudo-HTML text: shown as written, never as markup."""
    return html.escape(name, quote=False)


def _colour(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


def _layout(fig: go.Figure, **layout: Any) -> go.Figure:
    fig.update_layout(
        template="none",
        height=HEIGHT_PX,
        margin={"l": 70, "r": 20, "t": 40, "b": 60},
        font=_FONT,
    )
    fig.update_layout(**layout)
    return fig


def _ok_methods(section: ExplanationsSection) -> list[MethodResult]:
    return [m for m in section.methods if m.status == "ok"]


# --- attributions ---------------------------------------------------------------------------


def attribution_map(sample: SampleAttribution) -> np.ndarray:
    """``sample.values`` reshaped to ``sample.shape`` (row-major)."""
    import numpy as np

    return np.asarray(sample.values, dtype=np.float64).reshape(sample.shape)


def _as_image(values: np.ndarray) -> np.ndarray:
    """A 2-D map: leading (channel) axes summed; a 1-D map as one row."""
    if values.ndim == 1:
        return values[None, :]
    return values.reshape(-1, *values.shape[-2:]).sum(axis=0) if values.ndim > 2 else values


def _per_token(values: np.ndarray) -> np.ndarray:
    """One value per token: trailing (embedding) axes summed."""
    return values.reshape(values.shape[0], -1).sum(axis=1) if values.ndim > 1 else values


def displayed_samples(section: ExplanationsSection) -> tuple[int, ...]:
    """The sample indices the attribution views show: the first ``MAX_SAMPLES`` any
    ok method has an attribution for, in order."""
    indices = {a.sample_index for m in _ok_methods(section) for a in m.attributions}
    return tuple(sorted(indices)[:MAX_SAMPLES])


def _grid(section: ExplanationsSection) -> tuple[tuple[int, ...], list[MethodResult]]:
    samples = displayed_samples(section)
    methods = [m for m in _ok_methods(section) if m.attributions]
    return samples, methods


def _attribution(method: MethodResult, sample_index: int) -> SampleAttribution | None:
    return next((a for a in method.attributions if a.sample_index == sample_index), None)


def _input(section: ExplanationsSection, sample_index: int) -> SampleInput | None:
    return next((s for s in section.inputs if s.sample_index == sample_index), None)


def sample_scale(methods: Sequence[MethodResult], sample_index: int) -> float:
    """The largest |attribution| of one sample over every method: the one symmetric colour
    scale, [-scale, scale], all of that sample's panels share (0 when all are 0)."""
    import numpy as np

    scale = 0.0
    for method in methods:
        sample = _attribution(method, sample_index)
        if sample is not None and sample.values:
            scale = max(scale, float(np.nanmax(np.abs(np.asarray(sample.values)))))
    return scale


def _input_title(shown: SampleInput | None, sample_index: int) -> str:
    label = f", label {shown.label}" if shown is not None and shown.label is not None else ""
    return f"sample {sample_index}{label}"


def image_attributions_figure(section: ExplanationsSection) -> go.Figure | None:
    """Each display sample's input image (grey, when the result holds it) beside its
    attribution maps, one row per sample and one column per method. All maps of a sample
    share one diverging colour scale, symmetric about 0 and spanning that sample's largest
    |attribution| over every method, with its colour bar at the row's end."""
    samples, methods = _grid(section)
    if not samples or not methods:
        return None
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    with_input = any(_input(section, s) is not None for s in samples)
    lead = 1 if with_input else 0
    rows, cols = len(samples), len(methods) + lead
    titles = (["input"] if with_input else []) + [_text(m.name) for m in methods]
    spacing = 0.1 / rows
    fig = make_subplots(
        rows=rows,
        cols=cols,
        column_titles=titles,
        horizontal_spacing=0.025,
        vertical_spacing=spacing,
    )
    row_height = (1 - spacing * (rows - 1)) / rows
    for r, sample_index in enumerate(samples):
        shown = _input(section, sample_index)
        if with_input and shown is not None and shown.values:
            fig.add_trace(
                go.Heatmap(
                    z=_as_image(_input_map(shown)),
                    colorscale="Greys",
                    reversescale=True,
                    showscale=False,
                    name="input",
                    hovertemplate="row %{y}, column %{x}: input %{z:.3g}<extra></extra>",
                ),
                row=r + 1,
                col=1,
            )
        scale = sample_scale(methods, sample_index) or 1.0
        axis = f"coloraxis{r + 1 if r else ''}"
        top = 1 - r * (row_height + spacing)
        fig.update_layout(
            {
                axis: {
                    "colorscale": _DIVERGING,
                    "cmin": -scale,
                    "cmid": 0.0,
                    "cmax": scale,
                    "colorbar": {
                        "title": {"text": "attribution", "side": "right"},
                        "len": row_height,
                        "lenmode": "fraction",
                        "y": top - row_height / 2,
                        "thickness": 12,
                        "tickformat": ".2~g",
                        "exponentformat": "power",
                    },
                }
            }
        )
        for c, method in enumerate(methods):
            sample = _attribution(method, sample_index)
            if sample is None:
                continue
            fig.add_trace(
                go.Heatmap(
                    z=_as_image(attribution_map(sample)),
                    coloraxis=axis,
                    name=_text(method.name),
                    hovertemplate="row %{y}, column %{x}: %{z:.3g}<extra></extra>",
                ),
                row=r + 1,
                col=c + 1 + lead,
            )
        fig.update_yaxes(
            title={"text": _input_title(shown, sample_index), "font": {"size": 12}},
            row=r + 1,
            col=1,
        )
    bare = {"showticklabels": False, "ticks": "", "showgrid": False, "zeroline": False}
    fig.update_xaxes(constrain="domain", **bare)
    fig.update_yaxes(autorange="reversed", **bare)
    for index in range(1, rows * cols + 1):  # square pixels: each y axis scaled to its x
        suffix = str(index) if index > 1 else ""
        fig.update_layout({f"yaxis{suffix}": {"scaleanchor": f"x{suffix}"}})
    height, width = _as_image(attribution_map(methods[0].attributions[0])).shape
    panel = min(PANEL_PX, max(140, PAGE_PX / cols * height / width))
    return _layout(
        fig,
        height=60 + (panel + 30) * rows,
        margin={"l": 40, "r": 20, "t": 50, "b": 20},
        showlegend=False,
    )


def _input_map(shown: SampleInput) -> np.ndarray:
    import numpy as np

    return np.asarray(shown.values, dtype=np.float64).reshape(shown.shape)


def vector_attributions_figure(section: ExplanationsSection) -> go.Figure | None:
    """One panel per display sample: each method's attribution of every input feature as
    bars (one shared attribution axis, symmetric about 0, so methods compare), and the
    input itself as a line on a second axis, when the result holds it."""
    samples, methods = _grid(section)
    if not samples or not methods:
        return None
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=len(samples),
        cols=1,
        subplot_titles=[_input_title(_input(section, s), s) for s in samples],
        vertical_spacing=0.3 / len(samples),
        specs=[[{"secondary_y": True}] for _ in samples],
    )
    features = 0
    for r, sample_index in enumerate(samples):
        scale = sample_scale(methods, sample_index) or 1.0
        for c, method in enumerate(methods):
            sample = _attribution(method, sample_index)
            if sample is None:
                continue
            values = attribution_map(sample).ravel()
            features = max(features, values.size)
            fig.add_trace(
                go.Bar(
                    x=list(range(values.size)),
                    y=values,
                    name=_text(method.name),
                    legendgroup=_text(method.name),
                    showlegend=r == 0,
                    marker={"color": _colour(c)},
                    hovertemplate="feature %{x}: %{y:.4g}",  # the trace name beside
                ),
                row=r + 1,
                col=1,
            )
        shown = _input(section, sample_index)
        if shown is not None and shown.values:
            fig.add_trace(
                go.Scatter(
                    x=list(range(len(shown.values))),
                    y=list(shown.values),
                    mode="lines+markers",
                    name="input value",
                    legendgroup="input",
                    showlegend=r == 0,
                    line={"color": "#1f2328", "width": 1.5},
                    marker={"size": 4},
                    hovertemplate="feature %{x}: input %{y:.4g}<extra></extra>",
                ),
                row=r + 1,
                col=1,
                secondary_y=True,
            )
            fig.update_yaxes(
                title={"text": "input value"}, secondary_y=True, showgrid=False, row=r + 1, col=1
            )
        fig.update_yaxes(range=[-scale * 1.05, scale * 1.05], row=r + 1, col=1, secondary_y=False)
    fig.update_xaxes(title={"text": "input feature (index)"}, dtick=1 if features <= 32 else None)
    fig.update_yaxes(title={"text": "attribution"}, zeroline=True, secondary_y=False)
    return _layout(
        fig,
        barmode="group",
        height=120 + 300 * len(samples),
        showlegend=True,
        legend={"orientation": "h", "y": 0.99, "yanchor": "top", "x": 0, "yref": "container"},
        margin={"l": 70, "r": 70, "t": 90, "b": 60},
    )


@dataclass(frozen=True)
class TokenRow:
    method: str
    values: tuple[float, ...]  # one per shown position


@dataclass(frozen=True)
class TokenSample:
    sample_index: int
    target: int
    total_tokens: int
    positions: tuple[int, ...]  # the first TOKEN_LIMIT
    token_ids: tuple[int, ...] | None  # the input's ids at those positions, when stored
    label: int | None  # the task's label, when the samples come from a task
    scale: float  # largest |value| over every row: all rows span [-scale, scale]
    rows: tuple[TokenRow, ...]


def _token_ids(shown: SampleInput | None, width: int) -> tuple[int, ...] | None:
    """The shown input's token ids, when it holds one integer per position (not, say,
    embeddings: those have a trailing axis and label nothing)."""
    if shown is None or len(shown.shape) != 1 or len(shown.values) < width:
        return None
    if any(v != round(v) for v in shown.values[:width]):
        return None
    return tuple(round(v) for v in shown.values[:width])


def token_table(section: ExplanationsSection) -> tuple[TokenSample, ...] | None:
    """Per display sample, one row per method with one value per token position (trailing
    embedding axes summed), for the token-highlight table; every row of a sample on one
    colour scale; None without attributions."""
    samples, methods = _grid(section)
    if not samples or not methods:
        return None
    out = []
    for sample_index in samples:
        rows, total, target = [], 0, 0
        for method in methods:
            sample = _attribution(method, sample_index)
            if sample is None:
                continue
            values = _per_token(attribution_map(sample))
            total, target = int(values.size), sample.target
            rows.append(TokenRow(method.name, tuple(float(v) for v in values[:TOKEN_LIMIT])))
        width = max(len(row.values) for row in rows)
        scale = max((abs(v) for row in rows for v in row.values), default=0.0)
        shown = _input(section, sample_index)
        out.append(
            TokenSample(
                sample_index,
                target,
                total,
                tuple(range(width)),
                _token_ids(shown, width),
                shown.label if shown is not None else None,
                scale,
                tuple(rows),
            )
        )
    return tuple(out)


# --- curves ---------------------------------------------------------------------------------


def curve_figure(
    section: ExplanationsSection, name: Literal["deletion", "insertion"]
) -> go.Figure | None:
    """The mean normalised target score against the share of features removed (deletion)
    or added (insertion): one line per method, the random baseline dashed."""
    import plotly.graph_objects as go

    traces = []
    for index, method in enumerate(_ok_methods(section)):
        for curve in method.curves:
            if curve.name == name:
                traces.append(
                    go.Scatter(
                        x=list(curve.fractions),
                        y=list(curve.scores),
                        mode="lines",
                        name=f"{_text(method.name)} (AUC {fmt.number(curve.auc, 3)})",
                        line={"color": _colour(index)},
                        hovertemplate="%{x:.0%} → %{y:.3g}",  # the trace name beside
                    )
                )
    if not traces:
        return None
    baseline = section.random_baseline
    for curve in baseline.curves if baseline is not None else ():
        if curve.name == name:
            traces.append(
                go.Scatter(
                    x=list(curve.fractions),
                    y=list(curve.scores),
                    mode="lines",
                    name=f"random baseline (AUC {fmt.number(curve.auc, 3)})",
                    line={"color": _RANDOM_COLOUR, "dash": "dash"},
                    hovertemplate="%{x:.0%} → %{y:.3g}",
                )
            )
    verb = "removed" if name == "deletion" else "added"
    fig = go.Figure(data=traces)
    return _layout(
        fig,
        xaxis={"title": {"text": f"share of features {verb}"}, "tickformat": ".0%"},
        yaxis={"title": {"text": "normalised target score"}},
        legend={"orientation": "h", "y": -0.25},
        height=HEIGHT_PX + 40,
    )


# --- agreement, ground truth, sanity --------------------------------------------------------


def agreement_figure(section: ExplanationsSection) -> go.Figure | None:
    """Spearman rank correlation between every pair of methods, values written in."""
    agreement = section.agreement
    if agreement is None or len(agreement.methods) < 2:
        return None
    import plotly.graph_objects as go

    names = [_text(m) for m in agreement.methods]
    trace = go.Heatmap(
        z=[list(row) for row in agreement.spearman],
        x=names,
        y=names,
        zmin=-1,
        zmax=1,
        zmid=0,
        colorscale=_DIVERGING,
        texttemplate="%{z:.2f}",
        colorbar={"title": {"text": "Spearman ρ"}},
        hovertemplate="%{y} vs %{x}: ρ = %{z:.3f}<extra></extra>",
    )
    size = max(HEIGHT_PX, 120 + 40 * len(names))
    return _layout(
        go.Figure(data=[trace]),
        height=size,
        xaxis={
            "type": "category",
            "tickangle": -45,
            "title": {"text": "method"},
            "automargin": True,
        },
        yaxis={
            "type": "category",
            "autorange": "reversed",
            "title": {"text": "method"},
            "automargin": True,
        },
        margin={"l": 140, "r": 20, "t": 20, "b": 140},
    )


def ground_truth_figure(section: ExplanationsSection) -> go.Figure | None:
    """Each method's AUROC against the ground-truth mask, the random baseline's as a line."""
    scored = [(m.name, m.ground_truth) for m in _ok_methods(section) if m.ground_truth]
    if not scored:
        return None
    import plotly.graph_objects as go

    bar = go.Bar(
        x=[_text(name) for name, _ in scored],
        y=[gt.auroc for _, gt in scored],
        marker={"color": "#4c78a8"},
        name="AUROC",
        hovertemplate="%{x}: AUROC %{y:.3f}<extra></extra>",
    )
    fig = go.Figure(data=[bar])
    baseline = section.random_baseline
    if baseline is not None and baseline.ground_truth is not None:
        level = baseline.ground_truth.auroc
        fig.add_hline(
            y=level,
            line={"color": _RANDOM_COLOUR, "dash": "dash"},
            annotation_text=f"random baseline {fmt.number(level, 3)}",
            annotation_position="top left",
        )
    return _layout(
        fig,
        showlegend=False,
        xaxis={"type": "category", "title": {"text": "method"}},
        yaxis={"range": [0, 1.05], "title": {"text": "AUROC against the relevance mask"}},
    )


def sanity_figure(section: ExplanationsSection) -> go.Figure | None:
    """Spearman correlation with the original attributions after each cumulative
    randomisation step, one line per method, the threshold dashed."""
    checked = [(i, m) for i, m in enumerate(_ok_methods(section)) if m.sanity is not None]
    if not checked:
        return None
    import plotly.graph_objects as go

    traces = []
    thresholds: set[float] = set()
    for index, method in checked:
        sanity = method.sanity
        assert sanity is not None  # narrowed above
        thresholds.add(sanity.threshold)
        verdict = "passes" if sanity.passed else "fails"
        traces.append(
            go.Scatter(
                x=list(range(1, len(sanity.correlations) + 1)),
                y=list(sanity.correlations),
                mode="lines+markers",
                name=f"{_text(method.name)} ({verdict})",
                line={"color": _colour(index), "dash": "solid" if sanity.passed else "dot"},
                hovertemplate="step %{x}: ρ = %{y:.3f}",  # the trace name beside
            )
        )
    fig = go.Figure(data=traces)
    for threshold in sorted(thresholds):
        fig.add_hline(
            y=threshold,
            line={"color": "#cf222e", "dash": "dash"},
            annotation_text=f"threshold {threshold:g}",
            annotation_position="bottom right",
        )
    return _layout(
        fig,
        xaxis={"title": {"text": "layers randomised (cumulative, top first)"}, "dtick": 1},
        yaxis={"title": {"text": "Spearman ρ with the original"}, "range": [-1.05, 1.05]},
        legend={"orientation": "h", "y": -0.25},
        height=HEIGHT_PX + 40,
    )


# --- the scorecard --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreColumn:
    name: str
    higher_is_better: bool


@dataclass(frozen=True)
class ScoreCell:
    value: float | None
    reason: str | None  # why there is no value
    rank: int | None  # 1 = best among the methods with a value (ties share a rank)
    shade: str | None  # CSS background from the rank; None when nothing to rank against
    random: float | None  # the random baseline's value of the same metric
    beats_random: bool | None  # better than the random baseline in the metric's direction


@dataclass(frozen=True)
class ScorecardRow:
    method: str
    backend: str
    seconds: float | None
    cells: tuple[ScoreCell, ...]


@dataclass(frozen=True)
class Scorecard:
    columns: tuple[ScoreColumn, ...]
    rows: tuple[ScorecardRow, ...]
    baseline: ScorecardRow | None  # the random baseline, unshaded


def _columns(methods: Sequence[MethodResult]) -> tuple[ScoreColumn, ...]:
    seen: dict[str, ScoreColumn] = {}
    for method in methods:
        for metric in method.metrics:
            seen.setdefault(metric.name, ScoreColumn(metric.name, metric.higher_is_better))
    return tuple(seen.values())


def _metric(method: MethodResult | None, name: str) -> MetricScore | None:
    if method is None:
        return None
    return next((s for s in method.metrics if s.name == name), None)


def _reason(score: MetricScore | None) -> str:
    if score is None:
        return "not computed"
    return str(score.parameters.get("skipped", "not computed"))


def _ranks(values: list[float | None], higher_is_better: bool) -> list[int | None]:
    """Competition ranks (1, 1, 3) of the present values, best first."""
    present = [v for v in values if v is not None]
    ordered = sorted(present, reverse=higher_is_better)
    return [None if v is None else ordered.index(v) + 1 for v in values]


def _beats(value: float | None, random: float | None, higher_is_better: bool) -> bool | None:
    if value is None or random is None:
        return None
    return value > random if higher_is_better else value < random


def scorecard(section: ExplanationsSection) -> Scorecard | None:
    """Every ok method against every metric any of them has, each cell shaded by the
    method's rank on that metric and set beside the random baseline's value."""
    methods = _ok_methods(section)
    columns = _columns(methods)
    if not methods or not columns:
        return None
    baseline = section.random_baseline
    cells: list[list[ScoreCell]] = [[] for _ in methods]
    for column in columns:
        scores = [_metric(m, column.name) for m in methods]
        values = [s.value if s is not None else None for s in scores]
        ranks = _ranks(values, column.higher_is_better)
        ranked = sum(r is not None for r in ranks)
        base = _metric(baseline, column.name)
        random = base.value if base is not None else None
        for row, score, value, rank in zip(cells, scores, values, ranks, strict=True):
            row.append(
                ScoreCell(
                    value=value,
                    reason=None if value is not None else _reason(score),
                    rank=rank,
                    shade=rank_shade(rank, ranked) if rank is not None else None,
                    random=random,
                    beats_random=_beats(value, random, column.higher_is_better),
                )
            )
    rows = tuple(
        ScorecardRow(m.name, m.backend, m.seconds, tuple(row))
        for m, row in zip(methods, cells, strict=True)
    )
    return Scorecard(columns, rows, _baseline_row(baseline, columns))


def _baseline_row(
    baseline: MethodResult | None, columns: tuple[ScoreColumn, ...]
) -> ScorecardRow | None:
    if baseline is None:
        return None
    cells = []
    for column in columns:
        score = _metric(baseline, column.name)
        value = score.value if score is not None else None
        reason = None if value is not None else _reason(score)
        cells.append(ScoreCell(value, reason, None, None, value, None))
    return ScorecardRow(baseline.name, baseline.backend, baseline.seconds, tuple(cells))
