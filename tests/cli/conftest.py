"""Models for the CLI tests, exported once per session into a shared folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.testing import onnx_builders


class ModelShelf:
    """Builds each test model on first use and hands back its path afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Path] = {}

    def get(self, name: str) -> Path:
        if name not in self._built:
            builder: Callable[[Path], Path] = getattr(onnx_builders, name)
            self._built[name] = builder(self.root / name)
        return self._built[name]


@pytest.fixture(scope="session")
def shelf(tmp_path_factory: pytest.TempPathFactory) -> ModelShelf:
    return ModelShelf(tmp_path_factory.mktemp("models"))
