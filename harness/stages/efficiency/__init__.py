"""The efficiency profiler: latency, throughput, memory, cold start, FLOPs and roofline.

Modules, one job each: ``stats`` is pure math over raw samples (percentiles, bootstrap
confidence intervals, the warm-up and stopping rules); ``flops`` counts the arithmetic of
one inference from an ONNX graph or a PyTorch module. Callers import what they need from
the module itself.
"""

from __future__ import annotations

__all__: list[str] = []
