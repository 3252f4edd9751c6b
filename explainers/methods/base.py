"""What every attribution method shares: the request, the output, and the base class.

An explainer is one Captum algorithm behind one small class. The class declares what it
can do as class attributes (Captum's habit), so the explanations stage can decide which
methods apply to a model *before* running any, and record a skip with its reason:

    needs_gradients        the forward must be a differentiable torch callable
    is_layer_method        attributes at ``request.layer`` (a conv layer, an embedding)
    supports_tokens        accepts integer token ids; gradient methods then need the
                           embedding layer in ``request.layer`` and attribute at its
                           output, summed over the embedding dim -> (batch, seq)
    has_convergence_delta  returns the completeness gap sum(attr) - (f(x) - f(baseline))
    multiplies_by_inputs   attributions are scaled by (input - baseline) (global method)
    needs_module           hooks the forward's nonlinearities, so it must be an nn.Module
    is_stochastic          draws random numbers; torch and numpy are seeded from
                           ``request.seed`` and the caller's generators restored
    modalities             the input kinds it applies to ("image", "tokens", "vector")

``skip_reason`` turns those flags into the one-line reason the stage records; calling
``attribute`` on a request the method cannot serve raises ``MethodNotApplicableError``
(a ``ValueError``) with the same text.

This module imports neither torch nor Captum at import time: the registry stays cheap to
import, so ``--explainers`` can be checked without loading them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

if TYPE_CHECKING:
    import torch

__all__ = [
    "MODALITIES",
    "AttributionOutput",
    "AttributionRequest",
    "Explainer",
    "MethodNotApplicableError",
    "Modality",
    "ParameterValue",
    "RawAttribution",
    "hook_notices_silenced",
    "single_tensor",
]

Modality = Literal["image", "tokens", "vector"]
MODALITIES: tuple[str, ...] = get_args(Modality)
ParameterValue = str | int | float


class MethodNotApplicableError(ValueError):
    """A method was asked to attribute a request it cannot serve (see ``skip_reason``)."""


@dataclass(frozen=True)
class AttributionRequest:
    """Everything one attribution call needs.

    ``forward`` returns (batch, outputs) scores. For gradient methods it is a
    differentiable torch callable; for perturbation methods any callable on tensors
    (an onnxruntime wrapper will do). ``inputs[0]`` is the attributed input; the rest
    (an attention mask, ...) reach the forward unchanged as ``additional_forward_args``.
    ``baseline`` has the attributed input's shape (or broadcasts to it). ``layer`` is
    the last conv (LayerGradCam) or the embedding (gradient methods on token ids).
    ``feature_mask`` groups elements into features for perturbation methods: superpixel
    blocks on images (see ``feature_masks.block_feature_mask``); None = one feature per
    element, which on token ids is one feature per token.
    """

    forward: Callable[..., torch.Tensor]
    inputs: tuple[torch.Tensor, ...]
    target: torch.Tensor | int | None
    baseline: torch.Tensor
    modality: Modality
    seed: int = 0
    internal_batch_size: int | None = None
    perturbations_per_eval: int = 1
    layer: torch.nn.Module | None = None
    feature_mask: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError("AttributionRequest.inputs is empty; pass the attributed input first")
        if self.modality not in MODALITIES:
            raise ValueError(
                f"modality {self.modality!r} is not one of {', '.join(MODALITIES)}; "
                "say what kind of input is attributed"
            )
        if self.internal_batch_size is not None and self.internal_batch_size < 1:
            raise ValueError(
                f"internal_batch_size must be None or >= 1, got {self.internal_batch_size}"
            )
        if self.perturbations_per_eval < 1:
            raise ValueError(
                f"perturbations_per_eval must be >= 1, got {self.perturbations_per_eval}"
            )

    @property
    def attributed(self) -> torch.Tensor:
        return self.inputs[0]

    @property
    def additional_forward_args(self) -> tuple[torch.Tensor, ...] | None:
        return self.inputs[1:] or None

    @property
    def batch_size(self) -> int:
        return int(self.inputs[0].shape[0])

    def rows_per_pass(self) -> int | None:
        """``internal_batch_size`` as Captum's IG takes it: rows (sample x step) per
        forward+backward pass, never fewer than the samples (Captum's floor); None = all."""
        if self.internal_batch_size is None:
            return None
        return max(self.internal_batch_size, self.batch_size)


@dataclass(frozen=True)
class AttributionOutput:
    """One method's attributions for one request.

    ``attributions`` has the attributed input's shape; for token ids it is (batch, seq).
    ``convergence_delta`` is (batch,) for methods with ``has_convergence_delta``, else
    None. ``parameters`` holds every parameter the call used, for the result.
    """

    attributions: torch.Tensor
    convergence_delta: torch.Tensor | None
    seconds: float
    parameters: dict[str, ParameterValue] = field(default_factory=dict)


@dataclass(frozen=True)
class RawAttribution:
    """What a method's ``_attribute`` hands back to the base class."""

    attributions: torch.Tensor
    convergence_delta: torch.Tensor | None = None
    parameters: Mapping[str, ParameterValue] = field(default_factory=dict)


class Explainer:
    """Base of every attribution method: flags, parameter checking, timing, seeding.

    Subclasses set ``NAME``, the flags and ``DEFAULTS`` (every tunable parameter with its
    default), and implement ``_attribute``. ``Explainer(**overrides)`` replaces defaults;
    an unknown name or a wrong type raises ``ValueError``.
    """

    NAME: ClassVar[str] = ""
    needs_gradients: ClassVar[bool] = False
    is_layer_method: ClassVar[bool] = False
    supports_tokens: ClassVar[bool] = False  # derived from ``modalities``
    has_convergence_delta: ClassVar[bool] = False
    multiplies_by_inputs: ClassVar[bool] = False
    needs_module: ClassVar[bool] = False
    is_stochastic: ClassVar[bool] = False
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "vector"})
    DEFAULTS: ClassVar[Mapping[str, ParameterValue]] = {}
    # Said when the method does not apply to a modality: what to use instead.
    MODALITY_HINT: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.supports_tokens = "tokens" in cls.modalities

    def __init__(self, **parameters: ParameterValue) -> None:
        unknown = sorted(set(parameters) - set(self.DEFAULTS))
        if unknown:
            allowed = ", ".join(sorted(self.DEFAULTS)) or "none"
            raise ValueError(
                f"{self.NAME} has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {allowed}"
            )
        for name, value in parameters.items():
            default = self.DEFAULTS[name]
            expected = (int, float) if isinstance(default, float) else type(default)
            if isinstance(value, bool) is not isinstance(default, bool) or not isinstance(
                value, expected
            ):
                raise ValueError(
                    f"{self.NAME} parameter {name!r} expects {type(default).__name__} "
                    f"(default {default!r}), got {value!r}"
                )
        self.parameters: dict[str, ParameterValue] = {**self.DEFAULTS, **parameters}
        self._check_parameters()

    def _check_parameters(self) -> None:
        """Raise ``ValueError`` for parameter values out of range (override per method)."""

    def _positive(self, *names: str) -> None:
        for name in names:
            value = self.parameters[name]
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{self.NAME} parameter {name!r} must be > 0, got {value!r}")

    def _choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.parameters[name]
        if value not in allowed:
            raise ValueError(
                f"{self.NAME} parameter {name!r} must be one of {', '.join(allowed)}, got {value!r}"
            )
        return str(value)

    @classmethod
    def skip_reason(
        cls,
        modality: str,
        *,
        has_gradients: bool = True,
        has_layer: bool = True,
        forward_is_module: bool = True,
    ) -> str | None:
        """Why this method cannot run on such a model, or None when it can."""
        if modality not in cls.modalities:
            kinds = ", ".join(sorted(cls.modalities))
            hint = f"; {cls.MODALITY_HINT}" if cls.MODALITY_HINT else ""
            return f"{cls.NAME} does not apply to {modality} inputs (only {kinds}){hint}"
        if cls.needs_gradients and not has_gradients:
            return (
                f"{cls.NAME} needs gradients and this model has no differentiable "
                "PyTorch forward (no module, or the ONNX conversion failed)"
            )
        if cls.needs_module and not forward_is_module:
            return (
                f"{cls.NAME} hooks the model's nonlinearities, so its forward must be a "
                "torch.nn.Module, not a plain callable"
            )
        needs_layer = cls.is_layer_method or (modality == "tokens" and cls.needs_gradients)
        if needs_layer and not has_layer:
            what = "the embedding layer" if modality == "tokens" else "the last conv layer"
            return f"{cls.NAME} needs {what} of the model (request.layer) and none was found"
        return None

    def attribute(self, request: AttributionRequest) -> AttributionOutput:
        """Attribute ``request.target`` to the attributed input; time it; record parameters."""
        import torch

        reason = self.skip_reason(
            request.modality,
            has_layer=request.layer is not None,
            forward_is_module=isinstance(request.forward, torch.nn.Module),
        )
        if reason is not None:
            raise MethodNotApplicableError(reason)
        _check_input_kind(self.NAME, request)
        if self.needs_gradients and request.attributed.is_floating_point():
            # Captum would flip requires_grad on the caller's tensor (and warn): hand it a
            # copy that already requires gradients.
            attributed = request.attributed.detach().clone().requires_grad_(True)
            request = replace(request, inputs=(attributed, *request.inputs[1:]))
        start = time.perf_counter()
        with _seeded(request) if self.is_stochastic else nullcontext():
            raw = self._attribute(request)
        seconds = time.perf_counter() - start
        attributions = _to_input_shape(self.NAME, raw.attributions.detach(), request)
        delta = raw.convergence_delta
        parameters: dict[str, ParameterValue] = {**self.parameters, **raw.parameters}
        if self.is_stochastic:
            parameters["seed"] = request.seed
        return AttributionOutput(
            attributions=attributions,
            convergence_delta=None if delta is None else delta.detach().reshape(-1),
            seconds=seconds,
            parameters=parameters,
        )

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        raise NotImplementedError


