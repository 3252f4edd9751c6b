"""Hostile TOML: ``audit --config``, a ``pyproject.toml`` the audit finds by itself,
``report --config`` and ``gate --policy``: deep nesting, unknown keys, wrong types,
``tool = "x"``, bytes that are not TOML or not UTF-8."""

from __future__ import annotations

import random
import tomllib
from collections.abc import Callable

from tests.fuzz.case import ANY, AUDIT_OUTPUTS, FAST, GATE_ANY, GOLDEN, REJECT, Case, zoo_model

__all__ = ["TOML_CLASSES"]

CNN = zoo_model("cnn_digits")
DEPTH = 100_000

# Not TOML, or TOML that no settings table may hold (a table 20,000 names deep).
BROKEN = (
    "a = " + "[" * DEPTH + "]" * DEPTH,
    "a = " + "{b = " * DEPTH + "1" + "}" * DEPTH,
    "[" + ".".join(["a"] * 20_000) + "]",
    "a = ",
    "= 1",
    "a = 1\na = 2",
    "a = 'x\x00y'",
)
BROKEN_BYTES = (b"\xff\xfe\x00a = 1", b"seed = \x80\n", b"\x00" * 64)

# Settings of the audit that no reader may take: (TOML text, codes).
CONFIG_BODIES = (
    ("frobnicate = 1", REJECT),
    ('seed = "x"', REJECT),
    ("seed = 1.5", REJECT),
    ("seed = 99999999999999999999999999999", ANY),
    ("threads = 1e9", REJECT),
    ("threads = 100000", REJECT),
    ("threads = true", REJECT),
    ("budget = 5", REJECT),
    ('budget = "fast"', REJECT),
    ('skip = "attention"', ANY),
    ("skip = [1, 2]", REJECT),
    ("shape = 3", REJECT),
    ("shape = { pixels = 5 }", REJECT),
    ('shape = { pixels = "0x1x28x28" }', REJECT),
    ('value = { pixels = "nan" }', REJECT),
    ("value = 5", REJECT),
    ("out = 7", REJECT),
    ("data = []", REJECT),
    ("findings = 1", REJECT),
    ('findings = { latency_cv_max = "x" }', REJECT),
    ("findings = { latency_cv_max = nan }", ANY),
    ("findings = { latency_cv_max = -inf }", ANY),
    ("findings = { nope = 1 }", REJECT),
    ("explainers = {}", REJECT),
    ("target = 10000000000000000000", ANY),  # judged when the explanations stage runs
    ('target = "abc"', REJECT),
    ('budget = "quick"', frozenset({0})),
)
# Under a pyproject's [tool.harness], or instead of it.
TOOL_TABLES = ('tool = "x"', "tool = { harness = 1 }", "[tool]\nharness = []")

POLICY_BODIES = (
    ("frobnicate = 1", REJECT),
    ("alpha = nan", REJECT),
    ("alpha = -1", REJECT),
    ("alpha = 2", REJECT),
    ('alpha = "x"', REJECT),
    ("inconclusive = 5", REJECT),
    ('inconclusive = "maybe"', REJECT),
    ("checks = 5", REJECT),
    ('[checks]\n"latency.p50" = "nan%"', REJECT),
    ('[checks]\n"latency.p50" = nan', REJECT),
    ('[checks]\n"latency.p50" = inf', GATE_ANY),
    ('[checks]\n"latency.p50" = []', REJECT),
    ('[checks]\n"latency.p50" = "abc"', REJECT),
    ('[checks]\n"nope" = "5%"', GATE_ANY),
    ("models = 5", REJECT),
    ('[models.cnn_digits]\nchecks = "y"', REJECT),
    ('[checks]\n"latency.p50" = "5%"', GATE_ANY),
)


def configs(rng: random.Random) -> Case:
    """audit --config, or a pyproject.toml in the working folder, or report --config."""
    where = rng.choice(["flag", "flag", "pyproject", "report"])
    what = rng.choice(["tool", "broken", "body", "body", "body"])
    if what == "tool":
        body = rng.choice(TOOL_TABLES)
        # A --config must hold settings; a pyproject without a [tool.harness] table holds
        # none for the harness, which may use its defaults.
        codes = ANY if where == "pyproject" else REJECT
        variant, content = f"tool:{body[:20]}", body.encode()
    elif what == "broken":
        variant, content = _broken(rng)
        # A pyproject's tables outside [tool.harness] belong to other tools: only what is
        # not TOML at all must stop the audit there.
        outside = where == "pyproject" and _is_toml(content)
        variant, codes = f"broken:{variant}", ANY if outside else REJECT
    else:
        body, codes = rng.choice(CONFIG_BODIES)
        variant, content = body[:30], body.encode()
        if where == "report":
            codes = ANY  # report --config reads only the findings thresholds
        elif where == "pyproject":
            content = b"[tool.harness]\n" + content
    name = f"toml.config/{where}:{variant}"
    if where == "report":
        result = str(GOLDEN / "v2_failed_stages.json")
        argv = ("report", result, "-o", "r.html", "--config", "c.toml")
        return Case(name, argv, {"c.toml": content}, outputs=("r.html",), codes=codes)
    audit = ("audit", CNN, "--out", "out", "--quiet", *FAST)
    if where == "pyproject":
        # Found by itself, above the working folder: the user never named it.
        files = {"pyproject.toml": content}
        return Case(name, audit, files, outputs=AUDIT_OUTPUTS, codes=codes)
    files = {"c.toml": content}
    return Case(name, (*audit, "--config", "c.toml"), files, outputs=AUDIT_OUTPUTS, codes=codes)


def _is_toml(content: bytes) -> bool:
    try:
        tomllib.loads(content.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        return False
    return True


def _broken(rng: random.Random) -> tuple[str, bytes]:
    if rng.random() < 0.3:
        return "bytes", rng.choice(BROKEN_BYTES)
    text = rng.choice(BROKEN)
    return text[:20], text.encode()


def policies(rng: random.Random) -> Case:
    if rng.random() < 0.3:
        variant, content = _broken(rng)
        codes = REJECT
    else:
        body, codes = rng.choice(POLICY_BODIES)
        variant, content = body[:30], body.encode()
    timed = str(GOLDEN / "v1_cnn_digits.json")
    return Case(
        name=f"toml.policy/{variant}",
        argv=("gate", timed, timed, "--policy", "p.toml"),
        files={"p.toml": content},
        codes=codes,
    )


TOML_CLASSES: dict[str, tuple[Callable[[random.Random], Case], int]] = {
    "toml.config": (configs, 2),
    "toml.policy": (policies, 1),
}
