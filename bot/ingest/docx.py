"""Text of a .docx file, read by our own zip directory walk and lxml (no extra package).

A .docx is a zip holding word/document.xml; paragraphs are <w:p>, text runs <w:t>,
tabs <w:tab/> and line breaks <w:br/>. Word stores right-to-left text in logical order,
so no reordering is needed.

The archive comes from a stranger, so it is read by its central directory, bounded,
never by `zipfile` (which trusts a Zip64 end record: a classic end record that says
"10 entries" next to a Zip64 one that says 150,000 made zipfile parse them all). The
end record and, when present, the Zip64 end record are both read, and the larger
count must be under MAX_ENTRIES and the directory under MAX_DIRECTORY_BYTES; the
directory is then walked entry by entry, and the walk stops at MAX_ENTRIES whatever any
record says. Only word/document.xml is unpacked (stored or deflated), at most
MAX_XML_BYTES (a zip bomb is refused). Its XML is parsed as a stream (lxml iterparse,
each paragraph freed once read) and the reading stops after `max_chars` characters of
text (a paragraph counting as PARAGRAPH_CHARS at least), so 49 MB of tiny paragraphs
cost what an article does. Entities are never
expanded and nothing is fetched (resolve_entities=False, no_network=True).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from lxml import etree

from bot.errors import BadInput

MAX_XML_BYTES = 50 * 1024 * 1024
MAX_ENTRIES = 2000
MAX_DIRECTORY_BYTES = 1024 * 1024  # a real .docx's directory is a few KB
MAX_CHARS = 400_000  # text read from the document (twice the longest article kept)
PARAGRAPH_CHARS = 20  # what a paragraph costs of MAX_CHARS at least (49 MB of "x" ones)
_END = b"PK\x05\x06"  # end of central directory record (22 bytes + a comment <= 64 KB)
_END64_LOCATOR = b"PK\x06\x07"  # 20 bytes, just before the end record
_END64 = b"PK\x06\x06"
_ENTRY = b"PK\x01\x02"  # central directory file header (46 bytes + name, extra, comment)
_LOCAL = b"PK\x03\x04"  # local file header (30 bytes + name, extra)
_FULL32 = 0xFFFFFFFF
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_P, _T, _TAB, _BR = f"{_W}p", f"{_W}t", f"{_W}tab", f"{_W}br"


class BadDocx(BadInput):
    key = "document.unreadable"


class TooManyEntries(BadDocx):
    """The archive holds (or says it holds) far more entries than a document has."""

    key = "reader.too_many_entries"


@dataclass(frozen=True)
class Member:
    """One archive entry as the central directory describes it."""

    name: str
    method: int
    compressed: int
    size: int
    offset: int


def _directory(data: bytes) -> tuple[int, int]:
    """(offset, size) of the central directory, after checking the entry counts and
    size of the end record and of the Zip64 end record when there is one."""
    at = data.rfind(_END, max(0, len(data) - 22 - 65535))
    if at < 0 or len(data) < at + 22:
        raise BadDocx("not a zip archive (no end record)")
    entries, total, size, offset = struct.unpack("<HHLL", data[at + 8 : at + 20])
    count = max(entries, total)
    locator = at - 20
    if locator >= 0 and data[locator : locator + 4] == _END64_LOCATOR:
        (where,) = struct.unpack("<Q", data[locator + 8 : locator + 16])
        if where + 56 > len(data) or data[where : where + 4] != _END64:
            raise BadDocx("a broken Zip64 end record")
        entries64, total64, size64, offset64 = struct.unpack("<QQQQ", data[where + 24 : where + 56])
        count = max(count, entries64, total64)
        size, offset = max(size, size64), offset64 if offset == _FULL32 else offset
    if count > MAX_ENTRIES:
        raise TooManyEntries(f"an archive of {count} entries")
    if size > MAX_DIRECTORY_BYTES:
        raise TooManyEntries(f"an archive directory of {size} bytes")
    if offset + size > len(data):
        raise BadDocx("the archive's directory lies outside the file")
    return offset, size


def _zip64_sizes(extra: bytes, fields: list[int]) -> list[int]:
    """`fields` (size, compressed, offset) with those saturated at 0xFFFFFFFF taken from
    the entry's Zip64 extra field, in the order the format gives them."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[at : at + 4])
        if tag == 1:
            values = extra[at + 4 : at + 4 + length]
            out, pos = list(fields), 0
            for i, value in enumerate(fields):
                if value == _FULL32 and pos + 8 <= len(values):
                    (out[i],) = struct.unpack("<Q", values[pos : pos + 8])
                    pos += 8
            return out
        at += 4 + length
    return fields


