"""A seeded generator of hostile inputs for the CLI.

``cases(seed, count)`` yields ``Case`` values in a fixed mix of classes: every block of
``len(SCHEDULE)`` cases holds each class as many times as its weight, in an order shuffled
by the seed. Case i depends only on (seed, i), so ``case_at(seed, i)`` rebuilds one case
for a replay, and a longer run starts with the cases of a shorter one.

Classes (the module that builds each):

- ``onnx.*`` (onnx_cases): zoo models with flipped or truncated bytes, dims of 0, -1,
  10**7, 2**31, 2**63-1, rank 65, non-UTF-8 or huge names, external data with NUL or
  escaping locations, wrong dtypes, missing initializers, changed opsets, hostile strings;
- ``cli.*`` (cli_cases, data_cases): unknown flags, bad --shape/--value/--threads/
  --budget/--out/--target, hostile --data (.npy/.npz: no rows, huge headers, zip bombs);
- ``result.*`` (result_cases): mutated result.json files for report, compare and gate;
- ``toml.*`` (toml_cases): hostile --config, pyproject.toml and --policy files.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator

from tests.fuzz.case import Case
from tests.fuzz.cli_cases import CLI_CLASSES
from tests.fuzz.data_cases import DATA_CLASSES
from tests.fuzz.onnx_cases import ONNX_CLASSES
from tests.fuzz.result_cases import RESULT_CLASSES
from tests.fuzz.toml_cases import TOML_CLASSES

__all__ = ["BOUNDED_COUNT", "BOUNDED_SEED", "CLASSES", "SCHEDULE", "Case", "case_at", "cases"]

# The test suite's bounded run (tests/fuzz/test_fuzz_bounded.py): these cases, in this order.
BOUNDED_SEED = 14
BOUNDED_COUNT = 300

CLASSES: dict[str, tuple[Callable[[random.Random], Case], int]] = {
    **ONNX_CLASSES,
    **CLI_CLASSES,
    **DATA_CLASSES,
    **RESULT_CLASSES,
    **TOML_CLASSES,
}
# One block of the mix: each class as many times as its weight.
SCHEDULE: tuple[str, ...] = tuple(
    name for name, (_, weight) in CLASSES.items() for _ in range(weight)
)


def cases(seed: int, count: int) -> Iterator[Case]:
    """COUNT cases for SEED, built one at a time (a bounded run never holds them all)."""
    for index in range(count):
        yield case_at(seed, index)


def case_at(seed: int, index: int) -> Case:
    """Case INDEX of SEED's sequence."""
    klass = _class_at(seed, index)
    build, _ = CLASSES[klass]
    case = build(random.Random(f"{seed}/{index}"))
    return dataclasses.replace(case, seed=seed, index=index)


def _class_at(seed: int, index: int) -> str:
    block, position = divmod(index, len(SCHEDULE))
    order = list(SCHEDULE)
    random.Random(f"{seed}/block/{block}").shuffle(order)
    return order[position]
