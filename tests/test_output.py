"""Atomic output folders: written whole on success, nothing left on failure, --force rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import OutputExistsError, UsageError
from harness.output import RESULT_FILE, check_output_dir, staged_output_dir


class Boom(Exception):
    pass


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> content of every file under ``folder``."""
    return {
        str(path.relative_to(folder)): path.read_text()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def previous_audit(out: Path) -> Path:
    out.mkdir()
    (out / RESULT_FILE).write_text('{"old": true}')
    (out / "report.html").write_text("old report")
    return out


def test_folder_appears_only_on_success_with_the_files(tmp_path: Path) -> None:
    out = tmp_path / "audit"
    with staged_output_dir(out, force=False) as staging:
        assert staging.parent == tmp_path
        assert staging.name.startswith(".audit.partial-")
        (staging / RESULT_FILE).write_text("{}")
        (staging / "figures").mkdir()
        (staging / "figures" / "a.json").write_text("[1]")
        assert not out.exists()  # nothing visible until the block ends
    assert snapshot(out) == {RESULT_FILE: "{}", "figures/a.json": "[1]"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]


def test_missing_parents_are_created(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "audit"
    with staged_output_dir(out, force=False) as staging:
        (staging / RESULT_FILE).write_text("{}")
    assert (out / RESULT_FILE).read_text() == "{}"


def test_error_inside_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "audit"
    with pytest.raises(Boom), staged_output_dir(out, force=False) as staging:
        (staging / RESULT_FILE).write_text("{}")
        raise Boom
    assert list(tmp_path.iterdir()) == []


def test_error_inside_removes_parent_folders_it_created(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    out = tmp_path / "kept" / "new1" / "new2" / "audit"
    with pytest.raises(Boom), staged_output_dir(out, force=False) as staging:
        (staging / "half.txt").write_text("x")
        raise Boom
    assert (tmp_path / "kept").is_dir()
    assert list((tmp_path / "kept").iterdir()) == []


def test_keyboard_interrupt_also_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "new" / "audit"
    with pytest.raises(KeyboardInterrupt), staged_output_dir(out, force=False):
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_without_force_is_refused_and_untouched(tmp_path: Path) -> None:
    out = previous_audit(tmp_path / "audit")
    before = snapshot(out)
    with pytest.raises(OutputExistsError) as caught:
        check_output_dir(out, force=False)
    assert "--force" in str(caught.value) and str(out) in str(caught.value)
    with pytest.raises(OutputExistsError), staged_output_dir(out, force=False) as staging:
        (staging / RESULT_FILE).write_text('{"new": true}')
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]


def test_force_replaces_a_previous_audit_without_leftovers(tmp_path: Path) -> None:
    out = previous_audit(tmp_path / "audit")
    check_output_dir(out, force=True)  # allowed
    with staged_output_dir(out, force=True) as staging:
        (staging / RESULT_FILE).write_text('{"new": true}')
    # The old report is gone: the folder is the new audit, not a merge.
    assert snapshot(out) == {RESULT_FILE: '{"new": true}'}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]


def test_force_with_an_error_inside_keeps_the_previous_audit(tmp_path: Path) -> None:
    out = previous_audit(tmp_path / "audit")
    before = snapshot(out)
    with pytest.raises(Boom), staged_output_dir(out, force=True) as staging:
        (staging / RESULT_FILE).write_text('{"new": true}')
        raise Boom
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]


def test_force_refuses_a_folder_that_is_not_an_audit(tmp_path: Path) -> None:
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(UsageError) as caught:
        check_output_dir(out, force=True)
    assert not isinstance(caught.value, OutputExistsError)
    assert RESULT_FILE in str(caught.value)
    with pytest.raises(UsageError), staged_output_dir(out, force=True) as staging:
        (staging / RESULT_FILE).write_text("{}")
    assert snapshot(out) == {"thesis.tex": "precious"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_force_accepts_an_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "audit"
    out.mkdir()
    with staged_output_dir(out, force=True) as staging:
        (staging / RESULT_FILE).write_text("{}")
    assert snapshot(out) == {RESULT_FILE: "{}"}


@pytest.mark.parametrize("force", [False, True])
def test_existing_file_at_out_is_a_usage_error(tmp_path: Path, force: bool) -> None:
    out = tmp_path / "audit"
    out.write_text("not a folder")
    with pytest.raises(UsageError) as caught:
        check_output_dir(out, force=force)
    assert not isinstance(caught.value, OutputExistsError)
    assert "not a folder" in str(caught.value)
    with pytest.raises(UsageError), staged_output_dir(out, force=force):
        pass
    assert out.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]


def test_parent_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with (
        pytest.raises(UsageError, match="cannot write"),
        staged_output_dir(tmp_path / "file" / "audit", force=False),
    ):
        pytest.fail("the block must not run")


def test_check_output_dir_accepts_a_missing_folder(tmp_path: Path) -> None:
    check_output_dir(tmp_path / "absent", force=False)
    assert not (tmp_path / "absent").exists()


def test_output_folder_takes_the_umask_not_private_temp_mode(tmp_path):
    import os

    out = tmp_path / "audit"
    previous = os.umask(0o022)
    try:
        with staged_output_dir(out, force=False) as folder:
            (folder / "result.json").write_text("{}")
    finally:
        os.umask(previous)
    assert out.stat().st_mode & 0o777 == 0o755
