"""Turning a fetched body into text: binary sniffing and charset detection.

Charset: the HTTP header's charset, then `<meta charset>` / `<meta http-equiv>` in the
first 4 KB (or a feed's XML declaration), then detection (charset-normalizer).
Windows-1256 Arabic pages decode right.
"""

from __future__ import annotations

import re

from bot.errors import UnsupportedContent

_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I | re.S
)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF8", "image/gif"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"RIFF", "audio/video (RIFF)"),
)


# the first bytes of the picture formats OCR reads (bot/ingest/ocr.py)
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF8", b"BM")


def is_image(head: bytes) -> bool:
    """True when `head` (a file's first 16 bytes) starts like a picture OCR reads (PNG,
    JPEG, TIFF, GIF, BMP, WebP)."""
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def sniff_binary(body: bytes) -> str | None:
    """Return a content type for a body that is clearly not text, else None."""
    for magic, kind in _MAGIC:
        if body.startswith(magic):
            return kind
    if b"\x00" in body[:65536]:
        return "binary data"
    return None


def _try_decode(body: bytes, charset: str | None) -> tuple[str, str] | None:
    if not charset:
        return None
    try:
        return body.decode(charset), charset.lower()
    except (LookupError, UnicodeDecodeError):
        return None


def decode_body(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """Decode an HTML/text body; return (text, encoding used).

    Order: byte-order mark, HTTP header charset, the XML declaration's encoding (feeds)
    or a <meta> charset in the first 4 KB, UTF-8, charset-normalizer detection. Raises UnsupportedContent when nothing decodes it.
    """
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", errors="replace"), "utf-8"
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if body.startswith(bom):
            return body[2:].decode(codec, errors="replace"), codec
    decoded = _try_decode(body, header_charset)
    if decoded:
        return decoded
    meta = _XML_ENCODING.search(body[:512]) or _META_CHARSET.search(body[:4096])
    if meta:
        decoded = _try_decode(body, meta.group(1).decode("ascii", "ignore"))
        if decoded:
            return decoded
    decoded = _try_decode(body, "utf-8")
    if decoded:
        return decoded
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    if best is None:
        raise UnsupportedContent(
            "undecodable body", reason="content_binary", content_type="binary data"
        )
    return str(best), best.encoding
