"""``python -m harness.models``: list the reference models, or retrain one and rewrite its
artifacts.

    python -m harness.models list
    python -m harness.models train cnn [--epochs N] [--quiet] [--artifacts-dir DIR]

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
from harness.models import ARTIFACTS_DIR, get_reference, reference_names

logger = logging.getLogger("models")


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
        prog="python -m harness.models", description="list or retrain the reference models"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the reference models and their artifacts")
    train = commands.add_parser("train", help="retrain a reference model, rewrite its artifacts")
    train.add_argument("name", choices=reference_names())
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
    from harness.models.manifest import read_manifest

    entries = read_manifest(ARTIFACTS_DIR)
    for name in reference_names():
        reference = get_reference(name)
        entry = entries.get(name)
        if entry is None:
            print(f"{name}\ttask {reference.task}\tnot trained\t{reference.description}")
            continue
        files = ", ".join(entry["files"])
        print(
            f"{name}\ttask {entry['task']}\t{entry['parameters']:,} parameters\t"
            f"{entry['quality_metric']} {entry['quality_value']:.4f}\t{files}"
        )
    return 0


def _train(name: str, epochs: int | None, artifacts_dir: Path) -> int:
    from harness.models.export import onnx_bytes
    from harness.models.manifest import write_manifest
    from harness.models.train import quality, save_trained, train_reference, write_bytes_atomic

    reference = get_reference(name)
    config = reference.train_config
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
    trained = train_reference(reference, config)
    measured = quality(reference, trained)
    if not measured.ok:
        print(
            f"{name}: {measured.metric} {measured.value:.4f} is below {measured.floor}; "
            f"artifacts left unchanged; train longer (--epochs) or tune its TrainConfig",
            file=sys.stderr,
        )
        return 1
    # Export and verify before writing anything, so a failed export leaves the old set whole.
    exported = onnx_bytes(trained.module, reference)
    card_path = artifacts_dir / reference.card_file
    card = save_trained(trained, artifacts_dir / reference.weights_file, card_path, reference)
    write_bytes_atomic(artifacts_dir / reference.onnx_file, exported)
    card.update(
        onnx_file=reference.onnx_file,
        onnx_sha256=hashlib.sha256(exported).hexdigest(),
        quality_metric=measured.metric,
        quality_value=measured.value,
        quality_floor=measured.floor,
    )
    write_bytes_atomic(card_path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
    write_manifest(artifacts_dir)
    print(
        f"{name}: {measured.metric} {measured.value:.4f} (floor {measured.floor}) on "
        f"{trained.n_test} test samples, trained in {trained.train_seconds:.1f} s; "
        f"wrote {artifacts_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
