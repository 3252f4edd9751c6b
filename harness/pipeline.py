"""The audit, start to finish: load -> resolve inputs -> forward pass -> stages -> result.

``run_audit`` measures and returns an ``AuditResult``; ``write_outputs`` renders it;
``audit`` joins them with atomic output. Progress is reported through a callback so the
library never prints (the CLI owns the terminal).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness._version import __version__
from harness.core.config import STAGE_NAMES, AuditConfig
from harness.core.errors import shorten
from harness.core.progress import SILENT, StageProgress
from harness.core.result import SCHEMA_VERSION, AuditResult, InputsSection, Section
from harness.intake.dims import DEFAULT_SEQUENCE
from harness.output import REPORT_FILE, RESULT_FILE, check_output_dir, staged_output_dir

if TYPE_CHECKING:
    import numpy as np

    from harness.core.model import LoadedModel
    from harness.intake.inputs import ResolvedInputs
    from harness.intake.membership import MembershipSets
    from harness.reports.vocabulary import Vocabulary
    from harness.runtime.device import Device

__all__ = ["Progress", "audit", "run_audit", "write_outputs"]

# progress(step, event, detail): event is "start" or "done"; detail is what is being done,
# or on "done" the outcome ("ok 0.42 s", "skipped: not implemented").
_MIN_SEQUENCE = 8

Progress = Callable[[str, str, str], None]
# stage_progress(stage name) -> where that stage reports its steps (harness.core.progress).
StageProgressFactory = Callable[[str], StageProgress]


def _silent(step: str, event: str, detail: str) -> None:
    pass


@contextmanager
def _step(
    progress: Progress, step: str, detail: str, seconds: dict[str, float] | None = None
) -> Iterator[None]:
    """One step reported to PROGRESS; its wall time is kept in SECONDS (when given)."""
    progress(step, "start", detail)
    started = time.perf_counter()
    yield
    elapsed = round(time.perf_counter() - started, 3)
    if seconds is not None:
        seconds[step] = elapsed
    progress(step, "done", f"ok {elapsed:.2f} s")


def run_audit(
    config: AuditConfig,
    progress: Progress = _silent,
    command: str | None = None,
    stage_progress: StageProgressFactory | None = None,
) -> AuditResult:
    """Measure ``config.model``; raises the harness's errors on bad input. COMMAND is the
    command line to record for reproducing the result (the CLI passes its own). Every
    warning raised or logged meanwhile is kept in the result's notes, and the findings'
    verdict is stored with it (computed here, above the reports that hold the rules and
    the core that holds the result, so that every reader reads the same verdict)."""
    from harness.core.notes import recording_notes
    from harness.reports.findings import verdict

    with recording_notes() as notes:
        result = _measure(config, progress, command, stage_progress)
    result = replace(result, notes=notes.lines())
    return replace(result, verdict=verdict(result))


def _measure(
    config: AuditConfig,
    progress: Progress,
    command: str | None,
    stage_progress: StageProgressFactory | None = None,
) -> AuditResult:
    from harness.intake.loader import load_model, summarize_model
    from harness.runtime.device import resolve_device
    from harness.runtime.environment import collect_environment
    from harness.runtime.forward import observe_outputs
    from harness.stages.context import AuditContext
    from harness.stages.runner import run_stage

    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    _limit_torch_threads(config.threads)
    if config.explainers:  # a misspelt --explainers fails now, not after the other stages
        from harness.explainers.methods.registry import check_method_names

        check_method_names(config.explainers)
    seconds: dict[str, float] = {}
    with _step(progress, "load", f"loading {config.model}", seconds):
        model = load_model(config)
        summary = summarize_model(model)
        device = resolve_device(config.device, model.format)
    with _step(progress, "inputs", "resolving inputs and running one forward pass", seconds):
        inputs, outputs = _resolve_and_run(model, config, device)
        _check_target(config, outputs)
        membership, missing = _membership(model, config)
    context = AuditContext(
        config, model, summary, inputs, device, membership=membership, membership_missing=missing
    )
    sections: dict[str, Section] = {}
    for name in STAGE_NAMES:
        progress(name, "start", "running")
        started = time.perf_counter()
        reporter = stage_progress(name) if stage_progress is not None else SILENT
        sections[name] = run_stage(name, replace(context, progress=reporter))
        seconds[name] = round(time.perf_counter() - started, 3)
        progress(name, "done", f"{_outcome(sections[name])} ({seconds[name]:.2f} s)")
    return AuditResult(
        schema_version=SCHEMA_VERSION,
        harness_version=__version__,
        created_at=created_at,
        environment=collect_environment(),
        config=config,
        device=device,
        model=summary,
        inputs=InputsSection(
            tensors=inputs.tensors,
            dims=inputs.dims,
            warnings=inputs.warnings,
            outputs=observe_outputs(outputs),
            task=inputs.task.task if inputs.task else None,
        ),
        **sections,  # type: ignore[arg-type]  # each built by its SECTION_TYPES class
        command=command,
        stage_seconds=seconds,
    )


def _limit_torch_threads(threads: int | None) -> None:
    """--threads binds torch as well as onnxruntime (the profiler's subprocesses set their
    own): explainers and attention capture run torch in this process."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _resolve_and_run(
    model: LoadedModel, config: AuditConfig, device: Device
) -> tuple[ResolvedInputs, dict[str, np.ndarray]]:
    """Resolve inputs and run them once. A defaulted sequence length the model rejects
    (a position table shorter than the default, say) is halved until it runs, and the
    result says so."""
    from harness.core.errors import InputResolutionError
    from harness.intake.inputs import resolve_inputs
    from harness.runtime.forward import run_forward

    length = DEFAULT_SEQUENCE
    while True:
        inputs = resolve_inputs(model, config, sequence_default=length)
        try:
            outputs = run_forward(model, inputs.arrays, device, config.threads)
        except InputResolutionError:
            if not inputs.sequence_defaulted or length <= _MIN_SEQUENCE:
                raise
            length //= 2
            continue
        if length != DEFAULT_SEQUENCE:
            note = (
                f"the model fails with the default sequence length {DEFAULT_SEQUENCE}; "
                f"the harness used {length}, the longest power of two that ran"
            )
            inputs = replace(inputs, warnings=(*inputs.warnings, note))
        return inputs, outputs


