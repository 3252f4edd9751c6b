"""Figures of the attention section, one pure function each.

Every builder reads only ``AttentionSection`` and returns a ``plotly.graph_objects.Figure``
or None when the section lacks that part. No model-provided string goes into a figure:
layers and heads are labelled by number, tokens by "position:id" (the page's tables name
the nodes, escaped). Samples are switched with a dropdown that restyles the traces with
that sample's data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.core.attention import AttentionSection, DisplayMaps
from harness.reports import format as fmt

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "HEADS_PER_ROW",
    "entropy_grid_figure",
    "head_importance_figure",
    "layer_maps_figure",
    "rollout_figure",
]

HEADS_PER_ROW = 4
PANEL_PX = 260
HEIGHT_PX = 360
_FONT = {"family": "system-ui, sans-serif", "size": 12}
_FLAG_COLOURS = {None: "#4c78a8", "redundant": "#9aa5b1", "dominant": "#e45756"}
_TRUTH_COLOURS = {True: "#e45756", False: "#4c78a8"}


def _layout(fig: go.Figure, **layout: Any) -> go.Figure:
    fig.update_layout(
        template="none",
        height=HEIGHT_PX,
        margin={"l": 70, "r": 20, "t": 40, "b": 60},
        font=_FONT,
        showlegend=False,
    )
    fig.update_layout(**layout)
    return fig


MENU_PX = 40  # the band above the plots that holds the sample dropdown, and nothing else


def _sample_menu(
    labels: list[str], restyles: list[dict[str, Any]], height: int, top: int, bottom: int
) -> list[dict[str, Any]]:
    """A dropdown over the display samples; each button restyles every trace. It sits at
    the top of a figure ``height`` px tall with margins ``top`` and ``bottom``, in its own
    band of ``MENU_PX`` above the subplot titles, so that it never covers a title
    ("head 0"). Plotly places menus in plot-area fractions, so the band is converted."""
    plot_px = max(1, height - top - bottom)
    buttons = [
        {"label": label, "method": "restyle", "args": [restyle]}
        for label, restyle in zip(labels, restyles, strict=True)
    ]
    return [
        {
            "buttons": buttons,
            "direction": "down",
            "x": 0,
            "xanchor": "left",
            "y": 1 + (top - 4) / plot_px,
            "yanchor": "top",
        }
    ]


def _sample_label(shown: DisplayMaps) -> str:
    cut = f", first {len(shown.tokens)} of {shown.total_tokens} tokens" if shown.truncated else ""
    return f"sample {shown.sample}{cut}"


# --- maps ---------------------------------------------------------------------------------


def layer_maps_figure(section: AttentionSection, layer: int) -> go.Figure | None:
    """Layer ``layer``'s heads as heatmaps (query rows, key columns), a dropdown per sample."""
    from plotly.subplots import make_subplots

    shown = [d for d in section.display if layer < len(d.maps) and d.maps[layer]]
    if not shown:
        return None
    heads = len(shown[0].maps[layer])
    cols = min(heads, HEADS_PER_ROW)
    rows = -(-heads // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"head {h}" for h in range(heads)],
        horizontal_spacing=0.06,
        vertical_spacing=0.12 / rows,
    )
    import plotly.graph_objects as go

    first = shown[0]
    for head in range(heads):
        fig.add_trace(
            go.Heatmap(
                z=first.maps[layer][head],
                x=list(first.tokens),
                y=list(first.tokens),
                zmin=0,
                zmax=1,
                colorscale="Blues",
                showscale=head == 0,
                colorbar={"title": {"text": "weight"}},
                hovertemplate="query %{y} → key %{x}: %{z:.3f}<extra></extra>",
            ),
            row=head // cols + 1,
            col=head % cols + 1,
        )
    # Every head of a layer has the same tokens: query labels on the first column only,
    # so long tokens never run into the panel to their left; margins grow to fit labels
    # and titles (automargin) instead of letting them overlap.
    fig.update_yaxes(autorange="reversed", type="category", tickfont={"size": 9}, automargin=True)
    fig.update_xaxes(type="category", tickfont={"size": 9}, tickangle=-90, automargin=True)
    for r in range(1, rows + 1):  # one axis title per row and column edge, not per panel
        fig.update_yaxes(title={"text": "query token", "font": {"size": 11}}, row=r, col=1)
        for c in range(2, cols + 1):
            fig.update_yaxes(showticklabels=False, row=r, col=c)
    for c in range(1, cols + 1):
        fig.update_xaxes(title={"text": "key token", "font": {"size": 11}}, row=rows, col=c)
    restyles = [
        {
            "z": [list(d.maps[layer][h]) for h in range(heads)],
            "x": [list(d.tokens)] * heads,
            "y": [list(d.tokens)] * heads,
        }
        for d in shown
    ]
    top = 40 + (MENU_PX if len(shown) > 1 else 0)  # subplot titles, the menu's band above
    height = top + 60 + PANEL_PX * rows
    labels = [_sample_label(d) for d in shown]
    menu = _sample_menu(labels, restyles, height, top, 60) if len(shown) > 1 else []
    return _layout(fig, height=height, margin={"t": top}, updatemenus=menu)