def _check_input_kind(name: str, request: AttributionRequest) -> None:
    x = request.attributed
    is_float = x.is_floating_point()
    if request.modality == "tokens":
        ok, want = (not is_float and x.dim() == 2), "integer token ids of shape (batch, seq)"
    elif request.modality == "image":
        ok, want = (is_float and x.dim() == 4), "a float tensor of shape (batch, C, H, W)"
    else:
        ok, want = (is_float and x.dim() >= 2), "a float tensor of shape (batch, features...)"
    if not ok:
        raise MethodNotApplicableError(
            f"{name}: {request.modality} input must be {want}, got dtype {x.dtype} and "
            f"shape {tuple(x.shape)}; check the request's modality"
        )


def _to_input_shape(
    name: str, attributions: torch.Tensor, request: AttributionRequest
) -> torch.Tensor:
    """Layer attributions on token ids, (batch, seq, dim...) -> (batch, seq) by summing."""
    shape = request.attributed.shape
    if attributions.shape == shape:
        return attributions
    if request.modality == "tokens" and attributions.shape[:2] == shape:
        return attributions.flatten(2).sum(-1)
    raise MethodNotApplicableError(
        f"{name} produced attributions of shape {tuple(attributions.shape)} for an input of "
        f"shape {tuple(shape)}; for token ids pass the embedding layer, whose output is "
        "(batch, seq, dim)"
    )


@contextmanager
def _seeded(request: AttributionRequest) -> Iterator[None]:
    """Seed torch and numpy from ``request.seed``, restoring the caller's random state
    afterwards (Captum's GradientShap draws from numpy's global generator)."""
    import numpy as np
    import torch

    devices = sorted({t.device.index or 0 for t in request.inputs if t.device.type == "cuda"})
    numpy_state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(request.seed)
            np.random.seed(request.seed % 2**32)
            yield
    finally:
        np.random.set_state(numpy_state)


def single_tensor(value: object, name: str) -> torch.Tensor:
    """Captum's layer methods return a tensor, a tuple or a list; one layer gives one."""
    import torch

    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if not isinstance(value, torch.Tensor):
        raise MethodNotApplicableError(
            f"{name} got {type(value).__name__} from Captum where one tensor was expected; "
            "pass a layer with a single tensor output"
        )
    return value


@contextmanager
def hook_notices_silenced() -> Iterator[None]:
    """Captum announces, on every call, that it hooks the nonlinearities; it removes the
    hooks itself afterwards. Silence that notice, nothing else."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Setting (forward, )?backward hooks")
        yield
