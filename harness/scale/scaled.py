"""Scale-out, start to finish: plan -> units -> store -> executor -> aggregates -> files.

    audit_many     ``harness audit-many PLAN.toml``: OUT/summary.html, OUT/summary.json and
                   OUT/models/NAME/{result.json, report.html}, written in one swap
    audit_dataset  ``harness audit MODEL --samples all``: the usual OUT/result.json and
                   OUT/report.html, the explanations covering every sample

Both check the output folder before any work, keep their units in a store (by default
beside the output: ``OUT.units``), and resume from it when run again.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import UsageError, shorten
from harness.scale.aggregate import ModelAggregate, aggregate_model
from harness.scale.executors import make_executor
from harness.scale.plan import ScalePlan
from harness.scale.runner import ProgressState, RunReport, run_units
from harness.scale.store import Store
from harness.scale.summary import SUMMARY_KIND, render_summary, summary_json, summary_rows
from harness.scale.units import cut_plan

__all__ = ["ScaleOutcome", "audit_dataset", "audit_many", "default_store"]

Progress = Callable[[ProgressState], None]


@dataclass(frozen=True)
class ScaleOutcome:
    report: RunReport
    aggregates: tuple[ModelAggregate, ...]
    out: Path
    store: Path

    @property
    def partial(self) -> bool:
        return any(a.partial for a in self.aggregates)


@dataclass(frozen=True)
class Execution:
    """Where the units run: ``--executor``, ``--workers``, ``--ray-address``."""

    executor: str = "inline"
    workers: int = 1
    ray_address: str | None = None


def default_store(out: Path) -> Path:
    """``OUT.units`` beside the output folder."""
    out = out.absolute()
    return out.with_name(f"{out.name}.units")


def audit_many(
    plan: ScalePlan,
    out: Path,
    store_dir: Path | None,
    execution: Execution,
    progress: Progress,
    command: str | None,
) -> ScaleOutcome:
    _check_many_output(out)
    store_path = store_dir or default_store(out)
    report, aggregates = _run(plan, store_path, execution, progress, command)
    _write_many(out, aggregates)
    return ScaleOutcome(report, tuple(aggregates), out, store_path)


def audit_dataset(
    plan: ScalePlan,
    out: Path,
    force: bool,
    store_dir: Path | None,
    execution: Execution,
    progress: Progress,
    command: str | None,
) -> ScaleOutcome:
    from harness.output import check_output_dir, staged_output_dir
    from harness.pipeline import write_outputs

    check_output_dir(out, force)
    store_path = store_dir or default_store(out)
    report, aggregates = _run(plan, store_path, execution, progress, command)
    result = aggregates[0].result
    if result is not None:
        with staged_output_dir(out, force) as staging:
            write_outputs(result, staging)
    return ScaleOutcome(report, tuple(aggregates), out, store_path)


def _run(
    plan: ScalePlan,
    store_path: Path,
    execution: Execution,
    progress: Progress,
    command: str | None,
) -> tuple[RunReport, list[ModelAggregate]]:
    store = Store.open(store_path)
    cut = cut_plan(plan)
    executor = make_executor(execution.executor, execution.workers, execution.ray_address)
    report = run_units(cut, store, executor, plan.retries, progress)
    aggregates = [aggregate_model(entry, cut, store, command) for entry in plan.models]
    return report, aggregates


# --- audit-many's output folder -------------------------------------------------------------


def _check_many_output(out: Path) -> None:
    """OUT must be missing, empty, or a previous audit-many output (which the new one
    replaces: it is derived from the store, which keeps everything)."""
    if not out.exists() and not out.is_symlink():
        parent = _existing_parent(out.absolute())
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write in '{shorten(str(parent))}'; choose another --out")
        return
    if not out.is_dir() or out.is_symlink():
        raise UsageError(f"--out '{shorten(str(out))}' exists and is not a folder; choose another")
    if any(out.iterdir()) and not _is_previous_output(out):
        raise UsageError(
            f"--out '{shorten(str(out))}' holds files that are not a previous audit-many "
            "output; choose another --out"
        )


def _is_previous_output(out: Path) -> bool:
    import json

    try:
        document = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and document.get("kind") == SUMMARY_KIND


def _existing_parent(path: Path) -> Path:
    for candidate in path.parents:
        if candidate.exists():
            return candidate
    return Path(path.anchor or "/")


def _write_many(out: Path, aggregates: list[ModelAggregate]) -> None:
    """Every model's result and report, and the summary, into a staging folder that then
    replaces OUT in one rename (the previous output moved aside and removed after)."""
    from harness.pipeline import write_outputs

    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    staging.mkdir()
    try:
        for aggregate in aggregates:
            if aggregate.result is not None:
                folder = staging / "models" / aggregate.name
                folder.mkdir(parents=True)
                write_outputs(aggregate.result, folder)
        rows = summary_rows(list(aggregates))
        partial = any(a.partial for a in aggregates)
        (staging / "summary.json").write_text(summary_json(rows, partial), encoding="utf-8")
        title = "Audit summary" + (" (partial)" if partial else "")
        (staging / "summary.html").write_text(render_summary(rows, partial, title), "utf-8")
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: Path, out: Path) -> None:
    if not out.exists():
        staging.rename(out)
        return
    backup = out.with_name(f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    out.rename(backup)
    try:
        staging.rename(out)
    except BaseException:
        backup.rename(out)
        raise
    shutil.rmtree(backup, ignore_errors=True)
