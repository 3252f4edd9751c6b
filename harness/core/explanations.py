"""The result's ``explanations`` section: attributions, each scored for how far it can be
trusted, beside a random-attribution baseline that says what chance scores.

Every metric states its direction and parameters; every skipped method says why (an op the
ONNX-to-PyTorch conversion lacks, a method that cannot apply to token inputs, ...). A value
that is undefined (a correlation of constant attributions, an AUROC over samples with no
relevant feature) is ``None``: JSON holds no NaN.

What is attributed depends on what the first output is (``OutputKind``, recognised from
its shape, values and the ops that produce it) and on ``--target`` (``TargetKind``): see
``harness.core.targets``, ``harness.explainers.methods.output_kinds`` for the rules, and
README "Targets".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from harness.core.targets import OutputKind, TargetKind
from harness.core.twin import ConversionReport

__all__ = [
    "Agreement",
    "Curve",
    "ExplanationsSection",
    "GroundTruthScore",
    "MethodResult",
    "MetricScore",
    "SampleAttribution",
    "SampleInput",
    "SanityCheck",
]

ParamValue = str | int | float


@dataclass(frozen=True)
class MetricScore:
    name: str  # "infidelity", "max_sensitivity", "faithfulness_correlation", ...
    value: float | None  # mean over samples; None when it could not be computed
    higher_is_better: bool
    # Every parameter it ran with; a metric that could not apply has {"skipped": why}, one
    # that raised {"failed": the error's first line}.
    parameters: dict[str, ParamValue]
    per_sample: tuple[float | None, ...] = ()  # None: undefined for that sample


@dataclass(frozen=True)
class Curve:
    name: Literal["deletion", "insertion"]
    fractions: tuple[float, ...]  # share of features removed (or added)
    scores: tuple[float, ...]  # mean normalised target score at each fraction
    auc: float


@dataclass(frozen=True)
class SanityCheck:
    """Model parameter randomisation (Adebayo et al. 2018), cascading from the top layer."""

    layers: tuple[str, ...]  # randomised cumulatively, top first
    correlations: tuple[float | None, ...]  # Spearman(original, randomised) after each layer
    final_correlation: float | None  # None: undefined (constant attributions), not passed
    threshold: float
    passed: bool  # attributions changed enough (correlation below the threshold)
    layers_total: int | None = None  # layers the model has (the budget may stop earlier)
    absolute: bool = True  # magnitudes ranked (False for methods that multiply by inputs)
    # "inconclusive": stopped by the deadline before the planned depth; then ``passed`` is
    # False but means nothing, and findings and the gate skip it. None: older results.
    status: Literal["pass", "fail", "inconclusive"] | None = None
    layers_planned: int | None = None  # the plan's depth (``layers`` holds those done)
    reason: str | None = None  # why inconclusive
    # Both similarities after the whole cascade: the verdict needs both below the threshold
    # to pass and both above to fail; they disagree -> inconclusive. None: older results.
    signed_correlation: float | None = None
    absolute_correlation: float | None = None
    # Features left out because the method cannot attribute them whatever the weights
    # (input == baseline for perturbation methods), over the batch. None: older results.
    excluded_features: int | None = None

    @property
    def verdict(self) -> Literal["pass", "fail", "inconclusive"]:
        if self.status is not None:
            return self.status
        return "pass" if self.passed else "fail"


@dataclass(frozen=True)
class GroundTruthScore:
    auroc: float | None  # of |attribution| against the ground-truth mask, mean over samples
    top_k_precision: float | None  # k = number of truly relevant features
    samples: int  # samples where the AUROC is defined (some relevant and some irrelevant)


@dataclass(frozen=True)
class SampleAttribution:
    """One sample's attribution map, for the report (downsampled where large)."""

    sample_index: int
    target: int
    shape: tuple[int, ...]  # of ``values`` once reshaped
    values: tuple[float, ...]  # row-major
    original_shape: tuple[int, ...]  # before downsampling


@dataclass(frozen=True)
class SampleInput:
    """One shown sample's input, reduced the way its attributions are (images: channels
    averaged, then downsampled; token ids as numbers), for overlays and token highlights."""

    sample_index: int
    shape: tuple[int, ...]
    values: tuple[float, ...]  # row-major
    original_shape: tuple[int, ...]
    label: int | None = None  # the task's label, when the samples come from a task
    truth: tuple[float, ...] = ()  # ground-truth relevance in [0, 1], ``shape``; () if none


@dataclass(frozen=True)
class MethodResult:
    name: str
    # "incomplete": the deadline stopped its attributions (or its scorecard: then ``metrics``
    # keeps what finished and each unfinished metric says {"incomplete": why}).
    status: Literal["ok", "skipped", "failed", "incomplete"]
    reason: str | None = None
    backend: Literal["torch", "twin", "onnxruntime", "none"] = "none"
    parameters: dict[str, ParamValue] = field(default_factory=dict)
    seconds: float | None = None
    metrics: tuple[MetricScore, ...] = ()
    curves: tuple[Curve, ...] = ()
    sanity: SanityCheck | None = None
    ground_truth: GroundTruthScore | None = None
    attributions: tuple[SampleAttribution, ...] = ()


@dataclass(frozen=True)
class Agreement:
    methods: tuple[str, ...]
    spearman: tuple[tuple[float | None, ...], ...]  # methods x methods; None: undefined
    top_k_overlap: tuple[tuple[float | None, ...], ...]
    top_k_fraction: float


@dataclass(frozen=True)
class ExplanationsSection:
    status: Literal["ok", "skipped", "failed"]
    reason: str | None = None
    modality: Literal["image", "tokens", "vector"] | None = None
    samples: int = 0
    target: str | None = None  # what is attributed and why, in words
    baseline: str | None = None  # the baseline, in words
    # internal_batch_size, perturbations_per_eval, memory_budget_bytes, ... as chosen
    batching: dict[str, int] = field(default_factory=dict)
    conversion: ConversionReport | None = None  # ONNX models: the PyTorch twin's record
    methods: tuple[MethodResult, ...] = ()
    random_baseline: MethodResult | None = None
    agreement: Agreement | None = None
    attributed_input: str | None = None  # the input attributions refer to
    inputs: tuple[SampleInput, ...] = ()  # the samples whose attributions are shown
    notes: tuple[str, ...] = ()  # choices the stage made for the user, in words
    target_kind: TargetKind | None = None  # None: results written before it was recorded
    output_kind: OutputKind | None = None  # what the first output was recognised as
    # The planned work (samples, steps, windows, depths, in work units): a function of the
    # model, the inputs, the seed and the budget only, so two audits plan alike.
    plan: dict[str, ParamValue] = field(default_factory=dict)
    # Wall-clock seconds (setup, each method): the only part that differs between two
    # audits of the same model, seed and budget.
    timing: dict[str, float] = field(default_factory=dict)
