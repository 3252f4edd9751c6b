"""Deterministic CPU training of the reference CNN on the digits task, and its artifacts.

Same seed, same thread count, same machine type -> bit-identical weights: the seed fixes the
initial weights and the batch order, deterministic algorithms and a fixed thread count fix
the order of floating-point reductions.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

# Re-exported: the zoo's writers (export, manifest, CLI) import it from here.
from harness.core.files import write_bytes_atomic

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from harness.models import ReferenceModel
    from harness.models.tasks import TaskData

__all__ = [
    "TrainConfig",
    "TrainedModel",
    "accuracy",
    "evaluate",
    "quality",
    "save_trained",
    "state_dict_bytes",
    "train_model",
    "train_reference",
    "write_bytes_atomic",
]

logger = logging.getLogger(__name__)

_EVAL_BATCH = 256


Objective = Literal["classification", "reconstruction"]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 2e-3
    seed: int = 0
    # One thread: the reduction order, hence the weights, then do not depend on core count.
    threads: int = 1
    # Train on the first N training samples only (None: all); keeps training tests fast.
    max_train_samples: int | None = None
    weight_decay: float = 0.0


@dataclass(frozen=True)
class TrainedModel:
    module: nn.Module
    config: TrainConfig
    objective: Objective
    # Accuracy for classification, mean squared error per pixel for reconstruction.
    train_metric: float
    test_metric: float
    n_train: int
    n_test: int
    train_seconds: float

    @property
    def test_accuracy(self) -> float:  # the classification name of test_metric
        return self.test_metric

    @property
    def train_accuracy(self) -> float:
        return self.train_metric


def train_model(
    module: nn.Module,
    data: TaskData,
    objective: Objective,
    config: TrainConfig | None = None,
) -> TrainedModel:
    """Train ``module`` (fresh) on ``data`` deterministically and measure it on both halves.

    Classification minimises cross-entropy against the labels; reconstruction minimises
    ``E||x - Q(x)||^2`` against the primary input itself.
    """
    import torch

    config = config or TrainConfig()
    train = {k: torch.from_numpy(v[: config.max_train_samples]) for k, v in data.train.items()}
    targets = _targets(data, objective, train)
    n_train = len(targets)
    with _deterministic_torch(config.seed, config.threads):
        started = time.perf_counter()
        optimizer = torch.optim.Adam(
            module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        # A private generator: the batch order depends on the seed alone.
        order_rng = torch.Generator().manual_seed(config.seed)
        for epoch in range(config.epochs):
            module.train()
            loss = _train_epoch(module, optimizer, train, targets, objective, config, order_rng)
            logger.info("epoch %d/%d: mean train loss %.4f", epoch + 1, config.epochs, loss)
        train_seconds = time.perf_counter() - started
        module.eval()
        train_numpy = {k: v.numpy() for k, v in train.items()}
        train_metric = evaluate(module, train_numpy, data.y_train[:n_train], objective, data)
        test_metric = evaluate(module, data.test, data.y_test, objective, data)
    return TrainedModel(
        module=module,
        config=config,
        objective=objective,
        train_metric=train_metric,
        test_metric=test_metric,
        n_train=n_train,
        n_test=len(data.y_test),
        train_seconds=train_seconds,
    )


def _targets(data: TaskData, objective: Objective, train: dict[str, torch.Tensor]) -> torch.Tensor:
    import torch

    if objective == "reconstruction":
        return train[data.primary_input]
    return torch.from_numpy(data.y_train[: len(train[data.primary_input])])


def _train_epoch(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: dict[str, torch.Tensor],
    targets: torch.Tensor,
    objective: Objective,
    config: TrainConfig,
    order_rng: torch.Generator,
) -> float:
    """One pass over the data in a seeded random order; returns the mean batch loss."""
    import torch

    order = torch.randperm(len(targets), generator=order_rng)
    losses = []
    for start in range(0, len(targets), config.batch_size):
        batch = order[start : start + config.batch_size]
        optimizer.zero_grad(set_to_none=True)
        outputs = module(**{name: x[batch] for name, x in inputs.items()})
        loss = _loss(outputs, targets[batch], objective)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def _loss(outputs: torch.Tensor, targets: torch.Tensor, objective: Objective) -> torch.Tensor:
    import torch.nn.functional as F

    if objective == "reconstruction":
        return F.mse_loss(outputs, targets)
    return F.cross_entropy(outputs, targets)


def evaluate(
    module: nn.Module,
    inputs: dict[str, np.ndarray],
    labels: np.ndarray,
    objective: Objective,
    data: TaskData,
) -> float:
    """Accuracy (classification) or mean squared error per element (reconstruction)."""
    import torch

    total, count = 0.0, 0
    n = len(next(iter(inputs.values())))
    with torch.no_grad():
        for start in range(0, n, _EVAL_BATCH):
            batch = {k: torch.from_numpy(v[start : start + _EVAL_BATCH]) for k, v in inputs.items()}
            outputs = module(**batch)
            if objective == "reconstruction":
                target = batch[data.primary_input]
                total += float(((outputs - target) ** 2).sum())
                count += target.numel()
            else:
                predicted = outputs.argmax(dim=1).numpy()
                total += float((predicted == labels[start : start + _EVAL_BATCH]).sum())
                count += len(predicted)
    return total / count


def accuracy(module: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of digit ``images`` whose arg-max logit equals the label."""
    import torch

    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), _EVAL_BATCH):
            logits = module(torch.from_numpy(images[start : start + _EVAL_BATCH]))
            predicted = logits.argmax(dim=1).numpy()
            correct += int((predicted == labels[start : start + _EVAL_BATCH]).sum())
    return correct / len(images)


