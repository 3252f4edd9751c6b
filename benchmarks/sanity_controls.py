"""Is the randomisation sanity check right where the answer is known? Its verdicts on the
zoo's methods, with the controls beside them, over several cascade seeds.

    python -m benchmarks.sanity_controls --seeds 3

(from the repository root; a few minutes on a shared 2-core machine.)

For each zoo model (``cnn``, ``cnn_patch``: their committed weights, ``SAMPLES`` test images,
the predicted class as target, a black baseline) and each method, MPRT cascades over every
parameter-owning module (``torch_cascade``, one seed per run) and prints one row per
(method, model, seed): the verdict (``sanity_verdict``: pass when the signed and absolute
final Spearman are both below 0.5, fail when both are not, inconclusive when they
disagree), both correlations and the number of features left out because the input equals
the baseline there (perturbation methods and deterministic multiply-by-input methods). The
perturbation methods also run unmasked (``[no mask]``) to show what the exclusion changes.

Controls, on the same inputs: ``control:input`` and ``control:edges`` ignore the weights
(must fail); ``control:linear_gxi`` is gradient x input of a linear model on +-1 inputs of
the same shape (must pass). See harness.explainers.metrics.sanity_controls.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from harness.explainers import get_method
from harness.explainers.methods.base import AttributionRequest
from harness.explainers.methods.feature_masks import block_feature_mask
from harness.explainers.metrics import mprt, sanity_verdict, torch_cascade
from harness.explainers.metrics.sanity_controls import (
    edge_filter,
    input_itself,
    linear_gradient_times_input,
    linear_model,
    sign_inputs,
)
from harness.models import get_reference
from harness.models.tasks import load_task

MODELS = ("cnn", "cnn_patch")
SAMPLES = 8
THRESHOLD = 0.5
# method -> (constructor overrides, uses superpixel blocks, excludes input == baseline)
METHODS: dict[str, tuple[dict[str, Any], bool, bool]] = {
    "saliency": ({}, False, False),
    "guided_backprop": ({}, False, False),
    "input_x_gradient": ({}, False, True),
    "integrated_gradients": ({"n_steps": 16}, False, True),
    "occlusion": ({}, False, True),
    "feature_ablation": ({}, True, True),
}
BLOCK = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'method':34} {'model':10} seed  verdict       signed  absolute  excluded")
    for name in MODELS:
        reference = get_reference(name)
        module = reference.build()
        data = load_task(reference.task)
        x = torch.from_numpy(data.test[data.primary_input][:SAMPLES]).float()
        with torch.no_grad():
            target = module(x).argmax(dim=1)
        for seed in range(args.seeds):
            for label, explain, kwargs in _cases(module, x, target, seed):
                cascade_model = kwargs.pop("model", module)
                result = mprt(
                    explain, cascade_model, torch_cascade(cascade_model, seed=seed), **kwargs
                )
                _row(label, name, seed, result)


def _cases(
    module: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, seed: int
) -> list[tuple[str, Callable[[Any], Any], dict[str, Any]]]:
    baseline = torch.zeros_like(x)
    at_baseline = (x == baseline).numpy()
    mask = block_feature_mask(tuple(x.shape), BLOCK)
    cases: list[tuple[str, Callable[[Any], Any], dict[str, Any]]] = []
    for method, (overrides, blocks, excludes) in METHODS.items():
        explainer = get_method(method)(**overrides)
        request = AttributionRequest(
            forward=module,
            inputs=(x,),
            target=target,
            baseline=baseline,
            modality="image",
            seed=seed,
            feature_mask=mask if blocks else None,
        )

        def explain(_state: Any, explainer=explainer, request=request) -> torch.Tensor:
            return explainer.attribute(request).attributions.detach()

        common = {"feature_mask": mask.numpy() if blocks else None}
        common["absolute"] = not explainer.multiplies_by_inputs
        if excludes:
            cases.append((method, explain, {**common, "exclude": at_baseline}))
            if not explainer.needs_gradients:
                cases.append((f"{method} [no mask]", explain, dict(common)))
        else:
            cases.append((method, explain, common))
    signs = sign_inputs(tuple(x.shape), seed)
    linear = linear_model(int(np.prod(x.shape[1:])), 10, seed)
    cases += [
        ("control:input (must fail)", input_itself(x), {}),
        ("control:edges (must fail)", edge_filter(x), {}),
        (
            "control:linear_gxi (must pass)",
            linear_gradient_times_input(signs, seed % 10),
            {"model": linear, "absolute": False},
        ),
    ]
    return cases


def _row(label: str, model: str, seed: int, result: Any) -> None:
    params = result.parameters
    print(
        f"{label:34} {model:10} {seed:4}  {sanity_verdict(result, THRESHOLD):12} "
        f"{params['signed_correlation']:7.3f}  {params['absolute_correlation']:8.3f}  "
        f"{params['excluded_features']:8}",
        flush=True,
    )


if __name__ == "__main__":
    main()
