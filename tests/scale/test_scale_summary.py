"""The summary's ranking and explanation trust, and progress on stderr."""

from __future__ import annotations

import io

import pytest

from harness.commands.audit_many import UnitProgress, reproducible_command
from harness.core.explanations import ExplanationsSection, MethodResult, MetricScore
from harness.scale.runner import ProgressState
from harness.scale.summary import SummaryRow, _rank_key, explanation_trust


def _row(name, verdict, trust, latency):
    return SummaryRow(0, name, name, verdict, "", latency, trust, "", False, (), None)


def test_models_rank_by_verdict_then_trust_then_latency_then_name():
    rows = [
        _row("slow-pass", "pass", 0.9, 9.0),
        _row("failing", "fail", 1.0, 1.0),
        _row("fast-pass", "pass", 0.9, 2.0),
        _row("trusted-warn", "pass with warnings", 1.0, 1.0),
        _row("no-trust-pass", "pass", None, 1.0),
        _row("best", "pass", 1.0, 50.0),
        _row("gone", "no result", None, None),
    ]
    ranked = [r.name for r in sorted(rows, key=_rank_key)]
    assert ranked == [
        "best",
        "fast-pass",
        "slow-pass",
        "no-trust-pass",
        "trusted-warn",
        "failing",
        "gone",
    ]


def _method(name, infidelity, faithfulness):
    return MethodResult(
        name,
        "ok",
        metrics=(
            MetricScore("infidelity", infidelity, False, {}),
            MetricScore("faithfulness_correlation", faithfulness, True, {}),
        ),
    )


def test_trust_counts_the_comparisons_won_against_random_in_each_metrics_direction():
    section = ExplanationsSection(
        status="ok",
        methods=(_method("a", 0.1, 0.9), _method("b", 0.5, None)),
        random_baseline=_method("random", 0.3, 0.2),
    )

    class Result:
        explanations = section

    trust, detail = explanation_trust(Result())  # type: ignore[arg-type]
    # a: 0.1 < 0.3 wins, 0.9 > 0.2 wins; b: 0.5 > 0.3 loses, None not compared
    assert trust == pytest.approx(2 / 3, abs=1e-6) and detail.startswith(
        "2 of 3 comparisons beat random"
    )


def _state(event, label="m shard", detail=""):
    return ProgressState(10, 4, 2, 1, 65.0, event, label, detail)


def test_progress_is_plain_lines_off_a_terminal_and_nothing_when_quiet():
    stream = io.StringIO()
    progress = UnitProgress(quiet=False, stream=stream)
    progress(_state("tick"))  # no terminal: no status line rewritten in place
    progress(_state("done", detail="1.5 s"))
    progress(_state("failed", detail="RuntimeError: boom"))
    assert stream.getvalue().splitlines() == [
        "[4/10 done, 2 running, 1 failed, ETA 01:05] done m shard (1.5 s)",
        "[4/10 done, 2 running, 1 failed, ETA 01:05] failed m shard (RuntimeError: boom)",
    ]
    quiet = io.StringIO()
    UnitProgress(quiet=True, stream=quiet)(_state("done"))
    assert quiet.getvalue() == ""


def test_the_recorded_command_leaves_out_where_the_units_ran():
    argv = ["audit-many", "p.toml", "--executor", "ray", "--workers=4", "--out", "o", "--quiet"]
    assert reproducible_command(argv) == "python -m harness audit-many p.toml --out o"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_status_line_is_rewritten_in_place_and_cleared_for_events():
    stream = _Terminal()
    progress = UnitProgress(quiet=False, stream=stream)
    progress(_state("tick"))
    progress(_state("done", detail="1.5 s"))
    progress.finish()
    status = "4/10 done, 2 running, 1 failed, ETA 01:05"
    assert stream.getvalue() == (
        f"\r\x1b[2K{status}"  # the status line, drawn in place
        "\r\x1b[2K"  # cleared before the event's own line
        f"[{status}] done m shard (1.5 s)\n"
    )
