"""Progress inside the stages: plain lines when stderr is not a terminal (a CI log), one
per step and rate-limited, with counts and an ETA; nothing with --quiet."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.commands.terminal import PLAIN_INTERVAL_S, PlainProgress, Terminal
from harness.core.progress import SILENT
from tests.cli.test_cli_quiet import FAST, reciprocal_classifier


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def plain(clock: FakeClock) -> tuple[PlainProgress, list[str]]:
    lines: list[str] = []
    return PlainProgress("explanations", lines.append, clock), lines


def test_plain_progress_prints_the_plan_and_each_step_with_its_eta() -> None:
    clock = FakeClock()
    progress, lines = plain(clock)

    progress.advance(0, "preparing 8 samples")  # before the plan: no count, no ETA
    progress.plan(4, "step", "2 methods on 8 samples, batch 16")
    progress.advance(0, "saliency: attributions on twin", eta_s=30.0)
    clock.now += 10
    progress.advance(1, "occlusion: attributions on onnxruntime")  # no plan figure: the pace

    assert lines == [
        "explanations   preparing 8 samples",
        "explanations   plan: 4 steps (2 methods on 8 samples, batch 16)",
        "explanations   0/4 steps, saliency: attributions on twin, ≤ 30 s left",
        # 1 step of 4 in 10 s: 30 s for the 3 left
        "explanations   1/4 steps, occlusion: attributions on onnxruntime, ~30 s left",
    ]


def test_plain_progress_repeats_a_step_at_most_once_per_interval() -> None:
    clock = FakeClock()
    progress, lines = plain(clock)
    progress.plan(1, "step")
    for done in range(5):  # the same step, reported fast: one line
        progress.advance(0, f"ablating heads: pass {done + 1} of 9")
        clock.now += 0.1
    clock.now += PLAIN_INTERVAL_S
    progress.advance(0, "ablating heads: pass 6 of 9")

    assert lines[1:] == [
        "explanations   0/1 step, ablating heads: pass 1 of 9, time left unknown",
        "explanations   0/1 step, ablating heads: pass 6 of 9, time left unknown",
    ]


def test_plain_progress_prints_each_new_step_even_in_quick_succession() -> None:
    clock = FakeClock()
    progress, lines = plain(clock)
    progress.plan(2, "step")
    progress.advance(0, "saliency: attributions on twin")
    progress.advance(1, "saliency: scorecard and sanity check on twin")  # same method, next step
    assert [line.split(", ")[1] for line in lines[1:]] == [
        "saliency: attributions on twin",
        "saliency: scorecard and sanity check on twin",
    ]


def test_plain_progress_shows_a_long_eta_in_minutes() -> None:
    clock = FakeClock()
    progress, lines = plain(clock)
    progress.plan(2, "backend run")
    progress.advance(0, "onnxruntime/cpu: latency", eta_s=150.0)
    assert lines[-1].endswith("0/2 backend runs, onnxruntime/cpu: latency, ≤ 2 min 30 s left")


def test_quiet_terminal_gives_stages_silent_progress() -> None:
    assert Terminal(quiet=True).stage_progress("efficiency") is SILENT


def test_a_terminal_that_is_not_a_tty_prints_plain_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    terminal = Terminal(quiet=False, live=False)
    progress = terminal.stage_progress("attention")
    progress.plan(3, "step", "[bold]not markup[/]")
    err = capsys.readouterr().err
    assert err == "   attention   plan: 3 steps ([bold]not markup[/])\n"


@pytest.mark.slow
def test_an_audit_logs_the_explanations_plan_and_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = reciprocal_classifier(tmp_path / "reciprocal.onnx")
    code = main(["audit", str(model), "--out", str(tmp_path / "a"), *FAST])
    assert code in (0, 1)
    lines = [line.strip() for line in capsys.readouterr().err.splitlines()]
    plans = [line for line in lines if line.startswith("explanations   plan:")]
    assert len(plans) == 1 and "steps" in plans[0] and "samples, batch" in plans[0]
    steps = [line for line in lines if line.startswith("explanations   0/")]
    assert steps and "attributions on" in steps[0] and "s left" in steps[0]


# A quiet audit with the explanations stage running prints nothing at all on stderr:
# tests/cli/test_cli_quiet.py (in a subprocess, where pytest's capture cannot hide it).
