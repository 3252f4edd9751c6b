"""The gate's decision on synthetic samples whose answer is known by construction."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness.core.comparison import (
    DEFAULT_ALPHA,
    DEFAULT_CHECKS,
    Check,
    decide,
    decide_by_run,
    default_threshold,
    expand_checks,
    format_change,
    parse_check,
)
from harness.core.errors import UsageError
from harness.core.headline import Metric, headline_metrics
from harness.core.result import AuditResult
from harness.core.stats import MIN_SAMPLES, holm, mann_whitney, quantile_permutation_test


def lognormal(n: int, seed: int, sigma: float = 0.25) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(mean=0.0, sigma=sigma, size=n)


def latency(samples: np.ndarray, q: float = 0.5, name: str = "latency.p50") -> Metric:
    return Metric(name, float(np.quantile(samples, q)), "ms", True, "samples", tuple(samples), q)


def judge(base: Metric, current: Metric, text: str, *, separate_runs: bool = True):
    (outcome,) = decide(
        {base.name: base}, {current.name: current}, [parse_check(text)],
        separate_runs=separate_runs,
    )  # fmt: skip
    return outcome


def test_identical_samples_pass():
    samples = lognormal(2000, seed=1)
    outcome = judge(latency(samples), latency(samples), "latency.p50:5%")
    assert outcome.verdict == "pass"
    assert outcome.change == 0
    assert outcome.p_adjusted is not None and outcome.p_adjusted > DEFAULT_ALPHA


@pytest.mark.parametrize("separate_runs", [True, False])
def test_a_20_percent_slowdown_is_a_regression(separate_runs: bool):
    base, current = lognormal(2000, seed=1), 1.2 * lognormal(2000, seed=2)
    outcome = judge(latency(base), latency(current), "latency.p50:5%", separate_runs=separate_runs)
    assert outcome.verdict == "regression"
    assert outcome.change == pytest.approx(0.2, abs=0.04)
    assert outcome.change_ci is not None
    low, high = outcome.change_ci
    assert low < outcome.change < high and low > 0.05
    # 10 blocks against 10, all apart: the exact one-sided p is 1 / C(20, 10).
    smallest = 1 / math.comb(20, 10) if separate_runs else 1e-12
    assert outcome.p_adjusted is not None and outcome.p_adjusted <= smallest * 1.0001


def test_drift_within_a_run_is_not_mistaken_for_a_regression():
    # Each run drifts slowly by +-10% (another job comes and goes); B sits 7% above A. Call
    # by call that is overwhelmingly "significant"; block by block it is not provable.
    n = 4000
    drift = 1 + 0.10 * np.sin(np.linspace(0, 2 * np.pi, n))
    base = drift * lognormal(n, seed=1, sigma=0.02)
    current = 1.07 * np.roll(drift, n // 3) * lognormal(n, seed=2, sigma=0.02)
    by_calls = judge(latency(base), latency(current), "latency.p50:5%", separate_runs=False)
    by_runs = judge(latency(base), latency(current), "latency.p50:5%", separate_runs=True)
    assert by_calls.verdict == "regression"
    assert by_runs.verdict == "inconclusive"
    assert by_runs.test.endswith("blocks per run")


def test_runs_too_short_to_cut_into_blocks_are_inconclusive():
    base, current = lognormal(40, seed=1), 2.0 * lognormal(40, seed=2)
    outcome = judge(latency(base), latency(current), "latency.p50:5%")
    assert outcome.verdict == "inconclusive"
    assert "blocks" in outcome.reason and "--budget" in outcome.reason


def test_a_20_percent_speedup_is_an_improvement():
    base, current = lognormal(2000, seed=1), 0.8 * lognormal(2000, seed=2)
    outcome = judge(latency(base), latency(current), "latency.p50:5%")
    assert outcome.verdict == "improvement"
    assert outcome.change == pytest.approx(-0.2, abs=0.04)


def test_ten_samples_are_inconclusive_even_for_a_large_change():
    base, current = lognormal(10, seed=1), 2.0 * lognormal(10, seed=2)
    outcome = judge(latency(base), latency(current), "latency.p50:5%", separate_runs=False)
    assert outcome.verdict == "inconclusive"
    assert str(MIN_SAMPLES) in outcome.reason


def test_a_significant_change_within_the_threshold_passes():
    base, current = lognormal(2000, seed=1, sigma=0.05), 1.03 * lognormal(2000, seed=2, sigma=0.05)
    outcome = judge(latency(base), latency(current), "latency.p50:5%")
    assert outcome.p_adjusted is not None and outcome.p_adjusted < DEFAULT_ALPHA
    assert outcome.verdict == "pass"


def test_a_change_beyond_the_threshold_without_significance_is_inconclusive():
    # 25 noisy calls a side, 10% apart: past the 5% threshold, but not provably so.
    base, current = lognormal(25, seed=1, sigma=0.5), 1.1 * lognormal(25, seed=2, sigma=0.5)
    outcome = judge(latency(base), latency(current), "latency.p50:5%", separate_runs=False)
    change = outcome.change
    assert change is not None and change > 0.05
    assert outcome.verdict == "inconclusive"


def test_holm_matches_a_hand_computed_example():
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> kept monotone.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx((0.03, 0.06, 0.06, 0.02))
    assert holm([0.5, 0.6]) == (1.0, 1.0)
    assert holm([]) == ()


def test_decide_corrects_the_sampled_checks_together():
    base, current = lognormal(200, seed=1), 1.02 * lognormal(200, seed=2)
    metrics_base = {
        "latency.p50": latency(base),
        "latency.mean": latency(base, name="latency.mean"),
    }
    metrics_current = {
        "latency.p50": latency(current),
        "latency.mean": latency(current, name="latency.mean"),
    }
    checks = [parse_check("latency.p50:5%"), parse_check("latency.mean:5%")]
    outcomes = decide(metrics_base, metrics_current, checks)
    raw = [o.p_value for o in outcomes]
    assert all(p is not None for p in raw)
    expected = holm([p for p in raw if p is not None])
    assert tuple(o.p_adjusted for o in outcomes) == pytest.approx(expected)


def test_a_tail_only_change_is_caught_by_the_p99_permutation_test():
    base = lognormal(2000, seed=1)
    current = base.copy()
    tail = current > np.quantile(current, 0.97)
    current[tail] *= 2.0  # the slowest 3% of calls take twice as long; the median stays
    assert mann_whitney(base, current, "greater").p_value > 0.1
    assert quantile_permutation_test(base, current, 0.99, "greater").p_value < 0.01
    median = judge(latency(base), latency(current), "latency.p50:5%", separate_runs=False)
    p99 = judge(
        latency(base, 0.99, "latency.p99"),
        latency(current, 0.99, "latency.p99"),
        "latency.p99:5%",
        separate_runs=False,
    )
    assert median.verdict == "pass"
    assert p99.verdict == "regression"
    assert p99.test == "permutation on p99"


def throughput(value: float, half_width: float) -> Metric:
    return Metric(
        "throughput.max",
        value,
        "samples/s",
        False,
        "interval",
        ci=(value - half_width, value + half_width),
    )


def test_a_throughput_drop_needs_disjoint_intervals():
    base = throughput(1000, 10)

    def verdict(current: Metric) -> str:
        return judge(base, current, "throughput.max:-5%", separate_runs=False).verdict

    assert verdict(throughput(800, 10)) == "regression"
    assert verdict(throughput(800, 300)) == "inconclusive"
    assert verdict(throughput(1200, 10)) == "improvement"
    assert verdict(throughput(990, 10)) == "pass"


def test_two_runs_throughput_intervals_show_no_change_either_way():
    # Each CI is of one run's calls: disjoint CIs of two audits may be drift (issue 17).
    base = throughput(1000, 10)
    assert judge(base, throughput(800, 10), "throughput.max:-5%").verdict == "inconclusive"
    assert judge(base, throughput(1200, 10), "throughput.max:-5%").verdict == "pass"


def test_a_point_metric_is_decided_by_its_threshold_alone():
    def sanity(value: float) -> Metric:
        return Metric("explanations.saliency.sanity", value, "", True, "point")

    assert judge(sanity(0.2), sanity(0.35), "explanations.saliency.sanity:0.1").verdict == (
        "regression"
    )
    assert judge(sanity(0.2), sanity(0.25), "explanations.saliency.sanity:0.1").verdict == "pass"


def test_a_metric_one_side_lacks_is_missing():
    samples = lognormal(100, seed=1)
    (outcome,) = decide({"latency.p50": latency(samples)}, {}, [parse_check("latency.p50:5%")])
    assert outcome.verdict == "missing"
    assert "current" in outcome.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("latency.p50:5%", Check("latency.p50", 0.05, True)),
        ("throughput.max:-5%", Check("throughput.max", 0.05, True)),
        ("explanations.saliency.sanity:0.1", Check("explanations.saliency.sanity", 0.1, False)),
        ("latency.p99@torch/cpu:20%", Check("latency.p99", 0.2, True, "torch/cpu")),
    ],
)
def test_parse_check(text, expected):
    assert parse_check(text, {"latency.p50": True, "throughput.max": False}) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latency.p50", "is not NAME:THRESHOLD"),
        ("latency.p50:", "is not NAME:THRESHOLD"),
        ("latency.p50:five%", "is not a number"),
        ("latency.p50:inf%", "must be finite"),
        ("latency.p50:-5%", "gets worse as it rises"),
    ],
)
def test_parse_check_refuses(text, message):
    with pytest.raises(UsageError, match=message):
        parse_check(text, {"latency.p50": True})


def test_expand_checks_matches_patterns_and_later_checks_win():
    names = ["explanations.a.sanity", "explanations.b.sanity", "latency.p50"]
    checks = [parse_check("explanations.*.sanity:0.1"), parse_check("explanations.b.sanity:0.3")]
    expanded = {c.metric: c.threshold for c in expand_checks(checks, names)}
    assert expanded == {"explanations.a.sanity": 0.1, "explanations.b.sanity": 0.3}
    assert expand_checks([parse_check("nothing.*:1")], names) == ()


def test_gate_defaults_use_the_thresholds_compare_uses() -> None:
    # compare judges every metric at default_threshold; the gate's default checks must say
    # the same of the metrics they cover, or the two pages would disagree on one change.
    for text in DEFAULT_CHECKS:
        check = parse_check(text)
        assert default_threshold(check.metric) == check


def test_a_score_neither_result_computed_is_missing_not_inconclusive():
    # Completeness of a method without a baseline is undefined on both sides: nothing to
    # judge, and no reason to hold up a build (inconclusive would exit 4).
    undefined = Metric("explanations.saliency.completeness", None, "", True, "point")
    (outcome,) = decide(
        {undefined.name: undefined},
        {undefined.name: undefined},
        [parse_check("explanations.saliency.completeness:0.1")],
    )
    assert outcome.verdict == "missing"
    thin = Metric("latency.p99", None, "ms", True, "samples", (1.0,) * 30, 0.99, note="thin")
    (outcome,) = decide({thin.name: thin}, {thin.name: thin}, [parse_check("latency.p99:10%")])
    assert outcome.verdict == "inconclusive" and outcome.reason == "thin"


def test_headline_names_the_sanity_correlation_once():
    golden = Path(__file__).parents[1] / "reports" / "golden" / "v1_cnn_digits.json"
    result = AuditResult.from_json(golden.read_text())
    names = headline_metrics(result)
    checked = [m for m in result.explanations.methods if m.sanity is not None]
    assert checked
    for method in checked:
        sanity = names[f"explanations.{method.name}.sanity"]
        assert sanity.value == method.sanity.final_correlation
        assert f"explanations.{method.name}.mprt" not in names


def test_changes_are_written_one_way_everywhere():
    assert format_change(0.032, relative=True) == "+3.2%"
    assert format_change(-0.012, relative=False) == "-0.012"
    assert format_change(math.inf, relative=True) == "+∞"  # from a base of zero
    outcome = judge(latency(np.full(80, 2.0)), latency(np.full(80, 3.0)), "latency.p50:5%")
    assert outcome.reason.startswith(format_change(0.5, relative=True))


def test_checks_on_several_runs_are_one_holm_family_and_keep_their_run():
    base, slower = lognormal(2000, seed=1), 1.2 * lognormal(2000, seed=2)
    runs_base = {None: {"latency.p50": latency(base)}, "torch": {"latency.p50": latency(base)}}
    runs_current = {
        None: {"latency.p50": latency(base)},
        "torch": {"latency.p50": latency(slower)},
    }
    checks = [parse_check("latency.p50:5%"), parse_check("latency.p50@torch:5%")]
    outcomes = decide_by_run(runs_base, runs_current, checks)
    assert [o.check for o in outcomes] == checks
    assert [o.verdict for o in outcomes] == ["pass", "regression"]
    raw = [o.p_value for o in outcomes]
    assert tuple(o.p_adjusted for o in outcomes) == pytest.approx(holm(raw))
    missing = decide_by_run(runs_base, {None: {}}, [checks[1]])[0]
    assert missing.verdict == "missing" and "@" not in missing.reason
