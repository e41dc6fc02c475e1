"""The pieces of OpenFst's binary format backcoach needs, in plain Python.

Reading: the word symbol table stored in a Vosk model's graph/Gr.fst header (which words the model
knows, and the number each goes by), and the unigram costs of the language model inside it (how
common each word is), without loading the FST itself. Writing: a small "vector"
FST over the standard (tropical) arc type, the format every OpenFst reader accepts, carrying that
same symbol table so Vosk can name the words it hears. No OpenFst tools are needed.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

FST_MAGIC = 2125659606
_HAS_ISYMBOLS, _HAS_OSYMBOLS = 1, 2
_VECTOR_VERSION = 2
# Property bits (fst/properties.h): expanded, mutable, acceptor, input labels sorted.
_PROPERTIES = 0x1 | 0x2 | 0x10000 | 0x10000000


@dataclass
class SymbolTable:
    """Words and their numbers, with the table's exact bytes (copied into files we write)."""

    ids: dict[str, int]
    raw: bytes


@dataclass
class Fst:
    """A weighted acceptor: arcs_from[state] holds (label, cost, next state); costs are -log p."""

    start: int = 0
    arcs_from: list[list[tuple[int, float, int]]] = field(default_factory=lambda: [[]])
    finals: dict[int, float] = field(default_factory=dict)

    def new_state(self) -> int:
        self.arcs_from.append([])
        return len(self.arcs_from) - 1

    def add(self, source: int, label: int, cost: float, target: int) -> None:
        self.arcs_from[source].append((label, cost, target))

    @property
    def num_arcs(self) -> int:
        return sum(len(arcs) for arcs in self.arcs_from)


def _read(handle: BinaryIO, fmt: str):
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise ValueError("truncated OpenFst file")
    return struct.unpack(fmt, data)[0]


def _read_string(handle: BinaryIO) -> str:
    length = _read(handle, "<i")
    if length < 0 or length > 1 << 20:
        raise ValueError("not an OpenFst string")
    return handle.read(length).decode("utf-8")


def read_output_symbols(path: Path) -> SymbolTable:
    """The output (word) symbol table from an OpenFst binary header.

    Tables are kept per file (path, size and time), so a second caller in one process pays nothing.
    Raises OSError, ValueError or UnicodeDecodeError for a file that is not what it should be.
    """
    return _header(path).table


def read_unigram_costs(path: Path) -> dict[int, float] | None:
    """Each word's unigram cost (-log p) in an n-gram language model stored as an OpenFst NGramFst.

    That is what a Vosk lookahead model's Gr.fst is: its root state (the empty history) holds every
    word the model knows with its unigram probability. None for any other kind of FST. Raises
    OSError or ValueError for a file that is not what it should be.
    """
    head = _header(path)
    if head.fst_type != "ngram":
        return None
    with open(path, "rb") as handle:
        handle.seek(head.data_offset)
        num_states, num_futures, num_final = struct.unpack("<QQQ", handle.read(24))
        if num_states < 1 or num_futures > 1 << 40:
            raise ValueError(f"{path}: not an n-gram model")
        # Layout (OpenFst extensions/ngram/ngram-fst.h): counts, then bitmaps of 64-bit words for
        # the context tree, the futures and the final states, then context words, future words,
        # back-off weights, final weights and future weights.
        def words(bits: int) -> int:
            return (bits + 63) // 64

        futures_at = 24 + 8 * words(2 * num_states + 1)
        future_words_at = (futures_at + 8 * words(num_futures + num_states + 1) + 8 * words(num_states)
                           + 4 * (num_states + 1))
        weights_at = ((future_words_at + 4 * num_futures + 3) & ~3) + 4 * (num_states + 1) + 4 * num_final
        # The root's futures sit between the first two zeros of the futures bitmap.
        handle.seek(head.data_offset + futures_at)
        bitmap = np.frombuffer(handle.read(8 * min(words(num_futures + num_states + 1),
                                                    words(len(head.table.ids) + 2))), dtype="<u8")
        zeros = np.flatnonzero(np.unpackbits(bitmap.view(np.uint8), bitorder="little") == 0)
        if len(zeros) < 2 or zeros[0] != 0:
            raise ValueError(f"{path}: unexpected n-gram layout")
        count = int(zeros[1] - 1)
        handle.seek(head.data_offset + future_words_at)
        labels = np.frombuffer(handle.read(4 * count), dtype="<i4")
        handle.seek(head.data_offset + weights_at)
        costs = np.frombuffer(handle.read(4 * count), dtype="<f4")
        if len(labels) != count or len(costs) != count:
            raise ValueError(f"{path}: truncated n-gram model")
    return dict(zip(labels.tolist(), costs.astype(float).tolist()))


