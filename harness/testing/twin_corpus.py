"""The corpus the ONNX-to-PyTorch twin is measured on: real architectures, exported two ways.

Each ``CorpusModel`` builds a PyTorch module with random weights (torchvision with
``weights=None``, ``transformers`` from small configs, never a download), seeded example
inputs and the dynamic axes to export with. ``export`` writes it with the TorchScript
exporter (``dynamo=False``, opset 17, ``dynamic_axes``) or the dynamo exporter
(``dynamo=True``, opset 18, ``dynamic_shapes``), weights inside the one file. An exporter
that cannot export a model raises ``ExportFailed``: a corpus outcome of its own, counted
apart from conversion failures. ``run_case`` exports one model, loads it as the harness
does and hands it to ``to_torch``; the benchmark (``benchmarks/twin_corpus.py``, which
reports the success rates) and the test (``tests/twin/test_twin_corpus.py``, which checks
each case) both run it.

Sizes are the smallest that keep each architecture itself: batch 2, images 64x64 (32x32
for the transformers ViT), sequences of 16 tokens from a 1000-word vocabulary; ViT and
ConvNeXt are reduced (fewer, narrower layers), the transformers models have 2 layers of
width 64.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

__all__ = [
    "CORPUS",
    "EXPORTERS",
    "CaseOutcome",
    "CorpusModel",
    "ExportFailed",
    "Exporter",
    "by_name",
    "export",
    "run_case",
    "success_rate",
]

Exporter = Literal["torchscript", "dynamo"]
EXPORTERS: tuple[Exporter, ...] = ("torchscript", "dynamo")
OPSET = {"torchscript": 17, "dynamo": 18}

SEED = 0
BATCH = 2
IMAGE = 64
SEQUENCE = 16
VOCAB = 1000
MAX_POSITIONS = 128
NUM_CLASSES = 10

DynamicAxes = dict[str, dict[int, str]]
Built = tuple[nn.Module, dict[str, torch.Tensor], DynamicAxes]


@dataclass(frozen=True)
class CorpusModel:
    """One architecture: ``build()`` gives (module, named example inputs, dynamic axes).

    Input names are the module's ``forward`` parameter names, in order; ``dynamic_axes``
    names the dynamic axes of inputs and outputs alike, as ``torch.onnx.export`` takes them.
    """

    name: str
    family: str  # "torchvision", "transformers", "recurrent", "control-flow"
    outputs: tuple[str, ...]
    build: Callable[[], Built]


class ExportFailed(Exception):
    """The exporter itself could not write the model (not a conversion failure)."""


# ------------------------------------------------------------------------------ inputs


def _images(size: int = IMAGE) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(SEED)
    pixels = rng.standard_normal((BATCH, 3, size, size)).astype(np.float32)
    return {"pixels": torch.from_numpy(pixels)}


def _tokens(with_mask: bool) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(SEED)
    ids = rng.integers(0, VOCAB, size=(BATCH, SEQUENCE), dtype=np.int64)
    tensors = {"input_ids": torch.from_numpy(ids)}
    if with_mask:
        tensors["attention_mask"] = torch.ones(BATCH, SEQUENCE, dtype=torch.int64)
    return tensors


_BATCH_AXIS = {0: "batch"}
_TOKEN_AXES = {0: "batch", 1: "sequence"}


def _image_model(module: nn.Module, size: int = IMAGE) -> Built:
    return module, _images(size), {"pixels": _BATCH_AXIS, "logits": _BATCH_AXIS}


def _token_model(module: nn.Module, with_mask: bool, output_axes: dict[str, dict]) -> Built:
    inputs = _tokens(with_mask)
    return module, inputs, {**{name: _TOKEN_AXES for name in inputs}, **output_axes}


# ------------------------------------------------------------------------- torchvision


def _torchvision(factory_name: str, **kwargs) -> Callable[[], Built]:
    def build() -> Built:
        import torchvision

        torch.manual_seed(SEED)
        factory = getattr(torchvision.models, factory_name)
        return _image_model(factory(weights=None, num_classes=NUM_CLASSES, **kwargs))

    return build


def _vit_b_16_reduced() -> Built:
    from torchvision.models import VisionTransformer

    torch.manual_seed(SEED)
    vit = VisionTransformer(
        image_size=IMAGE,
        patch_size=16,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        mlp_dim=128,
        num_classes=NUM_CLASSES,
    )
    return _image_model(vit)


def _convnext_tiny_reduced() -> Built:
    """convnext_tiny's design (stem, 4 stages, layer scale, stochastic depth off in eval)
    at a quarter of its width and one or two blocks a stage."""
    from torchvision.models import ConvNeXt
    from torchvision.models.convnext import CNBlockConfig

    torch.manual_seed(SEED)
    stages = [
        CNBlockConfig(24, 48, 1),
        CNBlockConfig(48, 96, 1),
        CNBlockConfig(96, 192, 2),
        CNBlockConfig(192, None, 1),
    ]
    return _image_model(ConvNeXt(stages, stochastic_depth_prob=0.1, num_classes=NUM_CLASSES))


# ------------------------------------------------------------------------ transformers


class _PlainOutput(nn.Module):
    """A ``transformers`` model behind a plain signature: tensors in, a tensor out (its
    ``logits``, or ``last_hidden_state`` for a bare encoder), no ``ModelOutput``."""

    def __init__(self, model: nn.Module, field: str) -> None:
        super().__init__()
        self.model = model
        self.field = field

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return getattr(self.model(input_ids=input_ids, attention_mask=attention_mask), self.field)


class _ImageLogits(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixels).logits


def _config(**fields: Any) -> dict[str, Any]:
    """A small ``transformers`` config's fields: its own, plus the corpus's label count
    (and vocabulary, for token models: ``_text_config``)."""
    return {"num_labels": NUM_CLASSES, **fields}


def _text_config(**fields: Any) -> dict[str, Any]:
    return _config(vocab_size=VOCAB, **fields)


def _bert_config():
    from transformers import BertConfig

    return BertConfig(
        **_text_config(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            max_position_embeddings=MAX_POSITIONS,
        )
    )


def _bert_model() -> Built:
    from transformers import BertModel

    torch.manual_seed(SEED)
    model = BertModel(_bert_config(), add_pooling_layer=False)
    return _token_model(_PlainOutput(model, "last_hidden_state"), True, {"hidden": _TOKEN_AXES})


def _bert_classifier() -> Built:
    from transformers import BertForSequenceClassification

    torch.manual_seed(SEED)
    model = BertForSequenceClassification(_bert_config())
    return _token_model(_PlainOutput(model, "logits"), True, {"logits": _BATCH_AXIS})


def _distilbert_classifier() -> Built:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(SEED)
    config = DistilBertConfig(
        **_text_config(
            dim=64, n_layers=2, n_heads=2, hidden_dim=128, max_position_embeddings=MAX_POSITIONS
        )
    )
    model = DistilBertForSequenceClassification(config)
    return _token_model(_PlainOutput(model, "logits"), True, {"logits": _BATCH_AXIS})


def _gpt2_config():
    from transformers import GPT2Config

    return GPT2Config(
        **_text_config(n_embd=64, n_layer=2, n_head=2, n_positions=MAX_POSITIONS, use_cache=False),
        bos_token_id=0,  # GPT-2's own (50256) lies outside the small vocabulary
        eos_token_id=0,
    )


def _gpt2_model() -> Built:
    from transformers import GPT2Model

    torch.manual_seed(SEED)
    model = GPT2Model(_gpt2_config())
    return _token_model(_PlainOutput(model, "last_hidden_state"), True, {"hidden": _TOKEN_AXES})


def _gpt2_lm_head() -> Built:
    from transformers import GPT2LMHeadModel

    torch.manual_seed(SEED)
    model = GPT2LMHeadModel(_gpt2_config())
    return _token_model(_PlainOutput(model, "logits"), True, {"logits": _TOKEN_AXES})


def _hf_vit_classifier() -> Built:
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(SEED)
    config = ViTConfig(
        **_config(
            image_size=32,
            patch_size=8,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
        )
    )
    return _image_model(_ImageLogits(ViTForImageClassification(config)), size=32)


# --------------------------------------------------------------------------- recurrent


class _RecurrentClassifier(nn.Module):
    """Token ids -> embedding -> one LSTM or GRU layer -> the last step's state -> logits."""

    def __init__(self, cell: type[nn.LSTM] | type[nn.GRU]) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32)
        self.rnn = cell(32, 48, batch_first=True)
        self.head = nn.Linear(48, NUM_CLASSES)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.embed(input_ids))
        return self.head(states[:, -1])


