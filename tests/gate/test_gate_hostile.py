"""``gate``, ``compare`` and ``report`` refuse a result the harness could not have written:
exit 2, one stderr line naming the file and the JSON path at fault, nothing written, and
a NaN never reaches the gate's statistics."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.core.read_limits import MAX_RESULT_BYTES
from tests.gate.conftest import MODEL
from tests.gate.result_edits import first_latency

SAMPLE_3 = "$.efficiency.runs[0].latency.samples_ms[3]"


def with_tokens(token: str) -> Callable[[str], str]:
    """Every latency sample of the result's text replaced by TOKEN (NaN, Infinity)."""

    def rewrite(text: str) -> str:
        data = json.loads(text)
        latency = first_latency(data)
        latency["samples_ms"] = ["TOKEN"] * len(latency["samples_ms"])
        return json.dumps(data).replace('"TOKEN"', token)

    return rewrite


def with_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[str], str]:
    def rewrite(text: str) -> str:
        data = json.loads(text)
        edit(data)
        return json.dumps(data)

    return rewrite


def negative_sample(data: dict[str, Any]) -> None:
    first_latency(data)["samples_ms"][3] = -0.25


def count_off(data: dict[str, Any]) -> None:
    first_latency(data)["n"] += 7


def surrogate_name(text: str) -> str:
    data = json.loads(text)
    data["model"]["name"] = "SURROGATE"
    return json.dumps(data).replace("SURROGATE", "\\udc80")


def huge_integer(text: str) -> str:
    data = json.loads(text)
    data["environment"]["ram_bytes"] = "DIGITS"
    return json.dumps(data).replace('"DIGITS"', "7" * 5000)


def deep(_text: str) -> str:
    return "[" * 100_000 + "]" * 100_000


# (rewrite of a valid result's text, what the stderr line must say)
CASES: dict[str, tuple[Callable[[str], str], str]] = {
    "all-nan": (with_tokens("NaN"), "$.efficiency.runs[0].latency.samples_ms[0] is nan"),
    "infinity": (with_tokens("Infinity"), "samples_ms[0] is inf, not a finite number"),
    "negative": (with_edit(negative_sample), f"{SAMPLE_3} is -0.25, below the minimum 0"),
    "count": (with_edit(count_off), "$.efficiency.runs[0].latency.n is "),
    "surrogate": (surrogate_name, "$.model.name holds a lone surrogate (\\udc80)"),
    "huge-integer": (huge_integer, "4300 digits"),
    "deep": (deep, "nests arrays or objects deeper than JSON parsing allows"),
}


@pytest.fixture(params=sorted(CASES))
def hostile(request: pytest.FixtureRequest, audited: Path, tmp_path: Path) -> tuple[Path, str]:
    rewrite, says = CASES[request.param]
    path = tmp_path / "hostile" / "result.json"
    path.parent.mkdir()
    path.write_text(rewrite(audited.read_text()))
    return path, says


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_gate_refuses_a_hostile_current_result(audited, hostile, capsys):
    path, says = hostile
    assert main(["gate", str(audited), str(path)]) == 2
    line = one_error_line(capsys)
    assert f"CURRENT '{path}'" in line and says in line


def test_gate_refuses_a_hostile_base_result(audited, hostile, capsys):
    path, says = hostile
    assert main(["gate", str(path), str(audited)]) == 2
    line = one_error_line(capsys)
    assert f"BASE '{path}'" in line and says in line


def test_compare_refuses_a_hostile_result_and_writes_nothing(audited, hostile, capsys):
    path, says = hostile
    assert main(["compare", str(audited), str(path)]) == 2
    line = one_error_line(capsys)
    assert f"B '{path}'" in line and says in line
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.json"]


def test_report_refuses_a_hostile_result_and_writes_nothing(hostile, capsys):
    path, says = hostile
    assert main(["report", str(path)]) == 2
    line = one_error_line(capsys)
    assert f"'{path}'" in line and says in line
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.json"]


def test_an_oversized_result_is_refused_before_parsing(audited, tmp_path, capsys):
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(MAX_RESULT_BYTES + 1024**2)  # sparse: no disk used, no parse tried
    for argv in (["gate", audited, big], ["compare", audited, big], ["report", big]):
        assert main([str(a) for a in argv]) == 2
        line = one_error_line(capsys)
        assert f"'{big}' is 65.0 MiB, over the 64.0 MiB limit for a result file" in line


def test_the_valid_result_still_passes_the_gate(audited, capsys):
    """The control: the same file unedited is read and judged."""
    assert main(["gate", str(audited), str(audited)]) == 0
    assert "gate: PASS" in capsys.readouterr().out


HOSTILE_TOML = {
    "deep": ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "nests arrays or tables deeper"),
    "huge-integer": ("alpha = " + "9" * 5000 + "\n", "4300 digits"),
    "tool-string": ('tool = "x"\n', "tool"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TOML))
def test_hostile_policy_and_config_files_are_usage_errors(audited, tmp_path, capsys, case):
    """--policy (gate), --config (report, audit): exit 2 and one line, never a traceback."""
    body, says = HOSTILE_TOML[case]
    toml = tmp_path / "hostile.toml"
    toml.write_text(body)
    out = tmp_path / "out"
    for argv in (
        ["gate", audited, audited, "--policy", toml],
        ["report", audited, "-o", out / "report.html", "--config", toml],
        ["audit", MODEL, "--out", out, "--config", toml, "--quiet"],
    ):
        assert main([str(a) for a in argv]) == 2, argv
        line = one_error_line(capsys)
        assert f"'{toml}'" in line and says in line
    assert not out.exists()
