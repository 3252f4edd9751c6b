"""Startup cost of the CLI: `--help` must answer without loading the ML stack.

Measured side by side in one run against `python -c "import torch"`, the cost the lazy
imports avoid; the assertion is on the ratio of medians, which survives a noisy machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
# --help may cost at most this share of importing torch.
MAX_HELP_TO_TORCH_IMPORT = 0.25


def _run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, capture_output=True, env=ENV)


@pytest.mark.benchmark(group="startup")
def test_bench_help(benchmark):
    benchmark.pedantic(_run, args=("-m", "harness", "--help"), rounds=15, warmup_rounds=2)


@pytest.mark.benchmark(group="startup")
def test_bench_import_torch(benchmark):
    benchmark.pedantic(_run, args=("-c", "import torch"), rounds=5, warmup_rounds=1)


def test_help_is_a_fraction_of_a_torch_import():
    import statistics
    import time

    def median_seconds(args: tuple[str, ...], rounds: int) -> float:
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            _run(*args)
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    # Interleaved warm-up, then both measured in the same run.
    _run("-c", "import torch")
    help_s = median_seconds(("-m", "harness", "--help"), 9)
    torch_s = median_seconds(("-c", "import torch"), 5)
    print(f"--help median {help_s * 1e3:.1f} ms, import torch median {torch_s * 1e3:.1f} ms")
    assert help_s < MAX_HELP_TO_TORCH_IMPORT * torch_s
