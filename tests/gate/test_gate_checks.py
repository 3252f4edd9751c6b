"""Checks from --check flags and policy files: what they become, and their one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.comparison import DEFAULT_CHECKS, Check, parse_check
from harness.core.errors import UsageError
from harness.gate.checks import CheckSpec, build_checks, flag_specs, load_policy

DIRECTIONS = {
    "latency.p50": True,
    "latency.p90": True,
    "throughput.max": False,
    "memory.peak_inference": True,
    "explanations.saliency.sanity": True,
    "explanations.occlusion.sanity": True,
    "explanations.saliency.insertion_auc": False,
}
NAMES = sorted(DIRECTIONS)


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text(text)
    return path


def build(specs: tuple[CheckSpec, ...], names: list[str] = NAMES) -> tuple[Check, ...]:
    return build_checks(specs, DIRECTIONS, base_names=names, current_names=names)


def test_a_policy_reads_its_settings_defaults_and_models(tmp_path):
    policy = load_policy(
        policy_file(
            tmp_path,
            'alpha = 0.05\ninconclusive = "pass"\n'
            '[checks]\n"latency.p50" = "5%"\n"throughput.max" = "-5%"\n'
            '"explanations.*.sanity" = 0.1\n'
            '[models.cnn_digits.checks]\n"latency.p50" = "10%"\n',
        )
    )
    assert (policy.alpha, policy.inconclusive) == (0.05, "pass")
    checks = {c.metric: c for c in build(policy.specs_for("cnn_digits"))}
    assert checks["latency.p50"] == Check("latency.p50", 0.10, True)  # the model's entry wins
    assert checks["throughput.max"] == Check("throughput.max", 0.05, True)
    assert checks["explanations.saliency.sanity"] == Check(
        "explanations.saliency.sanity", 0.1, False
    )
    assert "explanations.occlusion.sanity" in checks
    other = {c.metric: c for c in build(policy.specs_for("another"))}
    assert other["latency.p50"].threshold == 0.05


def test_flags_override_the_policy(tmp_path):
    policy = load_policy(policy_file(tmp_path, '[checks]\n"latency.p50" = "5%"\n'))
    checks = build(policy.specs_for("m") + flag_specs(["latency.p50:20%"]))
    assert checks == (Check("latency.p50", 0.2, True),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alpah = 0.01\n", "unknown key 'alpah'; allowed here: alpha, inconclusive, checks"),
        ("[models.m]\nchecks = {}\nthreshold = 1\n", "[models.m]: unknown key 'threshold'"),
        ('[checks]\n"latency.p50" = "five%"\n', "[checks]: check 'latency.p50:five%'"),
        ('[checks]\n"latency.p50" = true\n', 'write "5%" (relative) or a number'),
        ('[checks]\n"latency.p50:5%" = "5%"\n', "holds a ':'; write the threshold as the value"),
        ("alpha = 2\n", "write a number between 0 and 1"),
        ('inconclusive = "maybe"\n', 'write "fail" or "pass"'),
        ("checks = [1, 2]\n", 'must be a table of "metric" = threshold entries'),
        ('[checks\n"latency.p50" = "5%"\n', "is not valid TOML"),
    ],
)
def test_a_bad_policy_is_one_line_saying_what_to_write(tmp_path, text, message):
    path = policy_file(tmp_path, text)
    with pytest.raises(UsageError, match="policy") as caught:
        load_policy(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_policy_file(tmp_path):
    with pytest.raises(UsageError, match="does not exist; check --policy"):
        load_policy(tmp_path / "absent.toml")


def test_a_wrong_sign_in_a_policy_errs_once_the_direction_is_known(tmp_path):
    policy = load_policy(policy_file(tmp_path, '[checks]\n"latency.p50" = "-5%"\n'))
    with pytest.raises(UsageError, match=r"\[checks\]: check 'latency.p50:-5%'.*positive"):
        build(policy.specs_for("m"))


def test_a_wrong_sign_on_a_pattern_errs_when_a_match_is_lower_is_better():
    with pytest.raises(UsageError, match="gets worse as it rises"):
        build(flag_specs(["explanations.*.sanity:-0.1"]))
    # insertion AUC is higher-is-better: a minus sign just says "a drop is bad".
    (check,) = build(flag_specs(["explanations.*.insertion_auc:-0.1"]))
    assert check.threshold == 0.1


def test_a_named_metric_neither_result_holds_lists_available_names():
    with pytest.raises(UsageError) as caught:
        build(flag_specs(["latency.p51:5%"]))
    message = str(caught.value)
    assert message.startswith("--check 'latency.p51:5%': neither result holds")
    assert "latency.p50" in message and "latency.p90" in message


def test_a_pattern_that_matches_nothing_is_fine():
    assert build(flag_specs(["attention.*:0.1", "latency.p50:5%"])) == (
        Check("latency.p50", 0.05, True),
    )


def test_without_checks_the_defaults_both_results_hold_are_used():
    everything = build(())
    assert [c.text for c in everything] == [
        parse_check(text).text for text in DEFAULT_CHECKS if parse_check(text).metric in NAMES
    ]
    base_only = ["latency.p50", "throughput.max"]
    checks = build_checks(
        (), DIRECTIONS, base_names=base_only, current_names=["latency.p50", "latency.p90"]
    )
    assert [c.metric for c in checks] == ["latency.p50"]


def test_the_documented_example_policy_loads_and_overrides_per_model():
    example = Path(__file__).parents[2] / "docs" / "gate-policy.toml"
    policy = load_policy(example)
    texts = {spec.text for spec in policy.specs_for("cnn_digits")}
    # The model's own entry comes after the defaults, so it wins when the checks are built.
    assert {"latency.p50:10%", "latency.p50:15%"} <= texts
    checks = {c.metric: c for c in build(policy.specs_for("cnn_digits"))}
    assert checks["latency.p50"].threshold == pytest.approx(0.15)
