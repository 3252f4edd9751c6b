"""What is attributed, and to what: autoencoders, regressors, --target K, vector inputs,
and the samples when the audit's batch is too small."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core.config import AuditConfig
from harness.core.errors import UsageError
from harness.core.explanations import ExplanationsSection
from harness.pipeline import run_audit

torch.set_num_threads(1)

MLP = "harness.testing.explain_models:tiny_mlp"


def explain(model: str, **settings) -> ExplanationsSection:
    settings.setdefault("budget", "quick")
    config = AuditConfig(model=model, skip=("efficiency", "attention"), threads=1, **settings)
    section = run_audit(config).explanations
    assert section.status == "ok", section.reason
    return section


def metric(section: ExplanationsSection, method: str, name: str):
    found = next(m for m in section.methods if m.name == method)
    return next(m for m in found.metrics if m.name == name)


def test_an_autoencoder_is_explained_through_its_reconstruction_error():
    section = explain("ref:autoencoder", explainers=("integrated_gradients", "occlusion"))
    assert "mean squared reconstruction error" in (section.target or "")
    deletion = metric(section, "integrated_gradients", "deletion_auc")
    # Raw error, not a softmax probability normalised by f(x).
    assert (deletion.parameters["use_softmax"], deletion.parameters["normalise"]) == (0, 0)
    assert deletion.value is not None
    completeness = metric(section, "integrated_gradients", "completeness_relative")
    assert completeness.value is not None and completeness.value < 0.1
    assert all(a.target == 0 for m in section.methods for a in m.attributions)


def test_a_vector_model_gets_synthetic_samples_from_further_seeds():
    section = explain(MLP, shapes={"features": (1, 8)})
    assert section.modality == "vector" and section.samples == 4
    assert section.notes[0].startswith("samples: 4 synthetic samples")
    rows = {s.values for s in section.inputs}
    assert len(rows) == 4  # four different samples, not one repeated
    assert {m.name: m.status for m in section.methods} == {
        "saliency": "ok",
        "integrated_gradients": "ok",
        "occlusion": "ok",
    }
    assert section.agreement is not None and len(section.agreement.spearman) == 3


def test_a_regressor_attributes_its_single_output():
    section = explain(
        "harness.testing.explain_models:tiny_regressor",
        shapes={"features": (1, 8)},
        explainers=("integrated_gradients",),
    )
    assert section.target == "the first output: the model's single output"
    deletion = metric(section, "integrated_gradients", "deletion_auc")
    assert deletion.parameters["use_softmax"] == 0


def test_target_k_attributes_that_class_for_every_sample():
    section = explain("ref:cnn_patch", target=2, explainers=("saliency",), samples=2)
    assert section.target == "output 'logits': class 2 for every sample"
    assert [a.target for a in section.methods[0].attributions] == [2, 2]


def test_target_out_of_range_is_a_usage_error():
    # Refused before any stage runs (the pipeline checks it against the first output).
    with pytest.raises(UsageError, match="--target 9 is out of range: the model's output"):
        explain("ref:cnn_patch", target=9, explainers=("saliency",), samples=2)


def test_data_with_fewer_samples_than_asked_is_explained_as_it_is(tmp_path):
    data = tmp_path / "two.npy"
    np.save(data, np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32))
    section = explain(
        MLP, shapes={"features": (2, 8)}, data=data, samples=5, explainers=("occlusion",)
    )
    assert section.samples == 2
    assert any("--data holds 2 sample(s) and 5 were asked for" in n for n in section.notes)
