"""Scale-out: a dataset's explanations and a zoo-wide plan as work units (issue 21).

    python -m benchmarks.scale_out [--budget quick] [--shard-size 30] [--skip-zoo]

(from the repository root, with Ray installed: pip install -e '.[ray]'.)

1. Dataset-level explanations of the digits CNN (models/zoo/cnn_digits.onnx) over all 360
   samples of its task's test split, Integrated Gradients and Occlusion with their
   scorecards (``audit --samples all``, efficiency and attention skipped), with the process
   and Ray executors on 1 and 2 workers. Each run is its own ``python -m harness`` process
   with a fresh store. Printed per run: the command's wall time, the units' loop time (the
   run record's), the sum of the units' own seconds inside their workers, the per-unit
   overhead of the executor (mean of submit-to-result time less the unit's own time), the
   speed-up over the same executor on 1 worker, and a hash of result.json (the same for
   every run: the aggregate does not depend on the executor or the worker count).
2. ``audit-many`` over every zoo model (models/zoo/*.onnx, the budget's full audit: intake
   and efficiency alone, explanations, attention) on the process executor with 2 workers:
   the summary's ranking, and the wall time.

The figures depend on the machine and on what else runs on it: say which when quoting.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "models" / "zoo"
RUNS = (("process", 1), ("process", 2), ("ray", 1), ("ray", 2))


def dataset_run(folder: Path, executor: str, workers: int, args: argparse.Namespace) -> dict:
    # Each run in its own folder with the same --out, so that the command every result
    # records is the same too (it leaves out --executor and --workers).
    run_folder = folder / f"{executor}-{workers}"
    run_folder.mkdir()
    out = run_folder / "out"
    command = [
        sys.executable, "-m", "harness", "audit", str(ZOO / "cnn_digits.onnx"),
        "--samples", "all", "--shard-size", str(args.shard_size),
        "--explainers", "integrated_gradients,occlusion", "--budget", args.budget,
        "--skip", "efficiency", "--skip", "attention", "--fail-on", "never",
        "--executor", executor, "--workers", str(workers), "--out", "out", "--quiet",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=run_folder, env=_env())
    wall = time.perf_counter() - started
    record = json.loads((out.with_name(f"{out.name}.units") / "runs/1.json").read_text())
    text = (out / "result.json").read_bytes()
    digest = hashlib.sha256(text).hexdigest()[:16]
    return {
        "executor": executor,
        "workers": workers,
        "wall": wall,
        "loop": record["wall_seconds"],
        "units": record["units_ran"],
        "unit_seconds": sum(u["seconds"] for u in record["units"].values()),
        "overhead": record["overhead_seconds_per_unit"],
        "digest": digest,
        "text": text,
        "samples": json.loads((out / "result.json").read_text())["explanations"]["samples"],
    }


def print_dataset_table(rows: list[dict]) -> None:
    base = {r["executor"]: r["wall"] for r in rows if r["workers"] == 1}
    print(
        f"{'executor':<9} {'workers':>7} {'samples':>7} {'units':>5} {'wall s':>8} "
        f"{'loop s':>8} {'unit s (sum)':>12} {'overhead/unit s':>15} {'speed-up':>8}  result.json"
    )
    for r in rows:
        speedup = base[r["executor"]] / r["wall"]
        print(
            f"{r['executor']:<9} {r['workers']:>7} {r['samples']:>7} {r['units']:>5} "
            f"{r['wall']:>8.1f} {r['loop']:>8.1f} {r['unit_seconds']:>12.1f} "
            f"{r['overhead']:>15.3f} {speedup:>7.2f}x  sha256 {r['digest']}"
        )
    same = len({r["digest"] for r in rows}) == 1
    print(f"aggregates identical across executors and worker counts: {same}")
    for r in rows[1:]:  # where a result differs from the first run's, if it does
        first = rows[0]["text"].decode().splitlines()
        for number, (a, b) in enumerate(zip(first, r["text"].decode().splitlines(), strict=False)):
            if a != b:
                where = f"{r['executor']}-{r['workers']} line {number + 1}"
                print(f"  {where}: {a.strip()} != {b.strip()}")
                break


def zoo_plan(folder: Path, budget: str) -> Path:
    models = sorted(ZOO.glob("*.onnx"))
    text = f'[defaults]\nbudget = "{budget}"\nfail_on = "never"\n'
    for model in models:
        text += f'\n[[models]]\nmodel = "{model}"\n'
    path = folder / "zoo.toml"
    path.write_text(text, encoding="utf-8")
    return path


def zoo_run(folder: Path, budget: str) -> None:
    plan = zoo_plan(folder, budget)
    out = folder / "zoo"
    command = [
        sys.executable, "-m", "harness", "audit-many", str(plan), "--out", str(out),
        "--executor", "process", "--workers", "2", "--quiet",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    record = json.loads((out.with_name("zoo.units") / "runs/1.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    print(
        f"\naudit-many over {len(summary['models'])} zoo models, budget {budget}, process "
        f"executor, 2 workers: exit {done.returncode}, wall {wall:.1f} s, "
        f"{record['units_ran']} units, overhead/unit {record['overhead_seconds_per_unit']:.3f} s"
    )
    print(f"{'rank':>4} {'model':<24} {'verdict':<20} {'latency p50':>12} {'trust':>6}")
    for row in summary["models"]:
        latency = row["latency_p50_ms"]
        trust = row["trust"]
        print(
            f"{row['rank']:>4} {row['name']:<24} {row['verdict']:<20} "
            f"{'-' if latency is None else f'{latency:.3f} ms':>12} "
            f"{'-' if trust is None else f'{trust:.0%}':>6}"
        )


def _env() -> dict[str, str]:
    # Pinned creation time, so the runs' aggregates can be compared byte for byte; run from
    # the temporary folder (no git state to record, whatever is committed meanwhile) with
    # this checkout's code.
    return {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "PYTHONPATH": str(ROOT)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="quick", choices=("quick", "standard", "thorough"))
    parser.add_argument("--shard-size", type=int, default=30)
    parser.add_argument("--skip-zoo", action="store_true", help="only the dataset benchmark")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="harness-scale-") as folder:
        rows = [dataset_run(Path(folder), e, w, args) for e, w in RUNS]
        print_dataset_table(rows)
        if not args.skip_zoo:
            zoo_run(Path(folder), args.budget)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
