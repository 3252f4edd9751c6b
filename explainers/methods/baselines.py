"""The reference input each attribution is measured against, per modality.

| modality | kinds          | default                                                |
|----------|----------------|--------------------------------------------------------|
| image    | zeros, blur    | zeros; blur = Gaussian blur of the input, sigma in px  |
|          |                | (default min(H, W) / 8), replicate padding             |
| tokens   | pad, zeros     | pad when the pad/mask token id is given, else zeros    |
| vector   | zeros, mean    | mean when the feature mean is given, else zeros        |

Each returns a ``Baseline``: the tensor (the input's shape and dtype) and a description
for the result, naming every number it used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "BASELINE_KINDS",
    "Baseline",
    "default_blur_sigma",
    "gaussian_blur",
    "image_baseline",
    "make_baseline",
    "token_baseline",
    "vector_baseline",
]

BASELINE_KINDS: dict[str, tuple[str, ...]] = {
    "image": ("zeros", "blur"),
    "tokens": ("pad", "zeros"),
    "vector": ("zeros", "mean"),
}


@dataclass(frozen=True)
class Baseline:
    tensor: torch.Tensor
    description: str


def default_blur_sigma(height: int, width: int) -> float:
    """Blur sigma in pixels: an eighth of the shorter side (28 px at 224 x 224)."""
    return min(height, width) / 8


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) images, truncated at 3 sigma, replicate pad."""
    if images.dim() != 4:
        raise ValueError(f"gaussian_blur expects (N, C, H, W), got shape {tuple(images.shape)}")
    if sigma <= 0:
        raise ValueError(f"blur sigma must be > 0 pixels, got {sigma}")
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    rows = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    columns = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    out = F.pad(images, (radius, radius, 0, 0), mode="replicate")
    out = F.conv2d(out, rows, groups=channels)
    out = F.pad(out, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(out, columns, groups=channels)


def image_baseline(
    images: torch.Tensor, kind: str = "zeros", sigma: float | None = None
) -> Baseline:
    _check_kind("image", kind)
    if kind == "zeros":
        return Baseline(torch.zeros_like(images), "zeros (a black image)")
    if images.dim() != 4:
        raise ValueError(f"a blurred baseline needs (N, C, H, W) images, got {tuple(images.shape)}")
    sigma = sigma if sigma is not None else default_blur_sigma(*images.shape[2:])
    blurred = gaussian_blur(images.detach(), sigma)
    return Baseline(blurred, f"Gaussian blur of the input, sigma {sigma:g} px, replicate padding")


def token_baseline(ids: torch.Tensor, pad_token_id: int | None = None) -> Baseline:
    """Every token replaced by the pad/mask token, or by id 0 when none is known."""
    if pad_token_id is None:
        return Baseline(torch.zeros_like(ids), "token id 0 everywhere (no pad token known)")
    return Baseline(torch.full_like(ids, pad_token_id), f"pad token id {pad_token_id} everywhere")


def vector_baseline(
    vectors: torch.Tensor, kind: str = "zeros", feature_mean: torch.Tensor | None = None
) -> Baseline:
    _check_kind("vector", kind)
    if kind == "zeros":
        return Baseline(torch.zeros_like(vectors), "zeros")
    if feature_mean is None:
        raise ValueError(
            "a 'mean' baseline needs the feature mean (over the data set); pass feature_mean "
            "or use kind='zeros'"
        )
    mean = feature_mean.to(vectors)
    try:
        tensor = mean.expand_as(vectors).clone()
    except RuntimeError as exc:
        raise ValueError(
            f"feature_mean of shape {tuple(mean.shape)} does not broadcast to the inputs' "
            f"shape {tuple(vectors.shape)}; pass one value per feature"
        ) from exc
    return Baseline(tensor, f"the feature mean over {feature_mean.numel()} features")


def make_baseline(
    modality: str,
    inputs: torch.Tensor,
    kind: str | None = None,
    *,
    sigma: float | None = None,
    pad_token_id: int | None = None,
    feature_mean: torch.Tensor | None = None,
) -> Baseline:
    """The baseline for ``modality``; ``kind`` None picks the default in the module's table."""
    if modality == "image":
        return image_baseline(inputs, kind or "zeros", sigma)
    if modality == "tokens":
        chosen = kind or ("pad" if pad_token_id is not None else "zeros")
        _check_kind("tokens", chosen)
        if chosen == "pad" and pad_token_id is None:
            raise ValueError("a 'pad' baseline needs pad_token_id; pass it or use kind='zeros'")
        return token_baseline(inputs, pad_token_id if chosen == "pad" else None)
    if modality == "vector":
        chosen = kind or ("mean" if feature_mean is not None else "zeros")
        return vector_baseline(inputs, chosen, feature_mean)
    raise ValueError(f"modality {modality!r} is not one of {', '.join(BASELINE_KINDS)}")


def _check_kind(modality: str, kind: str) -> None:
    if kind not in BASELINE_KINDS[modality]:
        raise ValueError(
            f"baseline {kind!r} does not apply to {modality} inputs; "
            f"choose from {', '.join(BASELINE_KINDS[modality])}"
        )
