"""``python -m models``: list the reference models, or retrain one and rewrite its artifacts.

    python -m models list
    python -m models train cnn [--epochs N] [--quiet] [--artifacts-dir DIR]

Exit codes: 0 done; 1 the trained model missed its accuracy floor (nothing written);
2 bad usage; 3 internal error (the export disagrees with torch, a bug).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.core.errors import HarnessError
from models import ARTIFACTS_DIR, get_reference, reference_names

logger = logging.getLogger("models")

# A retrained reference model below this test accuracy is not committed.
MIN_TEST_ACCURACY = {"cnn": 0.97}
TRAINABLE = tuple(MIN_TEST_ACCURACY)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "list":
            return _list()
        return _train(args.name, args.epochs, args.artifacts_dir)
    except HarnessError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return int(exc.exit_code)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models", description="list or retrain the reference models"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the reference models and their artifacts")
    train = commands.add_parser("train", help="retrain a reference model, rewrite its artifacts")
    train.add_argument("name", choices=TRAINABLE)
    train.add_argument("--epochs", type=_positive_int, help="override the default epoch count")
    train.add_argument("--quiet", action="store_true", help="log warnings only")
    train.add_argument(
        "--artifacts-dir",
        type=Path,
        default=ARTIFACTS_DIR,
        help=f"where to write the artifacts (default: {ARTIFACTS_DIR})",
    )
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _list() -> int:
    for name in reference_names():
        reference = get_reference(name)
        state = "trained" if reference.weights_path.is_file() else "not trained"
        inputs = ", ".join(f"{s.name} {s.dtype} {s.shape_text()}" for s in reference.inputs)
        print(f"{name}\t{state}\t{inputs}\t{reference.description}")
    return 0


def _train(name: str, epochs: int | None, artifacts_dir: Path) -> int:
    from models.export import onnx_bytes
    from models.train import TrainConfig, save_trained, train_cnn, write_bytes_atomic

    reference = get_reference(name)
    config = TrainConfig()
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
    trained = train_cnn(config)
    floor = MIN_TEST_ACCURACY[name]
    if trained.test_accuracy < floor:
        print(
            f"{name}: test accuracy {trained.test_accuracy:.4f} is below {floor}; "
            f"artifacts left unchanged; train longer (--epochs) or tune TrainConfig",
            file=sys.stderr,
        )
        return 1
    # Export and verify before writing anything, so a failed export leaves the old set whole.
    exported = onnx_bytes(trained.module, reference)
    card_path = artifacts_dir / reference.card_file
    card = save_trained(trained, artifacts_dir / reference.weights_file, card_path)
    write_bytes_atomic(artifacts_dir / reference.onnx_file, exported)
    card.update(onnx_file=reference.onnx_file, onnx_sha256=hashlib.sha256(exported).hexdigest())
    write_bytes_atomic(card_path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
    print(
        f"{name}: test accuracy {trained.test_accuracy:.4f} "
        f"({trained.n_test} images), trained in {trained.train_seconds:.1f} s; "
        f"wrote {artifacts_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
