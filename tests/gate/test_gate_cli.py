"""``harness gate`` end to end: exit codes and messages on edited copies of one audit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.comparison import DEFAULT_CHECKS
from harness.testing import onnx_builders
from tests.gate.conftest import MODEL
from tests.gate.result_edits import (
    first_latency,
    resample_latency,
    scale_latency,
    set_environment,
    truncate_latency,
)
from tests.stages.efficiency.ab_clock import plant_ab_times

GENEROUS = ["--check", "latency.p50:30%", "--check", "latency.p90:50%"]
GENEROUS += ["--check", "throughput.max:-50%", "--check", "memory.peak_inference:100%"]


def gate(*args: object) -> int:
    return main(["gate", *(str(a) for a in args)])


def test_a_second_draw_of_the_same_model_passes(audited, edited, capsys):
    assert gate(audited, edited(resample_latency(seed=1)), *GENEROUS) == 0
    out = capsys.readouterr().out
    assert "gate: PASS (4 checks)" in out
    assert "latency.p50:30%" in out


def test_calls_half_as_slow_again_are_a_regression(audited, edited, capsys):
    assert gate(audited, edited(scale_latency(1.5))) == 1
    out = capsys.readouterr().out
    assert "gate: REGRESSION" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("gate: REGRESSION (") and "checks)" in last


def test_calls_twice_as_fast_are_an_improvement_and_pass(audited, edited, capsys):
    assert gate(audited, edited(scale_latency(0.5)), "--check", "latency.p50:5%") == 0
    out = capsys.readouterr().out
    assert "improvements:" in out
    assert "gate: PASS (1 check, 1 improved)" in out


def test_five_samples_are_inconclusive(audited, edited, capsys):
    current = edited(truncate_latency(5))
    assert gate(audited, current, "--check", "latency.p50:5%") == 4
    assert "gate: INCONCLUSIVE (1 of 1 check)" in capsys.readouterr().out
    assert gate(audited, current, "--check", "latency.p50:5%", "--inconclusive", "pass") == 0
    assert "allowed by --inconclusive pass" in capsys.readouterr().out


def test_the_inconclusive_flag_overrides_the_policy(audited, edited, tmp_path):
    policy = tmp_path / "gate.toml"
    policy.write_text('inconclusive = "pass"\n[checks]\n"latency.p50" = "5%"\n')
    current = edited(truncate_latency(5))
    assert gate(audited, current, "--policy", policy) == 0
    assert gate(audited, current, "--policy", policy, "--inconclusive", "fail") == 4


def test_a_policy_model_entry_overrides_its_defaults(audited, edited, tmp_path):
    policy = tmp_path / "gate.toml"
    text = '[checks]\n"latency.p50" = "5%"\n[models.{name}.checks]\n"latency.p50" = "80%"\n'
    current = edited(scale_latency(1.5))
    policy.write_text(text.format(name=MODEL.stem))
    assert gate(audited, current, "--policy", policy) == 0
    policy.write_text(text.format(name="another_model"))
    assert gate(audited, current, "--policy", policy) == 1


def test_strict_env_fails_on_another_cpu(audited, edited, capsys):
    current = edited(set_environment(cpu_model="Some Other CPU 9000"))
    assert gate(audited, current, *GENEROUS) == 0
    out = capsys.readouterr().out
    assert "environment differences:" in out and "Some Other CPU 9000" in out
    assert gate(audited, current, *GENEROUS, "--strict-env") == 1
    assert "cpu_model" in capsys.readouterr().out.strip().splitlines()[-1]


def test_a_different_first_backend_is_an_environment_difference(audited, edited, capsys):
    def to_torch(data):
        data["efficiency"]["runs"][0]["backend"] = "torch"

    current = edited(to_torch)
    assert gate(audited, current, *GENEROUS, "--strict-env") == 1
    out = capsys.readouterr().out
    assert "backend run: onnxruntime/cpu -> torch/cpu" in out


def test_a_run_can_be_named_on_a_check(audited, edited, capsys):
    assert gate(audited, edited(scale_latency(1.5)), "--check", "latency.p50@onnxruntime:5%") == 1
    assert "latency.p50@onnxruntime:5%" in capsys.readouterr().out
    assert gate(audited, audited, "--run", "onnxruntime/cpu", "--check", "latency.p50:5%") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--check", "latency.p50:five%"], "'five%' is not a number"),
        (["--check", "latency.p50:-5%"], "gets worse as it rises"),
        (["--check", "latency.p51:5%"], "neither result holds metric 'latency.p51'"),
        (["--run", "tensorrt"], "neither result has a 'tensorrt' run; available: onnxruntime/cpu"),
        (["--check", "latency.p50@torch:5%"], "@torch: neither result has a 'torch' run"),
        (["--alpha", "1.5"], "--alpha 1.5 is not between 0 and 1"),
        (["--budget", "quick"], "--budget and --threads set how --ab measures"),
    ],
)
def test_bad_usage_exits_2_with_one_line(audited, args, message, capsys):
    assert gate(audited, audited, *args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("UsageError: ") and message in line


def test_an_unknown_metric_error_lists_available_names(audited, capsys):
    assert gate(audited, audited, "--check", "latency.p51:5%") == 2
    assert "available: latency.mean, latency.p50" in capsys.readouterr().err


def test_missing_and_corrupt_results_exit_2(audited, tmp_path, capsys):
    assert gate(audited, tmp_path / "nope.json") == 2
    assert "ResultFormatError: CURRENT" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{ not json")
    assert gate(corrupt, audited) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("ResultFormatError: BASE") and "not valid JSON" in line


def test_junit_and_markdown_describe_every_check(audited, edited, tmp_path):
    junit, summary = tmp_path / "ci" / "gate.xml", tmp_path / "ci" / "summary.md"
    checks = ["latency.p50:5%", "latency.mean:5%", "throughput.max:50%", "work.flops:0%"]
    args = [f"--check={check}" for check in checks]
    code = gate(audited, edited(scale_latency(1.5)), *args, "--junit", junit, "--markdown", summary)
    assert code == 1
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and suite.get("name") == "harness gate"
    cases = suite.findall("testcase")
    assert sorted(case.get("name") for case in cases) == sorted(checks)
    failed = {case.get("name") for case in cases if case.find("failure") is not None}
    assert failed == {"latency.p50:5%", "latency.mean:5%"}
    assert suite.get("failures") == "2" and suite.get("tests") == str(len(checks))
    lines = summary.read_text().splitlines()
    assert lines[0].startswith("**gate: REGRESSION (2 of 4 checks)")
    header = next(i for i, line in enumerate(lines) if line.startswith("| check |"))
    rows = [line for line in lines[header + 2 :] if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == checks
    assert all(row.count(" | ") == 5 for row in rows)


def test_an_output_path_that_is_a_folder_exits_2(audited, tmp_path, capsys):
    assert gate(audited, audited, "--junit", tmp_path) == 2
    assert "--junit" in capsys.readouterr().err


def test_ab_compares_two_models_measured_now(tmp_path, capsys, monkeypatch):
    plant_ab_times(monkeypatch, base_ms=1.0, candidate_ms=1.0)  # the verdict, whatever the load
    code = gate(MODEL, MODEL, "--ab", "--budget", "quick", "--quiet", "--check", "latency.p50:80%")
    assert code == 0
    out = capsys.readouterr().out
    assert "latency.p50:80%" in out and "gate: PASS (1 check" in out


def test_ab_refuses_results_and_runs(audited, capsys):
    assert gate(audited, audited, "--ab") == 2
    assert "drop --ab" in capsys.readouterr().err
    assert gate(MODEL, MODEL, "--ab", "--run", "torch") == 2
    assert "drop --run" in capsys.readouterr().err


def test_edits_change_what_they_claim(audited, edited):
    # The fixtures' edits are what the tests above rely on; a silent no-op would pass them.
    base = first_latency(json.loads(Path(audited).read_text()))
    slower = first_latency(json.loads(edited(scale_latency(1.5)).read_text()))
    assert slower["samples_ms"][0] == pytest.approx(1.5 * base["samples_ms"][0])
    assert slower["percentiles_ms"]["p50"]["value"] == pytest.approx(
        1.5 * base["percentiles_ms"]["p50"]["value"]
    )
    assert (
        len(first_latency(json.loads(edited(truncate_latency(5)).read_text()))["samples_ms"]) == 5
    )


def test_help_names_every_option_and_the_default_checks(capsys):
    with pytest.raises(SystemExit) as done:
        main(["gate", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--check", "--policy", "--run", "--alpha", "--inconclusive", "--strict-env"):
        assert option in text
    for option in ("--markdown", "--junit", "--ab", "--budget", "--threads", "--quiet"):
        assert option in text
    for check in DEFAULT_CHECKS:
        assert check in text
    assert "4 inconclusive: too few samples" in text
    assert "--allow-different-models" in text


def test_a_bad_policy_file_exits_2_with_one_line(audited, tmp_path, capsys):
    policy = tmp_path / "gate.toml"
    policy.write_text('[checks\n"latency.p50" = "5%"\n')
    assert gate(audited, audited, "--policy", policy) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("UsageError: policy file") and "is not valid TOML" in line
    policy.write_text('[checks]\n"latency.p50" = "five"\n')
    assert gate(audited, audited, "--policy", policy) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("UsageError: ") and "'five' is not a number" in line


def test_ab_with_models_of_other_inputs_exits_2_with_one_line(tmp_path, capsys):
    other = onnx_builders.two_in_two_out(tmp_path)
    assert gate(MODEL, other, "--ab", "--budget", "quick", "--quiet") == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("UsageError: ") and "both models must take the same inputs" in line
