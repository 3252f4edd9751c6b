"""``models/zoo/manifest.json``: one record per trained reference model, built from the cards.

Written by ``python -m harness.models train``; read by ``python -m harness.models list``
and the tests. It
records what a reviewer needs to trust a committed model: its task and input spec, its
test metric, the training seed and config, and the hash of every file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness.models import get_reference, reference_names
from harness.models.train import write_bytes_atomic

__all__ = ["MANIFEST_FILE", "build_manifest", "read_manifest", "write_manifest"]

MANIFEST_FILE = "manifest.json"


def build_manifest(artifacts_dir: Path) -> dict[str, Any]:
    """Records for every reference model that has a card in ``artifacts_dir``."""
    records = {}
    for name in reference_names():
        reference = get_reference(name)
        card_path = artifacts_dir / reference.card_file
        if not card_path.is_file():
            continue
        card = json.loads(card_path.read_text())
        files = (reference.weights_file, reference.onnx_file, reference.card_file)
        records[name] = {
            "task": reference.task,
            "objective": reference.objective,
            "inputs": [_spec(s) for s in reference.inputs],
            "outputs": [_spec(s) for s in reference.outputs],
            "parameters": card["parameters"],
            "test_metric": card["test_metric"],
            "quality_metric": card["quality_metric"],
            "quality_value": card["quality_value"],
            "quality_floor": card["quality_floor"],
            "seed": card["seed"],
            "epochs": card["epochs"],
            "torch_version": card["torch_version"],
            "files": {f: _sha256(artifacts_dir / f) for f in files},
        }
    return {"models": records}


def write_manifest(artifacts_dir: Path) -> None:
    text = json.dumps(build_manifest(artifacts_dir), indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(artifacts_dir / MANIFEST_FILE, text.encode())


def read_manifest(artifacts_dir: Path) -> dict[str, Any]:
    """Model name -> record; empty when nothing has been trained there."""
    path = artifacts_dir / MANIFEST_FILE
    if not path.is_file():
        return {}
    records: dict[str, Any] = json.loads(path.read_text())["models"]
    return records


def _spec(spec: Any) -> dict[str, Any]:
    return {"name": spec.name, "dtype": spec.dtype, "shape": list(spec.shape)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
