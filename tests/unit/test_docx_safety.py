"""A .docx is a zip of XML from a stranger: bombs, huge directories and entity tricks
are refused quickly with the "unreadable file" message, and never expanded."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from bot.i18n import error_text
from bot.ingest.docx import BadDocx, docx_text

NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _zip(entries: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def _document(text: str, doctype: str = "") -> str:
    return (
        f'<?xml version="1.0"?>{doctype}<w:document xmlns:w="{NS}"><w:body><w:p><w:r>'
        f"<w:t>{text}</w:t></w:r></w:p></w:body></w:document>"
    )


def test_a_docx_reads() -> None:
    assert docx_text(_zip({"word/document.xml": _document("نص عربي")})) == "نص عربي"


def test_an_archive_of_many_entries_is_refused_before_zipfile_parses_it() -> None:
    """200,000 empty entries fit in 17 MB (under the 20 MB upload cap) and cost
    zipfile 1.6 s and 116 MB to list; a real .docx has tens of entries."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", _document("x"))
        for i in range(5000):
            archive.writestr(str(i), b"")
    with pytest.raises(BadDocx, match="5001 entries"):
        docx_text(out.getvalue())


def test_an_end_record_that_understates_the_entries_is_refused_by_directory_size() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", _document("x"))
        for i in range(30000):
            archive.writestr(f"{i:0>20}", b"")
    data = bytearray(out.getvalue())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = struct.pack("<HH", 10, 10)  # "10 entries"
    with pytest.raises(BadDocx, match="directory of"):
        docx_text(bytes(data))


def test_a_compressed_bomb_is_cut_at_the_xml_cap() -> None:
    bomb = _zip({"word/document.xml": _document("a" * (60 * 1024 * 1024))})
    assert len(bomb) < 200_000
    with pytest.raises(BadDocx, match="too large"):
        docx_text(bomb)


@pytest.mark.parametrize(
    "doctype, text",
    [
        (  # billion laughs: nested internal entities
            '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
            + "".join(
                f'<!ENTITY a{i} "{("&a;" if i == 0 else f"&a{i - 1};") * 10}">' for i in range(8)
            )
            + "]>",
            "&a7;",
        ),
        ('<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;"),
        ('<!DOCTYPE d [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>', "&x;"),
    ],
    ids=["billion-laughs", "local-file", "network"],
)
def test_entities_are_never_expanded(doctype: str, text: str) -> None:
    data = _zip({"word/document.xml": _document(text, doctype)})
    try:
        got = docx_text(data)
    except BadDocx as exc:
        assert "damaged" in error_text("en", exc)
        return
    assert "aaaaaaaaaa" not in got and "root:" not in got


def test_a_zip64_end_record_cannot_hide_the_entry_count() -> None:
    """Issue 18 item 7: the classic end record said 10 entries and a 100-byte
    directory, the Zip64 one 20,001, and zipfile believed the Zip64 one and parsed
    them all; the directory is now read by both records and walked with a cap."""
    from tests.fakes.hostile import zip64_hidden_entries_docx

    data = zip64_hidden_entries_docx(20_000)
    with pytest.raises(BadDocx) as caught:
        docx_text(data)
    assert "far more parts" in error_text("en", caught.value)
    assert "أجزاء" in error_text("ar", caught.value)


def test_a_docx_of_millions_of_tiny_paragraphs_is_read_only_as_far_as_an_article() -> None:
    """Issue 18 item 7: 49 MB of one-letter paragraphs (150 KB zipped) took 31.8 s and
    828 MB; the XML is streamed and reading stops after an article's worth."""
    from bot.ingest.docx import MAX_CHARS, PARAGRAPH_CHARS
    from tests.fakes.hostile import tiny_paragraphs_docx

    text = docx_text(tiny_paragraphs_docx(49))
    assert 0 < text.count("x") <= MAX_CHARS // PARAGRAPH_CHARS + 1


def test_a_zip_with_a_directory_walked_entry_by_entry_stops_at_the_cap() -> None:
    """Even when both end records understate the count, the walk stops at MAX_ENTRIES."""
    from bot.ingest.docx import MAX_ENTRIES, TooManyEntries, members

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(MAX_ENTRIES + 5):
            archive.writestr(str(i), b"")
        archive.writestr("word/document.xml", _document("x"))
    data = bytearray(out.getvalue())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = struct.pack("<HH", 10, 10)
    with pytest.raises(TooManyEntries):
        members(bytes(data))
