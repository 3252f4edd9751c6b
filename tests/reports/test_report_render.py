"""The HTML report: complete, offline, escaped, and built from an ``AuditResult`` alone."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from harness import reports
from harness.core.attention import AttentionSection
from harness.core.config import AuditConfig
from harness.core.efficiency import EfficiencySection
from harness.core.model import TensorSpec
from harness.core.result import (
    SCHEMA_VERSION,
    STAGE_NAMES,
    AuditResult,
    Environment,
    FedTensor,
    GpuInfo,
    InputsSection,
    ModelSummary,
    ObservedOutput,
    StageSection,
)
from harness.reports import render_report
from harness.reports.format import config_rows, human_bytes, or_dash, plain, sig4, thousands, yes_no

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTR = '"><img src=x onerror=alert(1)>'


# --- a hand-built result --------------------------------------------------------------


def make_model(**overrides: Any) -> ModelSummary:
    fields: dict[str, Any] = {
        "source": "models/artifacts/cnn.onnx",
        "name": "digits-cnn",
        "format": "onnx",
        "path": "/work/models/artifacts/cnn.onnx",
        "file_bytes": 1_234_567,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "ir_version": 9,
        "opsets": {"ai.onnx": 17, "com.microsoft": 1},
        "producer": "pytorch 2.3.0",
        "metadata": {"author": "audit-team", "license": "Apache-2.0"},
        "inputs": (TensorSpec("pixels", "float32", ("batch", 1, 28, 28)),),
        "outputs": (TensorSpec("logits", "float32", ("batch", 10)),),
        "parameter_count": 1_234_567,
        "parameter_bytes": 4_938_268,
        "node_count": 11,
        "op_histogram": {"Conv": 4, "Relu": 4, "MaxPool": 2, "Gemm": 1},
    }
    fields.update(overrides)
    return ModelSummary(**fields)


def make_inputs(**overrides: Any) -> InputsSection:
    fields: dict[str, Any] = {
        "tensors": (
            FedTensor(
                name="pixels",
                dtype="float32",
                shape=(1, 1, 28, 28),
                source="synthetic",
                generator="normal(0, 1), seed 0",
                min=-3.14159,
                max=2.71828,
                mean=0.0123456,
            ),
        ),
        "dims": {"batch": 1},
        "warnings": ("dim 'batch' of input pixels was set to 1; pass --shape pixels=NxC to pick",),
        "outputs": (
            ObservedOutput("logits", "float32", (1, 10), min=-1.5, max=4.25, mean=0.3333333),
        ),
    }
    fields.update(overrides)
    return InputsSection(**fields)


def make_environment(**overrides: Any) -> Environment:
    fields: dict[str, Any] = {
        "cpu_model": "AMD EPYC 7763 64-Core Processor",
        "physical_cores": 2,
        "logical_cores": 4,
        "ram_bytes": 16 * 1024**3,
        "gpus": (GpuInfo("NVIDIA H200", 141 * 1024**3),),
        "os": "Linux-6.5.0-x86_64-with-glibc2.35",
        "python": "3.11.9",
        "packages": {"onnxruntime": "1.18.1", "torch": "2.3.1", "captum": None},
        "onnxruntime_providers": ("CUDAExecutionProvider", "CPUExecutionProvider"),
        "git_commit": "cfae0cc0123456789abcdef0123456789abcdef0",
        "git_dirty": True,
    }
    fields.update(overrides)
    return Environment(**fields)


def make_config(**overrides: Any) -> AuditConfig:
    fields: dict[str, Any] = {
        "model": "models/artifacts/cnn.onnx",
        "out": Path("audit-cnn"),
        "shapes": {"pixels": (1, 1, 28, 28)},
        "dtypes": {"pixels": "float32"},
        "values": {"temperature": 0.5},
        "device": "cpu",
        "seed": 7,
        "threads": 2,
        "budget": "quick",
        "skip": ("attention",),
        "sources": ("defaults", "file:pyproject.toml", "flags"),
    }
    fields.update(overrides)
    return AuditConfig(**fields)


def make_result(**overrides: Any) -> AuditResult:
    """A plausible result; override any top-level field (``model=make_model(name=...)``)."""
    fields: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "harness_version": "0.1.0",
        "created_at": "2024-05-01T12:34:56Z",
        "environment": make_environment(),
        "config": make_config(),
        "device": "cpu",
        "model": make_model(),
        "inputs": make_inputs(),
        "efficiency": EfficiencySection("ok"),
        "explanations": StageSection("failed", "onnx2torch lacks op Foo; gradient methods off"),
        "attention": AttentionSection("skipped", "skipped by --skip attention"),
    }
    fields.update(overrides)
    return AuditResult(**fields)


@pytest.fixture(scope="module")
def html() -> str:
    return render_report(make_result())


def section(html: str, section_id: str) -> str:
    """The text of ``<section id=section_id>`` up to its first nested ``</section>``."""
    start = html.index(f'<section id="{section_id}">')
    return html[start : html.index("</section>", start)]


# --- structure --------------------------------------------------------------------------


class StructureChecker(HTMLParser):
    """Records mismatched open/close pairs of the main structural tags."""

    TAGS = frozenset({"html", "head", "body", "main", "section", "table", "details", "summary"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.seen: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.TAGS:
            self.stack.append(tag)
            self.seen.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.TAGS:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def test_output_is_a_complete_html_document(html: str) -> None:
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert html.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in html
    assert "<title>Audit report: digits-cnn</title>" in html


def test_structural_tags_are_balanced(html: str) -> None:
    checker = StructureChecker()
    checker.feed(html)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert checker.seen == StructureChecker.TAGS


def test_sections_fold_and_are_linked_from_the_contents(html: str) -> None:
    for section_id in ("model", "inputs", "stages", "environment"):
        assert f'href="#{section_id}"' in html
        assert f'<section id="{section_id}">\n<details open>' in html
    for name in STAGE_NAMES:
        assert f'href="#stage-{name}"' in html
        assert f'<section id="stage-{name}">\n<details open>' in html


# --- content ----------------------------------------------------------------------------


def test_header_names_model_time_and_version(html: str) -> None:
    header = html[html.index("<header>") : html.index("</header>")]
    assert "digits-cnn" in header
    assert "2024-05-01T12:34:56Z" in header
    assert "0.1.0" in header


def test_model_card(html: str) -> None:
    card = section(html, "model")
    assert "1.2 MiB (1,234,567 bytes)" in card
    assert "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" in card
    assert "/work/models/artifacts/cnn.onnx" in card
    assert "<code>com.microsoft</code> 1" in card
    assert "pytorch 2.3.0" in card
    assert "<td><code>license</code></td><td>Apache-2.0</td>" in card
    assert "4.7 MiB (4,938,268 bytes)" in card  # parameter memory
    assert '<td><code>MaxPool</code></td><td class="num">2</td>' in card


def test_inputs_show_declared_shapes_with_symbolic_dims(html: str) -> None:
    inputs = section(html, "inputs")
    assert "<code>pixels</code>" in inputs
    assert "<code>batchx1x28x28</code>" in inputs
    assert "<code>batchx10</code>" in inputs
    assert "<code>1x1x28x28</code>" in inputs  # what was fed
    assert "normal(0, 1), seed 0" in inputs
    assert ">-3.142<" in inputs and ">2.718<" in inputs and ">0.01235<" in inputs
    assert '<td><code>batch</code></td><td class="num">1</td>' in inputs
    assert "<code>logits</code>" in inputs and ">0.3333<" in inputs


def test_index_range_of_token_inputs_is_shown() -> None:
    spec = TensorSpec("input_ids", "int64", ("batch", "sequence"), index_range=30522)
    html = render_report(make_result(model=make_model(inputs=(spec,))))
    inputs = section(html, "inputs")
    assert "<code>batchxsequence</code>" in inputs
    assert "[0, 30522)" in inputs


def test_warnings_are_listed_and_highlighted(html: str) -> None:
    inputs = section(html, "inputs")
    warning = make_inputs().warnings[0]
    assert f"<li>{escape(warning)}</li>" in inputs
    assert '<ul class="warnings">' in inputs
    assert "(1 warning)" in html  # in the contents


def test_no_warnings_no_warning_list() -> None:
    html = render_report(make_result(inputs=make_inputs(warnings=())))
    assert '<ul class="warnings">' not in html


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_each_stage_has_its_own_section_with_status_and_reason(html: str, name: str) -> None:
    stage = make_result().stage(name)
    own = section(html, f"stage-{name}")
    assert f'<span class="status status-{stage.status}">{stage.status}</span>' in own
    assert str(escape(stage.reason or "—")) in own


def test_stage_overview_table_lists_every_stage(html: str) -> None:
    overview = html[html.index('<section id="stages">') : html.index('<section id="stage-')]
    for name in STAGE_NAMES:
        stage = make_result().stage(name)
        assert f">{name.capitalize()}</a>" in overview
        assert f"status-{stage.status}" in overview
        assert str(escape(stage.reason or "—")) in overview


def test_every_stage_has_a_partial_named_after_it() -> None:
    templates = Path(reports.__file__).parent / "templates"
    for name in STAGE_NAMES:
        assert (templates / f"_stage_{name}.html.j2").is_file()


def test_environment_and_config(html: str) -> None:
    env = section(html, "environment")
    for text in (
        "AMD EPYC 7763 64-Core Processor",
        "2 physical, 4 logical",
        "16.0 GiB (17,179,869,184 bytes)",
        "NVIDIA H200 (141.0 GiB)",
        "Linux-6.5.0-x86_64-with-glibc2.35",
        "3.11.9",
        "<td><code>torch</code></td><td>2.3.1</td>",
        "<td><code>captum</code></td><td>not installed</td>",
        "<code>CUDAExecutionProvider</code>",
        "cfae0cc0123456789abcdef0123456789abcdef0",
        "defaults → file:pyproject.toml → flags",
    ):
        assert text in env
    for field in dataclasses.fields(AuditConfig):
        assert f"<code>{field.name}</code>" in env
    assert "pixels=1x1x28x28" in env
    assert "temperature=0.5" in env


def test_missing_values_render_as_dashes() -> None:
    result = make_result(
        model=make_model(
            path=None,
            file_bytes=None,
            sha256=None,
            ir_version=None,
            producer=None,
            metadata={},
            opsets={},
            format="pytorch",
        ),
        environment=make_environment(gpus=(), git_commit=None, git_dirty=None, packages={}),
        inputs=make_inputs(
            tensors=(FedTensor("x", "float32", (0, 3), "data", "inputs.npz", None, None, None),),
            dims={},
        ),
    )
    html = render_report(result)
    card = section(html, "model")
    assert '<tr><th scope="row">File size</th><td>—</td></tr>' in card
    assert "carries no metadata" in card
    assert "<td>none</td>" in section(html, "environment")
    assert "no symbolic dimensions" in section(html, "inputs")
    assert '<td class="num">—</td>' in section(html, "inputs")


def test_report_rerenders_identically_from_its_json() -> None:
    result = make_result()
    assert render_report(AuditResult.from_json(result.to_json())) == render_report(result)


# --- safety and self-containment ------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_html() -> str:
    hostile = f"{XSS_SCRIPT} {XSS_ATTR}"
    result = make_result(
        model=make_model(
            name=hostile,
            producer=hostile,
            metadata={"note": XSS_SCRIPT, "evil": XSS_ATTR, XSS_SCRIPT: "key"},
            inputs=(TensorSpec(XSS_ATTR, "float32", (XSS_SCRIPT, 3)),),
            op_histogram={XSS_SCRIPT: 1, XSS_ATTR: 2},
        ),
        inputs=make_inputs(warnings=(hostile,)),
        explanations=StageSection("failed", hostile),
    )
    return render_report(result)


def test_model_provided_strings_are_escaped(hostile_html: str) -> None:
    assert "<script>alert" not in hostile_html
    assert "<img src=x" not in hostile_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in hostile_html


def test_hostile_strings_do_not_break_structure(hostile_html: str) -> None:
    checker = StructureChecker()
    checker.feed(hostile_html)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []


def test_importing_reports_loads_no_heavy_library() -> None:
    # Which harness packages harness.reports may import is a contract in .importlinter
    # (tests/test_architecture.py); this checks what an import costs: a report re-renders
    # from result.json without torch, onnx, onnxruntime or Captum.
    code = (
        "import sys, harness.reports; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'onnx', 'onnxruntime', 'captum'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_report_is_self_contained(html: str) -> None:
    external = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
    assert not external.search(html)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()  # no scripts at all, inline or linked
    assert "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html
    assert "<style>" in html


# --- formatting helpers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "—"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1_234_567, "1.2 MiB"),  # 1234567 / 1024**2 = 1.177
        (1024**2 - 1, "1.0 MiB"),  # 1023.999 KiB would read 1024.0 KiB
        (3 * 1024**3, "3.0 GiB"),
        (5 * 1024**5, "5.0 PiB"),
        (2048 * 1024**5, "2048.0 PiB"),
    ],
)
def test_human_bytes(n: int | None, text: str) -> None:
    assert human_bytes(n) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "—"),
        (0, "0"),
        (999, "999"),
        (1000, "1,000"),
        (1_234_567, "1,234,567"),
        (-4321, "-4,321"),
    ],
)
def test_thousands(n: int | None, text: str) -> None:
    assert thousands(n) == text


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (None, "—"),
        (0.0, "0"),
        (2.0, "2"),
        (3.14159, "3.142"),
        (-2.71828, "-2.718"),
        (0.000123456, "0.0001235"),
        (1234.0, "1,234"),  # thousands separators, no exponent
        (123456.0, "123,500"),
        (float("nan"), "NaN"),
        (float("inf"), "∞"),
        (float("-inf"), "−∞"),
    ],
)
def test_sig4(x: float | None, text: str) -> None:
    assert sig4(x) == text


def test_or_dash_and_yes_no() -> None:
    assert or_dash(None) == "—"
    assert or_dash("") == "—"
    assert or_dash(0) == 0
    assert or_dash("x") == "x"
    assert (yes_no(True), yes_no(False), yes_no(None)) == ("yes", "no", "—")


def test_plain() -> None:
    assert plain(None) == "—"
    assert plain(True) == "true"
    assert plain(Path("a/b")) == "a/b"
    assert plain({"a": 1, "b": False}) == "a=1, b=false"
    assert plain(()) == "—"
    assert plain(("x", "y")) == "x, y"
    assert plain(0.5) == "0.5"


def test_config_rows_cover_every_field_in_order() -> None:
    rows = dict(config_rows(make_config()))
    assert list(rows) == [f.name for f in dataclasses.fields(AuditConfig)]
    assert rows["shapes"] == "pixels=1x1x28x28"
    assert rows["out"] == "audit-cnn"
    assert rows["threads"] == "2"
    assert rows["skip"] == "attention"
    assert rows["data"] == "—"
    assert rows["sources"] == "defaults → file:pyproject.toml → flags"
