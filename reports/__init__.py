"""Reports: an ``AuditResult`` rendered as one self-contained HTML file.

Reads only the result (``harness.core``); never loads or runs a model.
"""

from harness.reports.render import render_report

__all__ = ["render_report"]