def members(data: bytes) -> list[Member]:
    """The archive's entries, read from its central directory (at most MAX_ENTRIES,
    whatever the end records say). Raises BadDocx / TooManyEntries."""
    offset, size = _directory(data)
    out: list[Member] = []
    at, end = offset, offset + size
    while at + 46 <= end and data[at : at + 4] == _ENTRY:
        if len(out) >= MAX_ENTRIES:
            raise TooManyEntries(f"an archive of over {MAX_ENTRIES} entries")
        method, _, _, _, csize, usize, n, e, c = struct.unpack(
            "<HHHLLLHHH", data[at + 10 : at + 34]
        )
        (local,) = struct.unpack("<L", data[at + 42 : at + 46])
        name = data[at + 46 : at + 46 + n].decode("utf-8", "replace")
        usize, csize, local = _zip64_sizes(
            data[at + 46 + n : at + 46 + n + e], [usize, csize, local]
        )
        out.append(Member(name, method, csize, usize, local))
        at += 46 + n + e + c
    return out


def unpack(data: bytes, member: Member, limit: int) -> bytes:
    """The member's bytes, at most `limit` + 1 (so a caller sees it was over).
    Raises BadDocx for a broken entry or an unsupported compression."""
    at = member.offset
    if data[at : at + 4] != _LOCAL:
        raise BadDocx(f"no local header for {member.name}")
    n, e = struct.unpack("<HH", data[at + 26 : at + 30])
    start = at + 30 + n + e
    raw = data[start : start + member.compressed]
    if member.method == 0:
        return raw[: limit + 1]
    if member.method != 8:
        raise BadDocx(f"{member.name} is compressed with method {member.method}")
    try:
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, limit + 1)
    except zlib.error as exc:
        raise BadDocx(f"{member.name} does not inflate") from exc


def _document_xml(data: bytes) -> bytes:
    found = next((m for m in members(data) if m.name == "word/document.xml"), None)
    if found is None:
        raise BadDocx("not a .docx (no word/document.xml)")
    if found.size > MAX_XML_BYTES:
        raise BadDocx("word/document.xml is too large when unpacked")
    xml = unpack(data, found, MAX_XML_BYTES)
    if len(xml) > MAX_XML_BYTES:
        raise BadDocx("word/document.xml is too large when unpacked")
    return xml


def docx_text(data: bytes, *, max_chars: int = MAX_CHARS) -> str:
    """The document's paragraphs, one per line (tables read cell by cell), up to about
    `max_chars` characters (the rest is not read).
    Raises BadDocx for a file that is not a readable .docx (TooManyEntries for an
    archive of far too many entries)."""
    events = etree.iterparse(
        io.BytesIO(_document_xml(data)),
        events=("end",),
        tag=_P,
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
    )
    lines: list[str] = []
    chars = 0
    try:
        for _, para in events:
            parts: list[str] = []
            for node in para.iter(_T, _TAB, _BR):
                if node.tag == _T:
                    parts.append(node.text or "")
                else:
                    parts.append("\t" if node.tag == _TAB else "\n")
            line = "".join(parts)
            lines.append(line)
            chars += max(len(line), PARAGRAPH_CHARS)
            if next(para.iterancestors(_P), None) is None:  # a top-level paragraph: free it
                para.clear()
                while para.getprevious() is not None:
                    del para.getparent()[0]
            if chars > max_chars:
                break
    except etree.XMLSyntaxError as exc:
        raise BadDocx("broken word/document.xml") from exc
    return "\n".join(lines)