@contextmanager
def _deterministic_torch(seed: int, threads: int) -> Iterator[None]:
    """Seed torch and force deterministic kernels, restoring the caller's settings after."""
    import torch

    prior_threads = torch.get_num_threads()
    prior_deterministic = torch.are_deterministic_algorithms_enabled()
    prior_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    # fork_rng: seeding here must not change the random stream of whoever called us.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(prior_deterministic, warn_only=prior_warn_only)
            torch.set_num_threads(prior_threads)


def state_dict_bytes(module: nn.Module) -> bytes:
    """The module's weights in ``torch.save`` format, loadable with ``weights_only=True``.

    Serialised to memory, not to a temporary file: torch names the archive inside the file
    after the file it writes, so a random temp name would make identical weights hash apart.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


def train_reference(reference: ReferenceModel, config: TrainConfig | None = None) -> TrainedModel:
    """Train a fresh instance of ``reference`` on its task with its recipe."""
    from harness.models.tasks import load_task

    config = config or reference.train_config
    with _deterministic_torch(config.seed, config.threads):
        module = reference.new_module()  # seeded: the initial weights depend on the seed
    return train_model(module, load_task(reference.task), reference.objective, config)


@dataclass(frozen=True)
class Quality:
    """How a trained model measures against its floor."""

    metric: str  # "test_accuracy" or "mse_ratio" (mean-image MSE / model MSE)
    value: float
    floor: float

    @property
    def ok(self) -> bool:
        return self.value >= self.floor


def quality(reference: ReferenceModel, trained: TrainedModel) -> Quality:
    if reference.objective == "classification":
        return Quality("test_accuracy", trained.test_metric, reference.quality_floor)
    from harness.models.tasks import load_task

    baseline = mean_image_mse(load_task(reference.task))
    return Quality("mse_ratio", baseline / trained.test_metric, reference.quality_floor)


def mean_image_mse(data: TaskData) -> float:
    """Test MSE of the constant predictor that answers the mean training input."""
    train = data.train[data.primary_input]
    test = data.test[data.primary_input]
    return float(((test - train.mean(axis=0)) ** 2).mean())


def save_trained(
    trained: TrainedModel, weights_path: Path, card_path: Path, reference: ReferenceModel
) -> dict[str, Any]:
    """Write the weights and their JSON card atomically; returns the card."""
    import torch

    weights = state_dict_bytes(trained.module)
    write_bytes_atomic(weights_path, weights)
    card = {
        "model": reference.name,
        "task": reference.task,
        "objective": trained.objective,
        "test_metric": trained.test_metric,
        "train_metric": trained.train_metric,
        "parameters": sum(p.numel() for p in trained.module.parameters()),
        "n_train": trained.n_train,
        "n_test": trained.n_test,
        **asdict(trained.config),
        "torch_version": torch.__version__,
        "weights_file": weights_path.name,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    write_bytes_atomic(card_path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
    logger.info("wrote %s and %s", weights_path, card_path)
    return card
