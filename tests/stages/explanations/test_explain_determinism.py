"""Issue 16, "same seed, same explanations": the plan is a function of the model, the
inputs, the seed and the budget, so two audits of the zoo CNN explain alike, whatever the
machine's load. Only wall-clock fields may differ, and they are named here: the section's
``timing`` sub-object and each method's ``seconds``."""

from __future__ import annotations

import json

from harness.core.config import AuditConfig
from harness.core.serialize import to_jsonable
from harness.pipeline import run_audit
from harness.testing.determinism import comparable_explanations


def _explanations(tmp_path, name: str) -> str:
    config = AuditConfig(
        model="ref:cnn",
        budget="quick",
        skip=("efficiency", "attention"),
        seed=7,
        threads=1,
        out=str(tmp_path / name),
    )
    section = run_audit(config).explanations
    assert section is not None and section.status == "ok"
    data = to_jsonable(section)
    assert "timing" in data and "setup" in data["timing"]
    return comparable_explanations(data)


def test_two_quick_audits_with_one_seed_give_identical_explanations(tmp_path):
    first = _explanations(tmp_path, "a")
    second = _explanations(tmp_path, "b")
    assert first == second
    data = json.loads(first)
    # What is compared is the real work: attributions, metrics and sanity verdicts.
    ok = [m for m in data["methods"] if m["status"] == "ok"]
    assert ok and all(m["attributions"] and m["metrics"] for m in ok)
    assert any(m["sanity"] is not None for m in ok)
    assert data["plan"]["budget"] == "quick"
