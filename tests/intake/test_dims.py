"""DimBinder: documented defaults by dim name, errors for unresolvable dims, --shape/--data."""

from __future__ import annotations

import pytest

from harness.core.errors import DataError, InputResolutionError, UsageError
from harness.core.model import Dim, TensorSpec
from harness.intake.dims import DEFAULT_SEQUENCE, DEFAULT_SPATIAL, DimBinder


def spec(name: str, *shape: Dim, dtype: str = "float32") -> TensorSpec:
    return TensorSpec(name=name, dtype=dtype, shape=tuple(shape))


# --- documented defaults --------------------------------------------------------------


@pytest.mark.parametrize("dim", ["batch", "batch_size", "BatchSize", "n", "b", "bs", "N"])
def test_batch_names_default_to_one_without_warning(dim: str) -> None:
    binder = DimBinder()
    assert binder.resolve(spec("x", dim, 5)) == (1, 5)
    assert binder.warnings == []
    assert binder.sizes == {dim: 1}
    assert not binder.sequence_defaulted


@pytest.mark.parametrize(
    "dim", ["sequence", "seq", "seq_len", "length", "tokens", "time", "steps", "frames"]
)
def test_sequence_names_default_to_128_with_a_warning(dim: str) -> None:
    binder = DimBinder()
    assert binder.resolve(spec("input_ids", "batch", dim)) == (1, DEFAULT_SEQUENCE)
    assert DEFAULT_SEQUENCE == 128
    assert binder.sequence_defaulted
    (warning,) = binder.warnings
    assert "'input_ids'" in warning
    assert "dim 1" in warning
    assert dim in warning
    assert "128" in warning
    assert "--shape input_ids=" in warning


@pytest.mark.parametrize("dim", ["height", "width", "h", "w", "img_height", "image_width"])
def test_spatial_names_default_to_224_with_a_warning(dim: str) -> None:
    binder = DimBinder()
    assert binder.resolve(spec("pixels", "batch", 3, dim)) == (1, 3, DEFAULT_SPATIAL)
    assert DEFAULT_SPATIAL == 224
    assert not binder.sequence_defaulted
    (warning,) = binder.warnings
    assert "'pixels'" in warning and "dim 2" in warning and "224" in warning
    assert "--shape pixels=" in warning


@pytest.mark.parametrize("dim", ["mystery", None])
def test_unknown_dim_on_axis_zero_is_taken_as_batch_with_a_warning(dim: str | None) -> None:
    binder = DimBinder()
    assert binder.resolve(spec("x", dim, 4)) == (1, 4)
    (warning,) = binder.warnings
    assert "'x'" in warning and "dim 0" in warning and "batch" in warning


def test_unknown_name_off_axis_zero_is_an_error_naming_input_dim_and_fix() -> None:
    binder = DimBinder()
    with pytest.raises(InputResolutionError) as caught:
        binder.resolve(spec("x", "batch", 3, "mystery_dim"))
    message = str(caught.value)
    assert "'x'" in message
    assert "dim 2" in message
    assert "'mystery_dim'" in message
    # Known dims are filled in, the unknown one left for the user.
    assert "--shape x=1x3xN" in message


def test_unnamed_dynamic_dim_off_axis_zero_is_an_error() -> None:
    binder = DimBinder()
    with pytest.raises(InputResolutionError) as caught:
        binder.resolve(spec("feats", "batch", None))
    message = str(caught.value)
    assert "'feats'" in message and "dim 1" in message and "unnamed" in message
    assert "--shape feats=1xN" in message


def test_shared_symbolic_dim_binds_once_across_inputs() -> None:
    binder = DimBinder()
    ids = binder.resolve(spec("input_ids", "batch", "sequence", dtype="int64"))
    mask = binder.resolve(spec("attention_mask", "batch", "sequence", dtype="int64"))
    assert ids == mask == (1, DEFAULT_SEQUENCE)
    assert binder.sizes == {"batch": 1, "sequence": DEFAULT_SEQUENCE}
    # One warning for the shared dim, from the first input that needed it.
    assert len(binder.warnings) == 1
    assert "'input_ids'" in binder.warnings[0]


def test_given_size_wins_over_the_default_and_is_shared() -> None:
    binder = DimBinder()
    binder.bind_given(spec("input_ids", "batch", "sequence"), (2, 7), "--shape")
    assert binder.resolve(spec("attention_mask", "batch", "sequence")) == (2, 7)
    assert binder.warnings == []
    assert not binder.sequence_defaulted


