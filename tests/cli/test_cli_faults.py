"""Hostile input and faults through the CLI (issue 14): what --force may replace, --threads
bounds, signals during the write, checks before any work, bounded error lines, and the
machine's limits (memory, disk, name length) as exit 2 rather than a bug's exit 3."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness import output
from harness import pipeline as pipeline_module
from harness.cli import main
from harness.commands.outcome import ERROR_LINE_LIMIT
from harness.core.config import THREADS_PER_CPU
from harness.intake import loader
from harness.output import HIDDEN_NAME_OVERHEAD
from harness.stages import runner as stages

SKIP_ALL = ["--skip", "efficiency", "--skip", "explanations", "--skip", "attention"]
FAST = ["--budget", "quick", "--quiet", *SKIP_ALL]
MOST_THREADS = THREADS_PER_CPU * (os.cpu_count() or 1)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and the one stderr line (asserting it is one line, without a traceback)."""
    code = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) <= 1, err[:2000]
    assert "Traceback" not in err
    return code, lines[0] if lines else ""


def listing(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): path.read_text()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def model(shelf) -> str:
    return str(shelf.get("tiny_cnn"))


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the model fails the test: what is checked must be checked before."""

    def must_not_load(config: object) -> None:
        raise AssertionError("the model was loaded before the check")

    monkeypatch.setattr(loader, "load_model", must_not_load)


@pytest.fixture
def no_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stage fails the test: what is checked must be checked before the stages."""

    def must_not_run(context: object) -> None:
        raise AssertionError("a stage ran before the check")

    for name in list(stages.STAGES):
        monkeypatch.setitem(stages.STAGES, name, must_not_run)


# --- --force replaces a previous audit, nothing else ----------------------------------------


