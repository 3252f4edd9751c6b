"""Do the membership-inference attacks find what is there, and only that?

    python -m benchmarks.privacy_attacks [--budget standard] [--control-seeds 20]

(from the repository root; about 5 minutes on a 2-core machine at the standard budget.)
Three cases, each audited by ``python -m harness audit ... --skip efficiency --skip
explanations --skip attention`` in its own process (the CLI end to end):

    overfit   the digits CNN trained on 30 records (3 a class) for 400 epochs with no
              regularisation (``harness.testing.membership``), exported to ONNX without the
              zoo's tag; --members its 30 training records, --nonmembers the 1767 others
    zoo       the committed zoo CNN (``ref:cnn``: the zoo's recipe, 20 epochs on the whole
              training split); no files: the stage takes the task's own splits (1437
              training records, 360 test records)
    control   the overfit model again, but "members" and "non-members" are both drawn from
              its 1767 non-members, split at random per seed: nothing separates them, so an
              attack's AUC CI must contain 0.5 (the brief: in at least 19 of 20 seeds)

For each case and attack the table prints AUC [95% CI], the permutation p-value, TPR at 1%
and 0.1% FPR on held-out non-members (or "not estimable"), the epsilon lower bound and the
privacy stage's wall time (``result.json``'s ``stage_seconds``); then the control's count of
seeds whose CI contains 0.5, per attack.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SKIP = ["--skip", "efficiency", "--skip", "explanations", "--skip", "attention"]


def _audit(model: str, out: Path, budget: str, extra: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "harness", "audit", model, "--out", str(out), "--force"]
    command += ["--budget", budget, "--quiet", *SKIP, *extra]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"audit of {model} exited {done.returncode}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads((out / "result.json").read_text())
    return result


def _point_text(point: dict[str, Any], members: int) -> str:
    if not point["estimable"]:
        return f"not estimable ({point['heldout_nonmembers']} < {point['needed_nonmembers']})"
    low, high = point["tpr_ci"]
    return (
        f"{point['tpr']:.1%} [{low:.1%}, {high:.1%}] "
        f"({point['member_hits']}/{members} at {point['fpr']:.2%} FPR)"
    )


def _table(case: str, result: dict[str, Any]) -> None:
    section = result["privacy"]
    seconds = result["stage_seconds"].get("privacy", float("nan"))
    print(
        f"\n{case}: {section['status']} {section['reason'] or ''}\n  {section['source_detail']}\n"
        f"  {section['members']} members, {section['nonmembers']} non-members; privacy stage "
        f"{seconds:.1f} s wall"
    )
    columns = ("attack", 17), ("AUC [95% CI]", 24), ("p", 9), ("TPR at 1% FPR", 42)
    header = "".join(f"{name:<{width}}" for name, width in columns)
    print(f"  {header}{'TPR at 0.1% FPR':<30}eps_lo")
    for attack in section["attacks"]:
        s = attack["separation"]
        if s is None:
            print(f"  {attack['name']:<17}{attack['status']}: {attack['reason']}")
            continue
        auc = f"{s['auc']:.3f} [{s['auc_ci'][0]:.3f}, {s['auc_ci'][1]:.3f}]"
        points = {p["target_fpr"]: p for p in s["points"]}
        eps = "not estimable" if s["epsilon_lower"] is None else f"{s['epsilon_lower']:.2f}"
        at_1, at_01 = (_point_text(points[f], s["members"]) for f in (0.01, 0.001))
        print(f"  {attack['name']:<17}{auc:<24}{s['p_value']:<9.3g}{at_1:<42}{at_01:<30}{eps}")


def _control(
    folder: Path, model: Path, nonmember_rows: np.ndarray, seeds: int, budget: str
) -> None:
    from harness.testing.membership import digits_records, write_records

    records = digits_records()
    contained: dict[str, int] = {}
    seconds = []
    for seed in range(seeds):
        order = np.random.default_rng(1000 + seed).permutation(nonmember_rows)
        half = order.size // 2
        members = write_records(folder / f"control_m{seed}.npz", records, order[:half])
        others = write_records(folder / f"control_n{seed}.npz", records, order[half:])
        extra = ["--members", str(members), "--nonmembers", str(others), "--seed", str(seed)]
        result = _audit(str(model), folder / f"control{seed}", budget, extra)
        if seed == 0:
            _table(
                "control (seed 0: both sides drawn from the overfit model's non-members)", result
            )
        seconds.append(result["stage_seconds"]["privacy"])
        for attack in result["privacy"]["attacks"]:
            s = attack["separation"]
            if s is not None:
                inside = s["auc_ci"][0] <= 0.5 <= s["auc_ci"][1]
                contained[attack["name"]] = contained.get(attack["name"], 0) + int(inside)
    print(f"\ncontrol over {seeds} seeds: AUC CI contains 0.5 in")
    for name, count in contained.items():
        print(f"  {name:<17}{count}/{seeds}")
    print(f"  privacy stage wall: median {np.median(seconds):.1f} s, max {max(seconds):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="standard", choices=("quick", "standard", "thorough"))
    parser.add_argument("--control-seeds", type=int, default=20)
    args = parser.parse_args()
    from harness.testing.membership import (
        OVERFIT_EPOCHS,
        OVERFIT_MEMBERS,
        digits_records,
        export_without_zoo_tag,
        train_overfit,
        write_records,
    )

    records = digits_records()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        module, train_accuracy, other_accuracy = train_overfit()
        print(
            f"overfit CNN: {OVERFIT_MEMBERS} members, {OVERFIT_EPOCHS} epochs, train accuracy "
            f"{train_accuracy:.3f}, accuracy on the other records {other_accuracy:.3f}"
        )
        model = folder / "overfit.onnx"
        export_without_zoo_tag(module, model)
        rows = np.arange(len(records.labels))
        members = write_records(folder / "members.npz", records, rows[:OVERFIT_MEMBERS])
        others = write_records(folder / "nonmembers.npz", records, rows[OVERFIT_MEMBERS:])
        extra = ["--members", str(members), "--nonmembers", str(others)]
        _table("overfit", _audit(str(model), folder / "overfit", args.budget, extra))
        _table("zoo recipe (ref:cnn)", _audit("ref:cnn", folder / "zoo", args.budget, []))
        _control(folder, model, rows[OVERFIT_MEMBERS:], args.control_seeds, args.budget)
    print("\n(the machine is shared with other engineers: wall times are indicative only)")


if __name__ == "__main__":
    main()
