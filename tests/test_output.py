"""Atomic output folders: written whole on success, nothing left on failure, --force rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness import output
from harness.core.errors import OutputExistsError, UsageError
from harness.output import (
    HIDDEN_NAME_OVERHEAD,
    RESULT_FILE,
    check_output_dir,
    staged_output_dir,
)


class Boom(Exception):
    pass


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> content of every file under ``folder``."""
    return {
        str(path.relative_to(folder)): path.read_text()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


OLD_RESULT = '{"schema_version": 2, "harness_version": "0.1", "old": true}'


def previous_audit(out: Path) -> Path:
    out.mkdir()
    (out / RESULT_FILE).write_text(OLD_RESULT)
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


# --- --force replaces only what an audit writes (issue 14) ------------------------------


def test_force_refuses_user_files_beside_a_result_json(tmp_path: Path) -> None:
    out = previous_audit(tmp_path / "mine")
    (out / "precious.txt").write_text("precious")
    (out / "sub").mkdir()
    (out / "sub" / "thesis.tex").write_text("years of work")
    before = snapshot(out)
    with pytest.raises(UsageError) as caught:
        check_output_dir(out, force=True)
    assert "'precious.txt'" in str(caught.value) and "'sub'" in str(caught.value)
    with pytest.raises(UsageError), staged_output_dir(out, force=True) as staging:
        (staging / RESULT_FILE).write_text(OLD_RESULT)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


@pytest.mark.parametrize(
    "content",
    ['{"old": true}', "not json", "[1, 2]", '{"schema_version": 2}'],
    ids=["other-json", "not-json", "not-an-object", "no-harness-version"],
)
def test_force_refuses_a_result_json_that_is_not_a_harness_result(
    tmp_path: Path, content: str
) -> None:
    out = tmp_path / "audit"
    out.mkdir()
    (out / RESULT_FILE).write_text(content)
    with pytest.raises(UsageError, match="not a previous audit"):
        check_output_dir(out, force=True)
    assert (out / RESULT_FILE).read_text() == content


def test_force_refuses_a_linked_result_json(tmp_path: Path) -> None:
    elsewhere = tmp_path / "kept.json"
    elsewhere.write_text(OLD_RESULT)
    out = tmp_path / "audit"
    out.mkdir()
    (out / RESULT_FILE).symlink_to(elsewhere)
    with pytest.raises(UsageError, match=RESULT_FILE):
        check_output_dir(out, force=True)


def test_force_replaces_a_previous_audit_without_its_report(tmp_path: Path) -> None:
    out = tmp_path / "audit"
    out.mkdir()
    (out / RESULT_FILE).write_text(OLD_RESULT)
    with staged_output_dir(out, force=True) as staging:
        (staging / RESULT_FILE).write_text("{}")
    assert snapshot(out) == {RESULT_FILE: "{}"}


# --- what cannot be written is refused before any work ------------------------------------


def test_longest_folder_name_fits_and_one_more_is_refused(tmp_path: Path) -> None:
    fits = 255 - HIDDEN_NAME_OVERHEAD
    check_output_dir(tmp_path / ("n" * fits), force=False)
    with staged_output_dir(tmp_path / ("n" * fits), force=False) as staging:
        (staging / RESULT_FILE).write_text("{}")
    for length in (fits + 1, 255, 256, 10**6):
        with pytest.raises(UsageError, match=f"at most {fits} fit") as caught:
            check_output_dir(tmp_path / ("n" * length), force=False)
        assert len(str(caught.value)) < 500


def test_a_too_long_name_above_the_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="longer than the file system's 255 bytes"):
        check_output_dir(tmp_path / ("p" * 256) / "audit", force=False)


def test_a_path_past_path_max_is_refused(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d" * 200] * 25, "audit")
    with pytest.raises(UsageError, match="too long"):
        check_output_dir(deep, force=False)


def test_out_under_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="which is a file"):
        check_output_dir(tmp_path / "file" / "sub" / "audit", force=False)
    assert (tmp_path / "file").read_text() == "x"


