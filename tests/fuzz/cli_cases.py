"""Bad command lines: unknown flags and bad values of --shape, --value, --threads,
--budget, --out and --target, each against a zoo model that is itself fine."""

from __future__ import annotations

import random
from collections.abc import Callable

from tests.fuzz.case import (
    ANY,
    AUDIT_OUTPUTS,
    COMPLETED,
    FAST,
    GATE_ANY,
    GOLDEN,
    REJECT,
    Case,
    audit_argv,
    zoo_model,
)
from tests.fuzz.onnx_cases import without_task

__all__ = ["CLI_CLASSES"]

OK = frozenset({0})
CNN = zoo_model("cnn_digits")
RNN = zoo_model("rnn_trigger")
GOLDEN_RESULT = str(GOLDEN / "v2_failed_stages.json")
GATE_RESULT = str(GOLDEN / "v1_cnn_digits.json")


def _audit(variant: str, model: str, *flags: str, codes=ANY, **extra) -> Case:
    return Case(
        name=variant,
        argv=audit_argv(model, *flags, stages=extra.pop("stages", False)),
        outputs=AUDIT_OUTPUTS,
        codes=codes,
        **extra,
    )


# (argv, codes): usage mistakes argparse or the settings must answer with one line.
FLAG_LINES: tuple[tuple[tuple[str, ...], frozenset[int]], ...] = (
    ((), REJECT),
    (("frobnicate",), REJECT),
    (("audit",), REJECT),
    (("audit", CNN, "--frobnicate"), REJECT),
    (("audit", CNN, "-x"), REJECT),
    (("audit", CNN, "--out"), REJECT),
    (("audit", CNN, "--seed", "abc"), REJECT),
    (("audit", CNN, "--skip", "nope"), REJECT),
    (("audit", CNN, "--device", "tpu"), REJECT),
    (("audit", CNN, "--backend", "nope"), REJECT),
    (("audit", CNN, "--samples", "many"), REJECT),
    (("report",), REJECT),
    (("report", "missing.json"), REJECT),
    (("compare", GOLDEN_RESULT), REJECT),
    (("gate",), REJECT),
    (("gate", GATE_RESULT, "missing.json"), REJECT),
    (("gate", GATE_RESULT, GATE_RESULT, "--inconclusive", "maybe"), REJECT),
    (("--version",), OK),
    (("audit", "--help"), OK),
)

# Values that parse as the flag's type but that the harness must judge.
SEEDS = ("-1", str(2**64), str(10**30))
SAMPLES = ("0", "-1", "2", str(10**9))
EXPLAINERS = ("", ",,,", "nope", "saliency,nope", "saliency,saliency", "SALIENCY")
ALPHAS = ("nan", "inf", "-1", "0", "1", "2", "-0.0", "1e-400")
CHECKS = (
    "latency.p50",
    "latency.p50:abc",
    ":5%",
    "nope:5%",
    "latency.p50:nan%",
    "latency.p50:inf",
    "latency.p50:-inf%",
    "latency.p50@nope:5%",
    "*:5%",
    "latency.p50:" + "9" * 5000 + "%",
    "latency.p50:1e400%",
)


def flags(rng: random.Random) -> Case:
    """Unknown flags, missing values, and values only the harness can judge."""
    how = rng.choice(["line", "line", "seed", "samples", "explainers", "device", "alpha", "check"])
    if how == "line":
        argv, codes = rng.choice(FLAG_LINES)
        return Case(name=f"cli.flags/{' '.join(argv[:1] + argv[2:])[:40]}", argv=argv, codes=codes)
    if how in ("alpha", "check"):
        value = rng.choice(ALPHAS if how == "alpha" else CHECKS)
        argv = ("gate", GATE_RESULT, GATE_RESULT, f"--{how}", value)
        codes = REJECT if how == "alpha" and value not in ("1e-400",) else GATE_ANY
        return Case(name=f"cli.flags/{how}={value[:20]}", argv=argv, codes=codes)
    if how == "device":
        # cuda is fine on a GPU machine, a one-line refusal without one.
        return _audit("cli.flags/device=cuda", CNN, "--device", "cuda")
    if how == "samples":
        return _samples(rng)
    value = rng.choice({"seed": SEEDS, "explainers": EXPLAINERS}[how])
    # --explainers only matters to the explanations stage.
    stages = how == "explainers"
    codes = REJECT if value in ("nope", "saliency,nope") else ANY
    return _audit(
        f"cli.flags/{how}={value[:20]}", CNN, f"--{how}", value, codes=codes, stages=stages
    )


def _samples(rng: random.Random) -> Case:
    """--samples of none, fewer than none, or a billion. A billion on a zoo model is capped
    by its task's test split; on a model without a task every sample is a synthetic draw,
    which once grew to 23 GB: that is the case drawn."""
    value = rng.choice(SAMPLES)
    codes = REJECT if value == "-1" else ANY
    if value != str(10**9):
        return _audit(
            f"cli.flags/samples={value}", CNN, "--samples", value, codes=codes, stages=True
        )
    argv = audit_argv("model.onnx", "--samples", value, stages=True)
    files = {"model.onnx": without_task("rnn_trigger")}
    name = "cli.flags/samples=1e9-no-task"
    return Case(name, argv, files, outputs=AUDIT_OUTPUTS, codes=codes)