# --- per-head statistics ------------------------------------------------------------------


def entropy_grid_figure(section: AttentionSection) -> go.Figure | None:
    """Normalised entropy of every head: layers down, heads across, value in each cell."""
    import plotly.graph_objects as go

    layers = [layer for layer in section.layers if layer.head_stats]
    if not layers:
        return None
    width = max(len(layer.head_stats) for layer in layers)
    z = [_padded([h.entropy for h in layer.head_stats], width) for layer in layers]
    text = [["" if v is None else fmt.number(v, 2) for v in row] for row in z]
    trace = go.Heatmap(
        z=z,
        x=[f"head {h}" for h in range(width)],
        y=[f"layer {layer.index}" for layer in layers],
        zmin=0,
        zmax=1,
        colorscale="Viridis",
        text=text,
        texttemplate="%{text}",
        colorbar={"title": {"text": "entropy"}},
        hovertemplate="%{y}, %{x}: entropy %{z:.3f}<extra></extra>",
    )
    fig = go.Figure(data=[trace])
    height = max(HEIGHT_PX // 2, 100 + 40 * len(layers))
    return _layout(
        fig,
        height=height,
        xaxis={"title": {"text": "attention head"}},
        yaxis={"autorange": "reversed", "type": "category", "title": {"text": "layer"}},
    )


def _padded(values: list[float], width: int) -> list[float | None]:
    return [*values, *([None] * (width - len(values)))]


def head_importance_figure(section: AttentionSection) -> go.Figure | None:
    """Each head's drop of the target score when it is zeroed, with its std over samples;
    redundant heads grey, dominant ones red."""
    import plotly.graph_objects as go

    if section.ablation is None or not section.ablation.heads:
        return None
    heads = section.ablation.heads
    trace = go.Bar(
        x=[f"L{h.layer} H{h.head}" for h in heads],
        y=[h.drop for h in heads],
        error_y={"type": "data", "array": [h.drop_std for h in heads]},
        marker={"color": [_FLAG_COLOURS[h.flag] for h in heads]},
        customdata=[h.flag or "" for h in heads],
        hovertemplate="%{x}: drop %{y:.4g} %{customdata}<extra></extra>",
    )
    fig = go.Figure(data=[trace])
    return _layout(
        fig,
        xaxis={"title": {"text": "layer and head zeroed"}, "type": "category"},
        yaxis={"title": {"text": "drop of the target score (logit)"}},
    )


# --- rollout ------------------------------------------------------------------------------


def rollout_figure(
    section: AttentionSection, token_labels: str = "position:id"
) -> go.Figure | None:
    """Per-token rollout of the display samples; ground-truth tokens red when marked."""
    import plotly.graph_objects as go

    shown = [d for d in section.display if d.rollout is not None]
    if section.rollout is None or not shown:
        return None

    def colours(d: DisplayMaps) -> list[str]:
        marks = d.truth if d.truth is not None else (False,) * len(d.tokens)
        return [_TRUTH_COLOURS[bool(t)] for t in marks]

    first = shown[0]
    trace = go.Bar(
        x=list(first.tokens),
        y=list(first.rollout or ()),
        marker={"color": colours(first)},
        hovertemplate="token %{x}: rollout %{y:.4f}<extra></extra>",
    )
    restyles = [
        {"x": [list(d.tokens)], "y": [list(d.rollout or ())], "marker.color": [colours(d)]}
        for d in shown
    ]
    top = 20 + (MENU_PX if len(shown) > 1 else 0)
    labels = [_sample_label(d) for d in shown]
    menu = _sample_menu(labels, restyles, HEIGHT_PX, top, 60) if len(shown) > 1 else []
    fig = go.Figure(data=[trace])
    return _layout(
        fig,
        margin={"t": top},
        xaxis={
            "title": {"text": f"token ({token_labels})"},
            "type": "category",
            "tickangle": -90,
            "automargin": True,
        },
        yaxis={"title": {"text": "rollout share"}, "rangemode": "tozero"},
        updatemenus=menu,
    )
