"""``AuditResult`` -> one self-contained HTML document (Jinja2, autoescaped, offline)."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from harness.core.result import STAGE_NAMES, AuditResult
from reports import format as fmt

__all__ = ["render_report"]

_TEMPLATE = "report.html.j2"

_FILTERS = {
    "human_bytes": fmt.human_bytes,
    "thousands": fmt.thousands,
    "sig4": fmt.sig4,
    "or_dash": fmt.or_dash,
    "yes_no": fmt.yes_no,
    "plain": fmt.plain,
    "shape": fmt.shape,
}


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
    template = _environment().get_template(_TEMPLATE)
    return template.render(
        result=result,
        stage_names=STAGE_NAMES,
        config_rows=fmt.config_rows(result.config),
    )
