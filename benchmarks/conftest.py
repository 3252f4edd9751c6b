"""What the benchmark suites share: the ``heavy`` marker and single-threaded torch.

``heavy`` marks the parametrisations that dominate a full run (the largest batch, the
sampling-based attribution methods); a quick run leaves them out:

    python -m pytest benchmarks -m "not heavy" --benchmark-min-rounds=3 --benchmark-max-time=0.2

A benchmark's name (``test_bench_zoo_inference[cnn-onnxruntime-b8]``) is the key a saved
baseline is compared by: the suites build their ids from stable names (the zoo's model
names, backends, batch sizes, method names), never from paths or objects, so renaming one
is a baseline reset.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# The zoo suites time on one intra-op thread: on a shared CI runner more threads measure
# the neighbours as much as the model.
THREADS = 1


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", 'heavy: a slow parametrisation; -m "not heavy" gives a quick run'
    )


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[int]:
    """torch on ``THREADS`` intra-op threads for a module's benchmarks, restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield THREADS
    torch.set_num_threads(before)
