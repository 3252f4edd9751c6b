"""Model intake: turn what the user named (a path, ``ref:NAME``, ``pkg.mod:factory``) into
a ``LoadedModel`` and its summary."""

from __future__ import annotations

from pathlib import Path

from harness.core.config import AuditConfig
from harness.core.errors import ModelLoadError, UnsupportedModelError
from harness.core.model import LoadedModel
from harness.core.result import ModelSummary

__all__ = ["load_model", "summarize_model"]

_TORCH_FILE_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".safetensors"}


def load_model(config: AuditConfig) -> LoadedModel:
    from harness.intake import torch_model as torch_intake

    source = config.model
    if source.startswith("ref:"):
        return torch_intake.load_reference(source)
    if torch_intake.FACTORY_PATTERN.match(source) and not Path(source).exists():
        return torch_intake.load_factory(source, config.shapes, config.dtypes)
    return _load_file(source)


def _load_file(source: str) -> LoadedModel:
    from harness.intake.onnx_model import load_onnx

    path = Path(source)
    if not path.exists():
        raise ModelLoadError(
            f"model '{source}' does not exist; pass an .onnx file, ref:NAME or "
            "package.module:factory"
        )
    if path.suffix.lower() in _TORCH_FILE_SUFFIXES:
        raise UnsupportedModelError(
            f"'{source}' is a weights file, which holds no architecture; pass "
            "package.module:factory (a function that builds and loads the model) or export "
            "it to ONNX"
        )
    return load_onnx(source)


def summarize_model(model: LoadedModel) -> ModelSummary:
    if model.format == "onnx":
        from harness.intake.onnx_model import summarize_onnx

        return summarize_onnx(model)
    from harness.intake.torch_model import summarize_torch

    return summarize_torch(model)
