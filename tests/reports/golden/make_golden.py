"""Rebuild the golden result files from fresh audits (run by hand, not by the tests).

    python -m harness audit models/zoo/cnn_digits.onnx --budget quick --out /tmp/g/cnn
    python -m harness audit models/zoo/transformer_trigger.onnx --budget quick --out /tmp/g/tf
    python tests/reports/golden/make_golden.py /tmp/g/cnn/result.json /tmp/g/tf/result.json

``v1_cnn_digits.json`` was written by schema version 1 (before the command line and the
findings' thresholds were recorded) and is kept as it is: it proves that ``migrate()``
still reads old results. Rebuild only the version-2 files. Arrays are shortened so the
files stay small; the tests check rendering, not the numbers.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from harness.core.attention import AttentionSection
from harness.core.efficiency import EfficiencySection
from harness.core.explanations import ExplanationsSection
from harness.core.result import AuditResult

HERE = Path(__file__).parent
SAMPLES_KEPT = 300


def shorten(data: dict) -> dict:
    for run in data["efficiency"]["runs"]:
        run["latency"]["samples_ms"] = run["latency"]["samples_ms"][:SAMPLES_KEPT]
        # n counts samples_ms: a result whose count disagrees with its array is refused.
        run["latency"]["n"] = len(run["latency"]["samples_ms"])
    for method in data["explanations"]["methods"]:
        method["attributions"] = method["attributions"][:1]
    data["explanations"]["inputs"] = data["explanations"]["inputs"][:1]
    if data["attention"].get("display"):
        data["attention"]["display"] = data["attention"]["display"][:1]
    return data


def write(name: str, data: dict) -> None:
    (HERE / name).write_text(json.dumps(data, separators=(",", ":")) + "\n")


def failed_states(data: dict) -> dict:
    """Every stage failed, each with its reason: the sections' failed state."""
    result = AuditResult.from_dict(data)
    failed = dataclasses.replace(
        result,
        efficiency=EfficiencySection("failed", "profiler worker exited with code -9"),
        explanations=ExplanationsSection("failed", "twin conversion raised: <Loop> unsupported"),
        attention=AttentionSection("failed", "capture hook saw no tensors"),
    )
    return failed.to_dict()


if __name__ == "__main__":
    cnn, transformer = (json.loads(Path(p).read_text()) for p in sys.argv[1:3])
    write("v2_transformer_trigger.json", shorten(transformer))
    write("v2_failed_stages.json", failed_states(shorten(cnn)))
