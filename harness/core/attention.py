"""The result's ``attention`` section: what was captured, whether it checks out, what it says.

Per layer and head the section keeps statistics over every captured sample; full attention
maps are kept only for a few samples (``DISPLAY_SAMPLES``) and at most ``DISPLAY_TOKENS``
tokens each, fewer when the model has so many heads that the maps of one sample would
exceed ``DISPLAY_MAX_VALUES`` numbers. ``DisplayMaps.truncated`` says when a sample was cut.
Map values are rounded to ``MAP_DECIMALS`` decimals; every check ran on the full maps.

Layers are the attention sites in execution order (an ONNX Softmax node, or a hooked
module); heads are numbered from 0 within each layer. ``candidates`` lists every ONNX
Softmax the capture examined, found (a layer) or rejected, each with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from harness.core.targets import TargetKind

__all__ = [
    "DISPLAY_MAX_VALUES",
    "DISPLAY_SAMPLES",
    "DISPLAY_TOKENS",
    "MAP_DECIMALS",
    "PADDING_TOLERANCE",
    "ROW_SUM_TOLERANCE",
    "Ablation",
    "AttentionLayer",
    "AttentionSection",
    "DisplayMaps",
    "GroundTruth",
    "HeadImportance",
    "HeadStats",
    "LayerTruth",
    "LayerVerification",
    "Rollout",
    "SiteCandidate",
]

DISPLAY_TOKENS = 64  # at most this many tokens of a sample are kept as full maps
DISPLAY_SAMPLES = 2  # maps are kept for at most this many samples
DISPLAY_MAX_VALUES = 100_000  # numbers in one sample's maps, all layers and heads together
MAP_DECIMALS = 6
ROW_SUM_TOLERANCE = 1e-4  # |sum of a row - 1| allowed
PADDING_TOLERANCE = 1e-4  # weight a real query may put on padded keys before it is flagged

Backend = Literal["onnxruntime", "torch"]
Recompute = Literal["match", "mismatch", "not checked"]
HeadFlag = Literal["redundant", "dominant"]
Verdict = Literal["found", "rejected"]

# [layer][head][query][key]
LayerMaps = tuple[tuple[tuple[tuple[float, ...], ...], ...], ...]


@dataclass(frozen=True)
class LayerVerification:
    """Checks on one layer's captured maps, over every captured sample."""

    shape_ok: bool  # the map is (batch, heads, query, key) for the fed batch
    max_row_sum_error: float  # max over rows of |sum - 1|
    rows_sum_to_one: bool  # max_row_sum_error <= ROW_SUM_TOLERANCE
    # Most weight any real query row puts on padded keys, summed over those keys; None when
    # the model has no padding mask input or no sample is padded.
    max_padding_weight: float | None
    padding_attended: bool  # max_padding_weight > PADDING_TOLERANCE: padding gets attention
    # softmax(Q K^T * scale + padding mask) from the captured Q and K, against the map.
    recompute: Recompute
    recompute_scale: str | None  # the scale that matched: "1/sqrt(d_k)" or "1 (pre-scaled)"
    recompute_max_abs_diff: float | None


@dataclass(frozen=True)
class HeadStats:
    """One head, averaged over the real query positions of every captured sample."""

    head: int
    entropy: float  # row entropy / log(number of unmasked keys), in [0, 1]
    mean_distance_tokens: float  # sum over keys of weight x |query - key|
    first_token_share: float  # weight on key position 0
    self_share: float | None  # weight on the query's own position; None if query != key axis
    # AUROC of the attention each token receives against the ground-truth mask, averaged
    # over samples; None without ground truth.
    truth_auroc: float | None = None


@dataclass(frozen=True)
class AttentionLayer:
    index: int
    name: str  # ONNX Softmax node name, or the hooked module's qualified name
    kind: str  # how it was found: "onnx softmax", "softmax module", "nn.MultiheadAttention", ...
    heads: int
    query_tokens: int
    key_tokens: int
    captured_shape: tuple[int, ...]  # as captured, before (batch*heads, q, k) was split
    verification: LayerVerification
    head_stats: tuple[HeadStats, ...]


