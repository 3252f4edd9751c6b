"""``AuditResult`` -> one self-contained HTML document (Jinja2, autoescaped, offline).

Every string a template prints passes through one finaliser, ``visible_html``: escaped, and
each control character or bidirectional override (a model's NUL, its U+202E) shown as its
code in a ``<span class="ctrl">``, never raw (``harness.core.text``). Inside an attribute or
``<title>``, where no element may go, the ``visible`` filter writes the code as plain text.

Figures are Plotly's: each is embedded as Plotly's own ``<div>`` and ``<script>`` (its
JSON escapes ``<``, ``>`` and ``/``, so no string in the data can close the script), and
the page carries Plotly's JavaScript once, inline in ``<head>``, only when it has a figure.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from harness.core.attention import AttentionSection
from harness.core.efficiency import BackendRun, EfficiencySection
from harness.core.explanations import ExplanationsSection
from harness.core.privacy import PrivacySection
from harness.core.result import STAGE_NAMES, AuditResult, StageSection
from harness.core.text import UNSAFE_IN_TEXT, escape_character, visible
from harness.reports import format as fmt
from harness.reports.figures import explanations as explanation_views
from harness.reports.findings import findings
from harness.reports.summary import summary_cards
from harness.reports.vocabulary import Vocabulary

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "attention_figures",
    "efficiency_figures",
    "explanations_figures",
    "figure_html",
    "plotly_js",
    "privacy_figures",
    "render_report",
    "section_names",
    "template_environment",
    "token_labels",
    "token_text",
    "visible_html",
    "with_token_text",
]

_TEMPLATE = "report.html.j2"

_FILTERS = {
    "human_bytes": fmt.human_bytes,
    "thousands": fmt.thousands,
    "sig4": fmt.sig4,
    "number": fmt.number,
    "quantity": fmt.quantity,
    "si": fmt.si,
    "count": fmt.count,
    "or_dash": fmt.or_dash,
    "yes_no": fmt.yes_no,
    "plain": fmt.plain,
    "shape": fmt.shape,
    "estimate": fmt.estimate,
    "ci": fmt.ci,
    "percent": fmt.percent,
    "ratio": fmt.ratio,
    "arrow": fmt.arrow,
    "attribution_colour": fmt.attribution_colour,
    # Tables of the explanations section, built as data for its templates.
    "scorecard": explanation_views.scorecard,
    "token_table": explanation_views.token_table,
    # A string shown where markup cannot go (attributes, <title>): codes as plain text.
    "visible": lambda value: visible(str(value), keep_lines=True),
}

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

# The only text that ends a <script> element early: "</script", in any case.
_SCRIPT_END = re.compile(r"</(?=script)", re.IGNORECASE)


@cache
def template_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("harness.reports", "templates"),
        # Every template here is HTML: model-provided strings (names, metadata, op types)
        # must always land as text, so escaping is on whatever the template is called.
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "j2"), default_for_string=True, default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters.update(_FILTERS)
    return env


def visible_html(text: str) -> Markup:
    """TEXT escaped for HTML, each control character or bidirectional override shown as
    its code (``\\u202e``) in a ``<span class="ctrl">`` (single quotes: the span stays
    harmless text should a template put it inside a double-quoted attribute)."""
    if UNSAFE_IN_TEXT.search(text) is None:
        return escape(text)
    parts = []
    start = 0
    for match in UNSAFE_IN_TEXT.finditer(text):
        parts.append(escape(text[start : match.start()]))
        parts.append(Markup("<span class='ctrl'>%s</span>") % escape_character(match.group()))
        start = match.end()
    parts.append(escape(text[start:]))
    return Markup("").join(parts)


def _finalize(value: object) -> object:
    """What every ``{{ expression }}`` prints: a string through ``visible_html``; markup
    the harness built (figures, macros, filters that return Markup) as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible_html(value)
    return value


def render_report(result: AuditResult, vocabulary: Vocabulary | None = None) -> str:
    """The full HTML report for ``result``, as text; reads nothing but ``result`` (and
    ``vocabulary``, when given, to show token ids as strings)."""
    figures = {
        **efficiency_figures(result.efficiency),
        **explanations_figures(result.explanations),
        **attention_figures(
            with_token_text(result.attention, vocabulary),
            f"position:token ({vocabulary.source})" if vocabulary else "position:id",
        ),
        **privacy_figures(result.privacy),
    }
    template = template_environment().get_template(_TEMPLATE)
    return template.render(
        result=result,
        stage_names=STAGE_NAMES,
        config_rows=fmt.config_rows(result.config),
        figures=figures,
        plotly_js=plotly_js() if figures else None,
        findings=findings(result),
        cards=summary_cards(result),
        vocabulary=vocabulary,
        token_labels=lambda sample: token_labels(sample, vocabulary),
        section_names=section_names(result),
    )


def token_text(token_id: int, vocabulary: Vocabulary | None) -> str:
    """A token as the page shows it: its string from ``vocabulary``, else its id."""
    text = vocabulary.text(token_id) if vocabulary is not None else None
    return text if text is not None else str(token_id)