def _recurrent(cell: type[nn.LSTM] | type[nn.GRU]) -> Callable[[], Built]:
    def build() -> Built:
        torch.manual_seed(SEED)
        return _token_model(_RecurrentClassifier(cell), False, {"logits": _BATCH_AXIS})

    return build


# ------------------------------------------------------------------------ control flow


class _Branchy(nn.Module):
    """A data-dependent ``if``: which head runs depends on the input's values. The
    TorchScript exporter traces it (the branch the example input takes is baked in); the
    dynamo exporter cannot trace a Python ``if`` on a tensor's value."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Flatten())
        features = 8 * 31 * 31
        self.positive = nn.Linear(features, NUM_CLASSES)
        self.negative = nn.Sequential(nn.Linear(features, NUM_CLASSES), nn.Tanh())

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.features(pixels)
        if features.sum() > 0:
            return self.positive(features)
        return self.negative(features)


class _BranchyCond(_Branchy):
    """The same choice written with ``torch.cond``, which the dynamo exporter turns into
    an ONNX ``If`` node."""

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.features(pixels)
        return torch.cond(features.sum() > 0, self.positive, self.negative, (features,))


def _branchy(cls: type[_Branchy]) -> Callable[[], Built]:
    def build() -> Built:
        torch.manual_seed(SEED)
        return _image_model(cls())

    return build


# ------------------------------------------------------------------------------ corpus

_LOGITS = ("logits",)
CORPUS: tuple[CorpusModel, ...] = (
    CorpusModel("resnet18", "torchvision", _LOGITS, _torchvision("resnet18")),
    CorpusModel("mobilenet_v3_small", "torchvision", _LOGITS, _torchvision("mobilenet_v3_small")),
    CorpusModel("efficientnet_b0", "torchvision", _LOGITS, _torchvision("efficientnet_b0")),
    CorpusModel("vit_b_16_reduced", "torchvision", _LOGITS, _vit_b_16_reduced),
    CorpusModel("convnext_tiny_reduced", "torchvision", _LOGITS, _convnext_tiny_reduced),
    CorpusModel("regnet_y_400mf", "torchvision", _LOGITS, _torchvision("regnet_y_400mf")),
    CorpusModel("bert", "transformers", ("hidden",), _bert_model),
    CorpusModel("bert_classifier", "transformers", _LOGITS, _bert_classifier),
    CorpusModel("distilbert_classifier", "transformers", _LOGITS, _distilbert_classifier),
    CorpusModel("gpt2", "transformers", ("hidden",), _gpt2_model),
    CorpusModel("gpt2_lm_head", "transformers", _LOGITS, _gpt2_lm_head),
    CorpusModel("vit_classifier", "transformers", _LOGITS, _hf_vit_classifier),
    CorpusModel("lstm_classifier", "recurrent", _LOGITS, _recurrent(nn.LSTM)),
    CorpusModel("gru_classifier", "recurrent", _LOGITS, _recurrent(nn.GRU)),
    CorpusModel("branchy_if", "control-flow", _LOGITS, _branchy(_Branchy)),
    CorpusModel("branchy_cond", "control-flow", _LOGITS, _branchy(_BranchyCond)),
)


def by_name(name: str) -> CorpusModel:
    for entry in CORPUS:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in CORPUS)
    raise KeyError(f"no corpus model named '{name}'; the corpus has: {known}")


# ------------------------------------------------------------------------------ export


def export(entry: CorpusModel, exporter: Exporter, dest: Path) -> Path:
    """Export ``entry`` with one exporter to ``dest/<name>.<exporter>.onnx`` (weights in the
    file); raises ``ExportFailed`` with the exporter's reason when it cannot."""
    return _export_built(entry, entry.build(), exporter, dest)


