"""``AuditResult`` -> one self-contained HTML document (Jinja2, autoescaped, offline).

Figures are Plotly's: each is embedded as Plotly's own ``<div>`` and ``<script>`` (its
JSON escapes ``<``, ``>`` and ``/``, so no string in the data can close the script), and
the page carries Plotly's JavaScript once, inline in ``<head>``, only when it has a figure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from harness.core.efficiency import BackendRun, EfficiencySection
from harness.core.result import STAGE_NAMES, AuditResult
from reports import format as fmt

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["efficiency_figures", "figure_html", "plotly_js", "render_report"]

_TEMPLATE = "report.html.j2"

_FILTERS = {
    "human_bytes": fmt.human_bytes,
    "thousands": fmt.thousands,
    "sig4": fmt.sig4,
    "or_dash": fmt.or_dash,
    "yes_no": fmt.yes_no,
    "plain": fmt.plain,
    "shape": fmt.shape,
    "estimate": fmt.estimate,
    "ci": fmt.ci,
    "percent": fmt.percent,
    "ratio": fmt.ratio,
}

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

# The only text that ends a <script> element early: "</script", in any case.
_SCRIPT_END = re.compile(r"</(?=script)", re.IGNORECASE)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        # Every template here is HTML: model-provided strings (names, metadata, op types)
        # must always land as text, so escaping is on whatever the template is called.
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "j2"), default_for_string=True, default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(_FILTERS)
    return env


def render_report(result: AuditResult) -> str:
    """The full HTML report for ``result``, as text; reads nothing but ``result``."""
    figures = efficiency_figures(result.efficiency)
    template = _environment().get_template(_TEMPLATE)
    return template.render(
        result=result,
        stage_names=STAGE_NAMES,
        config_rows=fmt.config_rows(result.config),
        figures=figures,
        plotly_js=plotly_js() if figures else None,
    )


# --- figures ------------------------------------------------------------------------------


def _script_safe(js: str) -> str:
    """``js`` with every ``</script`` written ``<\\/script``: the same string to JavaScript
    and JSON, and nothing left that could end the ``<script>`` element early."""
    return _SCRIPT_END.sub(r"<\\/", js)


@cache
def plotly_js() -> Markup:
    """Plotly's JavaScript bundle, ready to sit inside one inline ``<script>``."""
    from plotly.offline import get_plotlyjs

    return Markup(_script_safe(get_plotlyjs()))


def figure_html(fig: go.Figure, *, div_id: str, caption: str) -> Markup:
    """``fig`` as ``<figure>`` (Plotly's div and script, no bundle) with an escaped caption.

    Only Plotly's own output is trusted as markup; the script body is made script-safe
    again here rather than relying on Plotly's JSON escaping alone.
    """
    plot = fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config=_PLOTLY_CONFIG
    )
    start = plot.index("<script>") + len("<script>")
    end = plot.rindex("</script>")
    plot = plot[:start] + _script_safe(plot[start:end]) + plot[end:]
    return Markup(
        f'<figure id="fig-{escape(div_id)}">\n{plot}\n'
        f"<figcaption>{escape(caption)}</figcaption>\n</figure>"
    )


FigureBuilder = Callable[[BackendRun], "go.Figure | None"]


def _run_figures(index: int, run: BackendRun) -> dict[str, Markup]:
    from reports.figures import efficiency as figs

    label = f"{run.backend}/{run.device}"
    n = run.latency.n
    builders: dict[str, tuple[FigureBuilder, str]] = {
        "latency-histogram": (
            figs.latency_histogram_figure,
            f"Latency of each of the {n} timed calls on {label}, counted per bin over every "
            f"sample (log-spaced bins on a log axis when the calls span more than "
            f"{figs.LOG_SPREAD:g}×); dashed lines mark p50 and p99 where they are sufficiently "
            "sampled. The percentile table gives the same numbers.",
        ),
        "latency-cdf": (
            figs.latency_cdf_figure,
            f"Fraction of the {n} timed calls on {label} that finished within each latency "
            f"(empirical CDF, drawn at most {figs.CDF_POINTS} points). "
            "The percentile table gives the same numbers.",
        ),
        "cold-start": (
            figs.cold_start_figure,
            f"Cold start on {label}: model load, session creation and the first call, beside "
            "the steady-state median (log scale). The cold-start table gives the numbers.",
        ),
        "throughput": (
            figs.throughput_figure,
            f"Throughput on {label} against batch size, with the 95% confidence interval of "
            "each median. The throughput table gives the numbers.",
        ),
        "memory": (
            figs.memory_figure,
            f"Peak resident memory on {label} during session creation and inference (above "
            "the baseline), beside the baseline and the weights. The memory table gives the "
            "numbers.",
        ),
        "roofline": (
            figs.roofline_figure,
            f"Roofline on {label}: achieved GFLOP/s at the model's arithmetic intensity, "
            "under the measured compute peak and, where measured, the memory-bandwidth slope. "
            "The roofline table gives the numbers.",
        ),
        "op-time": (
            figs.op_time_figure,
            f"Where the time goes on {label}: mean time per inference by op type from "
            f"onnxruntime's profiler, the top {figs.TOP_OPS} and the rest as other. "
            "The op-time table gives the numbers.",
        ),
    }
    out = {}
    for name, (build, caption) in builders.items():
        fig = build(run)
        if fig is not None:
            key = f"run{index}-{name}"
            out[key] = figure_html(fig, div_id=key, caption=caption)
    return out


def efficiency_figures(section: EfficiencySection) -> dict[str, Markup]:
    """Every efficiency figure the section has data for, keyed ``run<i>-<name>``/``work-flops``."""
    if section.status != "ok":
        return {}
    figures: dict[str, Markup] = {}
    for index, run in enumerate(section.runs):
        figures.update(_run_figures(index, run))
    if section.work is not None and section.work.by_op:
        from reports.figures.efficiency import TOP_OPS, flops_by_op_figure

        fig = flops_by_op_figure(section.work)
        if fig is not None:
            caption = (
                f"FLOPs of one inference at batch {section.work.batch_size} by op type, counted "
                f"from the graph: the top {TOP_OPS} and the rest as other. The work table "
                "gives the numbers."
            )
            figures["work-flops"] = figure_html(fig, div_id="work-flops", caption=caption)
    return figures
