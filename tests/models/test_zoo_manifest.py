"""The committed manifest tells the truth about the committed zoo."""

from __future__ import annotations

import hashlib

import pytest

from harness.models import ARTIFACTS_DIR, get_reference, reference_names
from harness.models.manifest import build_manifest, read_manifest

MANIFEST = read_manifest(ARTIFACTS_DIR)


def test_every_reference_model_is_in_the_manifest():
    assert sorted(MANIFEST) == sorted(reference_names())


def test_manifest_is_what_the_cards_say():
    assert build_manifest(ARTIFACTS_DIR)["models"] == MANIFEST


@pytest.mark.parametrize("name", reference_names())
def test_manifest_hashes_match_the_files(name):
    for file, digest in MANIFEST[name]["files"].items():
        assert hashlib.sha256((ARTIFACTS_DIR / file).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("name", reference_names())
def test_manifest_records_task_spec_floor_and_seed(name):
    entry, reference = MANIFEST[name], get_reference(name)
    assert entry["task"] == reference.task
    assert [i["name"] for i in entry["inputs"]] == [s.name for s in reference.inputs]
    assert entry["quality_value"] >= entry["quality_floor"] == reference.quality_floor
    assert entry["seed"] == reference.train_config.seed