def _check_target(config: AuditConfig, outputs: dict[str, np.ndarray]) -> None:
    """--target must index a value of the first output (the one explained), checked now and
    not when the explanations stage reaches it after the efficiency stage's minutes. Only
    an index past every value of a sample is refused here; the stage knows the rest."""
    from harness.core.errors import UsageError

    if not isinstance(config.target, int) or "explanations" in config.skip or not outputs:
        return
    name, first = next(iter(outputs.items()))
    if first.ndim < 2:
        return
    width = math.prod(first.shape[1:])
    if config.target >= width:
        raise UsageError(
            f"--target {config.target} is out of range: the model's output "
            f"'{shorten(name)}' has {width} values per sample (0..{width - 1}); "
            "pass an index in that range"
        )


def _membership(
    model: LoadedModel, config: AuditConfig
) -> tuple[MembershipSets | None, str | None]:
    """The privacy stage's records, read now so that a bad --members or --nonmembers file
    stops the audit before any stage runs (and is read not at all when it is skipped)."""
    from harness.intake.membership import read_membership

    if "privacy" in config.skip:
        return None, "skipped by --skip"
    return read_membership(model, config)


def _outcome(section: Section) -> str:
    return section.status + (f": {section.reason}" if section.reason else "")


def write_outputs(result: AuditResult, folder: Path, vocabulary: Vocabulary | None = None) -> None:
    """``result.json`` and ``report.html`` into ``folder`` (which must exist); token ids
    shown through ``vocabulary`` when given."""
    from harness.reports import render_report

    (folder / RESULT_FILE).write_text(result.to_json(), encoding="utf-8")
    (folder / REPORT_FILE).write_text(render_report(result, vocabulary), encoding="utf-8")


def audit(
    config: AuditConfig,
    progress: Progress = _silent,
    command: str | None = None,
    vocabulary: Vocabulary | None = None,
    stage_progress: StageProgressFactory | None = None,
) -> tuple[AuditResult, Path]:
    """Run the audit and write its outputs atomically; returns the result and the folder."""
    out = config.out_dir
    check_output_dir(out, config.force)  # fail before minutes of work, not after
    result = run_audit(config, progress, command, stage_progress)
    with _step(progress, "write", f"writing {out}"), staged_output_dir(out, config.force) as tmp:
        write_outputs(result, tmp, vocabulary)
    return result, out
