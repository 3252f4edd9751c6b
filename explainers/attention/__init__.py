"""Attention inspection: capture every layer's maps, check them, and read them.

    capture_onnx    find attention Softmax nodes, promote their outputs (onnxruntime)
    capture_torch   forward hooks on attention softmax/attention modules (PyTorch)
    verify          shape, rows summing to 1, padding, softmax(QK^T) recomputed
    analysis        per-head entropy, distance, first-token and self share; rollout; AUROC
    ablation        head importance: one head's attention zeroed, the target score's drop
    display         how much of a long sequence a report shows

The capture modules import onnx/onnxruntime and torch; import them where they are used.
Imports only ``harness.core``.
"""

__all__: list[str] = []
