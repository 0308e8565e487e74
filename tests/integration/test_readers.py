"""The reader workers: a read over its deadline, memory or CPU time is stopped by the
operating system or the bot, the worker is replaced, and the next read works; the
event loop never waits for a read (issue 18, items 2 and 3)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot import metrics
from bot.briefings.feeds import FeedPoller, load_articles
from bot.briefings.sources import Source
from bot.clock import FrozenClock
from bot.config import Settings
from bot.errors import BadInput, NotAnArticle
from bot.i18n import error_text
from bot.ingest.fetch import Fetcher
from bot.readers import Input, Readers, TooComplex
from bot.readers.pool import context
from bot.readers.worker import handle, vm_bytes
from bot.store.redis import Store
from bot.summarize.service import SummarizeService
from tests.fakes import hostile
from tests.fakes.pages import PageServer

ARTICLE = "تقول الوزارة إن الاقتصاد نما في الربع الثالث بنسبة ثلاثة في المئة هذا العام. " * 12


def refusals(reader: str, reason: str) -> float:
    return metrics.value("digestbot_reader_refusals_total", reader=reader, reason=reason)


@pytest.fixture
async def readers() -> AsyncIterator[Readers]:
    r = Readers(workers=1, seconds=2)
    try:
        yield r
    finally:
        await r.aclose()


async def test_a_pdf_page_over_its_deadline_is_killed_and_the_next_read_works(
    readers: Readers,
) -> None:
    """Nested form XObjects (fan-out 10, depth 6, under 2 KB) kept pdfminer busy for
    45 s+ and 669 MB inside the bot; now the worker is killed at the deadline."""
    before = refusals("pdf", "deadline")
    with pytest.raises(TooComplex) as caught:
        await readers.read(Input(data=hostile.nested_forms_pdf(), name="forms.pdf"))
    assert caught.value.limit == "deadline"
    assert "This file is too complex" in error_text("en", caught.value)
    assert "هذا الملف أعقد" in error_text("ar", caught.value)
    assert refusals("pdf", "deadline") == before + 1
    article = await readers.read(Input(text=ARTICLE, origin="paste"))
    assert "الاقتصاد" in article.text
    assert readers.pool.started == 2  # the killed worker was replaced


async def test_a_read_over_its_memory_is_stopped_and_the_next_read_works() -> None:
    """A Flate PDF of two million rectangles (50 KB) grew pdfminer by 619 MB; under
    RLIMIT_AS the allocation fails, the read is refused and the worker replaced."""
    readers = Readers(workers=1, seconds=60, memory_mb=16)
    try:
        with pytest.raises(TooComplex) as caught:
            await readers.read(Input(data=hostile.rectangles_pdf(), name="rects.pdf"))
        assert caught.value.limit == "memory"
        article = await readers.read(Input(text=ARTICLE, origin="paste"))
        assert "الاقتصاد" in article.text
        assert readers.pool.started == 2
    finally:
        await readers.aclose()


def _spin_under_the_cpu_limit() -> None:
    """In a worker: read the nested-forms PDF with one second of CPU allowed."""
    handle(("pdf", Input(data=hostile.nested_forms_pdf()), 1.0, 400), vm_bytes())


async def test_the_cpu_limit_kills_a_worker_on_its_own() -> None:
    """RLIMIT_CPU holds even if the bot's deadline did not: SIGXCPU ends the worker."""
    process = context().Process(target=_spin_under_the_cpu_limit, daemon=True)  # type: ignore[attr-defined]
    process.start()
    await asyncio.to_thread(process.join, 60)
    assert process.exitcode == -signal.SIGXCPU


