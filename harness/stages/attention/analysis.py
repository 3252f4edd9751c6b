"""What the captured maps say: each layer verified and summarised per head, the rollout,
and how well attention finds the task's ground truth.

    per layer     shape, rows summing to 1, padding, softmax(QK^T) recomputed on the first
                  batch; per head: entropy, distance, first-token and self share, AUROC
    rollout       the maps multiplied through the square (self-attention) layers
    ground truth  per layer, the AUROC of the attention each token receives (and of its
                  rollout) against the task's relevance masks
    inputs        which input is the key-padding mask, and the sequence length
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.core.attention import AttentionLayer, GroundTruth, HeadStats, LayerTruth
from harness.stages.attention.feed import Feed

if TYPE_CHECKING:
    from harness.explainers.attention.sites import Capture

__all__ = [
    "CapturedSamples",
    "analyse_layers",
    "find_padding_input",
    "ground_truth",
    "rollout_layers",
    "sequence_tokens",
]


@dataclass(frozen=True, eq=False)
class CapturedSamples:
    """The captured samples' masks: real (unpadded) tokens and ground-truth relevance."""

    count: int
    padding: np.ndarray | None  # (count, sequence) True at real tokens; None without a mask
    truth: np.ndarray | None  # (count, sequence)

    def padding_for(self, length: int) -> np.ndarray | None:
        """The padding mask when an axis of ``length`` runs over the padded sequence."""
        return _matching(self.padding, length)

    def real(self, length: int) -> np.ndarray:
        mask = self.padding_for(length)
        return mask if mask is not None else np.ones((self.count, length), dtype=bool)

    def truth_for(self, length: int) -> np.ndarray | None:
        return _matching(self.truth, length)


def _matching(mask: np.ndarray | None, length: int) -> np.ndarray | None:
    return mask if mask is not None and mask.shape[-1] == length else None


def analyse_layers(
    capture: Capture, maps: Sequence[np.ndarray | None], samples: CapturedSamples
) -> tuple[tuple[AttentionLayer, ...], list[np.ndarray | None]]:
    """Each site verified and summarised, and the attention each of its keys receives
    ((count, heads, key), None when the map would not split per head)."""
    from harness.explainers.attention.analysis import received
    from harness.explainers.attention.verify import verify_layer

    layers, scores = [], []
    for index, (site, raw, split) in enumerate(zip(capture.sites, capture.maps, maps, strict=True)):
        key_pad = samples.padding_for(split.shape[-1]) if split is not None else None
        query_pad = samples.padding_for(split.shape[-2]) if split is not None else None
        verification = verify_layer(raw, split, key_pad, query_pad, capture.qk[index])
        stats: tuple[HeadStats, ...] = ()
        layer_scores = None
        if split is not None:
            query_real = samples.real(split.shape[-2])
            layer_scores = received(split, query_real)
            stats = _head_stats(split, samples, query_real, layer_scores)
        scores.append(layer_scores)
        layers.append(
            AttentionLayer(
                index=index,
                name=site.name,
                kind=site.kind,
                heads=int(split.shape[1]) if split is not None else 0,
                query_tokens=int(raw.shape[-2]),
                key_tokens=int(raw.shape[-1]),
                captured_shape=tuple(int(d) for d in raw.shape),
                verification=verification,
                head_stats=stats,
            )
        )
    return tuple(layers), scores


def _head_stats(
    maps: np.ndarray, samples: CapturedSamples, query_real: np.ndarray, scores: np.ndarray
) -> tuple[HeadStats, ...]:
    from harness.explainers.attention.analysis import head_arrays, mean_auroc

    key_real = samples.real(maps.shape[-1])
    arrays = head_arrays(maps, key_real, query_real)
    truth = samples.truth_for(maps.shape[-1])
    stats = []
    for head in range(maps.shape[1]):
        auroc = mean_auroc(scores[:, head], truth, key_real)[0] if truth is not None else None
        self_share = arrays.self_share
        stats.append(
            HeadStats(
                head=head,
                entropy=float(arrays.entropy[head]),
                mean_distance_tokens=float(arrays.mean_distance[head]),
                first_token_share=float(arrays.first_token[head]),
                self_share=float(self_share[head]) if self_share is not None else None,
                truth_auroc=auroc,
            )
        )
    return tuple(stats)


def rollout_layers(
    maps: Sequence[np.ndarray | None], samples: CapturedSamples, not_done: dict[str, str]
) -> tuple[tuple[int, ...], dict[int, np.ndarray]]:
    """(layers multiplied, layer -> (count, sequence) per-token rollout through it)."""
    from harness.explainers.attention.analysis import rollout, rollout_tokens

    square = [i for i, m in enumerate(maps) if m is not None and m.shape[-1] == m.shape[-2]]
    if square:
        length = maps[square[0]].shape[-1]  # type: ignore[union-attr]  # square ones are set
        square = [i for i in square if maps[i].shape[-1] == length]  # type: ignore[union-attr]
    if not square:
        not_done["rollout"] = "no layer has square (self-attention) maps"
        return (), {}
    products = rollout([maps[i] for i in square])  # type: ignore[misc]  # square ones are set
    query_real = samples.real(products[0].shape[-1])
    return tuple(square), {
        layer: rollout_tokens(product, query_real)
        for layer, product in zip(square, products, strict=True)
    }


def ground_truth(
    feed: Feed,
    samples: CapturedSamples,
    received: Sequence[np.ndarray | None],
    square: Sequence[int],
    tokens: dict[int, np.ndarray],
    not_done: dict[str, str],
) -> GroundTruth | None:
    from harness.explainers.attention.analysis import mean_auroc

    if feed.task is None or samples.truth is None:
        not_done["ground truth"] = "the model has no reference task with relevance masks"
        return None
    per_layer, counted = [], 0
    for layer, scores in enumerate(received):
        truth = samples.truth_for(scores.shape[-1]) if scores is not None else None
        if scores is None or truth is None:
            per_layer.append(LayerTruth(layer, None, None))
            continue
        real = samples.real(scores.shape[-1])
        attention, counted = mean_auroc(scores.mean(axis=1), truth, real)
        rolled = None
        if layer in tokens and tokens[layer].shape[-1] == truth.shape[-1]:
            rolled = mean_auroc(tokens[layer], truth, real)[0]
        per_layer.append(LayerTruth(layer, attention, rolled))
    return GroundTruth(
        task=feed.task,
        samples=counted,
        score="attention each real token receives, averaged over heads and real queries "
        "(rollout: its rollout through the layer); AUROC per sample, averaged",
        layers=tuple(per_layer),
    )


def find_padding_input(feed: Feed, count: int) -> str | None:
    """The input read as the key-padding mask: 2-D, named like a mask, holding only 0 and
    1 (1 a real token)."""
    for name, array in feed.arrays.items():
        if "mask" in name.lower() and array.ndim == 2 and array.shape[0] >= count:
            values = np.unique(array[:count])
            if values.size and np.isin(values, (0, 1)).all():
                return name
    return None


def sequence_tokens(feed: Feed) -> int:
    if feed.token_input is not None:
        return int(feed.arrays[feed.token_input].shape[-1])
    return max((int(a.shape[1]) for a in feed.arrays.values() if a.ndim >= 2), default=0)
