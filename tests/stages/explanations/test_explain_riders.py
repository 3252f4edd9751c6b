"""Which inputs ride stacked with the attributed one, and which are repeated along their
own batch axis (a recurrent state [layers, batch, hidden]) - issue 15."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from harness.core.model import TensorSpec
from harness.stages.explanations.plan import choose_subject, spread_inputs


def subject_of(*specs: tuple[str, str, tuple]) -> object:
    tensors = tuple(TensorSpec(name=n, dtype=d, shape=s) for n, d, s in specs)
    arrays = {
        t.name: np.zeros(
            tuple(1 if not isinstance(x, int) or x < 1 else x for x in t.shape), np.dtype(t.dtype)
        )
        for t in tensors
    }
    context = SimpleNamespace(
        model=SimpleNamespace(inputs=tensors), inputs=SimpleNamespace(arrays=arrays, task=None)
    )
    return choose_subject(context)  # type: ignore[arg-type]


def test_a_state_with_the_batch_on_axis_1_is_spread_not_stacked():
    subject = subject_of(
        ("features", "float32", ("batch", "time", 16)),
        ("sample_rate", "int64", ()),
        ("initial_h", "float32", (1, "batch", 32)),
    )
    assert subject.attributed == "features"
    assert subject.others == ()
    assert subject.spread == (("initial_h", 1),)


def test_inputs_sharing_the_named_batch_ride_stacked_and_others_do_not():
    subject = subject_of(
        ("pixels", "float32", ("batch", 3, 8, 8)),
        ("mask", "float32", ("batch", 8)),
        ("table", "float32", (1, 8)),  # size 1 on axis 0 but not the batch
        ("h0", "float32", ("batch", 4)),  # a state: never stacked, spread on axis 0
    )
    assert subject.others == ("mask",)
    assert subject.spread == (("h0", 0),)


def test_unnamed_or_fixed_axis_0_inputs_of_the_same_size_ride_stacked():
    subject = subject_of(("ids", "float32", (None, 8)), ("mask", "float32", (None, 8)))
    assert subject.others == ("mask",)
    assert subject.spread == ()


def test_spread_repeats_the_first_entry_on_numpy_and_torch():
    state = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    arrays = {"h": state, "t": torch.from_numpy(state.copy())}
    spread_inputs(arrays, (("h", 1), ("t", 1)), 4)
    for value in (arrays["h"], arrays["t"].numpy()):
        assert value.shape == (1, 4, 3)
        assert (value == state[:, :1, :]).all()
    kept = {"h": state}
    spread_inputs(kept, (("h", 1),), 2)  # already the rows: the audit's own states kept
    assert kept["h"] is state
