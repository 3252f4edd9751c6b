"""Token ids as the strings a reader knows (``--vocab FILE``), for the report's token views.

Two formats: a ``tokenizer.json`` (any file ending ``.json``), read with Hugging Face's
``tokenizers`` library, whose vocabulary and added tokens give each id its string; or a
plain ``vocab.txt``, one token per line, the line number (from 0) its id, as BERT-style
tokenizers ship it. Without a vocabulary the report shows ids with their positions.

The file is a user's input: read through ``read_limited``, and every problem (missing,
too large, not UTF-8, empty, unreadable by the tokenizer library) is one ``InputError``
line saying what to do (exit 2), raised before any audit work starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import InputError, first_line, shorten
from harness.core.read_limits import FileTooLargeError, read_limited

__all__ = ["MAX_VOCAB_BYTES", "Vocabulary", "load_vocabulary"]

# A large tokenizer.json (multilingual, 250k tokens) is about 20 MB; a vocab.txt far less.
MAX_VOCAB_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class Vocabulary:
    source: str  # the file's name, shown beside the tokens
    tokens: Mapping[int, str]

    def text(self, token_id: int) -> str | None:
        """The string of ``token_id``, or None when the vocabulary has no such id."""
        return self.tokens.get(token_id)


def load_vocabulary(path: Path) -> Vocabulary:
    """The vocabulary in ``path`` (tokenizer.json or vocab.txt); ``InputError`` if unusable."""
    shown = shorten(str(path))
    try:
        data = read_limited(path, MAX_VOCAB_BYTES)
    except FileTooLargeError as exc:
        raise InputError(f"--vocab {exc}; give a vocab.txt or tokenizer.json") from exc
    except IsADirectoryError as exc:
        raise InputError(
            f"--vocab '{shown}' is a folder; give its vocab.txt or tokenizer.json"
        ) from exc
    except OSError as exc:
        raise InputError(
            f"--vocab '{shown}' cannot be read ({exc.strerror or first_line(exc)}); check the path"
        ) from exc
    if path.suffix.lower() == ".json":
        tokens = _tokenizer_json(data, shown)
    else:
        tokens = _vocab_txt(data, shown)
    if not tokens:
        raise InputError(f"--vocab '{shown}' holds no tokens; give a vocab.txt or tokenizer.json")
    return Vocabulary(source=path.name, tokens=tokens)


def _vocab_txt(data: bytes, shown: str) -> dict[int, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"--vocab '{shown}' is not UTF-8 text (byte {exc.start}); a vocab.txt holds one "
            "token per line"
        ) from exc
    lines = text.splitlines()
    if lines and lines[-1] == "":
        lines.pop()
    return dict(enumerate(lines))


def _tokenizer_json(data: bytes, shown: str) -> dict[int, str]:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise InputError(
            f"--vocab '{shown}' is a tokenizer.json, which needs the tokenizers package: "
            "pip install 'model-audit-harness[text]', or give a plain vocab.txt"
        ) from exc
    try:
        tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:  # the library raises plain Exception (and UnicodeDecodeError)
        raise InputError(
            f"--vocab '{shown}' is not a tokenizer.json the tokenizers library can read "
            f"({first_line(exc, 120)}); give a tokenizer.json or a plain vocab.txt"
        ) from exc
    return {index: token for token, index in tokenizer.get_vocab(with_added_tokens=True).items()}
