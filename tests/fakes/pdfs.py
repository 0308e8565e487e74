"""Tiny hand-built PDFs for tests."""

from __future__ import annotations


def blank_pdf_bytes() -> bytes:
    """A one-page PDF whose page only paints a rectangle (what a scan looks like to a
    text extractor: no glyphs)."""
    return _pdf(b"0 0 0 rg 10 10 100 100 re f", b"")


def unmapped_pdf_bytes() -> bytes:
    """A one-page PDF that shows glyphs of a CID font with no ToUnicode map: the text
    layer exists, but nothing says which letters the glyphs are."""
    font = (
        b"/Resources << /Font << /F1 5 0 R >> >>",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /NoMap /Encoding /Identity-H"
        b" /DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /NoMap"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
    )
    return _pdf(b"BT /F1 12 Tf 20 100 Td <00410042004300440045> Tj ET", *font)


def _pdf(content: bytes, resources: bytes, *extra: bytes) -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R "
        + resources
        + b" >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        *extra,
    ]
    return pdf_of(objects)


def pdf_of(objects: list[bytes]) -> bytes:
    """A PDF of `objects` (numbered from 1; 1 is the catalog), with its xref table."""
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out