def _export_built(entry: CorpusModel, built: Built, exporter: Exporter, dest: Path) -> Path:
    module, inputs, dynamic_axes = built
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{entry.name}.{exporter}.onnx"
    write = _export_torchscript if exporter == "torchscript" else _export_dynamo
    try:
        # Both exporters talk on stdout and warn freely; the caller owns the terminal.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            write(module.eval(), inputs, list(entry.outputs), dynamic_axes, path)
    except Exception as exc:  # each exporter raises its own zoo of errors
        root = _root_cause(exc)
        raise ExportFailed(f"{type(root).__name__}: {_first_line(root)}") from exc
    return path


def _export_torchscript(
    module: nn.Module,
    inputs: dict[str, torch.Tensor],
    outputs: list[str],
    dynamic_axes: DynamicAxes,
    path: Path,
) -> None:
    torch.onnx.export(
        module,
        tuple(inputs.values()),
        str(path),
        dynamo=False,
        opset_version=OPSET["torchscript"],
        input_names=list(inputs),
        output_names=outputs,
        dynamic_axes=dynamic_axes,
    )


def _export_dynamo(
    module: nn.Module,
    inputs: dict[str, torch.Tensor],
    outputs: list[str],
    dynamic_axes: DynamicAxes,
    path: Path,
) -> None:
    torch.onnx.export(
        module,
        tuple(inputs.values()),
        str(path),
        dynamo=True,
        external_data=False,
        opset_version=OPSET["dynamo"],
        input_names=list(inputs),
        output_names=outputs,
        dynamic_shapes=_dynamic_shapes(inputs, dynamic_axes),
    )


