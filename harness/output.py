"""Atomic output folders: readers see the old audit or the new one, never half of either.

Files are written into a hidden staging folder beside the target and renamed into place
at the end. A failure at any point removes the staging folder (and any parent folders
this run created), so a failed audit leaves nothing behind; the swap itself holds SIGINT,
SIGTERM and SIGHUP back until it is done, so a signal never splits it.

What only a SIGKILL (or a power cut) can leave, a staging folder ``.OUT.partial-PID-XXXXXXXX``
or a backup of the swap ``.OUT.old-PID-XXXXXXXX``, is removed by the next run into the same
``--out``: only when process PID is gone and the folder holds nothing but what an audit
writes.

``--force`` replaces only a previous audit: a folder holding a ``result.json`` that reads
as a harness result, perhaps a ``report.html``, and nothing else.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.core.errors import OutputExistsError, UsageError, shorten

__all__ = [
    "AUDIT_FILES",
    "HIDDEN_NAME_OVERHEAD",
    "REPORT_FILE",
    "RESULT_FILE",
    "check_output_dir",
    "remove_stale_leftovers",
    "staged_output_dir",
    "write_html_file",
]

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"
REPORT_FILE = "report.html"
AUDIT_FILES = frozenset({RESULT_FILE, REPORT_FILE})  # all an audit writes into its folder

_STAGING, _BACKUP = "partial", "old"
_PID_DIGITS = 7  # Linux's largest pid_max, 4194304, has 7 digits
_TOKEN_HEX = 8
# ".OUT.partial-PID-XXXXXXXX" is this many bytes longer than "OUT" at most: the longest
# name --out may take is the file system's limit (255 bytes) minus this.
HIDDEN_NAME_OVERHEAD = len(f"..{_STAGING}--") + _PID_DIGITS + _TOKEN_HEX
_DEFAULT_NAME_MAX = 255
_DEFAULT_PATH_MAX = 4096
_HELD_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
_LISTED = 5  # unexpected entries named in an error, at most


def write_html_file(target: Path, html: str, inputs: tuple[Path, ...] = ()) -> None:
    """Write one page (``-o`` of ``report`` and ``compare``) atomically: never onto a
    folder, into a missing folder, or over one of the INPUTS it was made from."""
    from harness.core.files import write_bytes_atomic

    if target.is_dir():
        raise UsageError(f"-o '{target}' is a folder; name the .html file to write")
    if not target.parent.is_dir():
        raise UsageError(f"folder '{target.parent}' does not exist; create it or choose another -o")
    if any(target.resolve() == path.resolve() for path in inputs):
        raise UsageError(f"-o '{target}' is one of the results it reads; choose another -o")
    write_bytes_atomic(target, html.encode("utf-8"))


def check_output_dir(out: Path, force: bool) -> None:
    """Fail before any work if ``out`` cannot be written (run again just before the swap):
    a name too long, a folder that cannot be written in, an existing ``out`` without
    ``force``, or with ``force`` one that is not a previous audit."""
    _check_path_fits(out)
    _check_parent_writable(out)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise UsageError(f"--out '{_shown(out)}' exists and is not a folder; choose another --out")
    if not force:
        raise OutputExistsError(
            f"output folder '{_shown(out)}' already exists; pass --force to replace it, "
            "or --out DIR"
        )
    _check_previous_audit(out)


@contextmanager
def staged_output_dir(out: Path, force: bool) -> Iterator[Path]:
    """Yield a staging folder; on clean exit it replaces ``out``, on error it vanishes.

    A signal arriving during the swap takes effect once the swap is done; the exception it
    raises then carries a note that ``out`` was written.
    """
    out = out.absolute()
    _check_path_fits(out)
    remove_stale_leftovers(out)
    try:
        created = _make_parents(out.parent)
        staging = _fresh_folder(out.parent, _hidden_prefix(out, _STAGING))
    except OSError as exc:
        raise UsageError(
            f"cannot write to '{_shown(out.parent)}': {exc.strerror}; choose another --out"
        ) from exc
    try:
        yield staging
        check_output_dir(out, force)
    except BaseException:
        _discard(staging, created)
        raise
    _commit(staging, out, created)


def remove_stale_leftovers(out: Path) -> list[Path]:
    """Remove the staging folders and swap backups of ``out`` that a killed run left
    behind; returns those removed. A folder is removed only if its name is one this module
    makes, the process named in it is gone, and it holds nothing but audit files."""
    parent = out.absolute().parent
    pattern = re.compile(
        re.escape(f".{out.name}.") + rf"(?:{_STAGING}|{_BACKUP})-([1-9]\d{{0,{_PID_DIGITS - 1}}})"
        rf"-[0-9a-f]{{{_TOKEN_HEX}}}"
    )
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed  # the parent is missing or unreadable: nothing of ours is there
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        folder = Path(entry.path)
        if _process_alive(int(match.group(1))) or not _holds_only_audit_files(folder):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        log.info("removed %s, left by a run that was killed", folder)
        removed.append(folder)
    return removed


def _check_path_fits(out: Path) -> None:
    """Every name in ``out`` within the file system's limit, with room for the hidden
    staging folder beside it, and the longest file path an audit writes within PATH_MAX:
    checked now, not when the audit is over (ENAMETOOLONG)."""
    out = out.absolute()
    if out.name in ("", ".", ".."):
        raise UsageError(f"--out '{_shown(out)}' does not end in a folder name; name the folder")
    name_max, path_max = _limits(out)
    for part in out.parent.parts[1:]:
        if len(os.fsencode(part)) > name_max:
            raise UsageError(
                f"--out '{_shown(out)}': the name '{shorten(part)}' is longer than the file "
                f"system's {name_max} bytes; choose a shorter --out"
            )
    fits = name_max - HIDDEN_NAME_OVERHEAD
    if len(os.fsencode(out.name)) > fits:
        raise UsageError(
            f"--out folder name '{shorten(out.name)}' is {len(os.fsencode(out.name))} bytes; "
            f"at most {fits} fit (the file system allows {name_max}, and the hidden staging "
            f"folder beside it adds {HIDDEN_NAME_OVERHEAD}); choose a shorter --out"
        )
    longest = len(os.fsencode(str(out))) + HIDDEN_NAME_OVERHEAD + len(f"/{REPORT_FILE}")
    if longest >= path_max:
        raise UsageError(
            f"--out '{_shown(out)}' is too long: its files' paths would pass the file "
            f"system's {path_max} bytes; choose a shorter --out"
        )


def _limits(out: Path) -> tuple[int, int]:
    """(NAME_MAX, PATH_MAX) of the file system ``out`` would be written on."""
    folder = _nearest_existing(out.parent)
    try:
        return os.pathconf(folder, "PC_NAME_MAX"), os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        return _DEFAULT_NAME_MAX, _DEFAULT_PATH_MAX


def _check_parent_writable(out: Path) -> None:
    """The folder the staging folder goes into (or its nearest existing ancestor, where
    the missing parents will be made) is a folder this process can write in."""
    parent = out.absolute().parent
    existing = _nearest_existing(parent)
    if not existing.is_dir():
        raise UsageError(
            f"--out '{_shown(out)}' is under '{_shown(existing)}', which is a file, not a "
            "folder; choose another --out"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"cannot write in '{_shown(existing)}' (permission denied or a read-only file "
            "system); choose another --out"
        )


def _nearest_existing(folder: Path) -> Path:
    """``folder`` or its nearest ancestor that exists (a file, if a file is in the way)."""
    for candidate in (folder, *folder.parents):
        try:
            candidate.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                continue  # reported by name by _check_path_fits

            raise UsageError(
                f"cannot reach '{_shown(candidate)}': {exc.strerror}; choose another --out"
            ) from exc
        return candidate
    return Path(folder.anchor or "/")


def _check_previous_audit(out: Path) -> None:
    """--force replaces a previous audit, never an arbitrary folder (think --out ~ or a
    folder that merely holds a result.json among the user's files)."""
    try:
        entries = sorted(out.iterdir())
    except OSError as exc:
        raise UsageError(
            f"cannot read '{_shown(out)}': {exc.strerror}; choose another --out"
        ) from exc
    if not entries:
        return  # an empty folder holds nothing to lose
    unexpected = [entry.name for entry in entries if not _is_audit_file(entry)]
    if unexpected:
        raise UsageError(
            f"refusing to replace '{_shown(out)}': besides what an audit writes "
            f"({', '.join(sorted(AUDIT_FILES))}) it holds {_listed(unexpected)}; move them "
            "away or choose another --out"
        )
    if not _reads_as_result(out / RESULT_FILE):
        raise UsageError(
            f"refusing to replace '{_shown(out)}': it holds no {RESULT_FILE} that reads as a "
            "harness result, so it is not a previous audit; choose another --out"
        )


def _is_audit_file(entry: Path) -> bool:
    """A regular file (not a link, not a folder) named as an audit names its files."""
    return entry.name in AUDIT_FILES and entry.is_file() and not entry.is_symlink()


def _holds_only_audit_files(folder: Path) -> bool:
    try:
        return all(_is_audit_file(entry) for entry in folder.iterdir())
    except OSError:
        return False


def _reads_as_result(path: Path) -> bool:
    """A JSON object with the keys every harness result has. Not the full validation: this
    only tells a previous audit from a user's file."""
    try:
        with path.open("rb") as handle:
            document: Any = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and {"schema_version", "harness_version"} <= set(document)


def _commit(staging: Path, out: Path, created: list[Path]) -> None:
    """Swap ``staging`` into place with the signals held; a signal that came meanwhile is
    raised afterwards, noting that ``out`` was written."""
    with _signals_held() as pending:
        try:
            _swap_into_place(staging, out)
        except BaseException:
            _discard(staging, created)
            raise
    if pending:
        try:
            signal.raise_signal(pending[0])
        except BaseException as exc:
            exc.add_note(f"'{_shown(out)}' was written completely")
            raise


@contextmanager
def _signals_held() -> Iterator[list[signal.Signals]]:
    """Record SIGINT, SIGTERM and SIGHUP instead of acting on them, and restore their
    handlers on exit; yields the list of those that came. Only the main thread can set
    handlers: elsewhere (and for an ignored signal) nothing is held."""
    pending: list[signal.Signals] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return
    previous = {}
    for name in _HELD_SIGNALS:
        number = getattr(signal, name, None)
        handler = signal.getsignal(number) if number is not None else None
        if number is None or handler in (signal.SIG_IGN, None):
            continue
        previous[number] = handler
        signal.signal(number, lambda signum, frame: pending.append(signal.Signals(signum)))
    try:
        yield pending
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _swap_into_place(staging: Path, out: Path) -> None:
    if not out.exists():
        staging.rename(out)
        return
    backup = _free_name(out.parent, _hidden_prefix(out, _BACKUP))
    out.rename(backup)
    try:
        staging.rename(out)
    except BaseException:
        backup.rename(out)  # put the previous audit back
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _hidden_prefix(out: Path, kind: str) -> str:
    """``.OUT.KIND-PID-``: the pid tells a later run whether the writer is still alive."""
    return f".{out.name}.{kind}-{os.getpid()}-"


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or a number we cannot judge: keep the folder
    return True


def _free_name(parent: Path, prefix: str) -> Path:
    for _ in range(100):
        candidate = parent / f"{prefix}{secrets.token_hex(_TOKEN_HEX // 2)}"
        if not os.path.lexists(candidate):
            return candidate
    raise FileExistsError(f"no free name for a hidden folder in {parent}")


def _fresh_folder(parent: Path, prefix: str) -> Path:
    """A new, uniquely named folder. Unlike ``tempfile.mkdtemp`` (mode 0700) it takes the
    user's umask, so the audit folder renamed from it reads like any other folder."""
    for _ in range(100):
        folder = parent / f"{prefix}{secrets.token_hex(_TOKEN_HEX // 2)}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"no free name for a temporary folder in {parent}")


def _discard(staging: Path, created: list[Path]) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    _remove_empty(created)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty: something else wrote there meanwhile


def _shown(path: Path) -> str:
    return shorten(str(path))


def _listed(names: list[str]) -> str:
    shown = ", ".join(f"'{shorten(name, 60)}'" for name in names[:_LISTED])
    more = len(names) - _LISTED
    return shown + (f" and {more} more" if more > 0 else "")
