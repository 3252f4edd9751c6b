"""Planning the explanations stage: which methods, how many samples and steps fit, and the
settings that choose them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.config import AuditConfig, resolve_config, settings_from_flags
from harness.core.errors import UsageError
from harness.stages.explanations import BUDGETS
from harness.stages.explanations.plan import plan_methods
from harness.stages.explanations.timing import MIN_SAMPLES, Clock, fitting_samples, steps_that_fit


def test_without_gradients_the_defaults_list_gradient_methods_as_skipped():
    planned = plan_methods(
        (),
        "quick",
        "image",
        has_gradients=False,
        no_gradients_reason="the ONNX model has no PyTorch twin (LSTM-14)",
        has_layer=False,
    )
    reasons = {p.name: p.skip for p in planned}
    assert reasons == {
        "saliency": "saliency needs gradients: the ONNX model has no PyTorch twin (LSTM-14)",
        "integrated_gradients": (
            "integrated_gradients needs gradients: the ONNX model has no PyTorch twin (LSTM-14)"
        ),
        "occlusion": None,
    }


def test_a_chosen_method_that_does_not_fit_the_modality_says_why():
    (planned,) = plan_methods(
        ("integrated_gradients",),
        "quick",
        "tokens",
        has_gradients=True,
        no_gradients_reason="",
        has_layer=True,
    )
    assert planned.skip is not None and "use layer_integrated_gradients" in planned.skip


def test_token_gradient_methods_need_the_embedding():
    (planned,) = plan_methods(
        ("saliency",),
        "quick",
        "tokens",
        has_gradients=True,
        no_gradients_reason="",
        has_layer=False,
    )
    assert planned.skip == (
        "saliency needs the embedding layer of the model (request.layer) and none was found"
    )


def test_budgets_grow_from_quick_to_thorough():
    quick, standard, thorough = (BUDGETS[b] for b in ("quick", "standard", "thorough"))
    assert (quick.samples, standard.samples, thorough.samples) == (4, 8, 16)
    assert quick.n_steps < standard.n_steps < thorough.n_steps
    assert quick.seconds < standard.seconds < thorough.seconds
    assert quick.mprt_layers == 3 and thorough.mprt_layers is None


@pytest.mark.parametrize(
    ("wanted", "per_sample", "budget", "expected"),
    [
        (8, 0.001, 240.0, 8),  # a small model: every sample
        (8, 1.0, 240.0, 4),  # 2% of 240 s holds 4.8 one-second samples
        (8, 100.0, 240.0, MIN_SAMPLES),  # never fewer than two
        (1, 100.0, 240.0, 1),  # nor more than asked
        (8, 0.0, 240.0, 8),
    ],
)
def test_fitting_samples(wanted: int, per_sample: float, budget: float, expected: int) -> None:
    assert fitting_samples(wanted, per_sample, budget) == expected


@pytest.mark.parametrize(
    ("wanted", "each", "allowance", "expected"),
    [
        (6, 0.1, 10.0, 6),
        (6, 1.0, 2.5, 2),
        (None, 1.0, 2.5, 2),
        (6, 5.0, 1.0, 0),
        (None, 0, 1, None),
    ],
)
def test_steps_that_fit(wanted, each, allowance, expected) -> None:
    assert steps_that_fit(wanted, each, allowance) == expected


def test_clock_shares_the_time_left():
    clock = Clock(10.0)
    assert not clock.spent() and 4.9 < clock.share(2) <= 5.0
    assert Clock(0.0).spent() and "time budget was spent" in Clock(0.0).spent_reason()


# --- settings -------------------------------------------------------------------------------


def test_flags_set_explainers_samples_and_target():
    settings = settings_from_flags(explainers="saliency, occlusion,saliency", samples=3, target=0)
    assert settings == {"explainers": ("saliency", "occlusion"), "samples": 3, "target": 0}


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"samples": 0}, "--samples must be an integer from 1 to 10000, got 0"),
        ({"target": -1}, "--target must be a non-negative output index, got -1"),
        ({"explainers": " , "}, "--explainers names no method"),
    ],
)
def test_flags_reject(kwargs, says) -> None:
    with pytest.raises(UsageError, match=says):
        settings_from_flags(**kwargs)


def test_the_config_file_takes_a_list_and_flags_replace_it(tmp_path: Path) -> None:
    config_file = tmp_path / "audit.toml"
    config_file.write_text('explainers = ["saliency", "occlusion"]\nsamples = 6\ntarget = 1\n')
    config = resolve_config("net.onnx", {}, config_file, tmp_path)
    assert (config.explainers, config.samples, config.target) == (("saliency", "occlusion"), 6, 1)
    flags = settings_from_flags(explainers="deeplift")
    config = resolve_config("net.onnx", flags, config_file, tmp_path)
    assert config.explainers == ("deeplift",)
    assert AuditConfig(model="m").explainers == ()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("explainers = 3", "--explainers must be names separated by commas"),
        ("samples = true", "--samples must be an integer from 1 to 10000"),
        ('target = "2"', "--target must be a non-negative output index"),
    ],
)
def test_bad_file_values_are_rejected(tmp_path: Path, body: str, says: str) -> None:
    config_file = tmp_path / "audit.toml"
    config_file.write_text(body + "\n")
    with pytest.raises(UsageError, match=says):
        resolve_config("net.onnx", {}, config_file, tmp_path)
