"""A method whose attributions no metric could score is not "ok", and a stage where that is
so for every method is not "ok" either: a model that returns NaN or infinite scores on
perturbed inputs fails every metric that runs it."""

from __future__ import annotations

import json

import pytest
import torch

from harness.cli import main
from harness.core.errors import ModelOutputError
from harness.core.explanations import MetricScore
from harness.explainers import metrics
from harness.stages.explanations.scoring import Scorecard, failed_everywhere, unscored_reason

torch.set_num_threads(1)

MLP = "harness.testing.explain_models:tiny_mlp"
NAN_SCORES = "the model returned NaN or infinite scores for 8 of 9 perturbed inputs"

# Every metric of the scorecard (mprt, the sanity check, is not part of it).
SCORECARD_METRICS = (
    "infidelity",
    "max_sensitivity",
    "faithfulness_correlation",
    "deletion",
    "insertion",
    "completeness",
    "sparseness",
    "complexity",
)


def scored(name: str, value: float) -> MetricScore:
    return MetricScore(name, value, True, {"n": 1})


def failed(name: str, why: str = NAN_SCORES) -> MetricScore:
    return MetricScore(name, None, True, {"failed": why})


def skipped(name: str) -> MetricScore:
    return MetricScore(name, None, True, {"skipped": "the audit's time budget is spent"})


def card(*scores: MetricScore) -> Scorecard:
    return Scorecard(scores, (), None)


def test_a_card_with_one_finite_score_is_scored():
    assert unscored_reason(card(failed("deletion_auc"), scored("sparseness", 0.4))) is None


def test_a_card_of_failures_says_how_many_and_the_first_error():
    reason = unscored_reason(
        card(skipped("infidelity"), failed("deletion_auc"), failed("insertion_auc", "other"))
    )
    assert reason == f"no metric gave a finite score: 2 failed, deletion_auc with '{NAN_SCORES}'"


def test_a_card_with_nothing_run_is_not_a_failure():
    # Past the deadline every metric is skipped: a budget outcome, not a broken method.
    assert unscored_reason(card(skipped("infidelity"), skipped("sparseness"))) is None
    undefined = MetricScore("sparseness", None, True, {"n": 1})  # all-zero attributions
    assert unscored_reason(card(undefined)) is None


def test_a_metric_that_failed_for_every_method_is_noted_once():
    cards = [
        (failed("deletion_auc"), scored("sparseness", 0.1), failed("insertion_auc")),
        (
            failed("deletion_auc", "another error"),
            scored("sparseness", 0.2),
            skipped("insertion_auc"),
        ),
    ]
    assert failed_everywhere(cards) == [f"deletion_auc failed for every method: {NAN_SCORES}"]
    assert failed_everywhere([]) == []


@pytest.fixture
def nan_scores_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    def raise_nan(*args: object, **kwargs: object) -> None:
        raise ModelOutputError(NAN_SCORES)

    for name in SCORECARD_METRICS:
        monkeypatch.setattr(metrics, name, raise_nan)


def test_a_stage_whose_metrics_all_failed_on_nan_scores_is_failed(
    nan_scores_everywhere, tmp_path, capsys
):
    out = tmp_path / "audit"
    args = ["audit", MLP, "--out", str(out), "--shape", "features=1x8", "--budget", "quick"]
    args += ["--explainers", "saliency,occlusion", "--skip", "efficiency", "--skip", "attention"]
    assert main([*args, "--quiet"]) == 1
    # quiet: nothing on stderr but the audit's answer, its one verdict line
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("verdict: incomplete"), lines
    section = json.loads((out / "result.json").read_text())["explanations"]
    assert section["status"] == "failed"
    assert section["reason"].startswith("every attribution method failed (saliency: no metric")
    assert NAN_SCORES in section["reason"]
