"""The wild corpus in one table: every hard case of ``harness.testing.wild`` audited.

    python -m benchmarks.wild_corpus [--budget quick] [--only NAME ...] [--timeout S]

(from the repository root.) Each case is built into a temporary folder and audited through
the CLI in its own ``python -m harness audit`` process, with the flags its builder module
declares (``CASES``: (name, builder, extra argv, hand FLOPs or None); a module without
``CASES`` has each ``build_*`` audited with no flags). One row per model: the exit code,
each section's status and (shortened) reason, whether gradient methods ran, the attention
layers found, the counted FLOPs beside the hand count, and the verdict (which can make an
audit with every section ok exit 1, under the default --fail-on). A case that crashes, hangs or
writes no result is a row saying so, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.result import STAGE_NAMES

__all__ = ["Case", "cases", "main"]

_GRADIENT_METHODS = ("saliency", "integrated_gradients", "deeplift", "gradient_shap")
_REASON_WIDTH = 70


@dataclass(frozen=True)
class Case:
    topic: str
    name: str
    build: Callable[[Path], Path]
    argv: tuple[str, ...]
    hand_flops: int | None


def cases() -> Iterator[Case]:
    """Every case of every module of ``harness.testing.wild``, in module order."""
    import harness.testing.wild as wild

    for info in sorted(pkgutil.iter_modules(wild.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{wild.__name__}.{info.name}")
        declared = getattr(module, "CASES", None)
        if declared is not None:
            for name, build, argv, hand in declared:
                yield Case(info.name, name, build, tuple(argv), hand)
            continue
        for attr in sorted(vars(module)):
            if attr.startswith("build_") and callable(getattr(module, attr)):
                yield Case(info.name, attr.removeprefix("build_"), getattr(module, attr), (), None)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="harness-wild-") as folder:
        root = Path(folder)
        for case in cases():
            if args.only and case.name not in args.only:
                continue
            rows.append(_audit(case, root, args.budget, args.timeout))
            print(_format(rows[-1]), flush=True)
    crashed = sum(1 for row in rows if row["exit"] not in (0, 1, 2))
    print(f"{len(rows)} cases; {crashed} with an exit other than 0, 1 or 2")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.wild_corpus")
    parser.add_argument("--budget", default="quick", help="the audits' --budget (quick)")
    parser.add_argument("--only", nargs="*", help="case names to audit (default: all)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per audit")
    return parser


def _audit(case: Case, root: Path, budget: str, timeout: float) -> dict[str, Any]:
    row: dict[str, Any] = {"case": f"{case.topic}/{case.name}", "flags": " ".join(case.argv)}
    try:
        model = case.build(root / "models" / case.name)
    except Exception as exc:  # a builder that breaks is a row too
        return {**row, "exit": "build", "error": f"{type(exc).__name__}: {exc}"}
    out = root / "audits" / case.name
    command = [sys.executable, "-m", "harness", "audit", str(model), "--out", str(out)]
    command += ["--budget", budget, "--quiet", *case.argv]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**row, "exit": "timeout", "error": f"no exit in {timeout:.0f} s"}
    row["exit"] = done.returncode
    lines = done.stderr.strip().splitlines()
    row["error"] = lines[-1] if lines else ""
    result_file = out / "result.json"
    if result_file.is_file():
        row.update(_summary(json.loads(result_file.read_text()), case.hand_flops))
    return row


def _summary(result: dict[str, Any], hand: int | None) -> dict[str, Any]:
    sections = {}
    for name in STAGE_NAMES:
        section = result.get(name) or {}
        sections[name] = (section.get("status"), _short(section.get("reason") or ""))
    methods = (result.get("explanations") or {}).get("methods") or []
    gradients = [m["name"] for m in methods if m["name"] in _GRADIENT_METHODS]
    ran = [m["name"] for m in methods if m["name"] in _GRADIENT_METHODS and m["status"] == "ok"]
    layers = (result.get("attention") or {}).get("layers") or []
    work = (result.get("efficiency") or {}).get("work") or {}
    verdict = result.get("verdict") or {}
    deciding = verdict.get("deciding") or []
    return {
        "verdict": verdict.get("status"),
        "deciding": deciding[0].get("title") if deciding else "",
        "sections": sections,
        "gradients": f"{len(ran)}/{len(gradients)}" if gradients else "none planned",
        "attention_layers": len(layers),
        "flops": work.get("flops"),
        "work_status": work.get("status"),
        "hand_flops": hand,
    }


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_WIDTH else text[: _REASON_WIDTH - 3] + "..."


def _format(row: dict[str, Any]) -> str:
    head = f"{row['case']}  exit {row['exit']}" + (f"  [{row['flags']}]" if row["flags"] else "")
    lines = [head]
    if "sections" not in row:
        lines.append(f"    no result: {_short(row.get('error', ''))}")
        return "\n".join(lines)
    if row["verdict"]:
        lines.append(f"    verdict      {row['verdict']}  {_short(row['deciding'])}")
    for name, (status, reason) in row["sections"].items():
        lines.append(f"    {name:<13}{status or '-':<9}{reason}")
    flops = row["flops"]
    counted = f"{flops:,}" if isinstance(flops, int) else "-"
    if row["work_status"] == "incomplete":
        counted += " (incomplete)"
    hand = f"{row['hand_flops']:,}" if row["hand_flops"] else "-"
    lines.append(
        f"    gradients {row['gradients']}; attention layers {row['attention_layers']}; "
        f"FLOPs {counted} (hand, matrix ops: {hand})"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
