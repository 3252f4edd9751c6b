"""Builders shared by the tests and the benchmarks: small ONNX graphs and PyTorch modules
with known answers, the attention models, and the twin's corpus of real architectures.

Not used by the harness itself (an import-linter contract says so); they import torch,
onnx and, for the corpus, transformers, which only the ``dev`` extra installs.
"""
