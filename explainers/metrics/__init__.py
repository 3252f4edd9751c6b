"""Explanation-quality metrics: how far each attribution method can be trusted.

One metric per module, each implemented from its paper's definition (Quantus is LGPL; none
of its code is used) or through ``captum.metrics`` where Captum has it. Every metric
returns a ``MetricResult``: the mean over samples, the per-sample values, the direction
(``higher_is_better``), every parameter it ran with, and for curve metrics the mean curve.

    metric                    definition (per sample, then the mean)              better
    infidelity                E[(I . attr - (f(x) - f(x - I)))^2], I Gaussian noise   lower
    max_sensitivity           max relative change of the explanation in an L-inf ball lower
    faithfulness_correlation  Pearson(sum attr over S, f(x) - f(x with S removed))    higher
    deletion_auc              AUC of the score as the top features are removed        lower
    insertion_auc             AUC of the score as the top features are added back     higher
    completeness(_relative)   |sum attr - (f(x) - f(baseline))| (/ |f(x) - f(b)|)     lower
    sparseness                Gini index of |attr|                                    higher
    complexity                entropy of |attr| / sum |attr|                          lower
    mprt                      Spearman(attr, attr of the top-down randomised model)   lower
    ground_truth_auroc        AUROC of |attr| against the relevance mask              higher
    top_k_precision           relevant share of the k top features, k = #relevant     higher

Conventions: ``inputs`` is one tensor (or array), batch first; integer inputs (token ids)
stay integer and their baseline is a token id. ``forward(x, *additional_forward_args)``
returns ``(batch,)`` or ``(batch, n_outputs)``; ``target`` is None, one int, or one int
per sample. Attributions have the inputs' shape, or a shape that broadcasts to it after
trailing axes of size 1 are added (one attribution per token over embeddings); a
``feature_mask`` of integer labels groups elements into features (image patches). Every
random draw comes from a generator seeded with ``seed``. ``random_attributions`` gives the
chance level to score beside each method; ``agreement`` compares methods pairwise.
"""

from harness.explainers.metrics.agreement import Agreement, agreement
from harness.explainers.metrics.base import MetricResult, metric_result
from harness.explainers.metrics.completeness import completeness
from harness.explainers.metrics.complexity import complexity
from harness.explainers.metrics.deletion_insertion import deletion, insertion
from harness.explainers.metrics.faithfulness import faithfulness_correlation
from harness.explainers.metrics.ground_truth import ground_truth_auroc, top_k_precision
from harness.explainers.metrics.infidelity import infidelity
from harness.explainers.metrics.random_baseline import random_attributions, random_explainer
from harness.explainers.metrics.randomisation import (
    mprt,
    onnx_cascade,
    passes_sanity,
    sanity_verdict,
    torch_cascade,
)
from harness.explainers.metrics.sensitivity import max_sensitivity
from harness.explainers.metrics.sparseness import sparseness

__all__ = [
    "Agreement",
    "MetricResult",
    "agreement",
    "completeness",
    "complexity",
    "deletion",
    "faithfulness_correlation",
    "ground_truth_auroc",
    "infidelity",
    "insertion",
    "max_sensitivity",
    "metric_result",
    "mprt",
    "onnx_cascade",
    "passes_sanity",
    "random_attributions",
    "random_explainer",
    "sanity_verdict",
    "sparseness",
    "top_k_precision",
    "torch_cascade",
]
