"""Attribution methods over Captum: one method per module, a registry with capability flags.

    base.py        AttributionRequest, AttributionOutput, the Explainer base and its flags
    registry.py    METHODS, get_method, default_methods (the default set per budget)
    baselines.py   the reference input per modality, with a description for the result
    targets.py     what is attributed: predicted class, a fixed class, a scalar output, or
                   an autoencoder's reconstruction error
    batching.py    internal_batch_size / perturbations_per_eval from a memory budget,
                   halving on out-of-memory
    feature_masks.py  superpixel blocks for perturbation methods on images

Importing this package, the base or the registry loads neither torch nor Captum; each
method imports Captum when it runs.
"""
