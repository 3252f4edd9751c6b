"""chunked_call: a module that runs only a fixed number of rows gives, chunk by chunk, the
outputs and the attributions (hooked layer or not) of one call on every row."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.stages.explanations.backends import _first_output
from harness.stages.explanations.fixed_batch import chunked_call

torch.set_num_threads(1)


class _Tokens(nn.Module):
    """ids -> embedding -> tanh -> mean -> linear; with ``rows`` set, any other row count
    raises, as a graph exported with a fixed batch does."""

    def __init__(self, rows: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(20, 8)
        self.head = nn.Linear(8, 3)
        self.rows = rows

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.rows is not None and ids.shape[0] != self.rows:
            raise RuntimeError(f"fixed at {self.rows} rows, got {ids.shape[0]}")
        return self.head(torch.tanh(self.embedding(ids)).mean(dim=1))


class _Image(nn.Module):
    def __init__(self, rows: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4 * 6 * 6, 3)
        self.rows = rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        # Like an export's Reshape to a constant: the batch is baked in.
        rows = self.rows if self.rows is not None else x.shape[0]
        return self.head(x.reshape(rows, -1))


def _chunked(module: nn.Module, rows: int, layer: nn.Module | None):
    def forward(*tensors: torch.Tensor) -> torch.Tensor:
        return chunked_call(module, tensors, [True] * len(tensors), rows, layer, _first_output)

    return forward


def _ids(count: int) -> torch.Tensor:
    return torch.randint(1, 20, (count, 6), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("rows", [1, 2, 4])
def test_outputs_match_one_call_on_every_row(rows: int) -> None:
    free, fixed = _Tokens(), _Tokens(rows)
    ids = _ids(5)  # not a multiple of 2 or 4: the last chunk is padded
    torch.testing.assert_close(_chunked(fixed, rows, None)(ids), free(ids))


@pytest.mark.parametrize("rows", [1, 2])
def test_layer_integrated_gradients_through_a_hooked_embedding_match(rows: int) -> None:
    from captum.attr import LayerIntegratedGradients

    free, fixed = _Tokens(), _Tokens(rows)
    ids, baseline = _ids(3), torch.zeros(3, 6, dtype=torch.int64)
    target = torch.tensor([0, 2, 1])
    expected = LayerIntegratedGradients(free, free.embedding).attribute(
        ids, baseline, target=target, n_steps=8
    )
    actual = LayerIntegratedGradients(_chunked(fixed, rows, fixed.embedding), fixed.embedding)
    attributions = actual.attribute(ids, baseline, target=target, n_steps=8)
    torch.testing.assert_close(attributions, expected)


def test_gradients_at_a_hooked_embedding_match() -> None:
    from captum.attr import LayerGradientXActivation

    free, fixed = _Tokens(), _Tokens(2)
    ids = _ids(3)
    expected = LayerGradientXActivation(free, free.embedding).attribute(ids, target=1)
    method = LayerGradientXActivation(_chunked(fixed, 2, fixed.embedding), fixed.embedding)
    torch.testing.assert_close(method.attribute(ids, target=1), expected)


def test_grad_cam_at_a_hooked_last_conv_and_input_gradients_match() -> None:
    from captum.attr import IntegratedGradients, LayerGradCam

    free, fixed = _Image(), _Image(1)
    x = torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    expected = LayerGradCam(free, free.conv2).attribute(x, target=0)
    chunked = _chunked(fixed, 1, fixed.conv2)
    torch.testing.assert_close(LayerGradCam(chunked, fixed.conv2).attribute(x, target=0), expected)
    # No hook on the layer: plain chunks, gradients through the concatenation.
    expected = IntegratedGradients(free).attribute(x, target=2, n_steps=6)
    actual = IntegratedGradients(_chunked(fixed, 1, fixed.conv2)).attribute(x, target=2, n_steps=6)
    torch.testing.assert_close(actual, expected)


def test_an_output_without_the_batch_axis_is_refused_with_the_reason() -> None:
    class Summed(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum()

    with pytest.raises(RuntimeError, match=r"batch is fixed at 2, but its first output"):
        chunked_call(Summed(), [torch.ones(3, 4)], [True], 2, None, _first_output)
