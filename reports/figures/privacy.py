"""Figures of the privacy section, one pure function each.

Every builder reads only ``PrivacySection`` and returns a ``plotly.graph_objects.Figure``,
or None when the section has nothing to draw. Attacks are named by the harness's own attack
names; no record's data is ever drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.core.privacy import PrivacySection

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["roc_figure"]

HEIGHT_PX = 420
_FONT = {"family": "system-ui, sans-serif", "size": 12}
_COLOURS = {
    "loss": "#4c78a8",
    "confidence": "#f58518",
    "entropy": "#54a24b",
    "modified_entropy": "#b279a2",
    "qmia": "#e45756",
}


def roc_figure(section: PrivacySection) -> go.Figure | None:
    """Every attack's ROC on log-log axes with the chance line (TPR = FPR): the low-FPR end,
    where an attack that singles out a few members shows, is as wide as the rest. Points at
    FPR or TPR 0 cannot sit on a log axis and are left out of the drawing (not the numbers)."""
    import plotly.graph_objects as go

    curves = [a for a in section.attacks if a.roc is not None]
    if not curves:
        return None
    floor = 1.0
    fig = go.Figure()
    for attack in curves:
        assert attack.roc is not None
        pairs = [
            (f, t) for f, t in zip(attack.roc.fpr, attack.roc.tpr, strict=True) if f > 0 and t > 0
        ]
        if not pairs:
            continue
        floor = min(floor, pairs[0][0])
        auc = attack.separation.auc if attack.separation else None
        label = attack.name if auc is None else f"{attack.name} (AUC {auc:.3f})"
        fig.add_trace(
            go.Scatter(
                x=[f for f, _ in pairs],
                y=[t for _, t in pairs],
                mode="lines",
                name=label,
                line={"color": _COLOURS.get(attack.name, "#333"), "shape": "hv"},
                hovertemplate="FPR %{x:.4f}<br>TPR %{y:.4f}<extra>" + attack.name + "</extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[floor, 1.0],
            y=[floor, 1.0],
            mode="lines",
            name="chance (TPR = FPR)",
            line={"color": "#888", "dash": "dash"},
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        template="none",
        height=HEIGHT_PX,
        margin={"l": 70, "r": 20, "t": 30, "b": 60},
        font=_FONT,
        xaxis={"type": "log", "title": "false-positive rate (non-members flagged)"},
        yaxis={"type": "log", "title": "true-positive rate (members flagged)"},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig
