"""The twin on the corpus (``harness/testing/twin_corpus.py``): every real export, both
exporters, each case a twin with parity or a reason.

Each model is exported once per session (into one session-scoped folder) and converted
once. The success rates over the corpus, with their floors and the target, are a benchmark
figure (``python -m benchmarks.twin_corpus``), not a test. Every case exports a real
torchvision or transformers model: the whole module is slow.
"""

from __future__ import annotations

import pytest

from harness.testing.twin_corpus import CORPUS, EXPORTERS, CaseOutcome, run_case

pytestmark = pytest.mark.slow

# (model, exporter) pairs the exporter itself cannot write, and why.
EXPECTED_EXPORT_FAILURES = {
    # torch.export cannot trace a Python `if` on a tensor's value.
    ("branchy_if", "dynamo"),
    # The TorchScript tracer refuses torch.cond (a dynamo-only construct).
    ("branchy_cond", "torchscript"),
}

CASES = [
    pytest.param(entry, exporter, id=f"{entry.name}-{exporter}")
    for entry in CORPUS
    for exporter in EXPORTERS
]


@pytest.fixture(scope="session")
def corpus_outcome(tmp_path_factory):
    """Export and convert one corpus case, once per session."""
    dest = tmp_path_factory.mktemp("twin_corpus")
    outcomes: dict[tuple[str, str], CaseOutcome] = {}

    def outcome(entry, exporter) -> CaseOutcome:
        key = (entry.name, exporter)
        if key not in outcomes:
            outcomes[key] = run_case(entry, exporter, dest)
        return outcomes[key]

    return outcome


@pytest.mark.parametrize(("entry", "exporter"), CASES)
def test_export_yields_a_twin_or_a_reason(corpus_outcome, entry, exporter):
    outcome = corpus_outcome(entry, exporter)
    if not outcome.exported:
        assert (entry.name, exporter) in EXPECTED_EXPORT_FAILURES, (
            f"the {exporter} exporter could not export {entry.name} ({outcome.reason}); "
            "the corpus shrank: fix the builder or list the pair in EXPECTED_EXPORT_FAILURES"
        )
        return
    assert outcome.result in ("TorchTwin", "Unconvertible"), (
        f"to_torch on {entry.name} ({exporter}) gave {outcome.result}, status "
        f"{outcome.status}: {outcome.reason}"
    )
    if outcome.result == "TorchTwin":
        assert outcome.status == "converted"
        assert outcome.parity_ok is True, f"{entry.name} ({exporter}) converted without parity"
    else:
        assert outcome.status in ("unconvertible", "mismatch")
        assert outcome.reason, f"{entry.name} ({exporter}) is {outcome.status} with no reason"
