"""Run fuzz cases through ``harness.cli.main`` and record what each left behind.

A case runs in a worker process, in-process there: ``main(argv)`` with the case's folder
as the working directory, ``TMPDIR`` pointed at a folder of its own, and file descriptors
1 and 2 sent to files (so what onnxruntime's C++ or a third-party library prints is
caught too). A worker stays up between cases, so the imports (about 3 s for torch and
onnxruntime) are paid once per worker rather than once per case; what needs isolating,
a hang, a crash or a runaway allocation, costs only the worker, which the parent kills
(after ``timeout`` seconds, or above ``rss_kill`` bytes) and replaces.

``execute_fresh`` runs one case as a real ``python -m harness`` instead (a new process per
case, seconds each): a signal, the real argv and the real stderr.

Per case: the exit code, stderr's lines, the peak RSS (the kernel's high-water mark, reset
before each case through /proc/self/clear_refs), the duration, leftovers (anything in the
folder or TMPDIR besides the inputs and, after exit 0 or 1, the case's outputs), inputs
lost or changed, and outputs missing after a success. ``problems`` judges an outcome.
"""

from __future__ import annotations

import fnmatch
import hashlib
import multiprocessing
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from tests.fuzz.case import FAST, Case, zoo_model

__all__ = [
    "CASE_TIMEOUT",
    "RSS_KILL",
    "RSS_LIMIT",
    "Outcome",
    "Pool",
    "execute",
    "execute_fresh",
    "problems",
]

CASE_TIMEOUT = 30.0  # seconds: the slowest intended case takes a few
# Asserted on a case's peak RSS: a worker holding torch and onnxruntime is about 1 GiB.
RSS_LIMIT = 2 << 30
RSS_KILL = 6 << 30  # the worker is killed past this: the machine is shared
ENTRY = "harness.cli:main"
# What libraries put in TMPDIR on import, once per folder, whatever the command: caches of
# theirs, not files the harness left. onnxruntime writes a session id to '.ses'; importing
# onnx2torch makes torch's inductor cache folder.
LIBRARY_TMP_FILES = (".ses", "torchinductor_*")
POLL = 0.05
# The one line of a failure: "ErrorType: what failed..." or argparse's "harness CMD: error:",
# at most as long as the CLI cuts it (ERROR_LINE_LIMIT; not imported: the module that holds
# it is the CLI's own business).
ERROR_LINE_LIMIT = 1000
ERROR_LINE = re.compile(r"(\w+Error|harness( \w+)?: error): ")


@dataclass
class Outcome:
    """What one case did. ``code`` is None when the process did not answer (killed by a
    signal, the timeout or the RSS watchdog); ``escaped`` names an exception that left
    ``main`` instead of becoming an exit code."""

    name: str
    argv: tuple[str, ...]
    code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    rss_killed: bool = False
    escaped: str | None = None
    stderr: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    peak_rss: int = 0
    seconds: float = 0.0
    written_bytes: int = 0
    index: int = 0
    seed: int = 0


def problems(case: Case, outcome: Outcome, rss_limit: int = RSS_LIMIT) -> list[str]:
    """Every invariant OUTCOME breaks: an exit code outside CASE's, a signal, a hang,
    not exactly one stderr line on exit 2 or one that names no error, a traceback, a line
    past the CLI's cap, a word on a quiet success, leftovers, lost inputs, missing
    outputs, a peak RSS above RSS_LIMIT."""
    found = []
    if outcome.timed_out:
        found.append(f"hang: no answer in {outcome.seconds:.0f} s")
    if outcome.rss_killed:
        found.append(f"RSS past {RSS_KILL >> 20} MiB: killed")
    if outcome.signal is not None and not (outcome.timed_out or outcome.rss_killed):
        found.append(f"killed by signal {outcome.signal}")
    if outcome.escaped:
        found.append(f"escaped main: {outcome.escaped}")
    if outcome.code is not None and outcome.code not in case.codes:
        found.append(f"exit {outcome.code}, expected one of {sorted(case.codes)}")
    found += _stderr_problems(case, outcome)
    found += [f"leftover: {path}" for path in outcome.leftovers]
    found += [f"lost input: {path}" for path in outcome.lost]
    found += [f"missing output: {path}" for path in outcome.missing]
    if outcome.peak_rss > rss_limit:
        found.append(f"peak RSS {outcome.peak_rss >> 20} MiB > {rss_limit >> 20} MiB")
    return found


