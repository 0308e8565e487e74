"""Decompression bombs: small compressed bodies that inflate to a lot of zeros.

Built incrementally (never holding the inflated size in memory), for the fetch tests
and bench/bomb.py. `bomb("gzip, gzip", 1 << 30)` is the issue's example: a few KB that
inflate to 1 GiB through two stacked gzip layers.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

_CHUNK = b"\0" * (1 << 20)


def _compress(size: int, wbits: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = []
    left = size
    while left > 0:
        n = min(left, len(_CHUNK))
        parts.append(z.compress(_CHUNK[:n]))
        left -= n
    parts.append(z.flush())
    return b"".join(parts)


def _wrap(data: bytes, coding: str) -> bytes:
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "raw": -zlib.MAX_WBITS}
    z = zlib.compressobj(9, zlib.DEFLATED, wbits[coding])
    return z.compress(data) + z.flush()


@lru_cache(maxsize=16)
def bomb(content_encoding: str, inflated: int) -> bytes:
    """A body for `Content-Encoding: content_encoding` ("gzip", "deflate", "gzip, gzip",
    or "raw" for a raw deflate stream labelled deflate) that decodes to `inflated` zero
    bytes. Encodings apply left to right, as the header lists them."""
    codings = [c.strip() for c in content_encoding.split(",")]
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "raw": -zlib.MAX_WBITS}
    body = _compress(inflated, wbits[codings[0]])
    for coding in codings[1:]:
        body = _wrap(body, coding)
    return body