def token_labels(sample: explanation_views.TokenSample, vocabulary: Vocabulary | None) -> list[str]:
    """The shown tokens of one sample: strings (``vocabulary``), else ids; ``#position``
    when the result holds no input ids (results written before inputs were kept)."""
    if sample.token_ids is None:
        return [f"#{position}" for position in sample.positions]
    return [token_text(token_id, vocabulary) for token_id in sample.token_ids]


def with_token_text(
    section: AttentionSection | StageSection, vocabulary: Vocabulary | None
) -> AttentionSection | StageSection:
    """``section`` with its display labels ``position:id`` written ``position:token``."""
    if vocabulary is None or not isinstance(section, AttentionSection):
        return section
    display = tuple(
        dataclasses.replace(shown, tokens=tuple(_relabel(t, vocabulary) for t in shown.tokens))
        for shown in section.display
    )
    return dataclasses.replace(section, display=display)


def _relabel(label: str, vocabulary: Vocabulary) -> str:
    position, _, token_id = label.partition(":")
    if not token_id.lstrip("-").isdigit():
        return label
    return f"{position}:{token_text(int(token_id), vocabulary)}"


_SECTION_NAMES = {
    "findings": "Findings",
    "model": "Model card",
    "inputs": "Inputs",
    "stages": "Stages",
    "environment": "Environment",
    "efficiency-work": "Efficiency: work per inference",
}


def section_names(result: AuditResult) -> dict[str, str]:
    """Each section id a finding may point at -> the section's name as the page shows it."""
    names = dict(_SECTION_NAMES)
    for name in STAGE_NAMES:
        names[f"stage-{name}"] = name.capitalize()
    if isinstance(result.efficiency, EfficiencySection):
        for index, run in enumerate(result.efficiency.runs):
            names[f"efficiency-run{index}"] = f"Efficiency: {run.backend}/{run.device}"
    return names


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
    import plotly.io as pio

    plot = pio.to_html(
        _visible_strings(fig.to_dict()),
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=_PLOTLY_CONFIG,
        validate=False,
    )
    start = plot.index("<script>") + len("<script>")
    end = plot.rindex("</script>")
    plot = plot[:start] + _script_safe(plot[start:end]) + plot[end:]
    return Markup(
        f'<figure id="fig-{escape(div_id)}">\n{plot}\n'
        f"<figcaption>{visible_html(caption)}</figcaption>\n</figure>"
    )


