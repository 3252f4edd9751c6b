"""The registry: every method by name, unknown names refused with the choices, the
default set per budget, and imports that stay cheap (which harness packages they may
import is a contract in .importlinter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.errors import ExitCode, UsageError
from harness.explainers.methods.base import MODALITIES, Explainer
from harness.explainers.methods.registry import (
    BUDGET_TIERS,
    METHODS,
    check_method_names,
    default_methods,
    get_method,
    method_names,
)

METHODS_DIR = Path(__file__).resolve().parents[3] / "explainers" / "methods"
FLAGS = (
    "needs_gradients",
    "is_layer_method",
    "supports_tokens",
    "has_convergence_delta",
    "multiplies_by_inputs",
    "needs_module",
    "is_stochastic",
)


def test_one_module_per_method() -> None:
    assert set(method_names()) == {
        "integrated_gradients", "saliency", "input_x_gradient", "deeplift", "gradient_shap",
        "guided_backprop", "noise_tunnel", "occlusion", "feature_ablation",
        "shapley_value_sampling", "kernel_shap", "lime", "layer_gradcam",
        "layer_integrated_gradients",
    }  # fmt: skip
    for name, cls in METHODS.items():
        assert name == cls.NAME
        assert issubclass(cls, Explainer)
        assert cls.__module__ == f"harness.explainers.methods.{name}"


@pytest.mark.parametrize("name", list(METHODS))
def test_flags_are_declared(name: str) -> None:
    cls = METHODS[name]
    assert all(isinstance(getattr(cls, flag), bool) for flag in FLAGS)
    assert cls.modalities and cls.modalities <= set(MODALITIES)
    assert cls.supports_tokens == ("tokens" in cls.modalities)
    assert cls.__doc__ or sys.modules[cls.__module__].__doc__
    # Gradient methods on token ids go through the embedding layer.
    if cls.needs_gradients and cls.supports_tokens:
        assert cls.skip_reason("tokens", has_layer=False) is not None
    for modality in cls.modalities:
        without = cls.skip_reason(modality, has_gradients=False)
        assert (without is not None and "gradients" in without) == cls.needs_gradients
    if cls.is_stochastic:
        assert not cls.has_convergence_delta


def test_flags_of_note() -> None:
    assert METHODS["integrated_gradients"].has_convergence_delta
    assert METHODS["layer_integrated_gradients"].is_layer_method
    assert METHODS["layer_gradcam"].modalities == {"image"}
    assert not METHODS["occlusion"].needs_gradients
    assert METHODS["saliency"].supports_tokens and not METHODS["saliency"].multiplies_by_inputs
    assert not METHODS["integrated_gradients"].supports_tokens
    assert not METHODS["guided_backprop"].supports_tokens


def test_get_method() -> None:
    assert get_method("occlusion") is METHODS["occlusion"]
    with pytest.raises(UsageError) as caught:
        get_method("gradcam")
    message = str(caught.value)
    assert "'gradcam'" in message and all(name in message for name in METHODS)
    assert caught.value.exit_code == ExitCode.USAGE


def test_check_method_names_reports_every_unknown_once() -> None:
    assert check_method_names(["saliency", " occlusion", "saliency", ""]) == (
        "saliency",
        "occlusion",
    )
    with pytest.raises(UsageError, match=r"unknown explainers 'ig', 'shap'; choose from"):
        check_method_names(["ig", "saliency", "shap"])
    with pytest.raises(UsageError, match="no explainer named"):
        check_method_names([" "])


@pytest.mark.parametrize(
    ("budget", "modality", "has_gradients", "expected"),
    [
        ("quick", "image", True, ("saliency", "integrated_gradients", "occlusion")),
        ("quick", "tokens", True, ("saliency", "layer_integrated_gradients", "occlusion")),
        ("quick", "vector", True, ("saliency", "integrated_gradients", "occlusion")),
        ("quick", "image", False, ("occlusion",)),
        (
            "standard",
            "image",
            True,
            ("saliency", "integrated_gradients", "occlusion", "input_x_gradient", "deeplift",
             "gradient_shap", "guided_backprop", "feature_ablation", "layer_gradcam"),
        ),
        (
            "standard",
            "tokens",
            True,
            ("saliency", "layer_integrated_gradients", "occlusion", "input_x_gradient",
             "deeplift", "feature_ablation"),
        ),
        ("standard", "tokens", False, ("occlusion", "feature_ablation")),
        (
            "thorough",
            "vector",
            False,
            ("occlusion", "feature_ablation", "shapley_value_sampling", "kernel_shap", "lime"),
        ),
    ],
)  # fmt: skip
def test_default_methods_table(
    budget: str, modality: str, has_gradients: bool, expected: tuple[str, ...]
) -> None:
    assert default_methods(budget, modality, has_gradients) == expected


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("has_gradients", [True, False])
def test_default_methods_grow_with_the_budget_and_all_apply(
    modality: str, has_gradients: bool
) -> None:
    sets = [set(default_methods(b, modality, has_gradients)) for b in BUDGET_TIERS]
    assert sets[0] <= sets[1] <= sets[2]
    for name in sets[2]:
        assert METHODS[name].skip_reason(modality, has_gradients=has_gradients) is None
    applies = {
        name
        for name, cls in METHODS.items()
        if cls.skip_reason(modality, has_gradients=has_gradients) is None
    }
    assert sets[2] == applies  # thorough runs everything that applies


def test_every_method_is_in_a_budget_tier() -> None:
    tiers = [name for names in BUDGET_TIERS.values() for name in names]
    assert sorted(tiers) == sorted(METHODS)


def test_default_methods_refuses_unknown_budget_and_modality() -> None:
    with pytest.raises(UsageError, match="budget 'huge'"):
        default_methods("huge", "image", True)
    with pytest.raises(UsageError, match="modality 'audio'"):
        default_methods("quick", "audio", True)


def test_registry_and_package_import_neither_torch_nor_captum() -> None:
    code = (
        "import sys, harness.explainers as explainers, harness.explainers.methods.registry as r; "
        "r.default_methods('thorough', 'image', True); explainers.get_method('lime'); "
        "print(sorted(m for m in ('torch', 'captum') if m in sys.modules))"
    )
    root = METHODS_DIR.parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