def test_sequence_default_override_is_used_and_flagged() -> None:
    binder = DimBinder(sequence_default=16)
    assert binder.resolve(spec("tokens", "batch", "seq")) == (1, 16)
    assert binder.sequence_defaulted
    assert "16" in binder.warnings[0]


def test_spatial_default_does_not_set_sequence_defaulted() -> None:
    binder = DimBinder(sequence_default=16)
    assert binder.resolve(spec("pixels", "batch", 3, "height", "width")) == (1, 3, 224, 224)
    assert not binder.sequence_defaulted


# --- bind_given -----------------------------------------------------------------------


@pytest.mark.parametrize(("origin", "error"), [("--shape", UsageError), ("--data", DataError)])
def test_bind_given_rank_mismatch(origin: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        DimBinder().bind_given(spec("pixels", "batch", 3, 28, 28), (3, 28, 28), origin)
    message = str(caught.value)
    assert "'pixels'" in message and "expects 4 dims" in message and origin in message
    assert "gives 3" in message


@pytest.mark.parametrize(("origin", "error"), [("--shape", UsageError), ("--data", DataError)])
def test_bind_given_fixed_dim_mismatch(origin: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        DimBinder().bind_given(spec("pixels", "batch", 3, 28, 28), (1, 3, 28, 32), origin)
    message = str(caught.value)
    assert "'pixels' dim 3" in message and "fixed at 28" in message and "32" in message


@pytest.mark.parametrize(("origin", "error"), [("--shape", UsageError), ("--data", DataError)])
def test_bind_given_conflicting_symbolic_binding(origin: str, error: type[Exception]) -> None:
    binder = DimBinder()
    binder.bind_given(spec("input_ids", "batch", "sequence"), (1, 8), origin)
    with pytest.raises(error) as caught:
        binder.bind_given(spec("attention_mask", "batch", "sequence"), (1, 9), origin)
    message = str(caught.value)
    assert "'attention_mask' dim 1" in message
    assert "'sequence'" in message and "already 8" in message and "9" in message
    assert binder.sizes["sequence"] == 8


def test_bind_given_accepts_matching_shape() -> None:
    binder = DimBinder()
    binder.bind_given(spec("pixels", "batch", 3, None, 28), (4, 3, 9, 28), "--shape")
    assert binder.sizes == {"batch": 4}
    # An unnamed dim binds no name; its size stays with that input's axis.
    assert binder.resolve(spec("other", "batch", 2)) == (4, 2)
    assert binder.resolve(spec("pixels", "batch", 3, None, 28)) == (4, 3, 9, 28)


# --- dims declared 0 or negative: unnamed and dynamic (issue 15; exporters write -1) -------


@pytest.mark.parametrize("declared", [0, -1])
def test_non_positive_declared_dim_is_dynamic_and_named_when_unsizable(declared: int) -> None:
    with pytest.raises(InputResolutionError) as caught:
        DimBinder().resolve(spec("x", "batch", declared, 4))
    message = str(caught.value)
    assert "'x' dim 1 (unnamed and dynamic)" in message
    # The advice is a --shape that is accepted, never one that repeats the -1.
    assert "--shape x=1xNx4" in message


@pytest.mark.parametrize("declared", [0, -1])
def test_non_positive_batch_dim_takes_the_batch_default(declared: int) -> None:
    binder = DimBinder()
    assert binder.resolve(spec("x", declared, 4)) == (1, 4)
    assert binder.warnings and "axis 0 taken as the batch dim" in binder.warnings[0]


@pytest.mark.parametrize("origin", ["--shape", "--data"])
def test_non_positive_declared_dim_takes_the_given_size(origin: str) -> None:
    binder = DimBinder()
    binder.bind_given(spec("x", 2, -1, 4), (2, 3, 4), origin)
    assert binder.resolve(spec("x", 2, -1, 4)) == (2, 3, 4)
    # The size belongs to that input's axis, not to every dim declared -1.
    with pytest.raises(InputResolutionError, match=r"'y' dim 1 \(unnamed and dynamic\)"):
        binder.resolve(spec("y", 2, -1, 4))


def test_unnamed_dims_are_set_by_position() -> None:
    # A [?, ?] input: --shape input=1x512 sets both (issue 15: it was refused again).
    binder = DimBinder()
    binder.bind_given(spec("input", None, None), (1, 512), "--shape")
    assert binder.resolve(spec("input", None, None)) == (1, 512)
