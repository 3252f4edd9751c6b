"""Attribution methods over Captum: one method per module, a registry with capability flags.

    base.py        AttributionRequest, AttributionOutput, the Explainer base and its flags
    registry.py    METHODS, get_method, default_methods (the default set per budget)
    baselines.py   the reference input per modality, with a description for the result
    output_kinds.py  what the first output is (classes, embedding, dense map, sequence,
                   detections, ...) and the target that fits it, or --target's
    targets.py     what is attributed: predicted class, a fixed class, a scalar output, an
                   autoencoder's reconstruction error, or the score of another output kind
    batching.py    internal_batch_size / perturbations_per_eval from a memory budget,
                   halving on out-of-memory
    feature_masks.py  superpixel blocks for perturbation methods on images

Importing this package, the base or the registry loads neither torch nor Captum; each
method imports Captum when it runs.
"""
