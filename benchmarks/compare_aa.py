"""Do compare and the gate agree, and how often do they cry wolf on the same model?

    python -m benchmarks.compare_aa --pairs 20 --budget quick

(from the repository root; about 10 minutes on a shared 2-core machine at the quick budget,
where one audit takes 15 to 40 seconds.)

Audits the bundled CNN ``pairs + 1`` times in a row (``--skip explanations --skip
attention``) and judges each CONSECUTIVE pair (audit i as the base, audit i+1 as the
current): 21 audits give 20 pairs. Consecutive pairs share an audit, so they are not
independent trials; they are the cheaper honest choice here, and every pair is still two
separate processes, as CI compares a stored baseline with a fresh audit. Each pair goes
through compare's and the gate's Python entry points (``harness.commands.compare.judge``
and ``harness.gate.gate.plan_gate`` / ``judge``), and the table counts the pairs in which
each reports a regression, and, per check both evaluate, the pairs where their verdicts
differ (must be 0). ``--keep DIR`` keeps (and reuses) the audits.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "zoo" / "cnn_digits.onnx"


def audit(model: Path, out: Path, budget: str) -> Path:
    """One audit in its own process; its result.json (reused when OUT already holds one)."""
    result = out / "result.json"
    if result.is_file():
        return result
    command = [
        sys.executable, "-m", "harness", "audit", str(model), "--budget", budget,
        "--skip", "explanations", "--skip", "attention", "--out", str(out), "--force",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    return result


def judge_pair(base: Path, current: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(compare's verdict per check, the gate's verdict per check) for one pair."""
    from harness.commands.compare import judge
    from harness.gate.gate import GateRequest, plan_gate
    from harness.gate.gate import judge as gate_judge

    comparison = judge(base, current)
    compared = {
        _key(row.name, group.run): row.outcome.verdict
        for group in comparison.groups
        for row in group.rows
        if row.judged
    }
    gate = gate_judge(plan_gate(GateRequest(base=base, current=current)))
    gated = {_key(o.check.metric, _gate_run(comparison, o.check.run)): o.verdict
             for o in gate.outcomes}  # fmt: skip
    return compared, gated


def _gate_run(comparison: object, run: str | None) -> str | None:
    """The gate's default checks read each result's first run: the one compare shows first."""
    if run is not None:
        return run
    runs = comparison.base.runs  # type: ignore[attr-defined]
    return runs[0] if runs else None


def _key(metric: str, run: str | None) -> str:
    return f"{metric}@{run}" if run else metric


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="compare_aa_"))
    results = []
    for index in range(args.pairs + 1):
        results.append(audit(Path(args.model), work / f"audit{index:02d}", args.budget))
        print(f"audit {index + 1}/{args.pairs + 1} done", file=sys.stderr, flush=True)
    compare_regressions = gate_regressions = 0
    disagreements: Counter[str] = Counter()
    evaluated: Counter[str] = Counter()
    verdicts: Counter[tuple[str, str, str]] = Counter()
    for base, current in pairwise(results):
        compared, gated = judge_pair(base, current)
        compare_regressions += "regression" in compared.values()
        gate_regressions += "regression" in gated.values()
        for check in sorted(compared.keys() & gated.keys()):
            evaluated[check] += 1
            disagreements[check] += compared[check] != gated[check]
            verdicts[(check, "compare", compared[check])] += 1
    print(_table(args, compare_regressions, gate_regressions, evaluated, disagreements, verdicts))
    return 0


def _table(
    args: argparse.Namespace,
    compare_regressions: int,
    gate_regressions: int,
    evaluated: Counter[str],
    disagreements: Counter[str],
    verdicts: Counter[tuple[str, str, str]],
) -> str:
    lines = [
        f"{args.pairs} consecutive A/A pairs of {Path(args.model).name}, budget {args.budget}",
        f"pairs with a compare regression: {compare_regressions}",
        f"pairs with a gate regression:    {gate_regressions}",
        "",
        "| check | pairs evaluated by both | disagreements | verdicts |",
        "|---|---|---|---|",
    ]
    for check in sorted(evaluated):
        shown = ", ".join(
            f"{verdict} {count}"
            for (name, _, verdict), count in sorted(verdicts.items())
            if name == check
        )
        lines.append(f"| {check} | {evaluated[check]} | {disagreements[check]} | {shown} |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--keep", metavar="DIR", help="keep the audits here (and reuse them)")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
