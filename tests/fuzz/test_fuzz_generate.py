"""The generator: seeded, a fixed mix, every class of hostile input the issue lists, and
files that are what they claim while staying small on disk."""

from __future__ import annotations

import io
import random
import zipfile
from collections import Counter

import numpy as np
import onnx
import pytest

from tests.fuzz.generate import BOUNDED_COUNT, BOUNDED_SEED, CLASSES, SCHEDULE, case_at, cases

DRAWS = 150  # draws of one class: enough to meet each of its variants


def test_a_seed_gives_the_same_cases_and_another_seed_others():
    first = list(cases(7, 60))
    assert first == list(cases(7, 60))
    assert case_at(7, 59) == first[59]  # a case depends on (seed, index) alone
    assert [c.name for c in cases(8, 60)] != [c.name for c in first]


def test_every_block_holds_each_class_by_its_weight():
    counts = Counter(case.klass for case in cases(BOUNDED_SEED, len(SCHEDULE)))
    assert counts == {name: weight for name, (_, weight) in CLASSES.items()}


def test_the_bounded_run_covers_every_class_and_stays_small_on_disk():
    run = list(cases(BOUNDED_SEED, BOUNDED_COUNT))
    assert {case.klass for case in run} == set(CLASSES)
    # The run writes these, then at most the pages of the few audits that succeed.
    assert sum(case.input_bytes for case in run) < 60e6


def _variants(klass: str) -> set[str]:
    build, _ = CLASSES[klass]
    return {build(random.Random(f"variants/{draw}")).name for draw in range(DRAWS)}


@pytest.mark.parametrize(
    ("klass", "needles"),
    [
        ("onnx.bytes", ["flip", "truncate", "empty"]),
        ("onnx.dims", ["/0@", "/-1@", "/10000000@0", "/2147483648@", "/9223372036854775807@"]),
        ("onnx.rank", ["/65-"]),
        ("onnx.names", ["non-utf8", "huge", "hostile"]),
        ("onnx.external", ["nul", "parent", "absolute", "missing"]),
        ("onnx.dtype", ["input=", "initializer=", "truncated"]),
        ("onnx.initializer", ["drop-one", "drop-all"]),
        ("onnx.opset", ["version=", "ir=", "none"]),
        ("onnx.strings", ["metadata", "doc", "producer"]),
        ("cli.flags", ["frobnicate", "samples=1e9-no-task", "alpha=", "check="]),
        ("cli.shape", ["pixels=0x", "pixels=2147483648x"]),
        ("cli.value", ["pixels=nan", "input_ids=-5"]),
        ("cli.threads", ["=0", "=-1", "=100000", "=2147483648", "gate-ab="]),
        ("cli.budget", ["audit=", "gate-ab="]),
        ("cli.out", ["long-256", "under-file", "read-only", "force-user-folder"]),
        ("cli.target", ["/-1", "/10000000", "/100000000000000000000"]),
        ("cli.data", ["zero-rows", "huge-header", "bomb", "broken-archive"]),
        ("result.report", ["token", "negative", "deep", "big-int", "surrogate", "truncated"]),
        ("result.compare", ["token", "wrong-type"]),
        ("result.gate", ["all-nan", "overflow", "inconsistent", "negative"]),
        ("toml.config", ["broken:a = [[[", "tool:", "frobnicate", "pyproject:", "report:"]),
        ("toml.policy", ["alpha = nan", "frobnicate", "[checks]"]),
    ],
)
def test_each_class_draws_the_variants_the_issue_lists(klass, needles):
    names = _variants(klass)
    missing = [needle for needle in needles if not any(needle in name for name in names)]
    assert not missing, sorted(names)


def _draw(klass: str, variant: str):
    build, _ = CLASSES[klass]
    for draw in range(DRAWS):
        case = build(random.Random(f"variants/{draw}"))
        if variant in case.name:
            return case
    raise AssertionError(f"no {variant} in {DRAWS} draws of {klass}")


def test_a_zip_bomb_declares_gigabytes_in_a_few_megabytes():
    case = _draw("cli.data", "bomb")
    [member] = zipfile.ZipFile(io.BytesIO(case.files["d.npz"])).infolist()
    assert member.file_size >= 3 << 30
    assert case.input_bytes < 4e6


def test_a_huge_header_declares_what_the_file_does_not_hold():
    case = _draw("cli.data", "huge-header-d.npy")
    stream = io.BytesIO(case.files["d.npy"])
    np.lib.format.read_magic(stream)
    shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    assert np.prod(shape, dtype=object) * dtype.itemsize > len(case.files["d.npy"]) * 1000


def test_a_mutated_dim_is_in_the_file():
    case = _draw("onnx.dims", "/2147483648@")
    model = onnx.ModelProto.FromString(case.files["model.onnx"])
    values = [d.dim_value for i in model.graph.input for d in i.type.tensor_type.shape.dim]
    assert 2**31 in values


def test_a_non_utf8_name_is_not_utf8():
    case = _draw("onnx.names", "non-utf8-rnn_trigger")
    data = case.files["model.onnx"]
    assert b"input_ids" not in data and b"\xffnput_ids" in data
    with pytest.raises(UnicodeDecodeError):
        b"\xffnput_ids".decode("utf-8")