def _visible_strings(value: Any) -> Any:
    """A figure's data with every string's unsafe characters written as codes: Plotly draws
    a label's U+202E as a real override, so names reach the SVG already visible."""
    if isinstance(value, str):
        return visible(value, keep_lines=True)
    if isinstance(value, dict):
        return {key: _visible_strings(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_visible_strings(item) for item in value)
    if getattr(value, "dtype", None) is not None and value.dtype.kind in "OU":
        import numpy as np

        return np.array(_visible_strings(value.tolist()), dtype=object)
    return value


FigureBuilder = Callable[[BackendRun], "go.Figure | None"]


def _run_figures(index: int, run: BackendRun) -> dict[str, Markup]:
    from harness.reports.figures import efficiency as figs

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
    # An incomplete count is a lower bound: no figure of it (the table says why).
    if section.work is not None and section.work.complete and section.work.by_op:
        from harness.reports.figures.efficiency import TOP_OPS, flops_by_op_figure

        fig = flops_by_op_figure(section.work)
        if fig is not None:
            caption = (
                f"FLOPs of one inference at batch {section.work.batch_size} by op type, counted "
                f"from the graph: the top {TOP_OPS} and the rest as other. The work table "
                "gives the numbers."
            )
            figures["work-flops"] = figure_html(fig, div_id="work-flops", caption=caption)
    return figures


def privacy_figures(section: PrivacySection) -> dict[str, Markup]:
    """The privacy section's ROC figure (``privacy-roc``), when an attack ran."""
    if section.status != "ok":
        return {}
    from harness.reports.figures.privacy import roc_figure

    fig = roc_figure(section)
    if fig is None:
        return {}
    caption = (
        "ROC of every attack on log-log axes, with the chance line (dashed): a curve above "
        "it at low FPR singles out some members with few false alarms, which the AUC "
        "averages away. The curve sweeps every threshold over all records; the table's "
        "TPR at a target FPR uses thresholds fitted on other non-members only."
    )
    return {"privacy-roc": figure_html(fig, div_id="privacy-roc", caption=caption)}


def attention_figures(
    section: AttentionSection | StageSection, token_labels: str = "position:id"
) -> dict[str, Markup]:
    """Every attention figure the section has data for, keyed ``attention-<name>``
    (``attention-maps-<layer>`` per layer); TOKEN_LABELS says how tokens are labelled."""
    if not isinstance(section, AttentionSection) or section.status != "ok":
        return {}
    from harness.reports.figures import attention as figs

    figures: dict[str, Markup] = {}
    limit = section.display_token_limit
    for layer in section.layers:
        fig = figs.layer_maps_figure(section, layer.index)
        if fig is not None:
            key = f"attention-maps-{layer.index}"
            caption = (
                f"Attention of layer {layer.index}, one heatmap per head: each row is a query "
                "token, each column the key it attends to, colour the weight (rows sum to 1). "
                f"Tokens are {token_labels}, at most {limit} shown; the dropdown picks the "
                "sample. "
                "The per-head table gives each head's statistics."
            )
            figures[key] = figure_html(fig, div_id=key, caption=caption)
    builders: dict[str, tuple[Callable[[AttentionSection], go.Figure | None], str]] = {
        "attention-entropy": (
            figs.entropy_grid_figure,
            "Normalised entropy of every head (layers down, heads across): 1 spreads "
            "attention evenly over the real tokens, 0 puts it on one token. The per-head "
            "table gives the same numbers.",
        ),
        "attention-rollout": (
            partial(figs.rollout_figure, token_labels=token_labels),
            "Attention rollout through every layer, per input token, read from the mean over "
            "the real query positions; ground-truth tokens in red when the task marks them. "
            "The dropdown picks the sample; the rollout table gives the numbers.",
        ),
        "attention-importance": (
            figs.head_importance_figure,
            "Drop of the target score when each head's attention is zeroed, mean over the "
            "ablated samples with its standard deviation; redundant heads grey, dominant "
            "heads red. The head-importance table gives the numbers.",
        ),
    }
    for key, (build, caption) in builders.items():
        fig = build(section)
        if fig is not None:
            figures[key] = figure_html(fig, div_id=key, caption=caption)
    return figures


def _attribution_view(section: ExplanationsSection) -> tuple[go.Figure | None, str]:
    """The image maps or vector bars with their caption; tokens are a table in the page."""
    figs = explanation_views
    shown = len(figs.displayed_samples(section))
    samples = f"{shown} sample{'s' if shown != 1 else ''}"
    if section.modality == "image":
        shown_input = (
            "the input each method explains in grey on the left (channels averaged), "
            if section.inputs
            else ""
        )
        return figs.image_attributions_figure(section), (
            f"Attribution maps of {samples} (rows): {shown_input}each method's map beside it "
            "(channels summed). Red pushes the target score up, blue down; all maps of a "
            "sample share one colour scale, centred at 0 and spanning that sample's largest "
            "|attribution| over every method, with its colour bar on the right. The scorecard "
            "says how far each map can be trusted."
        )
    if section.modality == "vector":
        return figs.vector_attributions_figure(section), (
            f"Attribution of each input feature by each method, one panel per sample "
            f"({samples}): bars above 0 push the target score up, below 0 down, on one "
            "attribution axis per sample, symmetric about 0"
            + (", with the input's values as a line (right axis)" if section.inputs else "")
            + ". The result JSON holds the values; the scorecard says how far each can be "
            "trusted."
        )
    return None, ""


def explanations_figures(section: ExplanationsSection | StageSection) -> dict[str, Markup]:
    """Every explanations figure the section has data for, keyed ``explanations-<name>``.

    Token attributions are a table in the page (the ``token_table`` filter), not a figure.
    """
    if not isinstance(section, ExplanationsSection) or section.status != "ok":
        return {}
    figs = explanation_views
    views: list[tuple[str, go.Figure | None, str]] = [
        ("explanations-attributions", *_attribution_view(section)),
        (
            "explanations-deletion",
            figs.curve_figure(section, "deletion"),
            "Deletion: the normalised target score as the features each method ranks highest "
            "are removed first; a faithful method makes it fall fast (lower AUC is better). "
            "The random baseline is dashed. The curve table gives the AUCs.",
        ),
        (
            "explanations-insertion",
            figs.curve_figure(section, "insertion"),
            "Insertion: the normalised target score as the features each method ranks highest "
            "are added to the baseline first; a faithful method makes it rise fast (higher AUC "
            "is better). The random baseline is dashed. The curve table gives the AUCs.",
        ),
        (
            "explanations-agreement",
            figs.agreement_figure(section),
            "Agreement between methods: Spearman rank correlation of their attributions "
            "(1 the same ranking, 0 unrelated, −1 reversed). The agreement table gives the "
            "numbers and the top-k overlap.",
        ),
        (
            "explanations-ground-truth",
            figs.ground_truth_figure(section),
            "How well each method finds the truly relevant features: AUROC of |attribution| "
            "against the ground-truth mask (0.5 is chance), the random baseline dashed. The "
            "ground-truth table gives the numbers.",
        ),
        (
            "explanations-sanity",
            figs.sanity_figure(section),
            "Model parameter randomisation (Adebayo et al. 2018): Spearman correlation "
            "between each method's attributions on the original model and on the model with "
            "its layers randomised cumulatively from the top; a method passes when it falls "
            "to the threshold (dashed) or below. The sanity table names the layers and gives "
            "the verdicts.",
        ),
    ]
    return {
        key: figure_html(fig, div_id=key, caption=caption)
        for key, fig, caption in views
        if fig is not None
    }
