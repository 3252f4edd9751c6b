"""The regression gate: compare two results (or two models, A/B) and decide."""
