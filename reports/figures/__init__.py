"""Plotly figure builders: pure functions from a result section to a ``Figure`` (or None).

Plotly is imported inside each builder, so ``import reports`` stays light.
"""
