"""The machine and software an audit ran on, for the result's ``environment`` section."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import psutil

from harness.core.result import Environment, GpuInfo

__all__ = ["RECORDED_PACKAGES", "collect_environment"]

RECORDED_PACKAGES = (
    "model-audit-harness",
    "torch",
    "torchvision",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnx2torch",
    "captum",
    "numpy",
    "plotly",
    "jinja2",
)


def collect_environment(cwd: Path | None = None) -> Environment:
    commit, dirty = _git_state(cwd or Path.cwd())
    return Environment(
        cpu_model=_cpu_model(),
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True) or os.cpu_count() or 1,
        ram_bytes=int(psutil.virtual_memory().total),
        gpus=_gpus(),
        os=platform.platform(),
        python=platform.python_version(),
        packages={name: _version(name) for name in RECORDED_PACKAGES},
        onnxruntime_providers=_ort_providers(),
        git_commit=commit,
        git_dirty=dirty,
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _gpus() -> tuple[GpuInfo, ...]:
    import torch

    if not torch.cuda.is_available():
        return ()
    return tuple(
        GpuInfo(
            name=torch.cuda.get_device_name(i),
            memory_bytes=int(torch.cuda.get_device_properties(i).total_memory),
        )
        for i in range(torch.cuda.device_count())
    )


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _ort_providers() -> tuple[str, ...]:
    import onnxruntime

    return tuple(onnxruntime.get_available_providers())


def _git_state(cwd: Path) -> tuple[str | None, bool | None]:
    """The commit and dirtiness of the repository around ``cwd``; (None, None) outside one."""
    try:
        commit = _git(cwd, "rev-parse", "HEAD")
        status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None, None
    if commit is None:
        return None, None
    return commit, bool(status)


def _git(cwd: Path, *args: str) -> str | None:
    completed = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
    )
    return completed.stdout.strip() if completed.returncode == 0 else None
