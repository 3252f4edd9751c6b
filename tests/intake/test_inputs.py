"""Input resolution: synthetic values by role, determinism, --value, --shape, recorded stats."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.config import AuditConfig
from harness.core.errors import InputResolutionError, UsageError
from harness.core.model import Dim, LoadedModel, TensorSpec
from harness.intake.inputs import resolve_inputs, synthetic_array


def spec(name: str, dtype: str, *shape: Dim, index_range: int | None = None) -> TensorSpec:
    return TensorSpec(name=name, dtype=dtype, shape=tuple(shape), index_range=index_range)


def model(*inputs: TensorSpec) -> LoadedModel:
    return LoadedModel(source="x.onnx", name="x", format="onnx", inputs=inputs, outputs=())


def config(**kwargs: object) -> AuditConfig:
    return AuditConfig(model="x.onnx", **kwargs)  # type: ignore[arg-type]


# --- synthetic roles ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_float_inputs_are_standard_normal(dtype: str) -> None:
    array, how, warning = synthetic_array(spec("x", dtype, 64, 1024), (64, 1024), seed=0)
    assert array.dtype == np.dtype(dtype)
    assert array.shape == (64, 1024)
    values = array.astype(np.float64)
    assert abs(values.mean()) < 0.02
    assert abs(values.std() - 1.0) < 0.02
    assert "normal" in how and "seed 0" in how
    assert warning is None


def test_index_range_inputs_are_ids_within_the_table() -> None:
    table = spec("input_ids", "int64", "batch", "seq", index_range=50)
    array, how, warning = synthetic_array(table, (8, 500), seed=0)
    assert array.dtype == np.int64
    assert array.min() >= 0 and array.max() < 50
    # Uniform over the whole table, not a constant.
    assert len(np.unique(array)) == 50
    assert "[0, 50)" in how
    assert warning is None


@pytest.mark.parametrize("dtype", ["int64", "float32", "bool"])
def test_mask_inputs_are_ones(dtype: str) -> None:
    array, _, warning = synthetic_array(spec("attention_mask", dtype, 2, 5), (2, 5), seed=0)
    assert array.dtype == np.dtype(dtype)
    assert np.array_equal(array, np.ones((2, 5), dtype))
    assert warning is None


def test_bool_inputs_are_false() -> None:
    array, _, warning = synthetic_array(spec("flags", "bool", 3, 4), (3, 4), seed=0)
    assert array.dtype == np.bool_
    assert not array.any()
    assert warning is None


def test_position_ids_count_along_the_last_axis() -> None:
    array, _, warning = synthetic_array(spec("position_ids", "int64", 2, 6), (2, 6), seed=0)
    assert array.dtype == np.int64
    assert np.array_equal(array, np.tile(np.arange(6), (2, 1)))
    assert warning is None


def test_token_type_ids_are_zeros() -> None:
    array, _, warning = synthetic_array(spec("token_type_ids", "int64", 2, 6), (2, 6), seed=0)
    assert array.dtype == np.int64
    assert not array.any()
    assert warning is None


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("h0", "float32"), ("c0", "float32"), ("hidden_state", "float32"), ("state", "int64")],
)
def test_recurrent_state_inputs_are_zeros_with_a_warning(name: str, dtype: str) -> None:
    array, how, warning = synthetic_array(spec(name, dtype, 1, 8), (1, 8), seed=0)
    assert array.dtype == np.dtype(dtype)
    assert not array.any()
    assert "state" in how
    assert warning is not None and f"'{name}'" in warning and f"--value {name}=" in warning


def test_other_integer_inputs_are_zeros_with_a_warning() -> None:
    array, _, warning = synthetic_array(spec("bucket", "int32", 4), (4,), seed=0)
    assert array.dtype == np.int32
    assert not array.any()
    assert warning is not None and "'bucket'" in warning


def test_scalar_without_value_is_an_error_naming_the_fix() -> None:
    with pytest.raises(InputResolutionError) as caught:
        resolve_inputs(model(spec("gain", "float32")), config())
    assert "'gain'" in str(caught.value)
    assert "--value gain=" in str(caught.value)


@pytest.mark.parametrize("dtype", ["string", "complex64", "bfloat16"])
def test_unsupported_dtype_is_an_input_resolution_error(dtype: str) -> None:
    with pytest.raises(InputResolutionError) as caught:
        resolve_inputs(model(spec("blob", dtype, "batch", 4)), config())
    assert "'blob'" in str(caught.value) and dtype in str(caught.value)


# --- determinism ----------------------------------------------------------------------


def _two_float_inputs() -> LoadedModel:
    return model(spec("a", "float32", "batch", 16), spec("b", "float32", "batch", 16))


def test_same_seed_same_arrays() -> None:
    first = resolve_inputs(_two_float_inputs(), config(seed=3)).arrays
    second = resolve_inputs(_two_float_inputs(), config(seed=3)).arrays
    for name in ("a", "b"):
        assert np.array_equal(first[name], second[name])
    # Two inputs of the same spec still get different streams.
    assert not np.array_equal(first["a"], first["b"])


def test_different_seed_different_arrays() -> None:
    first = resolve_inputs(_two_float_inputs(), config(seed=0)).arrays
    second = resolve_inputs(_two_float_inputs(), config(seed=1)).arrays
    assert not np.array_equal(first["a"], second["a"])


def test_adding_an_input_leaves_the_others_values_alone() -> None:
    alone = resolve_inputs(model(spec("b", "float32", "batch", 16)), config()).arrays
    together = resolve_inputs(_two_float_inputs(), config()).arrays
    assert np.array_equal(alone["b"], together["b"])


# --- --value --------------------------------------------------------------------------


def test_value_fills_the_resolved_shape_and_is_recorded() -> None:
    loaded = model(spec("x", "float32", "batch", 4), spec("scale", "float32", "batch", 4))
    resolved = resolve_inputs(loaded, config(shapes={"x": (3, 4)}, values={"scale": 0.5}))
    assert resolved.arrays["scale"].shape == (3, 4)
    assert resolved.arrays["scale"].dtype == np.float32
    assert np.all(resolved.arrays["scale"] == 0.5)
    scale = next(t for t in resolved.tensors if t.name == "scale")
    assert scale.source == "value"
    assert "0.5" in scale.generator
    x = next(t for t in resolved.tensors if t.name == "x")
    assert x.source == "synthetic"


def test_value_gives_a_scalar_input() -> None:
    resolved = resolve_inputs(model(spec("gain", "int64")), config(values={"gain": 7}))
    assert resolved.arrays["gain"].shape == ()
    assert resolved.arrays["gain"].dtype == np.int64
    assert int(resolved.arrays["gain"]) == 7


@pytest.mark.parametrize(
    ("dtype", "value"),
    [("int64", 1.5), ("int8", 300), ("int8", -129), ("uint8", -1), ("bool", 1),
     ("int64", True), ("float32", True)],
)  # fmt: skip
def test_value_that_does_not_fit_the_dtype_is_a_usage_error(dtype: str, value: object) -> None:
    loaded = model(spec("k", dtype, 2))
    with pytest.raises(UsageError) as caught:
        resolve_inputs(loaded, config(values={"k": value}))
    assert "'k'" in str(caught.value) and dtype in str(caught.value)


@pytest.mark.parametrize(("dtype", "value"), [("int8", 127), ("int8", -128), ("bool", True)])
def test_value_at_the_edge_of_the_dtype_is_accepted(dtype: str, value: object) -> None:
    resolved = resolve_inputs(model(spec("k", dtype, 2)), config(values={"k": value}))
    assert resolved.arrays["k"].tolist() == [value, value]


@pytest.mark.parametrize("value", [-5, -1, 50, 10**6])
def test_value_outside_the_indexed_table_is_refused_like_data(value: int) -> None:
    # The rule --data follows: a negative id would wrap in Gather, a large one read past it.
    loaded = model(spec("input_ids", "int64", "batch", 6, index_range=50))
    with pytest.raises(UsageError) as caught:
        resolve_inputs(loaded, config(values={"input_ids": value}))
    assert f"--value input_ids={value}" in str(caught.value)
    assert "table of 50 rows" in str(caught.value) and "[0, 50)" in str(caught.value)


@pytest.mark.parametrize("value", [0, 49])
def test_value_inside_the_indexed_table_is_accepted(value: int) -> None:
    loaded = model(spec("input_ids", "int64", "batch", 6, index_range=50))
    resolved = resolve_inputs(loaded, config(values={"input_ids": value}))
    assert np.all(resolved.arrays["input_ids"] == value)


def test_a_table_of_no_rows_gets_no_synthetic_ids() -> None:
    loaded = model(spec("input_ids", "int64", "batch", 6, index_range=0))
    with pytest.raises(InputResolutionError, match="table of 0 rows"):
        resolve_inputs(loaded, config())


# --- --shape and names ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["shapes", "values"])
def test_unknown_input_name_is_a_usage_error_listing_the_inputs(field: str) -> None:
    loaded = model(spec("pixels", "float32", "batch", 4), spec("mask", "bool", "batch", 4))
    given = {"pixel": (1, 4)} if field == "shapes" else {"pixel": 1.0}
    with pytest.raises(UsageError) as caught:
        resolve_inputs(loaded, config(**{field: given}))
    message = str(caught.value)
    assert "'pixel'" in message
    assert "mask, pixels" in message


def test_shape_sets_the_dims_and_suppresses_the_warning() -> None:
    loaded = model(spec("tokens", "float32", "batch", "sequence", 4))
    resolved = resolve_inputs(loaded, config(shapes={"tokens": (2, 9, 4)}))
    assert resolved.arrays["tokens"].shape == (2, 9, 4)
    assert resolved.dims == {"batch": 2, "sequence": 9}
    assert resolved.warnings == ()
    assert not resolved.sequence_defaulted


def test_shape_dtype_differing_from_the_declared_one_is_a_usage_error() -> None:
    loaded = model(spec("ids", "int64", "batch", 8))
    cfg = config(shapes={"ids": (1, 8)}, dtypes={"ids": "int32"})
    with pytest.raises(UsageError) as caught:
        resolve_inputs(loaded, cfg)
    message = str(caught.value)
    assert "ids" in message and "int32" in message and "int64" in message


def test_shape_dtype_matching_the_declared_one_is_accepted() -> None:
    loaded = model(spec("ids", "int64", "batch", 8))
    cfg = config(shapes={"ids": (1, 8)}, dtypes={"ids": "int64"})
    assert resolve_inputs(loaded, cfg).arrays["ids"].dtype == np.int64


# --- what the result records ----------------------------------------------------------


def test_fed_tensor_stats_match_numpy() -> None:
    loaded = model(
        spec("x", "float32", "batch", 32),
        spec("input_ids", "int64", "batch", 32, index_range=10),
    )
    resolved = resolve_inputs(loaded, config(shapes={"x": (4, 32)}))
    assert [t.name for t in resolved.tensors] == ["x", "input_ids"]
    for tensor in resolved.tensors:
        array = resolved.arrays[tensor.name]
        assert tensor.shape == array.shape
        assert tensor.dtype == str(array.dtype)
        assert tensor.source == "synthetic"
        assert tensor.min == pytest.approx(float(array.min()))
        assert tensor.max == pytest.approx(float(array.max()))
        assert tensor.mean == pytest.approx(float(array.astype(np.float64).mean()))
    assert resolved.tensors[0].min < 0 < resolved.tensors[0].max


def test_a_dim_declared_zero_is_dynamic_and_needs_a_size() -> None:
    # Declared 0 or -1 is "any size" (issue 15); only a resolved size below 1 is empty.
    with pytest.raises(InputResolutionError, match=r"'x' dim 1 \(unnamed and dynamic\)"):
        resolve_inputs(model(spec("x", "float32", "batch", 0)), config())


def test_every_unresolved_input_is_named_in_one_error_with_its_flag() -> None:
    loaded = model(
        spec("audio", "float32", "batch", None),
        spec("sample_rate", "int64"),
        spec("h0", "float32", 1, "batch", None),
    )
    with pytest.raises(InputResolutionError) as caught:
        resolve_inputs(loaded, config())
    message = str(caught.value)
    assert message.startswith("3 inputs need a size or a value")
    assert "--shape audio=1xN --value sample_rate=V --shape h0=1x1xN" in message


def test_dims_and_warnings_are_carried_into_the_result() -> None:
    loaded = model(
        spec("input_ids", "int64", "batch", "sequence", index_range=100),
        spec("attention_mask", "int64", "batch", "sequence"),
        spec("h0", "float32", "batch", 8),
    )
    resolved = resolve_inputs(loaded, config())
    assert resolved.dims == {"batch": 1, "sequence": 128}
    assert resolved.sequence_defaulted
    assert len(resolved.warnings) == 2
    assert "'input_ids' dim 1 (sequence)" in resolved.warnings[0]
    assert "'h0'" in resolved.warnings[1]
    assert np.array_equal(resolved.arrays["attention_mask"], np.ones((1, 128), np.int64))


def test_sequence_default_argument_is_used() -> None:
    loaded = model(spec("tokens", "float32", "batch", "sequence"))
    resolved = resolve_inputs(loaded, config(), sequence_default=16)
    assert resolved.arrays["tokens"].shape == (1, 16)
    assert resolved.sequence_defaulted


# --- the input limit (--max-input-bytes): estimated before anything is allocated ----------


@pytest.fixture
def no_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if intake builds any input: a refusal must come from the estimate."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an input was allocated before its size was checked")

    monkeypatch.setattr("harness.intake.inputs.synthetic_array", refuse)
    monkeypatch.setattr("harness.intake.inputs.np.full", refuse)


@pytest.mark.usefixtures("no_allocation")
@pytest.mark.parametrize("source", ["declared", "--shape", "--value"])
def test_inputs_over_the_limit_are_refused_from_their_estimate(source: str) -> None:
    declared = 10**7 if source == "declared" else "width"
    loaded = model(spec("x", "float32", "batch", declared))
    settings: dict[str, object] = {"max_input_bytes": 1024**2}
    if source != "declared":
        settings["shapes"] = {"x": (1, 10**7)}
    if source == "--value":
        settings["values"] = {"x": 0.5}
    with pytest.raises(InputResolutionError) as caught:
        resolve_inputs(loaded, config(**settings))
    message = str(caught.value)
    assert "input 'x' (1x10000000 float32) would take 38.1 MiB" in message
    assert "over the 1.0 MiB input limit" in message
    assert "--max-input-bytes 39MiB" in message


@pytest.mark.usefixtures("no_allocation")
def test_the_limit_holds_for_all_inputs_together() -> None:
    loaded = model(spec("a", "float32", "batch", 200), spec("b", "float32", "batch", 200))
    with pytest.raises(InputResolutionError) as caught:
        resolve_inputs(loaded, config(max_input_bytes=1000))
    message = str(caught.value)
    assert "input 'b' (1x200 float32) would take 800 bytes, 1.6 KiB with the other" in message


def test_raising_the_limit_admits_the_inputs() -> None:
    loaded = model(spec("a", "float32", "batch", 200), spec("b", "float32", "batch", 200))
    resolved = resolve_inputs(loaded, config(max_input_bytes=1600))
    assert sum(a.nbytes for a in resolved.arrays.values()) == 1600
    assert resolved.max_bytes == 1600


@pytest.mark.usefixtures("no_allocation")
def test_a_size_past_the_machines_memory_is_not_offered_a_larger_limit() -> None:
    loaded = model(spec("x", "float32", 2**63 - 1, 4))
    with pytest.raises(InputResolutionError) as caught:
        resolve_inputs(loaded, config())
    message = str(caught.value)
    assert "9223372036854775807x4 float32" in message
    assert "more than this machine's" in message and "--max-input-bytes" not in message


def test_more_dims_than_numpy_holds_is_refused() -> None:
    loaded = model(spec("x", "float32", *([None] * 65)))
    with pytest.raises(InputResolutionError, match=r"65 dims.*at most 64"):
        resolve_inputs(loaded, config(shapes={"x": (1,) * 65}))


@pytest.mark.parametrize(
    ("dtype", "index_range"), [("float32", None), ("float16", None), ("int32", 1000)]
)
def test_synthetic_values_are_drawn_in_the_inputs_own_dtype(
    dtype: str, index_range: int | None
) -> None:
    # Drawing float64 (or int64) and casting took twice (four times for float16) the
    # memory of the input; the peak may now be the input and one float32 draw at most.
    import tracemalloc

    shape = (256, 1024)
    wanted = spec("ids" if index_range else "x", dtype, *shape, index_range=index_range)
    tracemalloc.start()
    try:
        array, _, _ = synthetic_array(wanted, shape, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert array.dtype == np.dtype(dtype)
    assert peak <= array.nbytes + 256 * 1024 * 4 + 64 * 1024
