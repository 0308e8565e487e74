"""Bounded decoding of a response's `Content-Encoding` (the decompression-bomb guard).

httpx's own decoders inflate each network chunk with no cap and chain stacked
encodings (`gzip, gzip`), so a few KB can become gigabytes before any size check sees
them. The fetcher therefore reads the raw bytes and inflates them here, with zlib's
`max_length` so no single call can produce more than what is left of the size budget:
memory stays at about `max_bytes` whatever the compression ratio.

Accepted: identity, gzip (x-gzip) and deflate (zlib-wrapped, or raw as some servers
send it). We only ask for those (`ACCEPT_ENCODING`), so anything else, and more than one
encoding stacked, is refused with `FetchError(reason="encoding")`.
"""

from __future__ import annotations

import zlib

from bot.errors import FetchError, TooLarge

ACCEPT_ENCODING = "gzip, deflate"
_GZIP = {"gzip", "x-gzip"}
_DEFLATE = {"deflate"}


def limit_mb(max_bytes: int) -> int | float:
    """`max_bytes` in MB as users read it (5, 1.5)."""
    mb = round(max_bytes / (1024 * 1024), 1)
    return int(mb) if mb == int(mb) else mb


def too_large(max_bytes: int) -> TooLarge:
    """The TooLarge error for a body over `max_bytes` (decoded)."""
    return TooLarge(f"body over {max_bytes} bytes", limit_mb=limit_mb(max_bytes))


def encodings(header: str) -> list[str]:
    """The content codings a `Content-Encoding` header names, in order, minus identity."""
    parts = [p.strip().lower() for p in header.split(",")]
    return [p for p in parts if p and p != "identity"]


class BoundedDecoder:
    """Decodes one response body chunk by chunk; never holds more than `max_bytes` of
    output in total (raises TooLarge as soon as the decoded body would pass it).

    Raises FetchError(reason="encoding") for stacked or unknown codings (at construction)
    and for a corrupt compressed stream.
    """

    def __init__(self, content_encoding: str, max_bytes: int) -> None:
        codings = encodings(content_encoding)
        if len(codings) > 1 or (codings and codings[0] not in _GZIP | _DEFLATE):
            raise FetchError(
                f"refused Content-Encoding {content_encoding[:60]!r}",
                reason="encoding",
                encoding=content_encoding[:60],
            )
        self.coding = codings[0] if codings else "identity"
        self.max_bytes = max_bytes
        self.size = 0
        self._raw_deflate_tried = False
        self._z: zlib._Decompress | None = None
        if self.coding in _GZIP:
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.coding in _DEFLATE:
            self._z = zlib.decompressobj(zlib.MAX_WBITS)

    def decode(self, data: bytes) -> bytes:
        """Decoded bytes for the next raw chunk `data`."""
        if self._z is None:
            return self._count(data)
        if self._z.eof:
            return b""  # trailing bytes after the stream end are ignored, like browsers do
        budget = self.max_bytes - self.size + 1  # one byte more tells "over the limit"
        try:
            out = self._z.decompress(data, budget)
        except zlib.error as exc:
            if self.coding in _DEFLATE and self.size == 0 and not self._raw_deflate_tried:
                self._raw_deflate_tried = True  # "deflate" sent as a raw stream
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(data)
            raise self._corrupt() from exc
        return self._count(out)

    def flush(self) -> bytes:
        """What is left buffered once the raw body has ended (a stream cut short keeps
        what was decoded, as httpx did)."""
        if self._z is None or self._z.eof:
            return b""
        return self._count(self._z.flush())

    def _count(self, out: bytes) -> bytes:
        self.size += len(out)
        if self.size > self.max_bytes:
            raise too_large(self.max_bytes)
        return out

    def _corrupt(self) -> FetchError:
        return FetchError(f"corrupt {self.coding} body", reason="encoding", encoding=self.coding)
