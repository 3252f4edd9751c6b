"""Attention capture on a PyTorch module: forward hooks, every one removed in ``finally``.

What is captured, in the order the modules run (each a *site*):

    module                                         map taken from
    class name contains "Softmax" (nn.Softmax,     its output, when it is 3-D or 4-D and the
      models/transformer.py's AttentionSoftmax)      softmax runs over the last axis
    nn.MultiheadAttention                          its attention weights, asked for per head
                                                     (need_weights=True,
                                                     average_attn_weights=False); the
                                                     caller still gets what it asked for
    class name contains "Attention" (Hugging       a 4-D element of its output tuple that is
      Face eager attention, e.g. BertSelfAttention)  a distribution over the last axis

The same tensor seen by two hooks (a module and its parent returning it) counts once.
PyTorch's fused fast paths (``torch.backends.mha``) are switched off during capture, so
``nn.TransformerEncoderLayer`` runs the hookable path. Attention computed by a functional
call in a module of another name (``F.scaled_dot_product_attention``, Hugging Face's
"sdpa" implementation) is invisible to hooks: such models report no attention found;
load them with ``attn_implementation="eager"`` or audit their ONNX export.

Heads can be zeroed (ablation) only at softmax-module sites, by scaling the hook's output.
For verification, a softmax module whose parent has ``query`` and ``key`` submodules and
``heads`` and ``d_k`` attributes (models/transformer.py's ``MultiHeadSelfAttention``)
also yields its queries and keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from harness.core.attention import SiteCandidate
from harness.explainers.attention.sites import Capture, Site

__all__ = ["TorchAblator", "TorchCapturer", "attention_candidates", "hooked"]

SOFTMAX, MHA, ATTENTION_OUTPUT = "softmax module", "nn.MultiheadAttention", "attention output"
_ROW_SUM_TOLERANCE = 1e-3  # how close rows must sum to 1 for an output to be taken as a map


def attention_candidates(module: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(qualified name, module, kind) of every module that may compute attention."""
    found: list[tuple[str, nn.Module, str]] = []
    inside_mha: set[str] = set()
    for name, child in module.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside_mha):
            continue
        class_name = type(child).__name__.lower()
        if isinstance(child, nn.MultiheadAttention):
            inside_mha.add(name)
            found.append((name, child, MHA))
        elif "softmax" in class_name:
            found.append((name, child, SOFTMAX))
        elif "attention" in class_name:
            found.append((name, child, ATTENTION_OUTPUT))
    return found


@dataclass
class _Record:
    """What the hooks saw during one forward pass, in call order."""

    sites: list[Site] = field(default_factory=list)
    maps: list[torch.Tensor] = field(default_factory=list)
    seen: set[tuple[int, tuple[int, ...]]] = field(default_factory=set)
    queries: dict[str, torch.Tensor] = field(default_factory=dict)
    keys: dict[str, torch.Tensor] = field(default_factory=dict)

    def add(self, name: str, kind: str, tensor: torch.Tensor) -> None:
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key in self.seen:
            return
        self.seen.add(key)
        self.sites.append(Site(name, kind, ablatable=kind == SOFTMAX))
        self.maps.append(tensor.detach())


@contextmanager
def hooked(handles: list[RemovableHandle]) -> Iterator[list[RemovableHandle]]:
    """Yields ``handles`` for the caller to fill; removes every one on the way out."""
    try:
        yield handles
    finally:
        for handle in handles:
            handle.remove()
        handles.clear()


@contextmanager
def _no_fast_path() -> Iterator[None]:
    backend = getattr(torch.backends, "mha", None)
    if backend is None or not hasattr(backend, "set_fastpath_enabled"):
        yield
        return
    was = backend.get_fastpath_enabled()
    backend.set_fastpath_enabled(False)
    try:
        yield
    finally:
        backend.set_fastpath_enabled(was)


class TorchCapturer:
    """Captures the maps of ``module`` with forward hooks; ``run`` once per batch."""

    backend = "torch"
    method = "forward hooks on attention softmax and attention modules, removed after each run"
    fused_ops: tuple[str, ...] = ()
    candidates: tuple[SiteCandidate, ...] = ()  # verdicts are the ONNX capture's

    def __init__(self, module: nn.Module, device: str = "cpu") -> None:
        self.module = module
        self.device = device

    def run(self, arrays: dict[str, np.ndarray], with_qk: bool = False) -> Capture:
        record = _Record()
        with hooked([]) as handles:
            for name, child, kind in attention_candidates(self.module):
                handles += _capture_hooks(name, child, kind, record)
                if with_qk and kind == SOFTMAX:
                    handles += _qk_hooks(name, self.module, record)
            output = run_module(self.module, arrays, self.device)
        maps = tuple(m.float().cpu().numpy() for m in record.maps)
        qk = tuple(_qk_for(site.name, record) for site in record.sites)
        return Capture(tuple(record.sites), maps, output, qk)


class TorchAblator:
    """Runs ``module`` with heads zeroed at its softmax-module sites (``sites``, in order)."""

    method = "the softmax module's output multiplied by a 0/1 head mask in a forward hook"

    def __init__(self, module: nn.Module, sites: Sequence[Site], device: str = "cpu") -> None:
        if not all(site.ablatable for site in sites):
            raise ValueError("only softmax-module sites can be ablated")
        self.module = module
        self.sites = tuple(sites)
        self.device = device

    def output(self, arrays: dict[str, np.ndarray], masks: Sequence[np.ndarray]) -> np.ndarray:
        modules = dict(self.module.named_modules())
        with hooked([]) as handles:
            for site, mask in zip(self.sites, masks, strict=True):
                hook = _masking_hook(torch.as_tensor(np.asarray(mask, dtype=np.float32)))
                handles.append(modules[site.name].register_forward_hook(hook))
            return run_module(self.module, arrays, self.device)