def _stderr_problems(case: Case, outcome: Outcome) -> list[str]:
    lines = outcome.stderr
    found = []
    if any("Traceback" in line for line in lines):
        found.append("a traceback on stderr")
    if outcome.code == 2 and len(lines) != 1:
        found.append(f"{len(lines)} stderr lines on exit 2, not one")
    if outcome.code == 2 and lines and not ERROR_LINE.match(lines[0]):
        found.append(f"stderr line names no error: {lines[0][:80]!r}")
    longest = max(map(len, lines), default=0)
    if longest > ERROR_LINE_LIMIT:
        found.append(f"a stderr line of {longest} characters > {ERROR_LINE_LIMIT}")
    # An audit's --quiet means nothing on stderr unless it fails, but its answer: the one
    # verdict line it ends with (README, "Exit codes").
    said = [line for line in lines if not line.startswith("verdict: ")]
    if outcome.code in (0, 1) and case.quiet and case.argv[:1] == ("audit",) and said:
        found.append(f"{len(said)} stderr lines besides the verdict on a quiet exit")
    return found


# --------------------------------------------------------------------------- one case


def execute(case: Case, root: Path, entry: str = ENTRY) -> Outcome:
    """Run CASE in this process, in a folder under ROOT, through ENTRY ('module:function',
    harness.cli.main by default), and clean up after it."""
    folder, tmp = _folders(case, root)
    _lay_out(case, folder)
    before = _fingerprints(folder)
    _reset_peak_rss()
    children_before = _children_peak()
    started = time.perf_counter()
    outcome = Outcome(case.name, case.argv, index=case.index, seed=case.seed)
    with _captured_output(root) as captured, _inside(folder, tmp):
        outcome.code, outcome.escaped = _call(entry, case.argv)
    outcome.seconds = time.perf_counter() - started
    # A child's peak counts when this case raised the children's high-water mark.
    children = _children_peak()
    outcome.peak_rss = max(_peak_rss(), children if children > children_before else 0)
    outcome.stderr = _lines(captured["stderr"])
    _inspect(case, outcome, folder, tmp, before)
    _remove(folder, tmp)
    return outcome


def execute_fresh(case: Case, root: Path, timeout: float = CASE_TIMEOUT) -> Outcome:
    """Run CASE as ``python -m harness ARGV`` in a process of its own."""
    folder, tmp = _folders(case, root)
    _lay_out(case, folder)
    tmp.mkdir()
    before = _fingerprints(folder)
    outcome = Outcome(case.name, case.argv, index=case.index, seed=case.seed)
    started = time.perf_counter()
    with tempfile.TemporaryFile(dir=root) as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "harness", *case.argv],
            cwd=folder,
            env={**os.environ, "TMPDIR": str(tmp)},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        status, outcome.peak_rss = _watch(process, timeout, outcome)
        _set_status(outcome, status)
        err.seek(0)
        outcome.stderr = _lines(err.read())
    outcome.seconds = time.perf_counter() - started
    _inspect(case, outcome, folder, tmp, before)
    _remove(folder, tmp)
    return outcome


