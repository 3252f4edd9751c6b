"""Atomic output folders: readers see the old audit or the new one, never half of either.

Files are written into a hidden temporary folder beside the target and renamed into place
at the end. A failure at any point removes the temporary folder (and any parent folders
this run created), so a failed audit leaves nothing behind.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.core.errors import OutputExistsError, UsageError

__all__ = [
    "REPORT_FILE",
    "RESULT_FILE",
    "check_output_dir",
    "staged_output_dir",
    "write_html_file",
]

RESULT_FILE = "result.json"
REPORT_FILE = "report.html"


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
    """Fail before any work if ``out`` cannot be written (run again just before the swap)."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise UsageError(f"--out '{out}' exists and is not a folder; choose another --out")
    if not force:
        raise OutputExistsError(
            f"output folder '{out}' already exists; pass --force to replace it, or --out DIR"
        )
    # --force replaces a previous audit, never an arbitrary folder (think --out ~).
    if any(out.iterdir()) and not (out / RESULT_FILE).is_file():
        raise UsageError(
            f"refusing to replace '{out}': it is not empty and holds no {RESULT_FILE}, so it "
            "is not a previous audit; choose another --out"
        )


@contextmanager
def staged_output_dir(out: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary folder; on clean exit it replaces ``out``, on error it vanishes."""
    out = out.absolute()
    try:
        created = _make_parents(out.parent)
        staging = _fresh_folder(out.parent, f".{out.name}.partial-")
    except OSError as exc:
        raise UsageError(
            f"cannot write to '{out.parent}': {exc.strerror}; choose another --out"
        ) from exc
    try:
        yield staging
        check_output_dir(out, force)
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise


def _swap_into_place(staging: Path, out: Path) -> None:
    if not out.exists():
        staging.rename(out)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    backup.rmdir()  # only the unique name is wanted; rename needs it free
    out.rename(backup)
    try:
        staging.rename(out)
    except BaseException:
        backup.rename(out)  # put the previous audit back
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _fresh_folder(parent: Path, prefix: str) -> Path:
    """A new, uniquely named folder. Unlike ``tempfile.mkdtemp`` (mode 0700) it takes the
    user's umask, so the audit folder renamed from it reads like any other folder."""
    for _ in range(100):
        folder = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"no free name for a temporary folder in {parent}")


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
