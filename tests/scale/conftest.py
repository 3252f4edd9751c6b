"""A tiny model, a six-sample dataset and plans over them, for the scale-out tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.testing import onnx_builders

SAMPLES = 6


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_cnn.onnx and data.npz (six samples) in one folder, built once."""
    folder = tmp_path_factory.mktemp("scale-models")
    onnx_builders.tiny_cnn(folder)
    pixels = np.random.default_rng(0).random((SAMPLES, 1, 28, 28), dtype=np.float32)
    np.savez(folder / "data.npz", pixels=pixels)
    return folder


def write_plan(
    folder: Path,
    tiny_folder: Path,
    *,
    shard_size: int = 2,
    methods: tuple[str, ...] = ("saliency",),
    whole_model: bool = False,
    retries: int = 2,
) -> Path:
    """A plan in FOLDER: the tiny CNN's explanations over the six samples in shards of
    SHARD_SIZE (and, with WHOLE_MODEL, the same model's explanations stage as one unit)."""
    explainers = ", ".join(f'"{m}"' for m in methods)
    text = f"""
[scale]
shard_size = {shard_size}
retries = {retries}

[defaults]
budget = "quick"
skip = ["efficiency", "attention", "privacy"]
explainers = [{explainers}]

[[models]]
name = "dataset"
model = "{tiny_folder / "tiny_cnn.onnx"}"
data = "{tiny_folder / "data.npz"}"
samples = "all"
"""
    if whole_model:
        text += f"""
[[models]]
name = "whole"
model = "{tiny_folder / "tiny_cnn.onnx"}"
samples = 2
"""
    path = folder / "plan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ROOT by its relative path, with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
