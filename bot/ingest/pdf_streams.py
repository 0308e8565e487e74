"""Bounded stream decoding for pdfminer: the decompression-bomb guard of PDF reading.

pdfminer inflates each Flate (and LZW) stream whole with `zlib.decompress`, so a 300 KB
PDF whose page content inflates to 300 MB took 322 MB and 3 s to read, and a 20 MB
upload could ask for gigabytes. `install()` swaps the decoders pdfminer.pdftypes calls
for ones that draw on a budget of MAX_UNPACKED_BYTES per document (all streams
together, set by `budget()` around one reading in its thread) and raise
UnpackedTooLarge past it. Their results are otherwise the same: a truncated stream is
still a `zlib.error` (pdfminer then tries its corrupted-data path, which is replaced by
a linear one: the original fed one byte at a time into a growing bytes object).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from types import SimpleNamespace
from typing import Any

MAX_UNPACKED_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024
_state = threading.local()


class UnpackedTooLarge(Exception):
    """The PDF's streams unpack to more than the reading's budget."""


@contextmanager
def budget(limit: int = MAX_UNPACKED_BYTES) -> Iterator[None]:
    """Give the PDF read in this thread `limit` bytes of unpacked streams."""
    _state.left = limit
    try:
        yield
    finally:
        del _state.left


def _left() -> int:
    return int(getattr(_state, "left", MAX_UNPACKED_BYTES))


def _take(out: bytes) -> bytes:
    left = _left() - len(out)
    if left < 0:
        raise UnpackedTooLarge(f"PDF streams unpack to over {MAX_UNPACKED_BYTES} bytes")
    if hasattr(_state, "left"):
        _state.left = left
    return out


class _Inflater:
    """zlib's decompressobj, counting its output against the budget."""

    def __init__(self, wbits: int = zlib.MAX_WBITS) -> None:
        self._z = zlib.decompressobj(wbits)

    @property
    def eof(self) -> bool:
        return self._z.eof

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        cap = _left() + 1
        out = self._z.decompress(data, min(max_length, cap) if max_length else cap)
        return _take(out)  # raises once over the budget (`cap` is one byte past it)

    def copy(self) -> _Inflater:
        twin = object.__new__(_Inflater)
        twin._z = self._z.copy()
        return twin


def decompress(data: bytes, wbits: int = zlib.MAX_WBITS, bufsize: int = 0) -> bytes:
    """zlib.decompress within the budget (zlib.error for a truncated stream, as zlib)."""
    inflater = _Inflater(wbits)
    out = inflater.decompress(bytes(data))
    if not inflater.eof:
        raise zlib.error("incomplete or truncated stream")
    return out


def decompress_corrupted(data: bytes) -> bytes:
    """What a damaged Flate stream holds up to the damage (pdfminer's fallback, linear):
    chunk by chunk, then byte by byte within the chunk that fails."""
    inflater, parts = _Inflater(), []
    for at in range(0, len(data), _CHUNK):
        chunk = data[at : at + _CHUNK]
        saved = inflater.copy()
        try:
            parts.append(inflater.decompress(chunk))
        except zlib.error:
            inflater = saved
            for i in range(len(chunk)):
                try:
                    parts.append(inflater.decompress(chunk[i : i + 1]))
                except zlib.error:
                    if at + i < len(data) - 3:
                        raise
                    break
            break
    return b"".join(parts)


def lzwdecode(data: bytes) -> bytes:
    """pdfminer's LZW decoding within the budget."""
    from pdfminer.lzw import LZWDecoder

    parts = [_take(piece) for piece in LZWDecoder(BytesIO(data)).run()]
    return b"".join(parts)


def install() -> None:
    """Make pdfminer.pdftypes decode streams with the bounded decoders (idempotent)."""
    import pdfminer.pdftypes as pdftypes

    bounded: Any = SimpleNamespace(
        decompress=decompress, decompressobj=_Inflater, error=zlib.error, MAX_WBITS=zlib.MAX_WBITS
    )
    pdftypes.zlib = bounded  # type: ignore[attr-defined]
    pdftypes.decompress_corrupted = decompress_corrupted  # type: ignore[assignment]
    pdftypes.lzwdecode = lzwdecode  # type: ignore[attr-defined]
