"""A large batch through the forward pass in chunks: the same outputs, a bounded chunk."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.model import Dim, LoadedModel, TensorSpec
from harness.runtime.chunks import MAX_CHUNK_SAMPLES, batch_inputs, run_in_chunks


def model(*inputs: tuple[str, tuple[Dim, ...]]) -> LoadedModel:
    specs = tuple(TensorSpec(name, "float32", shape) for name, shape in inputs)
    return LoadedModel(source="m.onnx", name="m", format="onnx", inputs=specs, outputs=())


class Spy:
    """A run that doubles ``x`` (and sums ``x`` over the batch when asked), recording the
    rows of every chunk it is handed."""

    def __init__(self, reduce_batch: bool = False) -> None:
        self.chunks: list[int] = []
        self.reduce_batch = reduce_batch

    def __call__(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = arrays["x"]
        self.chunks.append(len(x))
        if self.reduce_batch:
            return {"doubled": 2 * x, "total": x.sum(axis=0)}
        return {"doubled": 2 * x, "first": x[:, :1]}


BATCHED = model(("x", ("batch", 4)))


def test_a_large_batch_runs_in_bounded_chunks_joined_in_order() -> None:
    x = np.arange(1000 * 4, dtype=np.float32).reshape(1000, 4)
    spy = Spy()
    outputs = run_in_chunks(spy, BATCHED, {"x": x})
    assert max(spy.chunks) == MAX_CHUNK_SAMPLES and sum(spy.chunks) == 1000
    np.testing.assert_array_equal(outputs["doubled"], 2 * x)
    np.testing.assert_array_equal(outputs["first"], x[:, :1])


def test_a_small_batch_runs_whole() -> None:
    spy = Spy()
    run_in_chunks(spy, BATCHED, {"x": np.ones((MAX_CHUNK_SAMPLES, 4), np.float32)})
    assert spy.chunks == [MAX_CHUNK_SAMPLES]


def test_large_samples_make_smaller_chunks() -> None:
    # 8 MiB per sample: a chunk holds at most 64 MiB of inputs, so 8 samples.
    spy = Spy()
    x = np.zeros((20, 2 * 1024**2), np.float32)
    run_in_chunks(spy, model(("x", ("batch", 2 * 1024**2))), {"x": x})
    assert spy.chunks == [8, 8, 4]


@pytest.mark.parametrize(
    "shape", [("seq", 4), (None, 4), (1000, 4)], ids=["sequence-first", "unnamed", "fixed"]
)
def test_a_dim_0_not_named_as_the_batch_is_never_split(shape: tuple[Dim, ...]) -> None:
    spy = Spy()
    run_in_chunks(spy, model(("x", shape)), {"x": np.ones((1000, 4), np.float32)})
    assert spy.chunks == [1000]


def test_an_output_without_a_row_per_sample_means_one_pass() -> None:
    x = np.arange(1000 * 4, dtype=np.float32).reshape(1000, 4)
    spy = Spy(reduce_batch=True)
    outputs = run_in_chunks(spy, BATCHED, {"x": x})
    assert spy.chunks[-1] == 1000  # the chunked attempt gave up for one whole pass
    np.testing.assert_array_equal(outputs["total"], x.sum(axis=0))


def test_inputs_that_disagree_on_axis_0_are_not_split() -> None:
    both = model(("x", ("batch", 4)), ("y", ("batch", 4)))
    arrays = {"x": np.ones((100, 4), np.float32), "y": np.ones((99, 4), np.float32)}
    assert batch_inputs(both, arrays) == frozenset()


def test_scalars_ride_along_whole() -> None:
    with_gain = model(("x", ("batch", 4)), ("gain", ()))
    arrays = {"x": np.ones((100, 4), np.float32), "gain": np.array(2.0, np.float32)}
    assert batch_inputs(with_gain, arrays) == frozenset({"x"})
