"""Decompression bombs (issue 11, point 1): compressed bodies are inflated with a cap.

The page server sends pre-compressed bytes with a `Content-Encoding` header; the real
httpx client fetches them. Memory is measured with tracemalloc (zlib's output buffers
are Python bytes, so they are traced): before the fix one 64 KB network chunk of a
gzip bomb inflated to ~64 MB in one go.
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import pytest

from bot.briefings import sources as srcs
from bot.errors import FetchError, TooLarge
from bot.i18n import error_text
from bot.ingest.fetch import FEED_TYPES, Fetcher
from bot.store.redis import Store
from tests.fakes.bombs import bomb
from tests.fakes.pages import PageServer

ALLOW = frozenset({"127.0.0.1"})
ARTICLE = (
    "<html><body><p>" + "أعلن البيت الأبيض انتهاء الاتصال الهاتفي. " * 50 + "</p></body></html>"
)


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(ALLOW) as f:
        yield f


def serve(pages: PageServer, path: str, body: bytes, coding: str, ctype: str = "text/html") -> str:
    return pages.add(path, body, content_type=ctype, headers={"Content-Encoding": coding})


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw"])
async def test_bomb_is_refused_with_bounded_memory(
    pages: PageServer, fetcher: Fetcher, coding: str
) -> None:
    body = bomb(coding, 256 << 20)  # 256 MB of zeros in ~250 KB
    label = "deflate" if coding == "raw" else coding
    url = serve(pages, f"/bomb-{coding}", body, label)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge) as err:
            await fetcher.fetch(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.params["limit_mb"] == 5
    # 5 MB of kept output plus buffers; the unbounded decoder peaked at tens of MB
    assert peak < 24 << 20, f"peak {peak / 2**20:.1f} MB"


@pytest.mark.parametrize("coding", ["gzip, gzip", "deflate, gzip", "br", "compress", "zstd"])
async def test_stacked_or_unknown_encodings_are_refused(
    pages: PageServer, fetcher: Fetcher, coding: str
) -> None:
    body = bomb(coding, 1 << 20) if coding in {"gzip, gzip", "deflate, gzip"} else b"\x28\xb5"
    url = serve(pages, "/stacked", body, coding)
    with pytest.raises(FetchError) as err:
        await fetcher.fetch(url)
    assert err.value.reason == "encoding"
    assert "compressed in a way I don't accept" in error_text("en", err.value)
    assert "مضغوطة بطريقة لا أقبلها" in error_text("ar", err.value)


async def test_the_issue_bomb_gzip_gzip_1_gib_is_refused_before_inflating(
    pages: PageServer, fetcher: Fetcher
) -> None:
    body = bomb("gzip, gzip", 1 << 30)
    assert len(body) < 64 * 1024
    url = serve(pages, "/gig", body, "gzip, gzip")
    tracemalloc.start()
    try:
        with pytest.raises(FetchError) as err:
            await fetcher.fetch(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.reason == "encoding"
    assert peak < 8 << 20


def _raw_deflate(data: bytes) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return z.compress(data) + z.flush()


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "raw", "identity"])
async def test_compressed_pages_still_read(
    pages: PageServer, fetcher: Fetcher, coding: str
) -> None:
    data = ARTICLE.encode("utf-8")
    encoded = {
        "gzip": gzip.compress(data),
        "x-gzip": gzip.compress(data),
        "deflate": zlib.compress(data),
        "raw": _raw_deflate(data),
        "identity": data,
    }[coding]
    label = "deflate" if coding == "raw" else coding
    url = serve(pages, f"/ok-{coding}", encoded, label, "text/html; charset=utf-8")
    got = await fetcher.fetch(url)
    assert got.text == ARTICLE
    assert pages.last_headers[f"/ok-{coding}"]["Accept-Encoding"] == "gzip, deflate"


async def test_corrupt_gzip_is_a_clear_fetch_error(pages: PageServer, fetcher: Fetcher) -> None:
    url = serve(pages, "/corrupt", b"\x1f\x8b\x08\x00garbage-not-deflate", "gzip")
    with pytest.raises(FetchError) as err:
        await fetcher.fetch(url)
    assert err.value.reason == "encoding"


async def test_addsource_of_a_bomb_feed_is_refused_and_stores_nothing(
    pages: PageServer, fetcher: Fetcher, store: Store
) -> None:
    url = serve(
        pages, "/feed.xml", bomb("gzip, gzip", 1 << 30), "gzip, gzip", "application/rss+xml"
    )
    with pytest.raises(FetchError) as err:
        await srcs.add_source(store, fetcher, 7, url)
    assert err.value.reason == "encoding"
    assert await srcs.user_sources(store, 7) == []
    gz = serve(pages, "/feed2.xml", bomb("gzip", 64 << 20), "gzip", "application/rss+xml")
    with pytest.raises(TooLarge):
        await fetcher.fetch(gz, accept=FEED_TYPES)