# (model, --shape value, codes). Sizes beyond any machine on the batch axis only: a long
# sequence is a slow model, not a hostile input.
SHAPES = (
    (CNN, "pixels=1x1x28x28", OK),
    (CNN, "pixels", REJECT),
    (CNN, "pixels=", REJECT),
    (CNN, "=1x1x28x28", REJECT),
    (CNN, "pixels=1x1x28", REJECT),
    (CNN, "pixels=0x1x28x28", REJECT),
    (CNN, "pixels=-1x1x28x28", REJECT),
    (CNN, "pixels=10000000x1x28x28", REJECT),
    (CNN, "pixels=2147483648x1x28x28", REJECT),
    (CNN, "pixels=" + "x".join(["1"] * 65), REJECT),
    (CNN, "pixels=1x1x28x28:complex64", REJECT),
    (CNN, "pixels=1x1x28x28:nope", REJECT),
    (CNN, "nope=1x2", REJECT),
    (CNN, "pixels=1xx28x28", REJECT),
    (CNN, "pixels=\uff11x1x28x28", ANY),  # fullwidth 1: int() reads it
    (CNN, "pixels=1e3x1x28x28", REJECT),
    (CNN, "pixels=scalar", REJECT),
    (CNN, "pixels=" + "9" * 5000 + "x1x28x28", REJECT),
    (RNN, "input_ids=1x0", REJECT),
    (RNN, "input_ids=2147483648x128", REJECT),
    (RNN, "input_ids=1x16", ANY),
    (RNN, "attention_mask=1x8", ANY),
)


def shapes(rng: random.Random) -> Case:
    model, value, codes = rng.choice(SHAPES)
    extra = ("--shape", value)
    if rng.random() < 0.2:
        # The same input twice: a fine shape first, so that the case's own must count.
        extra = ("--shape", value.split("=")[0] + "=2x1x28x28", *extra)
        codes = ANY if codes == OK else codes
    return _audit(f"cli.shape/{value[:40]}", model, *extra, codes=codes)


VALUES = (
    (CNN, "pixels=0.5", OK),
    (CNN, "pixels=nan", REJECT),
    (CNN, "pixels=inf", REJECT),
    (CNN, "pixels=-inf", REJECT),
    (CNN, "pixels=1e400", REJECT),
    (CNN, "pixels=", REJECT),
    (CNN, "pixels=abc", REJECT),
    (CNN, "=1", REJECT),
    (CNN, "nope=1", REJECT),
    (CNN, "pixels=" + "9" * 5000, ANY),
    (RNN, "input_ids=-5", REJECT),
    (RNN, "input_ids=99999999", REJECT),
    (RNN, "input_ids=" + "9" * 5000, REJECT),
    (RNN, "input_ids=1.5", ANY),
    (RNN, "input_ids=0x10", ANY),
    (RNN, "attention_mask=2", ANY),
    (RNN, "input_ids=3", ANY),
)


def values(rng: random.Random) -> Case:
    model, value, codes = rng.choice(VALUES)
    return _audit(f"cli.value/{value[:40]}", model, "--value", value, codes=codes)


THREADS = ("0", "-1", "100000", str(2**31), str(2**63), "abc", "1.5", "\u0663", "1")


def threads(rng: random.Random) -> Case:
    """--threads out of range, for the audit and for the gate's --ab (before it measures)."""
    value = rng.choice(THREADS)
    codes = {"1": OK, "\u0663": ANY}.get(value, REJECT)  # U+0663 is an Arabic-Indic 3
    if rng.random() < 0.3 and value not in ("1", "\u0663"):
        argv = ("gate", "--ab", CNN, CNN, "--budget", "quick", "--threads", value, "--quiet")
        return Case(name=f"cli.threads/gate-ab={value}", argv=argv, codes=REJECT)
    return _audit(f"cli.threads/audit={value}", CNN, "--threads", value, codes=codes)


BUDGETS = ("", "QUICK", "fast", "quick ", "thorough\x1b[0m", "quick,standard")


def budgets(rng: random.Random) -> Case:
    value = rng.choice(BUDGETS)
    if rng.random() < 0.5:
        argv = ("gate", "--ab", CNN, CNN, "--budget", value, "--quiet")
        return Case(name=f"cli.budget/gate-ab={value!r}", argv=argv, codes=REJECT)
    argv = ("audit", CNN, "--out", "out", "--quiet", "--budget", value)
    return Case(name=f"cli.budget/audit={value!r}", argv=argv, codes=REJECT)


