"""One fuzz case: a command line, the files it reads, and what it may answer.

A case runs in a folder of its own (the working directory), so its argv names its files
by relative paths; the zoo models are named by absolute paths instead of being copied
(the bounded run must stay small on disk).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ANY",
    "AUDIT_OUTPUTS",
    "COMPLETED",
    "FAST",
    "GATE_ANY",
    "GOLDEN",
    "REJECT",
    "STAGES",
    "ZOO",
    "Case",
    "audit_argv",
    "zoo_model",
]

REPO = Path(__file__).resolve().parents[2]
ZOO = REPO / "models" / "zoo"
GOLDEN = REPO / "tests" / "reports" / "golden"

# What a command may answer to hostile input: never 3 (a bug) nor a signal; the gate also
# says 4 (inconclusive). REJECT is for inputs no version of the harness may accept.
ANY = frozenset({0, 1, 2})
GATE_ANY = frozenset({0, 1, 2, 4})
REJECT = frozenset({2})
# An audit that ran: a stage or its verdict may still fail (exit 1).
COMPLETED = frozenset({0, 1})

# An audit that only loads, checks and runs the model once: most classes are about intake.
FAST = (
    "--budget",
    "quick",
    "--skip",
    "efficiency",
    "--skip",
    "explanations",
    "--skip",
    "attention",
)
# The explanation and attention stages at their cheapest (about 2 s on the zoo's models),
# for the classes whose damage only a stage reaches (a zero batch, hostile names on display).
STAGES = ("--budget", "quick", "--skip", "efficiency", "--explainers", "saliency", "--samples", "1")
AUDIT_OUTPUTS = ("out/result.json", "out/report.html")


@dataclass(frozen=True)
class Case:
    """``argv`` for ``harness.cli.main``, run in a folder holding ``files`` (relative path
    -> bytes) and ``dirs``; ``read_only`` folders are made so after writing. ``outputs``
    are the files a run that exits 0 or 1 must leave (and the only new ones it may);
    ``codes`` the exit codes allowed. ``seed`` and ``index`` replay it: ``case_at``."""

    name: str  # "<class>/<variant>"
    argv: tuple[str, ...]
    files: Mapping[str, bytes] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    codes: frozenset[int] = ANY
    seed: int = 0
    index: int = 0

    def __post_init__(self) -> None:
        # A case must be replayable as a real command line: execve refuses NUL in argv.
        if any("\x00" in arg for arg in self.argv):
            raise ValueError(f"{self.name}: NUL in argv cannot reach a real command line")
        object.__setattr__(self, "files", dict(self.files))  # a copy: callers may reuse theirs

    @property
    def klass(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def quiet(self) -> bool:
        return "--quiet" in self.argv

    @property
    def input_bytes(self) -> int:
        return sum(len(content) for content in self.files.values())


def zoo_model(name: str) -> str:
    return str(ZOO / f"{name}.onnx")


def audit_argv(model: str, *extra: str, stages: bool = False) -> tuple[str, ...]:
    """``audit MODEL --out out --quiet``, FAST (STAGES when the case needs them), then
    EXTRA: last, so that a case's own --samples or --budget is the one that counts."""
    return ("audit", model, "--out", "out", "--quiet", *(STAGES if stages else FAST), *extra)