def _dynamic_shapes(
    inputs: dict[str, torch.Tensor], dynamic_axes: DynamicAxes
) -> tuple[dict[int, object], ...]:
    """``dynamic_axes`` as ``torch.export`` takes it, one entry per positional input: one
    ``Dim`` per axis name, shared by every input that names it (so batch and sequence agree
    across ids and mask)."""
    dims: dict[str, object] = {}
    return tuple(
        {
            axis: dims.setdefault(label, torch.export.Dim(label, max=_max_size(label)))
            for axis, label in dynamic_axes.get(name, {}).items()
        }
        for name in inputs
    )


def _max_size(label: str) -> int:
    return MAX_POSITIONS if label == "sequence" else 1024


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost ``__cause__``: torch.onnx wraps torch.export's error in its own."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc)).strip()
    return text.splitlines()[0][:300] if text else "(no message)"


# ------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class CaseOutcome:
    """One corpus model through one exporter and ``to_torch``.

    ``export_status`` is "exported" or "export failed"; ``status`` is the conversion
    report's status ("converted", "unconvertible", "mismatch", "skipped"), "not run" when
    the export failed, "load failed" when the harness rejected the exported file, or
    "crashed" when ``to_torch`` raised (which it must never do).
    """

    model: str
    exporter: Exporter
    export_status: Literal["exported", "export failed"]
    status: str
    reason: str | None
    export_s: float
    convert_s: float = 0.0
    result: str | None = None  # what to_torch returned: "TorchTwin", "Unconvertible"
    max_abs: float | None = None  # worst over outputs and parity checks
    max_rel: float | None = None
    parity_ok: bool | None = None  # every parity check passed; None: no check ran
    parity_checks: int = 0  # input sizes the twin was checked at

    @property
    def exported(self) -> bool:
        return self.export_status == "exported"

    @property
    def converted(self) -> bool:
        return self.status == "converted"


def run_case(entry: CorpusModel, exporter: Exporter, dest: Path) -> CaseOutcome:
    """Export ``entry``, load the file as the harness does, and run ``to_torch`` on it with
    the example inputs the model was exported with."""
    started = time.perf_counter()
    built = entry.build()
    case = functools.partial(CaseOutcome, model=entry.name, exporter=exporter)
    try:
        path = _export_built(entry, built, exporter, dest)
    except ExportFailed as exc:
        export_s = time.perf_counter() - started
        return case(
            export_status="export failed", status="not run", reason=str(exc), export_s=export_s
        )
    export_s = time.perf_counter() - started
    started = time.perf_counter()
    fields = _convert(path, {name: t.numpy() for name, t in built[1].items()})
    convert_s = time.perf_counter() - started
    return case(export_status="exported", export_s=export_s, convert_s=convert_s, **fields)


def _convert(path: Path, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """The outcome's conversion fields: what ``to_torch`` made of the file."""
    from harness.core.errors import HarnessError
    from harness.intake.onnx_model import load_onnx
    from harness.twin import to_torch

    try:
        model = load_onnx(str(path))
    except HarnessError as exc:
        return {"status": "load failed", "reason": str(exc)}
    try:
        result = to_torch(model, inputs)
    except Exception as exc:  # to_torch must never raise; record it as a crash
        return {"status": "crashed", "reason": f"{type(exc).__name__}: {_first_line(exc)}"}
    report = result.report
    diffs = [o for check in report.parity for o in check.outputs]
    return {
        "status": report.status,
        "reason": report.reason,
        "result": type(result).__name__,
        "max_abs": max((o.max_abs for o in diffs), default=None),
        "max_rel": max((o.max_rel for o in diffs), default=None),
        "parity_ok": all(check.ok for check in report.parity) if report.parity else None,
        "parity_checks": len(report.parity),
    }


def success_rate(outcomes: list[CaseOutcome]) -> tuple[int, int]:
    """(converted, exported): the twin's success counts only models an exporter wrote."""
    exported = [o for o in outcomes if o.exported]
    return sum(o.converted for o in exported), len(exported)
