"""What a reader is: its input, its declared limits, and the refusals a read can end in.

A `Reader` turns one kind of untrusted input (a web page, plain text, a PDF, a .docx,
a picture read by OCR) into an `Article`. Its `read` function runs in a worker process
(bot/readers/pool.py) under the reader's `Limits`: a wall-clock deadline, CPU time and
memory enforced by the operating system, so no input can hold the event loop, the GIL
or the machine's memory. Bytes are checked before any work; an article longer than
`Limits.chars` is cut and marked partial (the digest says only part was read).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.domain import Article
from bot.errors import BadInput

if TYPE_CHECKING:
    from bot.ingest.ocr import OcrLimits

ARTICLE_MAX_CHARS = 200_000
"""Longest article text kept (about SUMMARY_MAX_PARTS x LLM_MAX_INPUT_TOKENS at the
defaults): the rest is not read, stored nor summarized, and the digest says so."""

Origin = Literal["link", "upload", "paste"]
"""How the input arrived: the user's message names it ("this page", "this file")."""


@dataclass(frozen=True)
class Limits:
    """What one reader accepts: the input's `bytes`, the article's `chars` (the rest is
    cut), the wall-clock `seconds` and the `memory_mb` its worker may grow by (killed
    beyond either); `pages` and `entries` where the format has them."""

    bytes: int
    seconds: float
    memory_mb: int
    chars: int = ARTICLE_MAX_CHARS
    pages: int | None = None
    entries: int | None = None


@dataclass(frozen=True)
class Input:
    """One input to read: raw `data` (a file, a PDF link's body) or already decoded
    `text` (a fetched page, pasted text), with what is known about it."""

    data: bytes = b""
    text: str | None = None
    name: str | None = None  # a file's name
    mime_type: str | None = None  # the client's or the server's content type
    url: str | None = None  # where a page came from
    origin: Origin = "upload"
    ocr: OcrLimits | None = None  # the operator's OCR limits, set by `Readers.read`
    # the deadline of the reading before OCR (a PDF's text layer), set by `Readers.read`
    # for readers that OCR, whose whole deadline grows by OCR's time
    seconds: float | None = None

    @property
    def size(self) -> int:
        """The input's size in bytes (text counted as UTF-8)."""
        return len(self.data) if self.text is None else len(self.text.encode("utf-8", "replace"))


@dataclass(frozen=True)
class Reader:
    """One source type. `read` must be a module-level function (it is looked up by the
    reader's `name` in the worker process); `suffixes`, `mime_types` and `magic` (the
    file's first bytes) choose it for an input (bot/readers/registry.py)."""

    name: str
    read: Callable[[Input], Article]
    limits: Limits
    suffixes: tuple[str, ...] = ()
    mime_types: tuple[str, ...] = ()
    magic: tuple[bytes, ...] = ()
    label: str = ""  # the kinds, for the user (default: the first suffix, upper-case)
    ocr: bool = False  # reads by OCR: its deadline grows by OCR's (bot/readers/reading.py)


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` was caused, directly or not, by a MemoryError (a reader that wraps
    what failed, as pdfminer's errors are, hides it)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, MemoryError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class OverDeadline(BaseException):
    """Raised in a worker when the part of a read under `deadline` outlives it (a
    BaseException, so a reader's `except Exception` cannot swallow it)."""


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise OverDeadline in this (a worker's main) thread when the block outlives
    `seconds` (no limit when None). Python code such as pdfminer is stopped between two
    bytecodes; a long C call is stopped by the worker's outer deadline instead."""
    if seconds is None:
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise OverDeadline(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class TooComplex(BadInput):
    """Reading the input needed more time, CPU or memory than its reader allows (the
    worker was stopped). `reason` for metrics: deadline, cpu, memory, crashed."""

    key = "reader.too_complex_file"

    def __init__(self, detail: str, *, origin: Origin, limit: str) -> None:
        super().__init__(detail)
        self.key = f"reader.too_complex_{_NOUN[origin]}"
        self.limit = limit


class InputTooLarge(BadInput):
    """The input is over its reader's `bytes` limit (checked before any reading)."""

    key = "reader.too_large_file"

    def __init__(self, detail: str, *, origin: Origin, limit_mb: int) -> None:
        super().__init__(detail, limit_mb=limit_mb)
        self.key = f"reader.too_large_{_NOUN[origin]}"


_NOUN: dict[Origin, str] = {"link": "page", "upload": "file", "paste": "text"}


def cap_article(article: Article, chars: int) -> Article:
    """`article` with its text cut to at most `chars` characters (at a paragraph, else a
    space), marked partial when cut so the digest says only part was read."""
    if len(article.text) <= chars:
        return article
    return article.model_copy(update={"text": cut_text(article.text, chars), "partial": True})


def cut_text(text: str, chars: int) -> str:
    """The start of `text`, at most `chars` characters, ended at a paragraph break or
    a space when one is in the last tenth."""
    if len(text) <= chars:
        return text
    head = text[:chars]
    for sep in ("\n\n", "\n", " "):
        at = head.rfind(sep)
        if at >= chars * 9 // 10:
            return head[:at].rstrip()
    return head