def outs(rng: random.Random) -> Case:
    """--out too long, under a file, an existing file, read-only, a folder of the user's
    that --force must not empty, a name of control characters; the other commands'
    output files under a file."""
    how = rng.choice(
        ["long", "long", "under-file", "is-file", "read-only", "force", "dot", "odd", "other"]
    )
    return {
        "long": _long_out,
        "under-file": _out_under_file,
        "is-file": _out_is_file,
        "read-only": _read_only_out,
        "force": _forced_user_folder,
        "dot": _dot_out,
        "odd": _odd_out,
        "other": _other_output_under_file,
    }[how](rng)


def _out_case(variant: str, out: str, codes, *, force: bool = False, **extra) -> Case:
    argv = ("audit", CNN, "--out", out, "--quiet", *FAST, *(("--force",) if force else ()))
    outputs = (f"{out}/result.json", f"{out}/report.html") if codes != REJECT else ()
    return Case(name=variant, argv=argv, codes=codes, outputs=outputs, **extra)


def _long_out(rng: random.Random) -> Case:
    length = rng.choice([200, 240, 250, 255, 256, 300, 4096, 100_000])
    if rng.random() < 0.2:  # many short components past PATH_MAX instead of one long name
        return _out_case(f"cli.out/deep-{length}", "d/" * 2100 + "out", frozenset({0, 2}))
    # 238-255: the name fits, a staging name beside it may not.
    codes = OK if length <= 200 else (REJECT if length > 255 else frozenset({0, 2}))
    return _out_case(f"cli.out/long-{length}", "o" * length, codes)


def _out_under_file(rng: random.Random) -> Case:
    return _out_case("cli.out/under-file", "f.txt/out", REJECT, files={"f.txt": b"mine\n"})


def _out_is_file(rng: random.Random) -> Case:
    force = rng.random() < 0.5
    files = {"f.txt": b"mine\n"}
    return _out_case(f"cli.out/is-file-force={force}", "f.txt", REJECT, force=force, files=files)


def _read_only_out(rng: random.Random) -> Case:
    # root writes into a read-only folder anyway: 0 or a one-line refusal.
    return _out_case(
        "cli.out/read-only", "ro/out", frozenset({0, 2}), dirs=("ro",), read_only=("ro",)
    )


# Folders that are not (only) a previous audit: --force must refuse them, deleting nothing.
USER_FOLDERS = (
    {"mine/precious.txt": b"mine\n", "mine/result.json": b"{}", "mine/sub/thesis.tex": b"\\end"},
    {
        "mine/result.json": b'{"schema_version": 2, "harness_version": "0.1.0"}',
        "mine/report.html": b"<html></html>",
        "mine/notes.txt": b"keep me\n",
    },
    {"mine/result.json": b"not json", "mine/report.html": b""},
    {"mine/.hidden": b"mine\n"},
)


def _forced_user_folder(rng: random.Random) -> Case:
    index = rng.randrange(len(USER_FOLDERS))
    files = USER_FOLDERS[index]
    return _out_case(f"cli.out/force-user-folder-{index}", "mine", REJECT, force=True, files=files)


def _dot_out(rng: random.Random) -> Case:
    # The case's own folder, holding a file of the user's: never replaceable.
    return _out_case("cli.out/dot-force", ".", REJECT, force=True, files={"keep.txt": b"mine\n"})


def _odd_out(rng: random.Random) -> Case:
    # A legal name on Linux: written, or refused in one line, never echoed raw.
    name = rng.choice(["\u202eout", "out\x1b[31m", "-out", "out\nx", " "])
    return _out_case(f"cli.out/odd-{name!r}", name, ANY)


# The other commands' output files, each under a file: (argv, codes).
OTHER_OUTPUTS = (
    (("report", GOLDEN_RESULT, "-o", "f.txt/r.html"), REJECT),
    (("compare", GOLDEN_RESULT, GOLDEN_RESULT, "-o", "f.txt/d.html"), REJECT),
    (("gate", GATE_RESULT, GATE_RESULT, "--markdown", "f.txt/g.md"), REJECT),
    (("gate", GATE_RESULT, GATE_RESULT, "--junit", "f.txt/g.xml"), REJECT),
)


def _other_output_under_file(rng: random.Random) -> Case:
    argv, codes = rng.choice(OTHER_OUTPUTS)
    return Case(f"cli.out/{argv[0]}-{argv[-2]}-under-file", argv, {"f.txt": b"mine\n"}, codes=codes)


TARGETS = ("-1", "10", "10000000", str(10**20), str(2**63), "abc", "3")


def targets(rng: random.Random) -> Case:
    """--target outside the CNN's ten classes, with the explanations stage running."""
    value = rng.choice(TARGETS)
    codes = COMPLETED if value == "3" else REJECT
    return _audit(f"cli.target/{value}", CNN, "--target", value, codes=codes, stages=True)


CLI_CLASSES: dict[str, tuple[Callable[[random.Random], Case], int]] = {
    "cli.flags": (flags, 3),
    "cli.shape": (shapes, 2),
    "cli.value": (values, 2),
    "cli.threads": (threads, 1),
    "cli.budget": (budgets, 1),
    "cli.out": (outs, 2),
    "cli.target": (targets, 1),
}
