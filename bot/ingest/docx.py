"""Text of a .docx file with the standard library's zipfile and lxml (no extra package).

A .docx is a zip holding word/document.xml; paragraphs are <w:p>, text runs <w:t>,
tabs <w:tab/> and line breaks <w:br/>. Word stores right-to-left text in logical order,
so no reordering is needed. The unpacked XML is capped (a zip bomb is refused), and so
is the number of entries, read from the archive's end record before zipfile parses the
central directory (200,000 empty entries fit in 17 MB and cost zipfile 1.6 s and
116 MB; a real .docx has tens, a few hundred with many images). Entities are never
expanded and nothing is fetched (lxml: resolve_entities=False, no_network=True).
"""

from __future__ import annotations

import io
import struct
import zipfile

from lxml import etree

from bot.errors import BadInput

MAX_XML_BYTES = 50 * 1024 * 1024
MAX_ENTRIES = 2000
MAX_DIRECTORY_BYTES = 1024 * 1024  # what zipfile parses is this size, whatever the count says
_END = b"PK\x05\x06"  # end of central directory record (22 bytes + a comment <= 64 KB)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class BadDocx(BadInput):
    key = "document.unreadable"


def check_entries(data: bytes) -> None:
    """Refuse an archive whose end record declares over MAX_ENTRIES entries (or is a
    Zip64 one, which no .docx under 20 MB needs) before zipfile reads its directory."""
    at = data.rfind(_END, max(0, len(data) - 22 - 65535))
    if at < 0 or len(data) < at + 22:
        raise BadDocx("not a zip archive (no end record)")
    entries, total, size = struct.unpack("<HHL", data[at + 8 : at + 16])
    if max(entries, total) > MAX_ENTRIES:  # 0xFFFF: a Zip64 archive
        raise BadDocx(f"an archive of {max(entries, total)} entries")
    if size > MAX_DIRECTORY_BYTES:
        raise BadDocx(f"an archive directory of {size} bytes")


def _document_xml(data: bytes) -> bytes:
    check_entries(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("word/document.xml")
            if info.file_size > MAX_XML_BYTES:
                raise BadDocx("word/document.xml is too large when unpacked")
            with archive.open(info) as fh:
                xml = fh.read(MAX_XML_BYTES + 1)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError) as exc:
        raise BadDocx(f"not a readable .docx ({type(exc).__name__})") from exc
    if len(xml) > MAX_XML_BYTES:
        raise BadDocx("word/document.xml is too large when unpacked")
    return xml


def docx_text(data: bytes) -> str:
    """The document's paragraphs, one per line (tables read cell by cell).
    Raises BadDocx for a file that is not a readable .docx."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(_document_xml(data), parser)
    except etree.XMLSyntaxError as exc:
        raise BadDocx("broken word/document.xml") from exc
    lines: list[str] = []
    for para in root.iter(f"{_W}p"):
        parts: list[str] = []
        for node in para.iter(f"{_W}t", f"{_W}tab", f"{_W}br"):
            if node.tag == f"{_W}t":
                parts.append(node.text or "")
            else:
                parts.append("\t" if node.tag == f"{_W}tab" else "\n")
        lines.append("".join(parts))
    return "\n".join(lines)