def test_force_never_deletes_the_users_files(model, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("precious")
    (mine / "result.json").write_text('{"schema_version": 2, "harness_version": "0.1"}')
    (mine / "sub").mkdir()
    (mine / "sub" / "thesis.tex").write_text("years of work")
    before = listing(mine)
    code, err = run(["audit", model, "--out", str(mine), "--force", *FAST], capsys)
    assert code == 2
    assert "refusing to replace" in err and "'precious.txt'" in err and "'sub'" in err
    assert listing(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_force_replaces_a_previous_audit_and_an_empty_folder(model, tmp_path, capsys):
    out = tmp_path / "audit"
    out.mkdir()
    assert run(["audit", model, "--out", str(out), "--force", *FAST], capsys)[0] == 0
    first = (out / "result.json").read_text()
    args = ["audit", model, "--out", str(out), "--force", "--seed", "7", *FAST]
    assert run(args, capsys)[0] == 0
    assert (out / "result.json").read_text() != first
    assert json.loads((out / "result.json").read_text())["config"]["seed"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]


# --- --threads within the machine's bound -------------------------------------------------


@pytest.mark.parametrize("threads", ["100000", "2147483648", str(MOST_THREADS + 1), "0", "-1"])
def test_threads_out_of_bounds_is_a_usage_error(model, tmp_path, capsys, no_work, threads):
    code, err = run(["audit", model, "--out", str(tmp_path / "a"), "--threads", threads], capsys)
    assert code == 2
    assert f"at most {MOST_THREADS}" in err and f"got {threads}" in err
    assert list(tmp_path.iterdir()) == []


def test_threads_bound_applies_to_the_config_file(model, tmp_path, capsys, no_work):
    config = tmp_path / "audit.toml"
    config.write_text("threads = 100000\n")
    args = ["audit", model, "--out", str(tmp_path / "a"), "--config", str(config)]
    code, err = run(args, capsys)
    assert code == 2 and f"at most {MOST_THREADS}" in err


def test_the_most_threads_allowed_run(model, tmp_path, capsys):
    out = tmp_path / "a"
    args = ["audit", model, "--out", str(out), "--threads", str(MOST_THREADS), *FAST]
    assert run(args, capsys)[0] == 0
    assert json.loads((out / "result.json").read_text())["config"]["threads"] == MOST_THREADS


def test_gate_ab_threads_out_of_bounds_is_a_usage_error(model, capsys, monkeypatch):
    from harness.commands import gate

    monkeypatch.setattr(gate, "_measure_ab", lambda *a: pytest.fail("measured"))
    code, err = run(["gate", model, model, "--ab", "--threads", "100000"], capsys)
    assert code == 2 and f"at most {MOST_THREADS}" in err


# --- what cannot be written is refused before any work -------------------------------------


def test_out_under_a_file_is_refused_before_loading(model, tmp_path, capsys, no_work):
    (tmp_path / "file").write_text("x")
    code, err = run(["audit", model, "--out", str(tmp_path / "file" / "sub" / "a")], capsys)
    assert code == 2 and "which is a file" in err
    assert listing(tmp_path) == {"file": "x"}


def test_unwritable_out_is_refused_before_loading(model, tmp_path, capsys, no_work, monkeypatch):
    # chmod does not stop root, so the kernel's answer for a read-only folder is simulated.
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    code, err = run(["audit", model, "--out", str(locked / "a")], capsys)
    assert code == 2 and "cannot write in" in err
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("length", [256 - HIDDEN_NAME_OVERHEAD, 238, 255, 256, 1_000_000])
def test_out_names_too_long_are_refused_before_loading(model, tmp_path, capsys, no_work, length):
    code, err = run(["audit", model, "--out", str(tmp_path / ("n" * length))], capsys)
    assert code == 2
    assert f"at most {255 - HIDDEN_NAME_OVERHEAD} fit" in err
    assert len(err) <= ERROR_LINE_LIMIT
    assert list(tmp_path.iterdir()) == []


def test_out_of_range_target_is_refused_before_the_stages(model, tmp_path, capsys, no_stage):
    out = tmp_path / "a"
    args = ["audit", model, "--out", str(out), "--target", str(10**20), "--quiet"]
    code, err = run(args, capsys)
    assert code == 2
    assert "--target 100000000000000000000 is out of range" in err and "(0..9)" in err
    assert list(tmp_path.iterdir()) == []


# --- one bounded, printable line -----------------------------------------------------------


def test_echoed_names_are_cut_and_control_characters_escaped(model, tmp_path, capsys, no_work):
    (tmp_path / "file").write_text("x")
    hostile = tmp_path.joinpath("file", "\x1b[31m" + "d" * 200, *["d" * 200] * 9, "audit")
    code, err = run(["audit", model, "--out", str(hostile)], capsys)
    assert code == 2
    assert "\x1b" not in err and len(err) <= ERROR_LINE_LIMIT
    assert "which is a file" in err


def test_a_huge_argparse_error_is_one_bounded_line(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["audit", "m.onnx", "--budget", "x" * 100_000])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert len(err.strip().splitlines()) == 1 and len(err.strip()) <= ERROR_LINE_LIMIT


# --- the machine's limits: exit 2 with the cause, not a bug's exit 3 ------------------------


@pytest.mark.parametrize(
    ("number", "needle"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EDQUOT, "quota"),
        (errno.ENAMETOOLONG, "file name is too long"),
    ],
)
def test_os_limits_while_writing_are_usage_errors(
    model, tmp_path, capsys, monkeypatch, number, needle
):
    def failing_writer(result: object, folder: Path, *_: object) -> None:
        (folder / "result.json").write_text("{")  # half-written when the disk fills
        raise OSError(number, os.strerror(number), str(folder / "report.html"))

    monkeypatch.setattr(pipeline_module, "write_outputs", failing_writer)
    code, err = run(["audit", model, "--out", str(tmp_path / "a"), *FAST], capsys)
    assert code == 2
    assert err.startswith("OSError: ") and needle in err and "report.html" in err
    assert list(tmp_path.iterdir()) == []


def test_other_os_errors_stay_internal_errors(model, tmp_path, capsys, monkeypatch):
    def failing_writer(result: object, folder: Path, *_: object) -> None:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    monkeypatch.setattr(pipeline_module, "write_outputs", failing_writer)
    code, err = run(["audit", model, "--out", str(tmp_path / "a"), *FAST], capsys)
    assert code == 3 and err.startswith("InternalError: OSError")


class OutOfMemoryError(RuntimeError):
    """Named as torch's (torch.OutOfMemoryError, torch.cuda.OutOfMemoryError)."""


@pytest.mark.parametrize(
    "error", [MemoryError(), OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")]
)
def test_running_out_of_memory_is_a_usage_error(model, tmp_path, capsys, monkeypatch, error):
    def exhausting(context: object) -> None:
        raise error

    monkeypatch.setitem(stages.STAGES, "attention", exhausting)
    args = ["audit", model, "--out", str(tmp_path / "a"), "--quiet", *SKIP_ALL[:4]]
    code, err = run(args, capsys)
    assert code == 2
    assert "ran out of memory" in err and "--shape/--budget" in err
    assert list(tmp_path.iterdir()) == []


# --- signals: the same clean-up for SIGTERM as for SIGINT, and a true message ---------------


def raise_during(monkeypatch: pytest.MonkeyPatch, signum: int) -> None:
    """Deliver SIGNUM from inside the write step, after result.json is on disk."""

    def signalled_writer(result: object, folder: Path, *_: object) -> None:
        (folder / "result.json").write_text("{}")
        # Guard: with the default SIGTERM action this would kill the test run itself.
        assert signal.getsignal(signum) is not signal.SIG_DFL
        signal.raise_signal(signum)

    monkeypatch.setattr(pipeline_module, "write_outputs", signalled_writer)


@pytest.mark.parametrize(
    ("signum", "code", "message"),
    [
        (signal.SIGINT, 130, "interrupted; nothing was written"),
        (signal.SIGTERM, 143, "terminated by SIGTERM; nothing was written"),
    ],
)
def test_a_signal_during_the_write_leaves_nothing(
    model, tmp_path, capsys, monkeypatch, signum, code, message
):
    handler_before = signal.getsignal(signal.SIGTERM)
    raise_during(monkeypatch, signum)
    assert run(["audit", model, "--out", str(tmp_path / "a"), *FAST], capsys) == (code, message)
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is handler_before  # restored after the command


def test_a_signal_during_the_swap_finishes_it_and_says_so(model, tmp_path, capsys, monkeypatch):
    real_swap = output._swap_into_place

    def signalled_swap(staging: Path, out: Path) -> None:
        signal.raise_signal(signal.SIGTERM)
        real_swap(staging, out)

    monkeypatch.setattr(output, "_swap_into_place", signalled_swap)
    out = tmp_path / "a"
    code, err = run(["audit", model, "--out", str(out), *FAST], capsys)
    assert code == 143
    assert err == f"terminated by SIGTERM; '{out}' was written completely"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "result.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


# A real process, stopped in its write step by a real signal: the staging folder's fate.
_BLOCKED_IN_WRITE = """
import sys, time
from harness import pipeline
from harness.cli import main

real_write = pipeline.write_outputs

def write_then_wait(result, folder, *rest):
    real_write(result, folder, *rest)
    print("WRITING", flush=True)
    time.sleep(600)

pipeline.write_outputs = write_then_wait
sys.exit(main(sys.argv[1:]))
"""


def stopped_in_write(model: str, out: Path, signum: int) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-c", _BLOCKED_IN_WRITE, "audit", model, "--out", str(out), *FAST]
    with subprocess.Popen(
        args, cwd=out.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        ready = child.stdout.readline()
        if ready.strip() != "WRITING":
            child.kill()
            pytest.fail(f"the audit did not reach its write step: {child.communicate()}")
        child.send_signal(signum)
        stdout, stderr = child.communicate(timeout=120)
    return subprocess.CompletedProcess(args, child.returncode, stdout, stderr)


def test_sigterm_in_the_write_step_removes_the_staging_folder(model, tmp_path):
    done = stopped_in_write(model, tmp_path / "a", signal.SIGTERM)
    assert done.returncode == 143, done.stderr
    assert done.stderr.strip() == "terminated by SIGTERM; nothing was written"
    assert list(tmp_path.iterdir()) == []


def test_sigkill_leftovers_are_removed_by_the_next_run(model, tmp_path, capsys):
    out = tmp_path / "a"
    done = stopped_in_write(model, out, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    leftovers = list(tmp_path.iterdir())
    assert [p.name.startswith(".a.partial-") for p in leftovers] == [True]
    assert (leftovers[0] / "result.json").is_file()  # what the issue found left behind
    assert run(["audit", model, "--out", str(out), *FAST], capsys)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
