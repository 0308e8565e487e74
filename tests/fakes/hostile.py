"""Small hostile inputs from issue 18, built in the tests (each a few KB): a PDF page
that fans out through nested form XObjects, a PDF of millions of rectangles in one
Flate stream, .docx files of tiny paragraphs or of a long text, a .docx whose Zip64
end record hides its entry count, and a text of `x` lines."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from tests.fakes.pdfs import pdf_of

NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _stream(content: bytes, extra: bytes = b"", *, flate: bool = False) -> bytes:
    if flate:
        content = zlib.compress(content, 9)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def nested_forms_pdf(fanout: int = 10, depth: int = 6) -> bytes:
    """One page that draws form X0, which draws X1 `fanout` times, ... down to
    `depth`, whose leaf paints a small rectangle: fanout**depth rectangles (a million
    at the defaults) from about 2 KB."""
    forms = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"]
    first = 5  # object number of X0
    forms.append(
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R"
        b" /Resources << /XObject << /X0 %d 0 R >> >> >>" % first
    )
    forms.append(_stream(b"/X0 Do"))
    for level in range(depth):
        if level == depth - 1:
            body = b"0 0 1 1 re f"
            resources = b""
        else:
            body = b" ".join([b"/X Do"] * fanout)
            resources = b" /Resources << /XObject << /X %d 0 R >> >>" % (first + level + 1)
        forms.append(
            _stream(body, b" /Type /XObject /Subtype /Form /BBox [0 0 200 200]" + resources)
        )
    return pdf_of(forms)


def rectangles_pdf(count: int = 2_000_000) -> bytes:
    """One page whose Flate content stream paints `count` rectangles (a few KB)."""
    content = b"0 0 1 1 re f\n" * count
    return pdf_of(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
            _stream(content, flate=True),
        ]
    )


def docx(document_xml: bytes, *extra: tuple[str, bytes]) -> bytes:
    """A minimal .docx (deflated) holding `document_xml` and `extra` entries."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", document_xml)
        for name, data in extra:
            archive.writestr(name, data)
    return out.getvalue()


def document_xml(paragraphs: bytes) -> bytes:
    return (
        b'<?xml version="1.0"?><w:document xmlns:w="%s"><w:body>' % NS.encode()
        + paragraphs
        + b"</w:body></w:document>"
    )


def tiny_paragraphs_docx(xml_mb: int = 49) -> bytes:
    """A .docx whose document.xml is `xml_mb` MB of one-letter paragraphs (about 150 KB)."""
    para = b"<w:p><w:r><w:t>x</w:t></w:r></w:p>"
    return docx(document_xml(para * (xml_mb * 1024 * 1024 // len(para))))


def long_docx(words: int = 4_000_000) -> bytes:
    """A .docx of one long Arabic article: `words` words in paragraphs of 50
    (about 25 M characters at the default, a few MB)."""
    sentence = "تقول الوزارة إن الاقتصاد نما في الربع الثالث بنسبة ثلاثة في المئة. "
    per = sentence * 5  # about 50 words
    para = ("<w:p><w:r><w:t>" + per + "</w:t></w:r></w:p>").encode()
    return docx(document_xml(para * (words // 50)))


def zip64_hidden_entries_docx(entries: int = 20_000) -> bytes:
    """A .docx of `entries` extra entries whose classic end record says 10 entries and
    a 100-byte directory, while a Zip64 end record (which zipfile believes) gives the
    true counts: the classic record alone looked harmless."""
    out = io.BytesIO()
    body = document_xml(b"<w:p><w:r><w:t>" + "نص عربي ".encode() * 40 + b"</w:t></w:r></w:p>")
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", body)
        for i in range(entries):
            archive.writestr(f"{i}", b"")
    data = out.getvalue()
    end = data.rfind(b"PK\x05\x06")
    size, offset = struct.unpack("<LL", data[end + 12 : end + 20])
    total = entries + 1
    record = b"PK\x06\x06" + struct.pack("<QHHLLQQQQ", 44, 45, 45, 0, 0, total, total, size, offset)
    locator = b"PK\x06\x07" + struct.pack("<LQL", 0, end, 1)
    classic = bytearray(data[end:])
    classic[8:16] = struct.pack("<HHL", 10, 10, 100)
    return data[:end] + record + locator + bytes(classic)


def x_lines(size: int = 1_900_000) -> str:
    """A text of `size` characters of `x` lines (the issue's 1.9 MB text/plain page)."""
    return "x\n" * (size // 2)
