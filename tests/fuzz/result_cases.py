"""Hostile result files for ``report``, ``compare`` and ``gate``: NaN and Infinity tokens,
negative or inconsistent samples, deep nesting, 5000-digit integers, lone surrogates,
truncated JSON, wrong types, hostile strings.

The results are the committed golden files (tests/reports/golden), read, mutated at a
seeded path and written back as text; what json.dumps cannot write (a 5000-digit integer,
100,000 nested lists) is spliced into the text in place of a marker.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from functools import cache
from typing import Any

from tests.fuzz.case import ANY, GATE_ANY, GOLDEN, REJECT, Case
from tests.fuzz.onnx_cases import hostile_strings

__all__ = ["RESULT_CLASSES", "mutated_result"]

# report and compare render HTML: the small result without figures keeps pages at 14 KB;
# the gate needs latency samples, which only the CNN's golden result holds.
SMALL = "v2_failed_stages.json"
TIMED = "v1_cnn_digits.json"
SAMPLES_PATH = ("efficiency", "runs", 0, "latency", "samples_ms")
MARKER = "__fuzz_splice__"
DEPTH = 100_000

Path_ = tuple[str | int, ...]


@cache
def _golden_text(name: str) -> str:
    return (GOLDEN / name).read_text()


def _golden(name: str) -> Any:
    return json.loads(_golden_text(name))


def _leaves(document: Any, path: Path_ = ()) -> list[tuple[Path_, Any]]:
    """Every (path, value) below DOCUMENT, containers included."""
    found = [(path, document)]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _leaves(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _leaves(value, (*path, index))
    return found


def _set(document: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return document


def _pick(rng: random.Random, document: Any, kinds: tuple[type, ...]) -> Path_:
    """A random non-root path whose value is one of KINDS (bool counts only as bool)."""
    paths = [
        path
        for path, value in _leaves(document)
        if path and isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))
    ]
    return rng.choice(paths)


def _numbers(rng: random.Random, document: Any, targeted: bool) -> Path_:
    """A latency sample (what the gate tests) or any number in the document."""
    if targeted:
        return (*SAMPLES_PATH, rng.randrange(len(_get(document, SAMPLES_PATH))))
    return _pick(rng, document, (int, float))


def _get(document: Any, path: Path_) -> Any:
    for step in path:
        document = document[step]
    return document


def _splice(document: Any, path: Path_, text: str) -> str:
    """DOCUMENT as JSON with TEXT in place of the value at PATH."""
    return json.dumps(_set(document, path, MARKER)).replace(json.dumps(MARKER), text, 1)


# Each mutation: (rng, document, targeted) -> (JSON text, whether any reader must refuse it).
def _token(rng, document, targeted):
    token = rng.choice(["NaN", "Infinity", "-Infinity"])
    return _splice(document, _numbers(rng, document, targeted), token), True


def _overflow(rng, document, targeted):
    # json reads 1e400 as inf without any token: only a range check sees it.
    return _splice(document, _numbers(rng, document, True), "1e400"), True


def _all_nan(rng, document, targeted):
    samples = _get(document, SAMPLES_PATH)
    text = json.dumps(_set(document, SAMPLES_PATH, [float("nan")] * len(samples)))
    return text, True


def _negative(rng, document, targeted):
    path = _numbers(rng, document, targeted)
    value = _get(document, path)
    # Only a latency is sure to be physical; elsewhere a negative may be a fine value.
    return json.dumps(_set(document, path, -abs(value) - 1)), targeted


def _inconsistent(rng, document, targeted):
    samples = _get(document, SAMPLES_PATH)
    del samples[rng.randrange(len(samples)) :]
    return json.dumps(document), True


def _big_int(rng, document, targeted):
    return _splice(document, _numbers(rng, document, targeted), "9" * 5000), True


def _deep(rng, document, targeted):
    if rng.random() < 0.3:
        return "[" * DEPTH + "]" * DEPTH, True
    path = _pick(rng, document, (dict, list))
    return _splice(document, path, "[" * DEPTH + "]" * DEPTH), True


def _surrogate(rng, document, targeted):
    path = _pick(rng, document, (str,))
    # ensure_ascii writes the lone surrogate as the escape \ud800, which json reads back.
    return json.dumps(_set(document, path, "a\ud800b")), True


def _truncated(rng, document, targeted):
    text = json.dumps(document)
    return text[: rng.randrange(len(text))], True


def _wrong_type(rng, document, targeted):
    path = _pick(rng, document, (int, float, str, bool, list, dict, type(None)))
    value = rng.choice(["1", None, True, [], {}, 1.5, -1, "x" * 1000])
    return json.dumps(_set(document, path, value)), False


def _drop_key(rng, document, targeted):
    path = _pick(rng, document, (int, float, str, bool, list, dict, type(None)))
    while isinstance(path[-1], int):  # drop a key, not a list item
        path = path[:-1]
    del _get(document, path[:-1])[path[-1]]
    return json.dumps(document), False


def _schema_version(rng, document, targeted):
    document["schema_version"] = rng.choice([999, 0, -1, "2", None, 2.5, 2**70])
    return json.dumps(document), True


def _not_an_object(rng, document, targeted):
    return rng.choice(["[]", '"result"', "null", "1", "", "{", "\ufeff{}", "\x00"]), True


def _hostile_string(rng, document, targeted):
    path = _pick(rng, document, (str,))
    return json.dumps(_set(document, path, hostile_strings(rng))), False


def _duplicate_key(rng, document, targeted):
    text = json.dumps(document)
    return text[:-1] + ', "schema_version": 1, "efficiency": null}', False


MUTATIONS: dict[str, Callable[..., tuple[str, bool]]] = {
    "token": _token,
    "overflow": _overflow,
    "all-nan": _all_nan,
    "negative": _negative,
    "inconsistent": _inconsistent,
    "big-int": _big_int,
    "deep": _deep,
    "surrogate": _surrogate,
    "truncated": _truncated,
    "wrong-type": _wrong_type,
    "drop-key": _drop_key,
    "schema-version": _schema_version,
    "not-an-object": _not_an_object,
    "hostile-string": _hostile_string,
    "duplicate-key": _duplicate_key,
}
# Mutations that need the timed result's latency samples.
NEED_SAMPLES = ("overflow", "all-nan", "inconsistent")


def mutated_result(rng: random.Random, golden: str, targeted: bool) -> tuple[str, str, bool]:
    """(mutation name, JSON text, whether it must be refused) for a copy of GOLDEN."""
    choices = [m for m in MUTATIONS if golden == TIMED or m not in NEED_SAMPLES]
    how = rng.choice(choices)
    text, refuse = MUTATIONS[how](rng, _golden(golden), targeted and golden == TIMED)
    return how, text, refuse


def _encoded(text: str) -> bytes:
    # A lone surrogate can only travel escaped; everything else as UTF-8 text.
    return text.encode("utf-8", "surrogatepass")


def reports(rng: random.Random) -> Case:
    golden = rng.choice([SMALL, SMALL, SMALL, TIMED])
    how, text, refuse = mutated_result(rng, golden, targeted=rng.random() < 0.5)
    return Case(
        name=f"result.report/{how}",
        argv=("report", "r.json", "-o", "r.html"),
        files={"r.json": _encoded(text)},
        outputs=("r.html",),
        codes=REJECT if refuse else ANY,
    )


def compares(rng: random.Random) -> Case:
    how, text, refuse = mutated_result(rng, SMALL, targeted=False)
    good = _golden_text(SMALL).encode()
    files = {"a.json": _encoded(text), "b.json": good}
    if rng.random() < 0.5:
        files = {"a.json": good, "b.json": _encoded(text)}
    return Case(
        name=f"result.compare/{how}",
        argv=("compare", "a.json", "b.json", "-o", "d.html"),
        files=files,
        outputs=("d.html",),
        codes=REJECT if refuse else ANY,
    )


def gates(rng: random.Random) -> Case:
    how, text, refuse = mutated_result(rng, TIMED, targeted=rng.random() < 0.7)
    good = _golden_text(TIMED).encode()
    files = {"base.json": good, "current.json": _encoded(text)}
    if rng.random() < 0.3:
        files = {"base.json": _encoded(text), "current.json": good}
    return Case(
        name=f"result.gate/{how}",
        argv=("gate", "base.json", "current.json"),
        files=files,
        codes=REJECT if refuse else GATE_ANY,
    )


RESULT_CLASSES: dict[str, tuple[Callable[[random.Random], Case], int]] = {
    "result.report": (reports, 2),
    "result.compare": (compares, 2),
    "result.gate": (gates, 3),
}
