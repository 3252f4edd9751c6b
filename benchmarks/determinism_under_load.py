"""Same seed, same explanations, whatever the machine's load (issue 16).

    python -m benchmarks.determinism_under_load [--budget quick] [--models cnn transformer]

(from the repository root; about 2 minutes at the quick budget.) For each model, audits it
three times with one seed (``--skip efficiency --skip attention``), each in its own
``python -m harness audit`` process: once on the idle machine, then twice while CPU hogs
(``python -c "while True: pass"``, one per core) occupy every core. It prints each audit's
explanations stage time and a hash of its explanations section without wall-clock fields
(``harness.testing.determinism``), and whether the three are identical byte for byte.
Exit 1 when any model's three differ.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.suite_under_load import cpu_hogs
from harness.testing.determinism import comparable_explanations

ROOT = Path(__file__).resolve().parents[1]


def explain(model: str, budget: str, seed: int, out: Path) -> tuple[str, float, float]:
    """(the comparable explanations text, the stage's seconds, the 1-minute load after)."""
    command = [
        sys.executable, "-m", "harness", "audit", f"ref:{model}", "--budget", budget,
        "--seed", str(seed), "--skip", "efficiency", "--skip", "attention",
        "--out", str(out), "--quiet", "--fail-on", "never",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    result = json.loads((out / "result.json").read_text())
    seconds = (result.get("stage_seconds") or {}).get("explanations", float("nan"))
    return comparable_explanations(result["explanations"]), seconds, os.getloadavg()[0]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    differ = 0
    with tempfile.TemporaryDirectory(prefix="harness-determinism-") as folder:
        root = Path(folder)
        for model in args.models:
            runs = [("idle", *explain(model, args.budget, args.seed, root / f"{model}-idle"))]
            with cpu_hogs(os.cpu_count() or 2):
                for i in (1, 2):
                    out = root / f"{model}-load{i}"
                    runs.append((f"under load {i}", *explain(model, args.budget, args.seed, out)))
            for label, text, seconds, load in runs:
                digest = hashlib.sha256(text.encode()).hexdigest()[:16]
                print(
                    f"{model:<12} {label:<13} explanations {seconds:6.1f} s  load {load:4.1f}  "
                    f"{len(text):>9,} bytes  sha256 {digest}"
                )
            same = len({text for _, text, _, _ in runs}) == 1
            differ += not same
            print(f"{model:<12} identical byte for byte: {'yes' if same else 'NO'}")
    return 1 if differ else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.determinism_under_load")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--models", nargs="+", default=["cnn", "transformer"])
    parser.add_argument("--seed", type=int, default=7)
    return parser


if __name__ == "__main__":
    sys.exit(main())
