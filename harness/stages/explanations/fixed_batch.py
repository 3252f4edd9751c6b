"""Running a module whose graph fixes the batch: ``rows`` rows a call, the hooked layer once.

An export made from one example input fixes its batch (often at 1), and its twin cannot run
another any more than the graph can: a Reshape to the constant ``[1, -1]`` folds every row
into one. Attribution methods send many rows a call (the samples times the path steps), so
``chunked_call`` runs them ``rows`` at a time, the last chunk padded by repeating its last
row (the padding's outputs dropped), and concatenates: one autograd graph, as one call.

A layer method hooks one layer (the embedding, the last convolution) and needs exactly one
call of it per forward, holding every row: Captum's hooks store its output, or replace it
with the path's interpolated embeddings. When the layer has hooks, each chunk runs up to the
layer (its arguments captured, the rest of the chunk not run), the layer runs once on every
row's arguments, and each chunk then runs with its slice of that output, a stand-in in the
layer's place, so the hooks see one call of the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = ["chunked_call", "one_pass_method"]

FirstOutput = Callable[[Any], torch.Tensor]


def chunked_call(
    module: nn.Module,
    tensors: Sequence[torch.Tensor],
    batched: Sequence[bool],
    rows: int,
    layer: nn.Module | None,
    first_output: FirstOutput,
) -> torch.Tensor:
    """``first_output(module(*tensors))`` for any number of rows, calling ``module`` on
    exactly ``rows`` rows of each ``batched`` tensor at a time (the others as they are)."""
    total = next(int(t.shape[0]) for t, b in zip(tensors, batched, strict=True) if b)

    def chunks() -> Iterator[list[torch.Tensor]]:
        # Fresh slices on every pass: telling the layer's batched arguments from its
        # shared ones (a weight table) relies on object identity.
        for start in range(0, total, rows):
            yield [_rows(t, start, rows) if b else t for t, b in zip(tensors, batched, strict=True)]

    if layer is None or not _hooked(layer):
        outputs = [_checked(first_output(module(*chunk)), rows) for chunk in chunks()]
    else:
        outputs = _through_layer(module, layer, chunks, total, rows, first_output)
    return torch.cat(outputs)[:total]


def one_pass_method(module: nn.Module) -> str | None:
    """The method hooked into ``module`` that needs every row in one pass, or None.

    DeepLift runs the inputs and their baselines as one batch and, at each nonlinearity,
    pairs the two halves of what that one call saw; chunks would pair rows of different
    calls. Its hooks are found by their owner (Captum's DeepLift, and DeepLiftShap).
    """
    from captum.attr import DeepLift

    for child in module.modules():
        hooks = (*child._forward_hooks.values(), *child._forward_pre_hooks.values())
        for hook in hooks:
            if isinstance(getattr(hook, "__self__", None), DeepLift):
                return "DeepLift"
    return None


def _rows(tensor: torch.Tensor, start: int, rows: int) -> torch.Tensor:
    piece = tensor[start : start + rows]
    short = rows - int(piece.shape[0])
    if short:  # the last chunk: repeat its last row, whose outputs are then dropped
        piece = torch.cat([piece, piece[-1:].expand(short, *piece.shape[1:])])
    return piece


def _checked(output: torch.Tensor, rows: int) -> torch.Tensor:
    if output.dim() == 0 or int(output.shape[0]) != rows:
        raise RuntimeError(
            f"the model's batch is fixed at {rows}, but its first output is shaped "
            f"{tuple(output.shape)}, not ({rows}, ...): its rows cannot be split by sample"
        )
    return output


def _hooked(layer: nn.Module) -> bool:
    return bool(layer._forward_hooks or layer._forward_pre_hooks)


# --- the layer once -----------------------------------------------------------------------


class _LayerReached(Exception):  # control flow: a chunk stops at the layer
    def __init__(self, arguments: tuple[Any, ...]) -> None:
        super().__init__("layer reached")
        self.arguments = arguments


class _Capture(nn.Module):
    """Stands in for the layer on the way in: records its arguments, stops the chunk."""

    def forward(self, *arguments: Any) -> Any:
        raise _LayerReached(arguments)


class _Replay(nn.Module):
    """Stands in for the layer on the way out: returns the chunk's slice of its output."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, *arguments: Any) -> torch.Tensor:
        return self.value


def _through_layer(
    module: nn.Module,
    layer: nn.Module,
    chunks: Callable[[], Iterator[list[torch.Tensor]]],
    total: int,
    rows: int,
    first_output: FirstOutput,
) -> list[torch.Tensor]:
    parent, name = _parent_of(module, layer)
    captured = _captured(module, parent, name, chunks)
    if len(captured) == 1:  # one chunk: a second pass tells batched arguments apart
        captured.append(_captured(module, parent, name, chunks)[0])
        arguments = _joined(captured[:1], captured, rows, total)
    else:
        arguments = _joined(captured, captured, rows, total)
    output = layer(*arguments)  # the one call the hooks see
    if not isinstance(output, torch.Tensor) or output.dim() == 0 or output.shape[0] % total:
        raise RuntimeError(
            "the model's batch is fixed, and its hooked layer's output cannot be split by sample"
        )
    per_sample = int(output.shape[0]) // total
    outputs = []
    for index, chunk in enumerate(chunks()):
        piece = _rows_of(output, index * rows, rows, per_sample)
        with _swapped(parent, name, _Replay(piece)):
            outputs.append(_checked(first_output(module(*chunk)), rows))
    return outputs


def _captured(
    module: nn.Module,
    parent: nn.Module,
    name: str,
    chunks: Callable[[], Iterator[list[torch.Tensor]]],
) -> list[tuple[Any, ...]]:
    captured = []
    with _swapped(parent, name, _Capture()):
        for chunk in chunks():
            try:
                module(*chunk)
            except _LayerReached as reached:
                captured.append(reached.arguments)
            else:
                raise RuntimeError("the hooked layer is not on the path to the model's output")
    return captured


def _joined(
    used: list[tuple[Any, ...]], seen: list[tuple[Any, ...]], rows: int, total: int
) -> list[Any]:
    """The layer's arguments for every row: those that are one object in every pass (its
    weights) once, the rest concatenated and cut to ``total`` samples."""
    joined = []
    for position, first in enumerate(seen[0]):
        shared = not isinstance(first, torch.Tensor) or all(
            args[position] is first for args in seen
        )
        if shared:
            joined.append(first)
            continue
        if first.dim() == 0 or first.shape[0] % rows:
            raise RuntimeError(
                f"the model's batch is fixed at {rows}, and its hooked layer takes an argument "
                f"shaped {tuple(first.shape)}, which cannot be split by sample"
            )
        per_sample = int(first.shape[0]) // rows
        joined.append(torch.cat([args[position] for args in used])[: total * per_sample])
    return joined


def _rows_of(tensor: torch.Tensor, start: int, rows: int, per_sample: int) -> torch.Tensor:
    """Samples ``start`` .. ``start + rows`` of ``tensor`` (``per_sample`` rows each), the
    last sample repeated to fill a short chunk."""
    by_sample = tensor.reshape(-1, per_sample, *tensor.shape[1:])
    piece = _rows(by_sample, start, rows)
    return piece.reshape(-1, *tensor.shape[1:])


def _parent_of(module: nn.Module, layer: nn.Module) -> tuple[nn.Module, str]:
    # Not named_modules(): an ONNX node's name may hold dots, so its qualified name is
    # ambiguous; the parent's own table is not.
    for parent in module.modules():
        for name, child in parent._modules.items():
            if child is layer:
                return parent, name
    raise RuntimeError("the hooked layer is not a submodule of the model")


@contextmanager
def _swapped(parent: nn.Module, name: str, stand_in: nn.Module) -> Iterator[None]:
    real = parent._modules[name]
    parent._modules[name] = stand_in
    try:
        yield
    finally:
        parent._modules[name] = real