@dataclass(frozen=True)
class Rollout:
    """Attention rollout (Abnar & Zuidema 2020), per token, for the display samples."""

    variant: str  # e.g. "0.5·A + 0.5·I, heads averaged, rows normalised, product over layers"
    query: str  # which query position(s) the per-token rollout is read from
    layers: tuple[int, ...]  # the layers multiplied (square self-attention maps only)


@dataclass(frozen=True)
class LayerTruth:
    layer: int
    attention_auroc: float | None  # attention received (heads averaged) vs the mask
    rollout_auroc: float | None  # rollout through this layer vs the mask


@dataclass(frozen=True)
class GroundTruth:
    """How much attention falls on the ground-truth tokens (the trigger task's triggers)."""

    task: str
    samples: int  # samples with at least one relevant and one other real token
    score: str  # what each token's score is, in words
    layers: tuple[LayerTruth, ...]


@dataclass(frozen=True)
class HeadImportance:
    layer: int
    head: int
    drop: float  # mean over samples of target score - target score with this head zeroed
    drop_std: float
    flag: HeadFlag | None  # redundant: |drop| < tolerance; dominant: most of all heads' drop


@dataclass(frozen=True)
class Ablation:
    """Head importance: each head's attention zeroed in turn, the target score compared."""

    method: str  # how the head was zeroed
    target: str  # the score, in words: "predicted-class logit of output 'logits'"
    samples: int  # "redundant" is only claimed from 2 or more
    baseline_score: float  # mean target score with nothing ablated
    # max |output with every head kept - original output|: the ablation hook changes nothing
    # by itself (0 when it is exact).
    unablated_max_abs_diff: float
    tolerance: float  # |drop| under this is redundant
    dominant_share: float  # a head whose |drop| is at least this share of all heads' is dominant
    heads: tuple[HeadImportance, ...]
    # The explanations' target kind, on the same output (None: written before it was kept).
    target_kind: TargetKind | None = None


@dataclass(frozen=True)
class SiteCandidate:
    """One ONNX Softmax examined as an attention site, and the verdict."""

    name: str  # the Softmax node's name (its output's when it has none)
    verdict: Verdict
    # Why: "Softmax over the last axis of MatMul(Q, K^T)" with where its rank came from, or
    # what rules it out (not the last axis, no transposed-key MatMul, a rank nobody knows).
    reason: str


@dataclass(frozen=True)
class DisplayMaps:
    """Full-resolution maps of one sample, at most ``DISPLAY_TOKENS`` tokens."""

    sample: int  # index among the captured samples
    tokens: tuple[str, ...]  # labels of the shown tokens: "position:token id"
    total_tokens: int  # real tokens of the sample
    truncated: bool  # fewer tokens shown than the sample has
    truth: tuple[bool, ...] | None  # ground-truth relevance of the shown tokens
    rollout: tuple[float, ...] | None  # per-token rollout of the shown tokens
    maps: LayerMaps  # [layer][head][query][key], shown tokens only


@dataclass(frozen=True)
class AttentionSection:
    status: Literal["ok", "skipped", "failed"]
    reason: str | None = None
    budget: str | None = None
    backend: Backend | None = None
    method: str | None = None  # how the maps were captured, in words
    samples: int = 0  # samples captured
    sequence_tokens: int = 0  # length of the fed sequences
    padding_input: str | None = None  # the input read as the key-padding mask (1 real, 0 pad)
    display_token_limit: int = DISPLAY_TOKENS
    layers: tuple[AttentionLayer, ...] = ()
    fused_ops: tuple[str, ...] = ()  # fused attention ops found and not captured
    rollout: Rollout | None = None
    ground_truth: GroundTruth | None = None
    ablation: Ablation | None = None
    display: tuple[DisplayMaps, ...] = ()
    # What was not done, and why: {"ablation": "...", "ground truth": "..."}.
    not_done: dict[str, str] = field(default_factory=dict)
    candidates: tuple[SiteCandidate, ...] = ()  # ONNX Softmaxes examined (none: torch hooks)
