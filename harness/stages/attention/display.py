"""The maps the report shows: the first samples' (those with relevant tokens first, when
the task marks them), cut to the display limit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.core.attention import DISPLAY_SAMPLES, DisplayMaps
from harness.stages.attention.analysis import CapturedSamples
from harness.stages.attention.feed import Feed

__all__ = ["shown_maps"]


def shown_maps(
    feed: Feed,
    samples: CapturedSamples,
    maps: Sequence[np.ndarray | None],
    tokens: dict[int, np.ndarray],
) -> tuple[DisplayMaps, ...]:
    """Maps of the first ``DISPLAY_SAMPLES`` samples, those with a relevant token first."""
    from harness.explainers.attention.display import display_maps, token_labels

    order = list(range(samples.count))
    if samples.truth is not None:
        order.sort(key=lambda i: not samples.truth[i].any())  # type: ignore[index]
    last = tokens[max(tokens)] if tokens else None
    shown = []
    for sample in order[:DISPLAY_SAMPLES]:
        length = max((m.shape[-1] for m in maps if m is not None), default=0)
        real = samples.real(length)[sample]
        ids = feed.arrays[feed.token_input][sample] if feed.token_input else None
        truth = samples.truth_for(length)
        shown.append(
            display_maps(
                sample,
                [m[sample] if m is not None else None for m in maps],
                int(real.sum()),
                token_labels(ids, length),
                truth[sample] if truth is not None else None,
                last[sample] if last is not None else None,
            )
        )
    return tuple(shown)