def test_a_folder_that_cannot_be_written_in_is_refused(tmp_path: Path, monkeypatch) -> None:
    # chmod cannot stop root, so the denial the kernel would give is simulated here.
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode)
    )
    for out in (locked / "audit", locked / "missing" / "audit"):
        with pytest.raises(UsageError, match="cannot write in"):
            check_output_dir(out, force=False)
    assert list(locked.iterdir()) == []


def test_out_must_end_in_a_folder_name(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not end in a folder name"):
        check_output_dir(tmp_path / "a" / "..", force=False)


# --- leftovers of a killed run, and signals during the swap -------------------------------


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def hidden(parent: Path, name: str, files: dict[str, str]) -> Path:
    folder = parent / name
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text)
    return folder


def test_leftovers_of_a_killed_run_are_removed_by_the_next_run(tmp_path: Path) -> None:
    gone = dead_pid()
    stale = [
        hidden(tmp_path, f".audit.partial-{gone}-0123abcd", {RESULT_FILE: '{"half'}),
        hidden(
            tmp_path, f".audit.old-{gone}-89abcdef", {RESULT_FILE: OLD_RESULT, "report.html": ""}
        ),
        hidden(tmp_path, f".audit.partial-{gone}-00000000", {}),
    ]
    kept = [
        hidden(tmp_path, f".audit.partial-{os.getpid()}-0123abcd", {RESULT_FILE: "{}"}),  # alive
        hidden(tmp_path, ".audit.partial-1-0123abcd", {RESULT_FILE: "{}"}),  # init: alive
        hidden(tmp_path, f".audit.old-{gone}-11111111", {"thesis.tex": "x"}),  # not ours
        hidden(tmp_path, f".other.partial-{gone}-0123abcd", {RESULT_FILE: "{}"}),  # other --out
        hidden(tmp_path, ".audit.partial-0123abcd", {RESULT_FILE: "{}"}),  # no pid
    ]
    with staged_output_dir(tmp_path / "audit", force=False) as staging:
        (staging / RESULT_FILE).write_text("{}")
    assert not any(folder.exists() for folder in stale)
    assert all(folder.exists() for folder in kept)
    assert (tmp_path / "audit" / RESULT_FILE).is_file()


def test_staging_and_backup_names_carry_the_writers_pid(tmp_path: Path, monkeypatch) -> None:
    out = previous_audit(tmp_path / "audit")
    backups = []
    real_free_name = output._free_name

    def recorded_free_name(parent: Path, prefix: str) -> Path:
        backups.append(real_free_name(parent, prefix))
        return backups[-1]

    monkeypatch.setattr(output, "_free_name", recorded_free_name)
    with staged_output_dir(out, force=True) as staging:
        assert staging.name.startswith(f".audit.partial-{os.getpid()}-")
        (staging / RESULT_FILE).write_text("{}")
    assert [b.name[: -len("01234567")] for b in backups] == [f".audit.old-{os.getpid()}-"]
    assert not backups[0].exists()  # removed once the new audit was in place


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_swap_waits_for_it(tmp_path: Path, monkeypatch, signum) -> None:
    out = previous_audit(tmp_path / "audit")
    real_swap = output._swap_into_place

    def signalled_swap(staging: Path, target: Path) -> None:
        signal.raise_signal(signum)  # arrives between the check and the renames
        real_swap(staging, target)

    class Terminated(KeyboardInterrupt):
        pass

    def terminate(number: int, frame: object) -> None:
        raise Terminated

    monkeypatch.setattr(output, "_swap_into_place", signalled_swap)
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with pytest.raises(KeyboardInterrupt) as caught, staged_output_dir(out, True) as staging:
            (staging / RESULT_FILE).write_text('{"new": true}')
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert any("was written completely" in note for note in caught.value.__notes__)
    assert snapshot(out) == {RESULT_FILE: '{"new": true}'}  # the swap finished whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
