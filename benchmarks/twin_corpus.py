"""The ONNX-to-PyTorch twin on the corpus: how many real exports convert, per exporter.

    python -m benchmarks.twin_corpus [--only NAME] [--exporter torchscript|dynamo|both]
                                     [--json OUT]

Exports every corpus model (``harness/testing/twin_corpus.py``) with the chosen exporters
into a temporary folder, loads each file as the harness does and runs ``to_torch`` on it,
then prints one row per model and exporter and the success rate (converted / exported) per
exporter and overall, each beside the floor it is held to ("below floor" when it falls
under it) and, overall, the issue's target. A model an exporter cannot write is an "export
failed" row, counted apart: the rate is the twin's, over the files that exist.

The rates are a benchmark figure, not a test: the test suite checks each case
(``tests/twin/test_twin_corpus.py``), and a fall in the rate shows here.

Exit codes: 0 the run finished (whatever the rate), 2 a bad argument (an unknown model).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from harness.testing.twin_corpus import (
    CORPUS,
    EXPORTERS,
    CaseOutcome,
    by_name,
    run_case,
    success_rate,
)

# Floors: the success rate (converted / exported) measured on this corpus, less one model,
# so a regression shows as "below floor" and an improvement is free to raise them.
MIN_SUCCESS_RATE = {
    "torchscript": 0.93,  # measured 2026-11-29: 15/15 (10/15 before the prepare rewrites)
    "dynamo": 0.86,  # measured 2026-11-29: 14/15 (2/15 before)
    "overall": 0.93,  # measured 2026-11-29: 29/30 (12/30 before)
}
TARGET_SUCCESS_RATE = 0.9  # the target, over the whole corpus

_COLUMNS = (
    ("model", 22),
    ("exporter", 11),
    ("export", 13),
    ("conversion", 13),
    ("max abs", 9),
    ("max rel", 9),
    ("secs", 6),
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        entries = [by_name(args.only)] if args.only else list(CORPUS)
    except KeyError as exc:
        print(f"KeyError: {exc.args[0]}", file=sys.stderr)
        return 2
    exporters = EXPORTERS if args.exporter == "both" else (args.exporter,)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")

    started = time.perf_counter()
    outcomes: list[CaseOutcome] = []
    print(_header())
    with tempfile.TemporaryDirectory(prefix="twin_corpus_") as tmp:
        for entry in entries:
            for exporter in exporters:
                outcome = run_case(entry, exporter, Path(tmp))
                outcomes.append(outcome)
                print(_row(outcome), flush=True)
    total_s = time.perf_counter() - started

    print()
    for line in _summary(outcomes, exporters):
        print(line)
    print(f"total {total_s:.0f} s")
    if args.json:
        _write_json(Path(args.json), outcomes, exporters, total_s)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.twin_corpus", description=__doc__)
    parser.add_argument("--only", metavar="NAME", help="one corpus model, by name")
    parser.add_argument("--exporter", choices=(*EXPORTERS, "both"), default="both")
    parser.add_argument("--json", metavar="OUT", help="also write the outcomes as JSON")
    return parser


def _header() -> str:
    cells = [name.ljust(width) for name, width in _COLUMNS]
    return " ".join(cells) + " reason"


def _row(o: CaseOutcome) -> str:
    values = (
        o.model,
        o.exporter,
        o.export_status,
        o.status,
        _number(o.max_abs),
        _number(o.max_rel),
        f"{o.export_s + o.convert_s:.1f}",
    )
    cells = [str(v).ljust(width) for v, (_, width) in zip(values, _COLUMNS, strict=True)]
    return " ".join(cells) + " " + _one_line(o.reason)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def _one_line(reason: str | None, limit: int = 160) -> str:
    if not reason:
        return ""
    text = " ".join(reason.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _summary(outcomes: list[CaseOutcome], exporters: tuple[str, ...]) -> list[str]:
    lines = []
    for exporter in exporters:
        lines.append(_rate_line(exporter, [o for o in outcomes if o.exporter == exporter]))
    lines.append(_rate_line("overall", outcomes))
    return lines


def _rate_line(label: str, outcomes: list[CaseOutcome]) -> str:
    converted, exported = success_rate(outcomes)
    failed_exports = len(outcomes) - exported
    rate = f"{converted / exported:.0%}" if exported else "n/a"
    line = (
        f"{label:<12} success {converted}/{exported} exported = {rate}"
        f"  (export failed: {failed_exports} of {len(outcomes)})"
    )
    return line + _standing(label, converted / exported if exported else None)


def _standing(label: str, rate: float | None) -> str:
    """The floor (and, overall, the target) RATE is compared with, and where it falls."""
    floor = MIN_SUCCESS_RATE[label]
    text = f"  floor {floor:.0%}"
    if label == "overall":
        text += f", target {TARGET_SUCCESS_RATE:.0%}"
    shortfalls = []
    if rate is not None and rate < floor:
        shortfalls.append("below floor")
    if rate is not None and label == "overall" and rate < TARGET_SUCCESS_RATE:
        shortfalls.append("below target")
    return text + (": " + ", ".join(shortfalls) if shortfalls else "")


def _write_json(
    path: Path, outcomes: list[CaseOutcome], exporters: tuple[str, ...], total_s: float
) -> None:
    import onnx
    import onnx2torch
    import onnxruntime
    import torch

    rates = {}
    for label in (*exporters, "overall"):
        chosen = [o for o in outcomes if label in ("overall", o.exporter)]
        converted, exported = success_rate(chosen)
        rates[label] = {
            "converted": converted,
            "exported": exported,
            "cases": len(chosen),
            "floor": MIN_SUCCESS_RATE[label],
        }
    document = {
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "onnx2torch": getattr(onnx2torch, "__version__", "unknown"),
        },
        "total_s": total_s,
        "rates": rates,
        "target": TARGET_SUCCESS_RATE,
        "outcomes": [asdict(o) for o in outcomes],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