def _watch(process: subprocess.Popen, timeout: float, outcome: Outcome) -> tuple[int, int]:
    """Reap PROCESS, killing it at the timeout or past RSS_KILL: its wait status and peak
    RSS (the larger of the kernel's ru_maxrss and what polling saw of its process tree)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = status  # reaped here: Popen must not wait for it again
            return status, max(usage.ru_maxrss * 1024, seen)
        seen = max(seen, _tree_rss(process.pid))
        outcome.rss_killed = outcome.rss_killed or seen > RSS_KILL
        outcome.timed_out = outcome.timed_out or time.monotonic() > deadline
        if outcome.rss_killed or outcome.timed_out:
            _kill_tree(process.pid)
        time.sleep(POLL)


def _set_status(outcome: Outcome, status: int) -> None:
    if os.WIFSIGNALED(status):
        outcome.signal = os.WTERMSIG(status)
    else:
        outcome.code = os.WEXITSTATUS(status)


def _folders(case: Case, root: Path) -> tuple[Path, Path]:
    return root / f"case-{case.index}", root / f"tmp-{case.index}"


def _lay_out(case: Case, folder: Path) -> None:
    folder.mkdir(parents=True)
    for name in case.dirs:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    for name in case.read_only:
        (folder / name).chmod(0o555)


def _fingerprints(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 for files, '' for folders."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = str(path.relative_to(folder))
        if path.is_symlink() or not path.is_dir():
            found[relative] = _digest(path)
        else:
            found[relative] = ""
    return found


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


def _inspect(case: Case, outcome: Outcome, folder: Path, tmp: Path, before: dict) -> None:
    """Fill in leftovers, lost inputs, missing outputs and the bytes written."""
    after = _fingerprints(folder) if folder.is_dir() else {}
    outcome.lost = [path for path, digest in before.items() if after.get(path) != digest]
    succeeded = outcome.code in (0, 1)
    allowed = set(before)
    if succeeded:
        allowed |= {str(Path(out)) for out in case.outputs}
        allowed |= {str(parent) for out in case.outputs for parent in Path(out).parents}
        outcome.missing = [out for out in case.outputs if str(Path(out)) not in after]
    outcome.leftovers = sorted(set(after) - allowed)
    outcome.leftovers += [f"$TMPDIR/{path}" for path in _tmp_leftovers(tmp)]
    outcome.written_bytes = sum(
        (folder / path).stat().st_size for path in set(after) - set(before) if after[path]
    )


def _tmp_leftovers(tmp: Path) -> list[str]:
    if not tmp.is_dir():
        return []
    found = _fingerprints(tmp)
    library = {
        path
        for path in found
        if any(fnmatch.fnmatch(path.split("/")[0], pattern) for pattern in LIBRARY_TMP_FILES)
    }
    return sorted(set(found) - library)


def _remove(*folders: Path) -> None:
    for folder in folders:
        if folder.exists():
            # A read-only folder (or one the case made so) must not stop the clean-up.
            for path in [folder, *folder.rglob("*")]:
                if path.is_dir() and not path.is_symlink():
                    path.chmod(0o755)
            shutil.rmtree(folder, ignore_errors=True)


def _call(entry: str, argv: tuple[str, ...]) -> tuple[int | None, str | None]:
    module, function = entry.split(":")
    main = getattr(import_module(module), function)
    try:
        return int(main(list(argv))), None
    except SystemExit as exc:  # argparse: --help, --version and usage errors
        return _exit_code(exc.code), None
    except BaseException as exc:
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # what SystemExit("text") does
    return 1


@contextmanager
def _inside(folder: Path, tmp: Path) -> Iterator[None]:
    """The case's folder as the working directory and TMP as every temporary folder."""
    tmp.mkdir()
    previous = os.getcwd(), os.environ.get("TMPDIR"), tempfile.tempdir
    os.chdir(folder)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)
    try:
        yield
    finally:
        os.chdir(previous[0])
        if previous[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous[1]
        tempfile.tempdir = previous[2]


@contextmanager
def _captured_output(root: Path) -> Iterator[dict[str, bytes]]:
    """File descriptors 1 and 2 into unlinked files under ROOT; their bytes after."""
    captured: dict[str, bytes] = {}
    streams = {1: sys.stdout, 2: sys.stderr}
    for stream in streams.values():
        stream.flush()
    saved = {fd: os.dup(fd) for fd in streams}
    files = {fd: tempfile.TemporaryFile(dir=root) for fd in streams}  # noqa: SIM115
    for fd, file in files.items():
        os.dup2(file.fileno(), fd)
    try:
        yield captured
    finally:
        for fd, stream in streams.items():
            stream.flush()
            os.dup2(saved[fd], fd)
            os.close(saved[fd])
            files[fd].seek(0)
            captured["stdout" if fd == 1 else "stderr"] = files[fd].read()
            files[fd].close()


def _lines(data: bytes) -> list[str]:
    return [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


# --------------------------------------------------------------------------- memory


def _reset_peak_rss() -> None:
    """Reset this process's high-water mark (Linux: '5' to clear_refs)."""
    # Where it fails, VmHWM is the peak since the worker started: an upper bound.
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _children_peak() -> int:
    """The largest peak RSS of any child this process waited for (efficiency workers)."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        with suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def _kill_tree(pid: int) -> None:
    import psutil

    try:
        process = psutil.Process(pid)
        members = [*process.children(recursive=True), process]
    except psutil.Error:
        return
    for member in members:
        with suppress(psutil.Error):
            member.send_signal(signal.SIGKILL)


# --------------------------------------------------------------------------- workers


def _serve(connection: Any, root: str, entry: str) -> None:
    """A worker's loop: warm up, then run each case sent until None."""
    if entry == ENTRY:
        _warm_up(Path(root))
    connection.send("ready")
    while (case := connection.recv()) is not None:
        connection.send(execute(case, Path(root), entry))


def _warm_up(root: Path) -> None:
    """One clean audit, so that imports are not charged to the first case."""
    argv = ("audit", zoo_model("cnn_digits"), "--out", "out", "--quiet", *FAST)
    # A folder of its own per worker: two workers warming up in one case-N folder at once
    # collide (mkdir) and the second dies before it is ready.
    execute(Case("warm-up", argv, index=-os.getpid()), root)


class _Worker:
    """One worker process and its pipe; started on first use, replaced after a kill."""

    def __init__(self, root: Path, entry: str, timeout: float, rss_kill: int) -> None:
        self.root, self.entry, self.timeout, self.rss_kill = root, entry, timeout, rss_kill
        self.process: Any = None
        self.connection: Any = None

    def run(self, case: Case) -> Outcome:
        if self.process is None:
            self._start()
        self.connection.send(case)
        deadline = time.monotonic() + self.timeout
        peak = 0
        while not self.connection.poll(POLL):
            peak = max(peak, _tree_rss(self.process.pid))
            if not self.process.is_alive():
                return self._lost(case, peak)
            if peak > self.rss_kill:
                return self._lost(case, peak, rss_killed=True)
            if time.monotonic() > deadline:
                return self._lost(case, peak, timed_out=True)
        try:
            outcome: Outcome = self.connection.recv()
        except EOFError:  # it died: the pipe closed
            return self._lost(case, peak)
        return outcome

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(theirs, str(self.root), self.entry), daemon=True
        )
        self.process.start()
        theirs.close()
        self.connection = ours
        if not ours.poll(300) or ours.recv() != "ready":
            raise RuntimeError("a fuzz worker did not start within 300 s")

    def _lost(
        self, case: Case, peak: int, *, timed_out: bool = False, rss_killed: bool = False
    ) -> Outcome:
        """The worker died, or must be killed, during CASE: record it, clean up after it,
        and start afresh on the next case."""
        if not (timed_out or rss_killed):
            self.process.join(5)  # dead: reap it for its exit code
        exitcode = self.process.exitcode
        self.stop()
        outcome = Outcome(case.name, case.argv, peak_rss=peak, index=case.index, seed=case.seed)
        outcome.timed_out, outcome.rss_killed = timed_out, rss_killed
        outcome.seconds = self.timeout if timed_out else 0.0
        if not (timed_out or rss_killed):
            if exitcode is not None and exitcode < 0:
                outcome.signal = -exitcode
            else:
                outcome.escaped = f"the worker exited with {exitcode}"
        _remove(*_folders(case, self.root))
        return outcome

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.is_alive():
            _kill_tree(self.process.pid)
        self.process.join(5)
        self.connection.close()
        self.process = self.connection = None


class Pool:
    """WORKERS worker processes running cases from an iterable, outcomes in completion
    order. Use as a context manager: the workers stop with it."""

    def __init__(
        self,
        workers: int,
        root: Path,
        *,
        timeout: float = CASE_TIMEOUT,
        rss_kill: int = RSS_KILL,
        entry: str = ENTRY,
    ) -> None:
        self.workers = [_Worker(root, entry, timeout, rss_kill) for _ in range(workers)]

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.is_alive():
                with suppress(OSError):
                    worker.connection.send(None)
            worker.stop()

    def run(self, cases: Iterable[Case]) -> Iterator[tuple[Case, Outcome]]:
        source = iter(cases)
        lock = threading.Lock()
        results: queue.Queue[tuple[Case, Outcome] | BaseException | None] = queue.Queue()

        def drain(worker: _Worker) -> None:
            try:
                while True:
                    with lock:
                        case = next(source, None)
                    if case is None:
                        break
                    results.put((case, worker.run(case)))
            except BaseException as exc:
                results.put(exc)
            finally:
                results.put(None)

        threads = [threading.Thread(target=drain, args=(w,), daemon=True) for w in self.workers]
        for thread in threads:
            thread.start()
        finished = 0
        while finished < len(threads):
            item = results.get()
            if item is None:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
