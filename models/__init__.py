"""The reference models: a registry of small, committed, reproducible models to audit.

Each entry names its module, its tensor specs and its artifacts under ``models/zoo/``
(weights, ONNX export, JSON card), which ``python -m harness.models train NAME`` writes. Importing
this package is cheap: torch is imported only when a module is built.
"""

from __future__ import annotations

import importlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.errors import ModelLoadError, UsageError, first_line
from harness.core.model import TensorSpec
from harness.models.train import Objective, TrainConfig

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ARTIFACTS_DIR", "ReferenceModel", "get_reference", "reference_names"]

ARTIFACTS_DIR = Path(__file__).resolve().parent / "zoo"

# What torch.load and load_state_dict raise on a truncated, corrupt or mismatched file.
_LOAD_ERRORS = (OSError, EOFError, RuntimeError, ValueError, KeyError, pickle.UnpicklingError)


@dataclass(frozen=True)
class ReferenceModel:
    """One reference model: what it takes and gives, and where its artifacts live."""

    name: str
    description: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    weights_file: str
    onnx_file: str
    card_file: str
    task: str  # the data set it is trained on; written into the card and the ONNX metadata
    module_factory: str  # "package.module:callable" returning a fresh, untrained nn.Module
    objective: Objective = "classification"
    # Test accuracy at least this (classification), or mean-image MSE / model MSE at least
    # this (reconstruction); a retrained model below it is not written.
    quality_floor: float = 0.0
    train_config: TrainConfig = field(default_factory=TrainConfig)

    @property
    def weights_path(self) -> Path:
        return ARTIFACTS_DIR / self.weights_file

    @property
    def onnx_path(self) -> Path:
        return ARTIFACTS_DIR / self.onnx_file

    @property
    def card_path(self) -> Path:
        return ARTIFACTS_DIR / self.card_file

    def new_module(self) -> nn.Module:
        """A fresh module with initial (untrained) weights."""
        module_name, _, attribute = self.module_factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        module: nn.Module = factory()
        return module

    def build(self) -> nn.Module:
        """The module with its committed weights loaded, in eval mode."""
        import torch

        path = self.weights_path
        retrain = f"run `python -m harness.models train {self.name}` to create it"
        if not path.is_file():
            raise ModelLoadError(
                f"reference model '{self.name}': weights file {path} not found; {retrain}"
            )
        module = self.new_module()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            module.load_state_dict(state)
        except _LOAD_ERRORS as exc:
            raise ModelLoadError(
                f"reference model '{self.name}': cannot load weights {path}: "
                f"{first_line(exc)}; {retrain}"
            ) from exc
        return module.eval()


_REGISTRY: dict[str, ReferenceModel] = {
    "cnn": ReferenceModel(
        name="cnn",
        description="two conv blocks and a two-layer head; 28x28 grey digits -> 10 logits",
        inputs=(TensorSpec("pixels", "float32", ("batch", 1, 28, 28)),),
        outputs=(TensorSpec("logits", "float32", ("batch", 10)),),
        weights_file="cnn_digits.pt",
        onnx_file="cnn_digits.onnx",
        card_file="cnn_digits.json",
        task="digits",
        module_factory="harness.models.cnn:DigitsCNN",
        quality_floor=0.97,
        train_config=TrainConfig(epochs=20, learning_rate=2e-3),
    ),
    # --- image side: planted-patch CNN and the digits autoencoder ---
    "cnn_patch": ReferenceModel(
        name="cnn_patch",
        description="the reference CNN trained on planted-patch images (known relevance)",
        inputs=(TensorSpec("pixels", "float32", ("batch", 1, 28, 28)),),
        outputs=(TensorSpec("logits", "float32", ("batch", 4)),),
        weights_file="cnn_patch.pt",
        onnx_file="cnn_patch.onnx",
        card_file="cnn_patch.json",
        task="planted_patch",
        module_factory="harness.models.cnn:patch_cnn",
        quality_floor=0.98,
        train_config=TrainConfig(epochs=10, learning_rate=2e-3),
    ),
    "autoencoder": ReferenceModel(
        name="autoencoder",
        description="convolutional autoencoder on 28x28 digits; audit target: reconstruction error",
        inputs=(TensorSpec("pixels", "float32", ("batch", 1, 28, 28)),),
        outputs=(TensorSpec("reconstruction", "float32", ("batch", 1, 28, 28)),),
        weights_file="autoencoder_digits.pt",
        onnx_file="autoencoder_digits.onnx",
        card_file="autoencoder_digits.json",
        task="digits",
        module_factory="harness.models.autoencoder:DigitsAutoencoder",
        objective="reconstruction",
        quality_floor=5.0,
        train_config=TrainConfig(epochs=30, learning_rate=2e-3),
    ),
    # --- sequence side: Transformer and RNN on the trigger-token task ---
    "transformer": ReferenceModel(
        name="transformer",
        description="Transformer encoder classifier (explicit softmax attention) on trigger tokens",
        inputs=(
            TensorSpec("input_ids", "int64", ("batch", "sequence")),
            TensorSpec("attention_mask", "int64", ("batch", "sequence")),
        ),
        outputs=(TensorSpec("logits", "float32", ("batch", 4)),),
        weights_file="transformer_trigger.pt",
        onnx_file="transformer_trigger.onnx",
        card_file="transformer_trigger.json",
        task="trigger_tokens",
        module_factory="harness.models.transformer:zoo_transformer",
        quality_floor=0.98,
        train_config=TrainConfig(epochs=20, learning_rate=1e-3),
    ),
    "rnn": ReferenceModel(
        name="rnn",
        description="GRU sequence classifier on trigger tokens (its ONNX holds a GRU node)",
        inputs=(
            TensorSpec("input_ids", "int64", ("batch", "sequence")),
            TensorSpec("attention_mask", "int64", ("batch", "sequence")),
        ),
        outputs=(TensorSpec("logits", "float32", ("batch", 4)),),
        weights_file="rnn_trigger.pt",
        onnx_file="rnn_trigger.onnx",
        card_file="rnn_trigger.json",
        task="trigger_tokens",
        module_factory="harness.models.rnn:TriggerGRU",
        quality_floor=0.95,
        train_config=TrainConfig(epochs=10, learning_rate=2e-3),
    ),
}


def reference_names() -> tuple[str, ...]:
    """The registered reference models, sorted."""
    return tuple(sorted(_REGISTRY))


def get_reference(name: str) -> ReferenceModel:
    """The reference model called ``name``; ``UsageError`` when there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(reference_names())
        raise UsageError(
            f"unknown reference model {name!r}; known: {known}; "
            "run `python -m harness.models list` to see them"
        ) from None
