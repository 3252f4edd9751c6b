"""--vocab FILE: a vocab.txt or a tokenizer.json read into id -> string, and every bad file
refused with one line and exit 2 before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.core.errors import InputError
from harness.reports.vocabulary import load_vocabulary


def test_vocab_txt_numbers_its_lines_from_zero(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\nthe\n  spaced \n", encoding="utf-8")
    vocabulary = load_vocabulary(path)
    assert dict(vocabulary.tokens) == {0: "[PAD]", 1: "[UNK]", 2: "the", 3: "  spaced "}
    assert vocabulary.source == "vocab.txt"


def test_tokenizer_json_gives_its_vocabulary_and_added_tokens(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers", reason="the [text] extra is not installed")
    model = tokenizers.models.WordLevel(vocab={"[UNK]": 0, "cat": 1, "sat": 2}, unk_token="[UNK]")
    tokenizer = tokenizers.Tokenizer(model)
    tokenizer.add_special_tokens(["[CLS]"])
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))

    vocabulary = load_vocabulary(path)

    assert dict(vocabulary.tokens) == {0: "[UNK]", 1: "cat", 2: "sat", 3: "[CLS]"}


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("missing.txt", None, "cannot be read"),
        ("folder", "dir", "is a folder"),
        ("latin1.txt", b"caf\xe9\n", "is not UTF-8 text"),
        ("empty.txt", b"", "holds no tokens"),
        ("tokenizer.json", b'{"not": "a tokenizer"}', "not a tokenizer.json"),
    ],
)
def test_a_bad_vocabulary_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: object, needle: str
) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(InputError, match=needle):
        load_vocabulary(path)

    result = tmp_path / "result.json"
    result.write_text("{}", encoding="utf-8")  # never read: the vocabulary fails first
    code = main(["report", str(result), "--vocab", str(path), "-o", str(tmp_path / "r.html")])

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and needle in err and "--vocab" in err
    assert not (tmp_path / "r.html").exists()


def test_audit_refuses_a_bad_vocabulary_before_measuring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = Path(__file__).resolve().parents[2] / "models" / "zoo" / "cnn_digits.onnx"
    out = tmp_path / "audit"
    code = main(["audit", str(model), "--out", str(out), "--vocab", str(tmp_path / "nope.txt")])
    assert code == 2
    assert "--vocab" in capsys.readouterr().err
    assert not out.exists()
