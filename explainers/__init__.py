"""Attribution methods over Captum, explanation-quality metrics, attention capture.

Filled in by the issues "Attributions that can be trusted" and "Attention inspection";
imports only ``harness.core``.
"""

__all__: list[str] = []
