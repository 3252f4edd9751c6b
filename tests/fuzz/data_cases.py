"""Hostile ``--data`` files: ``.npy`` and ``.npz`` with no rows, headers declaring
petabytes, zip bombs (3 GiB of zeros in 3 MB), pickles, wrong dtypes and broken archives.

Headers and archives are written by hand, so that a file may declare what it does not
hold; nothing here allocates what a file declares.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from tests.fuzz.case import ANY, AUDIT_OUTPUTS, REJECT, Case, audit_argv, zoo_model

__all__ = ["DATA_CLASSES", "npy_bytes", "zip_bomb"]

CNN = zoo_model("cnn_digits")
RNN = zoo_model("rnn_trigger")
PIXELS = (1, 28, 28)  # the CNN's input after the batch axis
MIB = 1 << 20
BOMB_MIB = 3 * 1024  # declared and inflated size of a bomb: past any sane input limit


def npy_bytes(descr: str, shape: tuple[int, ...], body: bytes, fortran: bool = False) -> bytes:
    """An .npy file whose header says DESCR and SHAPE, followed by BODY, whatever its size."""
    return (
        _npy_header(f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape}, }}")
        + body
    )


def _npy_header(text: str) -> bytes:
    """Format 1.0: magic, version, header length, the header padded to 64 bytes and '\\n'."""
    raw = text.encode("latin1")
    padding = -(10 + len(raw) + 1) % 64
    raw += b" " * padding + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw


def _array(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@lru_cache(maxsize=4)
def zip_bomb(member: str, header: bytes, zero_mib: int) -> bytes:
    """An archive whose one MEMBER is HEADER then ZERO_MIB MiB of zeros, deflated to about
    1 KB per MiB. The deflate stream repeats one fully flushed block, so building it costs
    only the CRC (about 0.3 s per GiB), never the inflated size."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = head + block * zero_mib + compressor.flush()
    crc = zlib.crc32(header)
    zeros = bytes(MIB)
    for _ in range(zero_mib):
        crc = zlib.crc32(zeros, crc)
    return _zip_one(member.encode(), stream, crc, len(header) + zero_mib * MIB)


def _zip_one(name: bytes, stream: bytes, crc: int, size: int) -> bytes:
    """A zip of one deflated member, written field by field (sizes under 4 GiB)."""
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(stream), size, len(name), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0x21,
        crc,
        len(stream),
        size,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    directory_offset = len(local) + len(name) + len(stream)
    directory = central + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), directory_offset, 0)
    return local + name + stream + directory + end


# Each builder: rng -> (model, file name, content, codes).
def _zero_rows(rng: random.Random):
    array = np.zeros((0, *PIXELS), np.float32)
    return CNN, rng.choice(["d.npy", "d.npz"]), array, REJECT


def _huge_header(rng: random.Random):
    rows = rng.choice([2**40, 2**62, 10**7])
    content = npy_bytes("<f4", (rows, *PIXELS), bytes(64))
    if rng.random() < 0.5:
        return CNN, "d.npz", _npz({"pixels.npy": content}), REJECT
    return CNN, "d.npy", content, REJECT


def _bomb(rng: random.Random):
    rows = BOMB_MIB * MIB // (4 * 28 * 28)
    header = npy_bytes("<f4", (rows, *PIXELS), b"")
    return CNN, "d.npz", zip_bomb("pixels.npy", header, BOMB_MIB), REJECT


def _bad_header(rng: random.Random):
    text = rng.choice(
        [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 1, 28, 28), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,) * 65, }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 500 + ")" * 500 + "}",
            "{'descr': 'O', 'fortran_order': False, 'shape': (1, 1, 28, 28), }",
            "__import__('os')",
            "{'descr': '<f4', 'shape': (1, 1, 28, 28)}",
            "[1, 2, 3]",
        ]
    )
    return CNN, "d.npy", _npy_header(text) + bytes(3136), REJECT


def _wrong_content(rng: random.Random):
    how = rng.choice(["pickle", "float64", "int8", "nan", "inf", "scalar", "big-endian"])
    arrays = {
        "pickle": np.array([{"pixels": 1}], dtype=object),
        "float64": np.zeros((1, *PIXELS), np.float64),
        "int8": np.zeros((1, *PIXELS), np.int8),
        "nan": np.full((1, *PIXELS), np.nan, np.float32),
        "inf": np.full((1, *PIXELS), np.inf, np.float32),
        "scalar": np.float32(1.0),
        "big-endian": np.zeros((1, *PIXELS), ">f4"),
    }
    codes = ANY if how == "big-endian" else REJECT
    return CNN, rng.choice(["d.npy", "d.npz"]), np.asarray(arrays[how]), codes


def _broken_archive(rng: random.Random):
    good = _array(np.zeros((1, *PIXELS), np.float32))
    how = rng.choice(["text", "empty", "truncated", "escaping-name", "not-npy", "non-utf8"])
    content = {
        "text": b"pixels = 1\n",
        "empty": b"",
        "truncated": _npz({"pixels.npy": good})[:-30],
        "escaping-name": _npz({"../pixels.npy": good}),
        "not-npy": _npz({"pixels.npy": b"hello"}),
        "non-utf8": _npz({"pixels.npy": good}).replace(b"pixels.npy", b"pix\xffls.npy"),
    }[how]
    return CNN, "d.npz", content, REJECT


def _tokens(rng: random.Random):
    ids = rng.choice([-5, 64, 2**40])  # the GRU's embedding has 64 rows
    members = {
        "input_ids.npy": _array(np.full((1, 8), ids, np.int64)),
        "attention_mask.npy": _array(np.ones((1, 8), np.int64)),
    }
    return RNN, "d.npz", _npz(members), REJECT


def _one_sample(rng: random.Random):
    # The control: a well-formed file the audit must take.
    return CNN, rng.choice(["d.npy", "d.npz"]), np.zeros((1, *PIXELS), np.float32), frozenset({0})


BUILDERS = {
    "zero-rows": _zero_rows,
    "huge-header": _huge_header,
    "bomb": _bomb,
    "bad-header": _bad_header,
    "wrong-content": _wrong_content,
    "broken-archive": _broken_archive,
    "tokens": _tokens,
    "one-sample": _one_sample,
}


def data_files(rng: random.Random) -> Case:
    # Bombs are drawn rarely: 3 MB each on disk.
    how = rng.choices(list(BUILDERS), [3, 3, 1, 2, 3, 3, 2, 1])[0]
    model, name, content, codes = BUILDERS[how](rng)
    if isinstance(content, np.ndarray):
        content = (
            _array(content) if name.endswith(".npy") else _npz({"pixels.npy": _array(content)})
        )
    return Case(
        name=f"cli.data/{how}-{name}",
        argv=audit_argv(model, "--data", name),
        files={name: content},
        outputs=AUDIT_OUTPUTS,
        codes=codes,
    )


DATA_CLASSES: dict[str, tuple[Callable[[random.Random], Case], int]] = {
    "cli.data": (data_files, 3),
}