@dataclass
class _Header:
    fst_type: str
    table: SymbolTable
    data_offset: int
    """Where the FST's own data starts, after the header and its symbol tables."""


def _header(path: Path) -> _Header:
    stat = Path(path).stat()
    return _read_header(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_header(path: str, _size: int, _mtime_ns: int) -> _Header:
    with open(path, "rb") as handle:
        if _read(handle, "<i") != FST_MAGIC:
            raise ValueError(f"{path} is not an OpenFst file")
        fst_type = _read_string(handle)
        _read_string(handle)  # arc type
        _read(handle, "<i")  # version
        flags = _read(handle, "<i")
        handle.read(8 + 8 + 8 + 8)  # properties, start, number of states, number of arcs
        table: SymbolTable | None = None
        for bit in (_HAS_ISYMBOLS, _HAS_OSYMBOLS):
            if not flags & bit:
                continue
            begin = handle.tell()
            if table is not None and handle.read(len(table.raw)) == table.raw:
                continue  # an acceptor's output table is usually its input table again
            chunk = 1 << 22
            while True:  # a table is a few megabytes: read a piece, more if it runs past the end
                handle.seek(begin)
                data = handle.read(chunk)
                try:
                    ids, size = _parse_symbols(data)
                    break
                except struct.error:
                    if len(data) < chunk:
                        raise ValueError(f"{path}: truncated symbol table") from None
                    chunk *= 2
            handle.seek(begin + size)
            table = SymbolTable(ids, data[:size])
        if table is None:
            raise ValueError(f"{path} has no symbol table")
        return _Header(fst_type, table, handle.tell())


def _parse_symbols(data: bytes) -> tuple[dict[str, int], int]:
    """A serialized symbol table's words and numbers, and its length in bytes.

    Raises struct.error when `data` ends before the table does.
    """
    unpack = struct.unpack_from
    pos = 4  # symbol table magic
    pos += 4 + unpack("<i", data, pos)[0]  # name
    pos += 8  # available key
    count = unpack("<q", data, pos)[0]
    pos += 8
    ids: dict[str, int] = {}
    for _ in range(count):
        length = unpack("<i", data, pos)[0]
        if length < 0 or pos + 4 + length > len(data):
            raise struct.error("symbol runs past the data")
        word = data[pos + 4:pos + 4 + length].decode("utf-8")
        pos += 4 + length
        ids[word] = unpack("<q", data, pos)[0]
        pos += 8
    return ids, pos


def write_vector_fst(path: Path, fst: Fst, symbols: SymbolTable) -> None:
    """Write `fst` as an OpenFst vector FST, with `symbols` as both its input and output table."""
    out = bytearray()

    def string(text: str) -> None:
        data = text.encode("utf-8")
        out.extend(struct.pack("<i", len(data)) + data)

    out.extend(struct.pack("<i", FST_MAGIC))
    string("vector")
    string("standard")
    out.extend(struct.pack("<iiQqqq", _VECTOR_VERSION, _HAS_ISYMBOLS | _HAS_OSYMBOLS, _PROPERTIES,
                           fst.start, len(fst.arcs_from), fst.num_arcs))
    out.extend(symbols.raw)
    out.extend(symbols.raw)
    no_final = float("inf")
    for state, arcs in enumerate(fst.arcs_from):
        ordered = sorted(arcs)  # the header promises arcs sorted by label
        out.extend(struct.pack("<fq", fst.finals.get(state, no_final), len(ordered)))
        for label, cost, target in ordered:
            out.extend(struct.pack("<iifi", label, label, cost, target))
    path.write_bytes(bytes(out))
