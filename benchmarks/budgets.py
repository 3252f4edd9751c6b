"""Do the budgets hold? Audits of hard and easy models at each budget, stage by stage.

    python -m benchmarks.budgets [--budgets quick standard] [--only NAME ...]

(from the repository root; the quick budget over every model takes about 15 minutes on a
2-core machine, standard about an hour, thorough several.) The models: the four zoo models,
torchvision's resnet18 at 224x224 (random weights), a keyword spotter on 40,000 raw audio
samples (``harness.testing.wild.inputs``), and a MatMul chain sized to take about 1.5 s a
call (``harness.testing.slow_models``). Each audit runs as its own ``python -m harness
audit`` process; the table shows, per stage, what the budget allows, what the stage took
(``result.json``'s ``stage_seconds``) and their ratio, and what was cut (methods the
deadline stopped, efficiency notes), then the audit's wall time. The goal (issue 16): every
stage within 1.25x its budget plus model load, no hang, and resnet18 at quick gets
saliency, integrated gradients and occlusion with their attributions.

A stage's budget: efficiency, the budget's ``pass_seconds`` for each profile pass it ran;
explanations, the budget's ``seconds`` (its deadline, counted after setup) plus the setup
the result records; attention is bounded by counts (samples, heads), not seconds, and shows
its time only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "models" / "zoo"
STAGES = ("efficiency", "explanations", "attention")
TOLERANCE = 1.25
# Rows = width of the slow chain: 2 * 2048**3 * 16 = 2.7e11 FLOPs a call, about 1.5 s on 2
# cores at onnxruntime's default threads (1024 took 181 ms).
SLOW_SIDE = 2048


def _zoo(name: str) -> Callable[[Path], tuple[Path, list[str]]]:
    return lambda _dest: (ZOO / f"{name}.onnx", [])


def _resnet18(dest: Path) -> tuple[Path, list[str]]:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "resnet18_224.onnx"
    torch.onnx.export(
        model,
        (torch.randn(1, 3, 224, 224),),
        str(path),
        dynamo=False,
        input_names=["pixels"],
        output_names=["logits"],
        dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}},
    )
    return path, []


def _raw_audio(dest: Path) -> tuple[Path, list[str]]:
    from harness.testing.wild.inputs import CASES

    for name, build, argv, _hand in CASES:
        if name == "raw_audio":
            return build(dest), list(argv)
    raise LookupError("harness.testing.wild.inputs has no raw_audio case")


def _slow_chain(dest: Path) -> tuple[Path, list[str]]:
    from harness.testing.slow_models import matmul_chain

    shape = f"x=1x{SLOW_SIDE}x{SLOW_SIDE}"
    return matmul_chain(dest, rows=SLOW_SIDE, width=SLOW_SIDE), ["--shape", shape]


MODELS: dict[str, Callable[[Path], tuple[Path, list[str]]]] = {
    "cnn_digits": _zoo("cnn_digits"),
    "transformer_trigger": _zoo("transformer_trigger"),
    "autoencoder_digits": _zoo("autoencoder_digits"),
    "rnn_trigger": _zoo("rnn_trigger"),
    "resnet18_224": _resnet18,
    "raw_audio_40k": _raw_audio,
    "matmul_chain_1.5s": _slow_chain,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="harness-budgets-") as folder:
        root = Path(folder)
        for name, build in MODELS.items():
            if args.only and name not in args.only:
                continue
            model, flags = build(root / "models" / name)
            for budget in args.budgets:
                row = _audit(name, model, flags, budget, root, args.timeout)
                print(_format(row), flush=True)
                worst = max([worst, *(r for r in row.get("ratios", {}).values() if r)])
    print(f"worst stage ratio: {worst:.2f} of its budget (goal: at most {TOLERANCE})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.budgets")
    parser.add_argument("--budgets", nargs="+", default=["quick"], help="budgets to audit at")
    parser.add_argument("--only", nargs="*", help=f"models (default all: {', '.join(MODELS)})")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per audit")
    return parser


def _audit(
    name: str, model: Path, flags: list[str], budget: str, root: Path, timeout: float
) -> dict[str, Any]:
    out = root / "audits" / f"{name}-{budget}"
    command = [sys.executable, "-m", "harness", "audit", str(model), "--out", str(out)]
    command += ["--budget", budget, "--quiet", "--fail-on", "never", *flags]
    row: dict[str, Any] = {"model": name, "budget": budget}
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {**row, "exit": "timeout", "wall": time.perf_counter() - started}
    row.update(exit=done.returncode, wall=time.perf_counter() - started)
    result_file = out / "result.json"
    if not result_file.is_file():
        lines = done.stderr.strip().splitlines()
        return {**row, "error": lines[-1] if lines else "no result"}
    row.update(_stages(json.loads(result_file.read_text()), budget))
    return row


def _stages(result: dict[str, Any], budget: str) -> dict[str, Any]:
    from harness.stages.efficiency.budget import BUDGETS as EFFICIENCY
    from harness.stages.explanations.budget import BUDGETS as EXPLANATIONS

    seconds = result.get("stage_seconds") or {}
    efficiency = result["efficiency"]
    explanations = result["explanations"]
    passes = max(1, len(efficiency.get("runs") or []))
    setup = (explanations.get("timing") or {}).get("setup", 0.0)
    allowed: dict[str, float | None] = {
        "efficiency": EFFICIENCY[budget].pass_seconds * passes,
        "explanations": EXPLANATIONS[budget].seconds + setup,
        "attention": None,
    }
    ratios = {
        stage: seconds[stage] / allowed[stage] if allowed[stage] and stage in seconds else None
        for stage in STAGES
    }
    return {
        "load": seconds.get("load", 0.0) + seconds.get("inputs", 0.0),
        "seconds": seconds,
        "allowed": allowed,
        "ratios": ratios,
        "status": {stage: result[stage]["status"] for stage in STAGES},
        "cut": {
            "efficiency": _efficiency_cuts(efficiency),
            "explanations": _explanation_cuts(explanations),
            "attention": result["attention"].get("reason") or "",
        },
        "methods": {m["name"]: m["status"] for m in explanations.get("methods") or []},
    }


def _efficiency_cuts(section: dict[str, Any]) -> str:
    notes = [note for run in section.get("runs") or [] for note in run.get("notes") or []]
    return "; ".join(notes) if notes else (section.get("reason") or "")


def _explanation_cuts(section: dict[str, Any]) -> str:
    """What the plan cut (its ``<method>.cut`` entries, shortened to what was left out)
    and what the deadline stopped (incomplete methods and metrics)."""
    cut = [
        f"{key.removesuffix('.cut')}: {str(why).split(':')[0]}"
        for key, why in (section.get("plan") or {}).items()
        if key.endswith(".cut")
    ]
    for method in section.get("methods") or []:
        if method["status"] in ("incomplete", "failed"):
            cut.append(f"{method['name']} {method['status']}")
            continue
        stopped = [
            m["name"] for m in method.get("metrics") or [] if "incomplete" in m["parameters"]
        ]
        if stopped:
            cut.append(f"{method['name']} stopped: {', '.join(stopped)}")
    return "; ".join(cut) if cut else (section.get("reason") or "")


def _format(row: dict[str, Any]) -> str:
    head = f"{row['model']} @ {row['budget']}: exit {row['exit']}, wall {row['wall']:.1f} s"
    if "seconds" not in row:
        return f"{head}\n    no result: {row.get('error', '')}"
    lines = [f"{head} (load and inputs {row['load']:.1f} s)"]
    for stage in STAGES:
        took = row["seconds"].get(stage)
        allowed = row["allowed"][stage]
        ratio = row["ratios"][stage]
        budget = f"{allowed:7.1f} s" if allowed else "  counts"
        share = f"{ratio:5.2f}x" if ratio is not None else "    - "
        took_text = f"{took:7.1f} s" if took is not None else "      -"
        flag = "  OVER" if ratio is not None and ratio > TOLERANCE else ""
        cut = _clip(row["cut"][stage])
        lines.append(
            f"    {stage:<13}{row['status'][stage]:<9} budget {budget}  took {took_text}  "
            f"{share}{flag}  {cut}"
        )
    methods = ", ".join(f"{name} {status}" for name, status in row["methods"].items())
    lines.append(f"    methods: {methods or '-'}")
    return "\n".join(lines)


def _clip(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
