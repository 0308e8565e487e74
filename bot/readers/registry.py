"""The registry of readers: one per source type, and the one dispatch that links,
uploads, feed entries and the CLI share.

Adding a source type (bot/readers/image.py, pictures through OCR, is one) is one module in bot/readers/ with
a `READER = Reader(...)` (its read function, limits, suffixes, MIME types and magic
bytes) plus its name in `MODULES` below. The worker processes import the same modules,
so a reader is found there by its name.
"""

from __future__ import annotations

import importlib
from functools import cache

from bot.errors import BadInput
from bot.readers.base import Input, Reader

MODULES = (
    "pdf",
    "text",
    "page",
    "docx",
    "image",
)
"""Registered readers (modules of bot.readers), in the order the dispatch tries them
and users see them listed."""

ZIP_MAGIC = b"PK\x03\x04"


class UnsupportedDocument(BadInput):
    """A file of a kind no reader reads; `params['supported']` lists the kinds we read."""

    key = "document.unsupported"


@cache
def readers() -> tuple[Reader, ...]:
    """Every registered reader."""
    return tuple(importlib.import_module(f"bot.readers.{m}").READER for m in MODULES)


def get(name: str) -> Reader:
    """The reader called `name`. Raises KeyError."""
    for reader in readers():
        if reader.name == name:
            return reader
    raise KeyError(name)


def supported() -> str:
    """The kinds of file we read, for the user ("PDF, TXT, HTML, DOCX, PNG, JPEG ...")."""
    return ", ".join(r.label or r.suffixes[0].upper() for r in readers())


def suffix_of(name: str | None) -> str:
    """A file name's extension, lower-case, without the dot ("" when none)."""
    return name.rsplit(".", 1)[-1].lower() if name and "." in name else ""


def choose(name: str | None, mime_type: str | None, head: bytes = b"") -> Reader:
    """The reader for an input: the one whose magic bytes begin `head` (except a zip,
    which many formats share), else the one of the file name's extension, else of the
    MIME type. Raises UnsupportedDocument (also for a zip that is not a known kind)."""
    for reader in readers():
        if any(head.startswith(m) for m in reader.magic if m != ZIP_MAGIC):
            return reader
    ext = suffix_of(name)
    mime = (mime_type or "").split(";")[0].strip().lower()
    found = next((r for r in readers() if ext and ext in r.suffixes), None)
    found = found or next((r for r in readers() if mime and mime in r.mime_types), None)
    if found is None or (head.startswith(ZIP_MAGIC) and ZIP_MAGIC not in found.magic):
        raise UnsupportedDocument(
            f"unsupported document {ext or mime or 'unknown'}", supported=supported()
        )
    return found


def choose_for(inp: Input) -> Reader:
    """`choose` for an `Input` (pasted text is always read as text)."""
    if inp.origin == "paste":
        return get("text")
    return choose(inp.name, inp.mime_type, inp.data[:8])
