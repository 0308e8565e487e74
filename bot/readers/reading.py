"""`Readers`: the one way untrusted content becomes an Article.

    readers = Readers.from_settings(settings)      # built by the composition root
    article = await readers.read(Input(data=pdf_bytes, name="report.pdf"))
    await readers.aclose()

`read` chooses the reader (bot/readers/registry.py), refuses an input over its
reader's bytes before any work, then reads it in a worker process (bot/readers/pool.py)
under the reader's limits (each at most the operator's READER_SECONDS and
READER_MEMORY_MB). A refusal is the reader's own typed error (too short, scanned PDF
...), or TooComplex when the worker had to be stopped; either way nothing is stored,
and `digestbot_reader_refusals_total{reader, reason}` counts it.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import time
from typing import TYPE_CHECKING, Any

from bot import metrics
from bot.config import Settings
from bot.domain import Article
from bot.errors import DigestBotError
from bot.readers.base import Input, InputTooLarge, Reader, TooComplex
from bot.readers.pool import Stopped, WorkerPool
from bot.readers.registry import choose_for

if TYPE_CHECKING:
    from bot.ingest.ocr import OcrLimits

log = logging.getLogger(__name__)


class Readers:
    """The registry's readers, run in a pool of `workers` processes."""

    def __init__(
        self,
        *,
        workers: int = 2,
        seconds: float = 30.0,
        memory_mb: int = 400,
        ocr: OcrLimits | None = None,
    ) -> None:
        from bot.ingest.ocr import OcrLimits

        self.pool = WorkerPool(workers)
        self.max_seconds = seconds
        self.max_memory_mb = memory_mb
        self.ocr = ocr or OcrLimits()

    @classmethod
    def from_settings(cls, settings: Settings) -> Readers:
        return cls(
            workers=settings.reader_workers,
            seconds=settings.reader_seconds,
            memory_mb=settings.reader_memory_mb,
            ocr=settings.ocr_limits(),
        )

    async def start(self) -> None:
        """Pre-start the worker processes (else the first reads start them)."""
        await self.pool.start()

    @property
    def ready(self) -> bool:
        """False while the pre-started workers are still starting (see WorkerPool.ready)."""
        return self.pool.ready

    async def aclose(self) -> None:
        """Kill the workers, a stuck one included."""
        await self.pool.aclose()

    def limits_of(self, reader: Reader) -> tuple[float, int]:
        """The deadline (s) and memory (MB) a read by `reader` gets: a reader that reads
        by OCR gets OCR's time too (no page starts after OCR_DOCUMENT_SECONDS, and a
        page may take OCR_PAGE_SECONDS; one picture, the one page)."""
        seconds = min(reader.limits.seconds, self.max_seconds)
        if reader.ocr:
            page = self.ocr.page_seconds
            seconds += page if reader.limits.pages == 1 else self.ocr.document_seconds + page
        return seconds, min(reader.limits.memory_mb, self.max_memory_mb)

    async def read(self, inp: Input, reader: Reader | None = None) -> Article:
        """The article in `inp`, read by `reader` (default: the one the registry chooses).

        Raises UnsupportedDocument (no reader for it), InputTooLarge (over the reader's
        bytes), TooComplex (the worker was stopped: deadline, CPU, memory), or the
        reader's own BadInput / NotAnArticle / FetchError subclasses.
        """
        reader = reader or choose_for(inp)
        if inp.size > reader.limits.bytes:
            self._refused(reader, "too_large")
            raise InputTooLarge(
                f"{reader.name} input of {inp.size} bytes",
                origin=inp.origin,
                limit_mb=max(1, reader.limits.bytes >> 20),
            )
        seconds, memory_mb = self.limits_of(reader)
        if reader.ocr:  # the reading before OCR keeps the reader's own deadline
            own = min(reader.limits.seconds, self.max_seconds)
            inp = dataclasses.replace(inp, ocr=self.ocr, seconds=own)
        started = time.perf_counter()
        reply = await self.pool.call((reader.name, inp, seconds, memory_mb), seconds=seconds)
        metrics.READ_SECONDS.labels(reader=reader.name).observe(time.perf_counter() - started)
        if isinstance(reply, Stopped) or reply[0] == "limit":
            why = reply.why if isinstance(reply, Stopped) else str(reply[1])
            self._refused(reader, why)
            log.warning("%s reader stopped: %s", reader.name, why)
            raise TooComplex(f"{reader.name} reader stopped: {why}", origin=inp.origin, limit=why)
        if reply[0] == "ok":
            article: Article = reply[1]
            _count_pages(article)
            return article
        if reply[0] == "refused":
            error = _rebuild(*reply[1:])
            self._refused(reader, error.key.rpartition(".")[2])
            raise error
        self._refused(reader, "failed")
        raise DigestBotError(f"{reader.name} reader failed: {reply[1]}")

    @staticmethod
    def _refused(reader: Reader, reason: str) -> None:
        metrics.READER_REFUSALS.labels(reader=reader.name, reason=reason).inc()


def _count_pages(article: Article) -> None:
    """What the worker says it did (its own counters die with it): each PDF page's
    path, and the pages and seconds of OCR, in /metrics."""
    for path in article.pdf_pages:
        metrics.PDF_PAGES.labels(path=path).inc()
    if article.ocr_pages:
        metrics.OCR_PAGES.inc(article.ocr_pages)
        metrics.OCR_SECONDS.inc(article.ocr_seconds)


def _rebuild(
    key: str, module: str, name: str, detail: str, reason: str, params: dict[str, Any]
) -> DigestBotError:
    """The worker's typed refusal as the same error here (a generic one if its class
    cannot be found)."""
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, DigestBotError)):
        cls = DigestBotError
    error = cls.__new__(cls)
    DigestBotError.__init__(error, detail, reason=reason, **params)
    error.key = key
    return error
