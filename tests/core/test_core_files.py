"""Atomic writes: the new bytes or the old file, the user's umask, no temporary left over."""

from __future__ import annotations

import os

import pytest

from harness.core.files import write_bytes_atomic


def test_writes_creates_parents_and_takes_the_umask(tmp_path):
    target = tmp_path / "a" / "b" / "card.json"
    previous = os.umask(0o022)
    try:
        write_bytes_atomic(target, b"one")
    finally:
        os.umask(previous)
    assert target.read_bytes() == b"one"
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "card.json"
    write_bytes_atomic(target, b"old")

    def refuse(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]