def run_module(module: nn.Module, arrays: dict[str, np.ndarray], device: str) -> np.ndarray:
    """The module's first output on ``arrays`` (by input name), as a float numpy array."""
    tensors = {
        name: torch.from_numpy(np.ascontiguousarray(a)).to(device) for name, a in arrays.items()
    }
    with _no_fast_path(), torch.no_grad():
        raw = module(**tensors)
    first = _first_tensor(raw)
    return first.detach().float().cpu().numpy()


# --- hooks ----------------------------------------------------------------------------------


def _capture_hooks(
    name: str, child: nn.Module, kind: str, record: _Record
) -> list[RemovableHandle]:
    if kind == MHA:
        return _mha_hooks(name, child, record)

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        tensor = _map_from(output, kind, module)
        if tensor is not None:
            record.add(name, kind, tensor)

    return [child.register_forward_hook(hook)]


def _mha_hooks(name: str, child: nn.Module, record: _Record) -> list[RemovableHandle]:
    """Ask ``nn.MultiheadAttention`` for per-head weights; hand the caller what it asked for."""
    asked: list[bool] = []

    def pre(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        args = tuple(args)
        if len(args) > 4:  # need_weights passed by position
            asked.append(bool(args[4]))
            args = (*args[:4], True, *args[5:])
        else:
            asked.append(bool(kwargs.get("need_weights", True)))
            kwargs["need_weights"] = True
        if len(args) > 6:  # average_attn_weights passed by position
            args = (*args[:6], False, *args[7:])
        else:
            kwargs["average_attn_weights"] = False
        return args, kwargs

    def post(module: nn.Module, args: Any, output: Any) -> Any:
        wanted = asked.pop() if asked else True
        attn_output, weights = output
        if weights is not None:
            record.add(name, MHA, weights)
        return output if wanted else (attn_output, None)

    return [
        child.register_forward_pre_hook(pre, with_kwargs=True),
        child.register_forward_hook(post),
    ]


def _qk_hooks(name: str, root: nn.Module, record: _Record) -> list[RemovableHandle]:
    """Hooks on the parent's ``query``/``key`` projections when it is laid out like
    models/transformer.py's ``MultiHeadSelfAttention``."""
    layout = _qk_layout(_parent(root, name))
    if layout is None:
        return []
    query, key, heads, d_k = layout

    def keep(store: dict[str, torch.Tensor]) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: torch.Tensor) -> None:
            store[name] = output.detach().unflatten(-1, (heads, d_k)).transpose(1, 2)

        return hook

    return [
        query.register_forward_hook(keep(record.queries)),
        key.register_forward_hook(keep(record.keys)),
    ]


def _masking_hook(mask: torch.Tensor) -> Callable[..., torch.Tensor]:
    def hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        heads = mask.to(output.device, output.dtype)
        if output.dim() == 4:
            return output * heads.view(1, -1, 1, 1)
        return output * heads.repeat(output.shape[0] // heads.numel()).view(-1, 1, 1)

    return hook


# --- helpers --------------------------------------------------------------------------------


def _map_from(output: Any, kind: str, module: nn.Module) -> torch.Tensor | None:
    if kind == SOFTMAX:
        if not isinstance(output, torch.Tensor) or output.dim() not in (3, 4):
            return None
        dim = getattr(module, "dim", -1)
        return output if dim in (-1, None, output.dim() - 1) else None
    if isinstance(output, tuple | list):
        for element in output:
            if (
                isinstance(element, torch.Tensor)
                and element.dim() == 4
                and _is_distribution(element)
            ):
                return element
    return None


def _is_distribution(tensor: torch.Tensor) -> bool:
    if not tensor.is_floating_point() or tensor.numel() == 0:
        return False
    values = tensor.detach().float()
    sums = values.sum(dim=-1)
    return bool((values >= 0).all()) and bool(((sums - 1).abs() <= _ROW_SUM_TOLERANCE).all())


def _first_tensor(raw: Any) -> torch.Tensor:
    if isinstance(raw, torch.Tensor):
        return raw
    if isinstance(raw, dict):
        raw = list(raw.values())
    if isinstance(raw, tuple | list) and raw and isinstance(raw[0], torch.Tensor):
        return raw[0]
    raise TypeError(f"the module's first output is {type(raw).__name__}, not a tensor")


def _parent(root: nn.Module, name: str) -> nn.Module | None:
    if "." not in name:
        return root if name else None
    return root.get_submodule(name.rsplit(".", 1)[0])


def _qk_layout(module: nn.Module | None) -> tuple[nn.Module, nn.Module, int, int] | None:
    """(query projection, key projection, heads, d_k) of a module laid out like
    models/transformer.py's ``MultiHeadSelfAttention``; None for any other module."""
    query, key = getattr(module, "query", None), getattr(module, "key", None)
    heads, d_k = getattr(module, "heads", None), getattr(module, "d_k", None)
    if not (isinstance(query, nn.Module) and isinstance(key, nn.Module)):
        return None
    if not (isinstance(heads, int) and isinstance(d_k, int)):
        return None
    return query, key, heads, d_k


def _qk_for(name: str, record: _Record) -> tuple[np.ndarray, np.ndarray] | None:
    query, key = record.queries.get(name), record.keys.get(name)
    if query is None or key is None:
        return None
    return query.float().cpu().numpy(), key.transpose(-2, -1).float().cpu().numpy()
