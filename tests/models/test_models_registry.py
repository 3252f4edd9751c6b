"""The reference-model registry, loading the committed weights, and ``python -m harness.models``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import models
from harness.core.errors import ExitCode, ModelLoadError, UsageError
from harness.core.model import TensorSpec
from harness.models import get_reference, reference_names
from harness.models.__main__ import main
from harness.models.tasks.digits import load_digits_split
from harness.models.train import TrainConfig, TrainedModel, accuracy

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


# ---------------------------------------------------------------------------- registry


def test_reference_names():
    assert reference_names() == ("autoencoder", "cnn", "cnn_patch", "rnn", "transformer")


def test_cnn_entry():
    cnn = get_reference("cnn")
    assert cnn.inputs == (TensorSpec("pixels", "float32", ("batch", 1, 28, 28)),)
    assert cnn.outputs == (TensorSpec("logits", "float32", ("batch", 10)),)
    assert cnn.weights_path == models.ARTIFACTS_DIR / "cnn_digits.pt"
    assert cnn.onnx_path == models.ARTIFACTS_DIR / "cnn_digits.onnx"
    assert cnn.card_path == models.ARTIFACTS_DIR / "cnn_digits.json"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cnn.name = "other"  # type: ignore[misc]


def test_unknown_name_is_a_usage_error_listing_known_names():
    with pytest.raises(UsageError) as caught:
        get_reference("resnet")
    message = str(caught.value)
    assert "'resnet'" in message
    assert "cnn" in message
    assert "\n" not in message


def test_importing_models_does_not_import_torch():
    code = "import sys, harness.models; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------------- build()


def test_build_loads_committed_weights_that_reach_the_accuracy_floor(split):
    module = get_reference("cnn").build()
    assert not module.training
    assert accuracy(module, split.x_test, split.y_test) >= 0.97


def test_committed_card_matches_the_artifacts():
    cnn = get_reference("cnn")
    card = json.loads(cnn.card_path.read_text())
    assert card["weights_sha256"] == hashlib.sha256(cnn.weights_path.read_bytes()).hexdigest()
    assert card["onnx_sha256"] == hashlib.sha256(cnn.onnx_path.read_bytes()).hexdigest()
    assert card["test_metric"] >= 0.97
    assert (card["n_train"], card["n_test"]) == (1437, 360)


def test_build_without_weights_says_how_to_create_them(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "ARTIFACTS_DIR", tmp_path)
    with pytest.raises(ModelLoadError) as caught:
        get_reference("cnn").build()
    message = str(caught.value)
    assert "cnn_digits.pt" in message
    assert "python -m harness.models train cnn" in message
    assert "\n" not in message


@pytest.mark.parametrize("content", [b"", b"not a torch file", b"PK\x03\x04truncated"])
def test_build_with_corrupt_weights_is_a_model_load_error(monkeypatch, tmp_path, content):
    monkeypatch.setattr(models, "ARTIFACTS_DIR", tmp_path)
    (tmp_path / "cnn_digits.pt").write_bytes(content)
    with pytest.raises(ModelLoadError, match=r"python -m harness\.models train cnn"):
        get_reference("cnn").build()


def test_build_with_mismatched_weights_is_a_model_load_error(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(models, "ARTIFACTS_DIR", tmp_path)
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "cnn_digits.pt")
    with pytest.raises(ModelLoadError, match="cannot load weights"):
        get_reference("cnn").build()


# ---------------------------------------------------------------------------- CLI


def test_cli_list(capsys):
    assert main(["list"]) == ExitCode.OK
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == list(reference_names())
    assert lines[1].startswith("cnn\ttask digits\t421,642 parameters\ttest_accuracy 0.97")
    assert lines[2].startswith("cnn_patch\ttask planted_patch\t420,868 parameters")
    assert lines[3].startswith("rnn\ttask trigger_tokens\t25,284 parameters\ttest_accuracy")
    assert lines[4].startswith("transformer\ttask trigger_tokens\t71,300 parameters")


def test_cli_unknown_model_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["train", "resnet"])
    assert caught.value.code == ExitCode.USAGE
    assert "invalid choice: 'resnet'" in capsys.readouterr().err


def test_cli_rejects_zero_epochs(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["train", "cnn", "--epochs", "0"])
    assert caught.value.code == ExitCode.USAGE
    assert "must be at least 1, got 0" in capsys.readouterr().err


def test_cli_train_below_accuracy_floor_writes_nothing(monkeypatch, tmp_path, capsys):

    real_train = models.train.train_reference

    def undertrained(reference, config: TrainConfig) -> TrainedModel:
        return real_train(reference, dataclasses.replace(config, epochs=1, max_train_samples=32))

    monkeypatch.setattr(models.train, "train_reference", undertrained)
    out_dir = tmp_path / "artifacts"
    assert main(["train", "cnn", "--quiet", "--artifacts-dir", str(out_dir)]) == 1
    err = capsys.readouterr().err.strip()
    assert "is below 0.97; artifacts left unchanged" in err
    assert "\n" not in err
    assert not out_dir.exists()


def test_cli_train_writes_weights_onnx_and_card(monkeypatch, tmp_path, capsys):

    def committed(reference, config: TrainConfig) -> TrainedModel:
        # Stands in for 15 s of training: the committed module, as training would return it.
        module = reference.build()
        return TrainedModel(
            module, config, "classification", 1.0, 0.98, 1437, 360, train_seconds=0.0
        )

    monkeypatch.setattr(models.train, "train_reference", committed)
    assert main(["train", "cnn", "--quiet", "--artifacts-dir", str(tmp_path)]) == 0
    assert "test_accuracy 0.9800" in capsys.readouterr().out
    cnn = get_reference("cnn")
    card = json.loads((tmp_path / cnn.card_file).read_text())
    weights = (tmp_path / cnn.weights_file).read_bytes()
    onnx_data = (tmp_path / cnn.onnx_file).read_bytes()
    assert card["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    assert card["onnx_sha256"] == hashlib.sha256(onnx_data).hexdigest()
    assert card["onnx_file"] == "cnn_digits.onnx"
    assert weights == cnn.weights_path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [cnn.weights_file, cnn.onnx_file, cnn.card_file, "manifest.json"]
    )
