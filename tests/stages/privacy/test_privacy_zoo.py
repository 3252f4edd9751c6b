"""Shown on the zoo: the attacks find the overfit CNN's members, barely anything in the
zoo recipe's, and nothing where there is nothing (the same-set control).

The overfit CNN (``harness.testing.membership``: 30 records, 400 epochs, no regularisation)
takes about 20 s to train on one CPU thread, so these are slow tests; the benchmark
``benchmarks/privacy_attacks.py`` prints the full table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.core.config import AuditConfig
from harness.core.membership_stats import auc_bootstrap_ci
from harness.core.privacy import PrivacySection
from harness.pipeline import run_audit
from harness.testing.membership import (
    OVERFIT_MEMBERS,
    digits_records,
    export_without_zoo_tag,
    train_overfit,
    write_records,
)

OTHERS = ("efficiency", "explanations", "attention")


def _privacy(model: str, **files: Path) -> PrivacySection:
    config = AuditConfig(model=model, skip=OTHERS, budget="standard", **files)  # type: ignore[arg-type]
    return run_audit(config).privacy


@pytest.fixture(scope="module")
def overfit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PrivacySection]:
    folder = tmp_path_factory.mktemp("overfit")
    module, train_accuracy, _ = train_overfit()
    assert train_accuracy == 1.0  # it memorised its members
    model = folder / "overfit.onnx"
    export_without_zoo_tag(module, model)
    records = digits_records()
    rows = np.arange(len(records.labels))
    members = write_records(folder / "m.npz", records, rows[:OVERFIT_MEMBERS])
    nonmembers = write_records(folder / "n.npz", records, rows[OVERFIT_MEMBERS:])
    return model, _privacy(str(model), members=members, nonmembers=nonmembers)


@pytest.mark.slow
def test_the_overfit_cnn_leaks_and_every_attack_sees_it(overfit) -> None:
    _, section = overfit
    assert section.status == "ok" and section.nonmembers == 1767
    for attack in section.attacks:
        s = attack.separation
        assert s is not None, attack.reason
        assert s.auc_ci[0] > 0.55, (attack.name, s.auc_ci)
        assert s.p_value < 0.01
        at_1pct = s.points[0]
        # 1767 held-out non-members: 1% is estimable, 0.1% (10,000 needed) is not.
        assert at_1pct.estimable and not s.points[1].estimable
    # At 1% FPR some attack flags members at least three times as often as the held-out
    # non-members. Only 30 members: one or two of them, and the Clopper-Pearson interval of
    # the TPR still reaches down to 1% (the epsilon bound stays 0): digits has many easy,
    # near-identical records whose non-members out-score any member.
    ratios = []
    for attack in section.attacks:
        assert attack.separation is not None
        point = attack.separation.points[0]
        assert point.tpr is not None and point.fpr is not None
        ratios.append(point.tpr / max(point.fpr, 1 / point.heldout_nonmembers))
    assert max(ratios) >= 3


@pytest.mark.slow
def test_the_zoo_recipe_cnn_sits_near_chance() -> None:
    section = _privacy("ref:cnn")
    assert section.source == "task" and section.members == 1437
    for attack in section.attacks:
        s = attack.separation
        assert s is not None
        assert s.auc_ci[0] < 0.55 and s.auc < 0.6, (attack.name, s.auc, s.auc_ci)


@pytest.mark.slow
def test_a_same_set_control_keeps_its_interval_around_chance(overfit) -> None:
    """Members and non-members drawn from one set of unseen records (the overfit CNN's
    non-members, split at random): the AUC CI must hold 0.5 about 95% of the time.

    The brief's rule, "in at least 19 of 20 seeds", fails a correct 95% interval one time
    in four (P(X <= 18) = 0.26 for X ~ Binomial(20, 0.95)); the benchmark prints that count
    as measured. This test asks for what a correct interval gives: at least 88 of 100 splits
    (P(X <= 87) = 0.004 for a 95% interval; an interval that covers 85% or less fails)."""
    model, _ = overfit
    import onnxruntime as ort

    from harness.stages.privacy.attacks import SCORE_ATTACKS
    from harness.stages.privacy.outputs import _log_softmax

    records = digits_records()
    rows = np.arange(OVERFIT_MEMBERS, len(records.labels))
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    log_p = _log_softmax(session.run(None, {"pixels": records.pixels[rows]})[0])
    labels = records.labels[rows]
    # loss and confidence: the label-aware and the label-free family (entropy and modified
    # entropy rank records much as these do; the benchmark runs all five through the stage).
    for attack in (a for a in SCORE_ATTACKS if a.name in ("loss", "confidence")):
        scores = attack.score(log_p, labels)
        contained = 0
        for seed in range(100):
            order = np.random.default_rng(1000 + seed).permutation(scores.size)
            half = scores.size // 2
            low, high = auc_bootstrap_ci(
                scores[order[:half]], scores[order[half:]], resamples=500, seed=seed
            )
            contained += low <= 0.5 <= high
        assert contained >= 88, (attack.name, contained)
