"""The store: a folder where every finished unit's result lies, written atomically.

    STORE/store.json          what the store is, and when it was created
    STORE/units/ID.json       a finished unit: its AuditResult and how it ran
    STORE/failed/ID.json      a unit that failed every attempt: its error (removed once it
                              finishes on a later run)
    STORE/runs/N.json         one record per run: executor, workers, each unit's wall time
    STORE/faults/ID           test hook: one fault per line ("kill" or "raise"), each taken
                              by the next attempt of unit ID

A unit's file appears whole or not at all (written beside its place and renamed), so a run
that is killed at any moment leaves every finished unit readable and no half-written one;
the next run skips those. The store is the driver's: workers hand their results back and
need no shared file system.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError, shorten
from harness.core.files import write_bytes_atomic

__all__ = ["STORE_KIND", "Store", "store_time"]

STORE_KIND = "harness scale-out store"
_STORE_FILE = "store.json"


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root.absolute()

    @classmethod
    def open(cls, root: Path) -> Store:
        """The store at ROOT, created when missing; a folder that is not a store (and not
        empty) is refused rather than written into."""
        store = cls(root)
        marker = store.root / _STORE_FILE
        if marker.is_file():
            store._check_marker(marker)
            return store
        if store.root.exists() and (not store.root.is_dir() or any(store.root.iterdir())):
            raise UsageError(
                f"--store '{shorten(str(root))}' exists and is not a harness store; choose "
                "another --store (or an empty folder)"
            )
        try:
            store.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create --store '{shorten(str(root))}': {exc.strerror}; choose another"
            ) from exc
        document = {"kind": STORE_KIND, "created_at": store_time()}
        write_bytes_atomic(marker, _json(document))
        return store

    def _check_marker(self, marker: Path) -> None:
        try:
            document = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            document = None
        if not isinstance(document, dict) or document.get("kind") != STORE_KIND:
            raise UsageError(
                f"--store '{shorten(str(self.root))}' holds a {_STORE_FILE} that is not a "
                "harness store's; choose another --store"
            )

    @property
    def created_at(self) -> str:
        """When the store was made (the aggregates' ``created_at``: see ``store_time``)."""
        document = json.loads((self.root / _STORE_FILE).read_text(encoding="utf-8"))
        return str(document["created_at"])

    # --- finished units ---------------------------------------------------------------

    def _unit_path(self, unit_id: str) -> Path:
        return self.root / "units" / f"{unit_id}.json"

    def is_done(self, unit_id: str) -> bool:
        return self._unit_path(unit_id).is_file()

    def write_unit(self, unit_id: str, record: dict[str, Any]) -> None:
        write_bytes_atomic(self._unit_path(unit_id), _json(record))
        (self.root / "failed" / f"{unit_id}.json").unlink(missing_ok=True)

    def read_unit(self, unit_id: str) -> dict[str, Any] | None:
        """A finished unit's record, or None when it has none (or an unreadable one, which
        the next run then redoes)."""
        try:
            document = json.loads(self._unit_path(unit_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    # --- failures ---------------------------------------------------------------------

    def write_failure(self, unit_id: str, record: dict[str, Any]) -> None:
        write_bytes_atomic(self.root / "failed" / f"{unit_id}.json", _json(record))

    def read_failure(self, unit_id: str) -> dict[str, Any] | None:
        try:
            document = json.loads(
                (self.root / "failed" / f"{unit_id}.json").read_text(encoding="utf-8")
            )
        except (OSError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    # --- runs and the test hook ---------------------------------------------------------

    def write_run(self, record: dict[str, Any]) -> Path:
        runs = self.root / "runs"
        runs.mkdir(exist_ok=True)
        number = 1 + max((int(p.stem) for p in runs.glob("*.json") if p.stem.isdigit()), default=0)
        path = runs / f"{number}.json"
        write_bytes_atomic(path, _json(record))
        return path

    def take_fault(self, unit_id: str) -> str | None:
        """Test hook: the first fault listed for UNIT_ID, removed from the list (the file
        goes when it is empty); None when there is none."""
        path = self.root / "faults" / unit_id
        try:
            lines = path.read_text(encoding="utf-8").split()
        except OSError:
            return None
        if len(lines) <= 1:
            path.unlink(missing_ok=True)
        else:
            write_bytes_atomic(path, ("\n".join(lines[1:]) + "\n").encode("utf-8"))
        return lines[0] if lines else None


def store_time() -> str:
    """Now, in UTC to the second; ``SOURCE_DATE_EPOCH`` (the reproducible-builds
    convention) pins it, so two stores can give byte-identical aggregates."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch.isdigit() else datetime.now(UTC)
    return moment.isoformat(timespec="seconds")


def _json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