async def test_a_cancelled_read_kills_its_worker_and_closing_never_waits_for_a_read() -> None:
    readers = Readers(workers=2, seconds=300)
    await readers.start()
    stuck = asyncio.create_task(readers.read(Input(data=hostile.nested_forms_pdf(), name="a.pdf")))
    other = asyncio.create_task(readers.read(Input(data=hostile.nested_forms_pdf(), name="b.pdf")))
    while readers.pool.busy < 2:  # noqa: ASYNC110 - both reads are in their workers
        await asyncio.sleep(0.01)
    processes = [w.process for w in readers.pool._all]
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert readers.pool.busy == 1  # the cancelled read's worker is gone
    started = time.monotonic()
    await readers.aclose()  # with a read still running: kills it
    with pytest.raises(TooComplex):
        await other
    assert time.monotonic() - started < 30  # nowhere near the 300 s deadline
    assert not any(p.is_alive() for p in processes)


async def test_a_text_plain_link_is_read_off_the_event_loop(
    settings: Settings, store: Store, pages: PageServer
) -> None:
    """Issue 18 item 2: a 1.9 MB text/plain page of `x` lines was extracted on the event
    loop and stalled it 16.9 s. The loop now keeps ticking while it is read."""
    link = pages.add("/x.txt", hostile.x_lines(), content_type="text/plain; charset=utf-8")
    service = SummarizeService(
        settings,
        store,
        fetcher=Fetcher.from_settings(settings),
        llm=None,
    )
    await service.readers.start()
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        # refused as junk or too complex, or read: either way, nobody else waited
        with contextlib.suppress(TooComplex, NotAnArticle, BadInput):
            await service.load_article(link, kind="url")
    finally:
        done.set()
        await ticker
        await service.aclose()
    assert gaps and max(gaps) < 1.0, f"the event loop stalled {max(gaps):.1f} s"


async def test_feed_entries_are_read_in_the_workers_and_a_page_refused_skips_only_itself(
    store: Store, pages: PageServer
) -> None:
    """A stranger's feed can link any page: entries are read by the page reader in the
    workers, not in a thread of the bot; a page the reader refuses (here: no article)
    costs only its own entry."""
    from tests.integration.test_feeds import NOW, add_article, rss

    good = add_article(pages, "/good", "خبر أول")
    refused = pages.add("/refused", "<html><body>" + "<div>" * 200 + "x" * 100 + "</body></html>")
    feed = pages.add(
        "/feed.xml",
        rss("مصدر", [("خبر أول", good, "ملخص"), ("صفحة", refused, "ملخص قصير")]),
        content_type="application/rss+xml; charset=utf-8",
    )
    readers = Readers(workers=1)
    fetcher = Fetcher(frozenset({"127.0.0.1"}))
    try:
        poller = FeedPoller(store=store, fetcher=fetcher, clock=FrozenClock(NOW), readers=readers)
        report = await poller.poll_all([Source("مصدر", feed, "ar")])
        assert readers.pool.started == 1  # read in a worker process
    finally:
        await fetcher.aclose()
        await readers.aclose()
    assert report.new == 1 and report.entry_errors == 1
    stored = await load_articles(store, NOW - timedelta(days=1), NOW)
    assert [a.title for a in stored] == ["خبر أول"] and "الفقرة رقم" in stored[0].text


def reads(reader: str) -> float:
    return metrics.value("digestbot_read_seconds_count", reader=reader)


async def test_what_was_read_once_never_reaches_the_pool_again(
    settings: Settings, store: Store, pages: PageServer
) -> None:
    """The normal path stays fast: a link, a pasted text and a file already read are
    served from the article cache, so their cached digests never wait for a worker."""
    from tests.integration.telegram_harness import article_page

    link = pages.add("/economy", article_page(ARTICLE))
    service = SummarizeService(settings, store, fetcher=Fetcher.from_settings(settings), llm=None)
    try:
        before = {r: reads(r) for r in ("page", "text")}
        for _ in range(2):
            await service.load_article(link, kind="url")
            await service.load_article(ARTICLE, kind="text")
            await service.load_document(Input(data=ARTICLE.encode(), name="a.txt"))
    finally:
        await service.aclose()
    assert reads("page") == before["page"] + 1
    assert reads("text") == before["text"] + 2  # the paste and the file, once each
