"""Digits CNNs with known members, for the privacy stage's tests and benchmark.

    overfit       a few training records (``OVERFIT_MEMBERS``), many epochs, no
                  regularisation: it memorises its members, and the attacks must see it
    zoo recipe    the committed zoo model (``ref:cnn``), trained by the zoo's recipe on the
                  whole training split: its members are the task's own (the stage finds them)
    control       one model, and records it never saw split at random into "members" and
                  "non-members": any separation found there is a false alarm

All records come from scikit-learn's bundled digits (the task's train split, then its test
split, in the task's fixed order). Training is deterministic (``TrainConfig.seed``, one
thread), so the same seed gives the same weights and the same audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "OVERFIT_EPOCHS",
    "OVERFIT_MEMBERS",
    "DigitsRecords",
    "digits_records",
    "export_without_zoo_tag",
    "train_overfit",
    "write_records",
]

OVERFIT_MEMBERS = 30  # 3 a class; leaves 1767 non-members, enough for a TPR at 1% FPR
OVERFIT_EPOCHS = 400


@dataclass(frozen=True, eq=False)
class DigitsRecords:
    pixels: np.ndarray  # (1797, 1, 28, 28) float32
    labels: np.ndarray  # (1797,) int64


def digits_records() -> DigitsRecords:
    """Every digits record: the task's train split, then its test split."""
    from harness.models.tasks import load_task

    task = load_task("digits")
    pixels = np.concatenate([task.train["pixels"], task.test["pixels"]])
    return DigitsRecords(pixels, np.concatenate([task.y_train, task.y_test]))


def train_overfit(members: int = OVERFIT_MEMBERS, epochs: int = OVERFIT_EPOCHS, seed: int = 0):  # type: ignore[no-untyped-def]
    """The digits CNN trained on the first MEMBERS records only, EPOCHS epochs, Adam with no
    weight decay: (module in eval mode, train accuracy, accuracy on the other records)."""
    from harness.models.cnn import DigitsCNN
    from harness.models.tasks import TaskData
    from harness.models.train import TrainConfig, _deterministic_torch, train_model

    records = digits_records()
    data = TaskData(
        name="digits",
        train={"pixels": records.pixels[:members]},
        y_train=records.labels[:members],
        test={"pixels": records.pixels[members:]},
        y_test=records.labels[members:],
        test_masks=None,
        primary_input="pixels",
        n_classes=10,
    )
    with _deterministic_torch(seed, 1):
        module = DigitsCNN()
    config = TrainConfig(epochs=epochs, batch_size=32, learning_rate=2e-3, seed=seed)
    trained = train_model(module, data, "classification", config)
    return trained.module.eval(), trained.train_metric, trained.test_metric


def export_without_zoo_tag(module, path: Path) -> None:  # type: ignore[no-untyped-def]
    """MODULE as an ONNX file with a dynamic batch, without the zoo's metadata: it is not
    the zoo's model, and must not be taken for it (its members are not the task's)."""
    import onnx

    from harness.models import get_reference
    from harness.models.export import onnx_bytes

    model = onnx.load_from_string(onnx_bytes(module, get_reference("cnn")))
    del model.metadata_props[:]
    path.write_bytes(model.SerializeToString())


def write_records(path: Path, records: DigitsRecords, rows: np.ndarray) -> Path:
    """The chosen ROWS as a --members/--nonmembers file: ``pixels`` and ``labels``."""
    np.savez(path, pixels=records.pixels[rows], labels=records.labels[rows])
    return path
