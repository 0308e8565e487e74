"""Fetcher against the local page server: limits, charsets and the SSRF guard.

The real httpx client talks to tests/fakes/pages.py on 127.0.0.1. The page server's
host is allow-listed by IP ("127.0.0.1"), exactly like FETCH_ALLOW_HOSTS would.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.errors import BadInput, BlockedAddress, FetchError, TooLarge, UnsupportedContent
from bot.i18n import error_text, t
from bot.ingest.addresses import is_public_address
from bot.ingest.fetch import FEED_TYPES, Fetcher
from tests.fakes.pages import PageServer

ALLOW = frozenset({"127.0.0.1"})
ARABIC = "<p>أعلن البيت الأبيض انتهاء الاتصال الهاتفي بين الرئيس الأميركي ونظيره الروسي.</p>"


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    f = Fetcher(ALLOW)
    try:
        yield f
    finally:
        await f.aclose()


def page(body: str, meta: str = "") -> str:
    return f"<html><head>{meta}<title>خبر</title></head><body>{body}</body></html>"


async def test_fetches_a_normal_page(pages: PageServer, fetcher: Fetcher) -> None:
    url = pages.add(
        "/a",
        page(ARABIC),
        headers={"ETag": '"v1"', "Last-Modified": "Wed, 28 Aug 2013 10:00:00 GMT"},
    )
    got = await fetcher.fetch(url)
    assert got.status == 200
    assert got.url == url
    assert got.content_type == "text/html"
    assert "البيت الأبيض" in got.text
    assert got.etag == '"v1"'
    assert got.last_modified == "Wed, 28 Aug 2013 10:00:00 GMT"
    assert not got.not_modified
    # the original Host header is sent although the socket goes to the checked IP
    assert pages.last_headers["/a"]["Host"] == f"127.0.0.1:{pages.port}"


async def test_windows_1256_with_meta_charset_only(pages: PageServer, fetcher: Fetcher) -> None:
    html = page(ARABIC, '<meta charset="windows-1256">').encode("cp1256")
    url = pages.add("/cp", html, content_type="text/html")
    got = await fetcher.fetch(url)
    assert "البيت الأبيض" in got.text
    assert got.encoding == "windows-1256"


async def test_windows_1256_with_http_equiv_meta(pages: PageServer, fetcher: Fetcher) -> None:
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">'
    url = pages.add("/cp2", page(ARABIC, meta).encode("cp1256"), content_type="text/html")
    assert "البيت الأبيض" in (await fetcher.fetch(url)).text


async def test_header_charset_wins(pages: PageServer, fetcher: Fetcher) -> None:
    # the header is right and the meta tag lies: the header wins
    html = page(ARABIC, '<meta charset="utf-8">').encode("cp1256")
    url = pages.add("/hdr", html, content_type="text/html; charset=windows-1256")
    got = await fetcher.fetch(url)
    assert "البيت الأبيض" in got.text
    assert got.encoding == "windows-1256"


async def test_windows_1256_detected_without_any_declaration(
    pages: PageServer, fetcher: Fetcher
) -> None:
    body = page(ARABIC * 6).encode("cp1256")
    url = pages.add("/none", body, content_type="text/html")
    got = await fetcher.fetch(url)
    assert "البيت الأبيض" in got.text
    assert got.encoding in ("cp1256", "windows-1256")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"%PDF-1.4 fake pdf", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b'{"a": 1}', "application/json"),
    ],
)
async def test_other_content_types_are_refused_by_name(
    pages: PageServer, fetcher: Fetcher, body: bytes, content_type: str
) -> None:
    url = pages.add("/x", body, content_type=content_type)
    with pytest.raises(UnsupportedContent) as err:
        await fetcher.fetch(url)
    assert err.value.params["content_type"] == content_type
    # the user reads what was received, by kind, in their language
    kind = {"application/pdf": "a PDF document", "image/png": "an image"}
    assert kind.get(content_type, "a data file") in error_text("en", err.value)
    assert "ليس صفحة ويب" in error_text("ar", err.value)


async def test_binary_body_labelled_html_is_refused(pages: PageServer, fetcher: Fetcher) -> None:
    url = pages.add("/bin", b"\x00\x01\x02\x03binary\x00" * 100, content_type="text/html")
    with pytest.raises(UnsupportedContent):
        await fetcher.fetch(url)
    png = pages.add("/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, content_type="text/html")
    with pytest.raises(UnsupportedContent) as err:
        await fetcher.fetch(png)
    assert err.value.params["content_type"] == "image/png"


async def test_feed_types_accepted_when_asked(pages: PageServer, fetcher: Fetcher) -> None:
    url = pages.add(
        "/rss",
        "<rss><channel><title>أخبار</title></channel></rss>",
        content_type="application/rss+xml; charset=utf-8",
    )
    with pytest.raises(UnsupportedContent):
        await fetcher.fetch(url)
    assert "أخبار" in (await fetcher.fetch(url, accept=FEED_TYPES)).text


async def test_feed_encoding_from_the_xml_declaration(pages: PageServer, fetcher: Fetcher) -> None:
    xml = '<?xml version="1.0" encoding="windows-1256"?><rss><channel><title>أخبار سوريا</title></channel></rss>'
    url = pages.add("/feed-cp", xml.encode("cp1256"), content_type="application/rss+xml")
    got = await fetcher.fetch(url, accept=FEED_TYPES)
    assert "أخبار سوريا" in got.text
    assert got.encoding == "windows-1256"


async def test_oversized_body_with_content_length(pages: PageServer, fetcher: Fetcher) -> None:
    url = pages.add("/big", b"a" * (6 * 1024 * 1024), content_type="text/plain")
    with pytest.raises(TooLarge) as err:
        await fetcher.fetch(url)
    assert err.value.params["limit_mb"] == 5
    assert "5 MB" in t("en", err.value.key, **err.value.params)


async def test_oversized_streamed_body_without_content_length(
    pages: PageServer, fetcher: Fetcher
) -> None:
    sent = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"<p>" + b"x" * 65536 + b"</p>"
        try:
            for _ in range(200):  # ~13 MB if nobody stops reading
                await resp.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    url = pages.add_handler("/stream", handler)
    with pytest.raises(TooLarge):
        await fetcher.fetch(url)
    assert sent < 12 * 1024 * 1024  # we stopped reading long before the end


async def test_body_without_content_length_is_counted(pages: PageServer) -> None:
    """No Content-Length to refuse early: the streamed bytes themselves are counted."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b"<p>" + b"y" * 3000 + b"</p>")
        return resp

    url = pages.add_handler("/liar", handler)
    async with Fetcher(ALLOW, max_bytes=1024) as small:
        with pytest.raises(TooLarge):
            await small.fetch(url)


async def test_http_errors(pages: PageServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="HTTP 404") as err:
        await fetcher.fetch(pages.url("/missing"))
    assert err.value.params["status"] == 404
    assert "أجاب الخادم بالرمز 404" in error_text("ar", err.value)
    assert "the server answered with code 404" in error_text("en", err.value)
    url = pages.add("/boom", "oops", status=503)
    with pytest.raises(FetchError, match="HTTP 503"):
        await fetcher.fetch(url)


async def test_redirects_are_followed_up_to_the_limit(pages: PageServer, fetcher: Fetcher) -> None:
    target = pages.add("/final", page(ARABIC))
    pages.redirect("/r1", "/r2")
    pages.redirect("/r2", target, status=301)
    got = await fetcher.fetch(pages.url("/r1"))
    assert got.url == target
    assert "البيت الأبيض" in got.text
    for i in range(7):
        pages.redirect(f"/loop{i}", f"/loop{i + 1}")
    with pytest.raises(FetchError, match="too many redirects"):
        await fetcher.fetch(pages.url("/loop0"))
    assert pages.hits["/loop5"] == 1
    assert pages.hits["/loop6"] == 0


async def test_redirect_to_another_scheme_is_refused(pages: PageServer, fetcher: Fetcher) -> None:
    url = pages.redirect("/ftp", "ftp://example.com/file")
    with pytest.raises(FetchError, match="unsupported"):
        await fetcher.fetch(url)


async def test_conditional_get_304(pages: PageServer, fetcher: Fetcher) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("If-None-Match") == '"v7"':
            return web.Response(status=304, headers={"ETag": '"v7"'})
        return web.Response(text=page(ARABIC), content_type="text/html", headers={"ETag": '"v7"'})

    url = pages.add_handler("/cond", handler)
    first = await fetcher.fetch(url)
    assert first.etag == '"v7"'
    again = await fetcher.fetch(url, etag=first.etag, last_modified="Wed, 28 Aug 2013 10:00:00 GMT")
    assert again.not_modified
    assert again.text == ""
    assert pages.last_headers["/cond"]["If-Modified-Since"] == "Wed, 28 Aug 2013 10:00:00 GMT"


async def test_stalling_server_times_out(pages: PageServer) -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        await resp.write(b"<p>start")
        await release.wait()  # never set while the client waits: the body stalls
        return resp

    url = pages.add_handler("/stall", handler)
    async with Fetcher(ALLOW, total_timeout=0.3) as quick:
        with pytest.raises(FetchError, match="timed out") as err:
            await quick.fetch(url)
    release.set()
    assert "took too long" in error_text("en", err.value)
    assert "تأخّر الموقع في الرد" in error_text("ar", err.value)


# --- SSRF guard ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.2:{port}/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/",
        "http://localhost:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://0.0.0.0:{port}/",
    ],
)
async def test_redirect_to_private_address_is_blocked(
    pages: PageServer, fetcher: Fetcher, location: str
) -> None:
    target = location.format(port=pages.port)
    url = pages.redirect("/go", target)
    with pytest.raises(BlockedAddress) as err:
        await fetcher.fetch(url)
    assert pages.hits["/go"] == 1
    assert sum(pages.hits.values()) == 1  # nothing was sent to the blocked hop
    assert "public" in t("en", err.value.key, **err.value.params)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[fec0::1]/",
        "http://[feff:ffff::1]/",
        "http://[ff02::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[2002:7f00:1::]/",
        "http://[64:ff9b::a00:1]/",
        "http://240.0.0.1/",
        "http://2130706433/",
        "http://0x7f.1/",
    ],
)
async def test_direct_private_addresses_are_blocked(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(BlockedAddress):
        await fetcher.fetch(url)


def test_public_addresses_pass_the_check() -> None:
    import ipaddress

    for addr in ("93.184.216.34", "8.8.8.8", "2606:4700::1111", "2a00:1450:4001::200e"):
        assert is_public_address(ipaddress.ip_address(addr)), addr


async def test_allow_listed_host_name_works(pages: PageServer) -> None:
    pages.add("/ok", page(ARABIC))
    url = f"http://localhost:{pages.port}/ok"
    async with Fetcher(frozenset({"LOCALHOST"})) as allowed:
        assert "البيت الأبيض" in (await allowed.fetch(url)).text
    async with Fetcher() as strict:
        with pytest.raises(BlockedAddress):
            await strict.fetch(url)


async def test_every_resolved_address_is_checked(pages: PageServer) -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.5"]

    async with Fetcher(resolver=mixed) as f:
        with pytest.raises(BlockedAddress):
            await f.fetch("http://news.example/a")


async def test_connection_goes_to_the_checked_address(pages: PageServer) -> None:
    """DNS rebinding: the resolver answers once; the socket connects to that answer.

    The resolver says "news.example" is the page server's 127.0.0.1 on the first call
    and 10.0.0.1 on any later one. The host is allow-listed (so the loopback answer
    passes), and the page is served: the connection used the address the guard saw,
    without a second lookup that a rebinding DNS server could answer differently.
    """
    calls: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["10.0.0.1"]

    pages.add("/rebind", page(ARABIC))
    url = f"http://news.example:{pages.port}/rebind"
    async with Fetcher(frozenset({"news.example"}), resolver=rebinding) as f:
        got = await f.fetch(url)
    assert "البيت الأبيض" in got.text
    assert calls == ["news.example"]  # one lookup, no re-resolution by the HTTP stack
    assert pages.last_headers["/rebind"]["Host"] == f"news.example:{pages.port}"
    assert got.url == url


async def test_rebinding_to_a_private_address_is_blocked(pages: PageServer) -> None:
    """A not-allow-listed name whose lookup returns a private address never connects."""

    async def private(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    pages.add("/secret", "internal")
    async with Fetcher(resolver=private) as f:
        with pytest.raises(BlockedAddress):
            await f.fetch(f"http://rebind.example:{pages.port}/secret")
    assert pages.hits["/secret"] == 0


async def test_unresolvable_host(fetcher: Fetcher) -> None:
    async def nothing(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    async with Fetcher(resolver=nothing) as f:
        with pytest.raises(FetchError, match="host not found"):
            await f.fetch("https://no-such-host.example/")


async def test_bad_urls_are_bad_input(fetcher: Fetcher) -> None:
    for url in ("ftp://example.com/", "javascript:alert(1)", "http://"):
        with pytest.raises(BadInput):
            await fetcher.fetch(url)


async def test_connection_refused_is_a_fetch_error(fetcher: Fetcher) -> None:
    from tests.conftest import free_port

    with pytest.raises(FetchError, match="connection failed"):
        await fetcher.fetch(f"http://127.0.0.1:{free_port()}/")


# --- https: SNI and certificate checks use the host name, the socket the checked IP -------


def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a test certificate")
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, Path, list[str | None]]]:
    """An https server on 127.0.0.1 with a certificate for news.example; records SNI names."""
    cert, key = _self_signed(tmp_path, "news.example")
    seen_sni: list[str | None] = []
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda _sock, name, _ctx: seen_sni.append(name)  # type: ignore[assignment,misc,return-value]

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=page(ARABIC) + request.host, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port, cert, seen_sni
    finally:
        await runner.cleanup()


async def test_https_goes_to_the_checked_ip_with_the_real_host_name(
    tls_server: tuple[int, Path, list[str | None]],
) -> None:
    port, cert, seen_sni = tls_server
    trust = ssl.create_default_context(cafile=str(cert))

    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with Fetcher(frozenset({"news.example"}), resolver=to_loopback, verify=trust) as f:
        got = await f.fetch(f"https://news.example:{port}/")
    assert "البيت الأبيض" in got.text
    assert got.text.endswith(f"news.example:{port}")  # Host header
    assert seen_sni == ["news.example"]  # SNI, and the certificate was checked for that name


async def test_https_certificate_for_another_name_is_refused(
    tls_server: tuple[int, Path, list[str | None]],
) -> None:
    port, cert, _ = tls_server
    trust = ssl.create_default_context(cafile=str(cert))

    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    allow = frozenset({"other.example"})
    async with Fetcher(allow, resolver=to_loopback, verify=trust) as f:
        with pytest.raises(FetchError, match="TLS certificate"):
            await f.fetch(f"https://other.example:{port}/")


async def test_next_checked_address_is_tried_when_one_refuses(pages: PageServer) -> None:
    """Like "localhost" -> ::1, 127.0.0.1: the page server listens on 127.0.0.1 only, so
    the first checked address refuses the connection and the second one serves."""

    async def v6_then_v4(host: str, port: int) -> list[str]:
        return ["::1", "127.0.0.1"]

    pages.add("/two", page(ARABIC))
    async with Fetcher(frozenset({"dual.example"}), resolver=v6_then_v4) as f:
        got = await f.fetch(f"http://dual.example:{pages.port}/two")
    assert "البيت الأبيض" in got.text
    assert pages.hits["/two"] == 1


async def test_compressed_body_is_limited_after_decompression(
    pages: PageServer, fetcher: Fetcher
) -> None:
    """A 6 KB gzip body that inflates to 6 MB (a "zip bomb") is refused as too large."""
    import gzip

    bomb = gzip.compress(b" " * (6 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    url = pages.add("/bomb", bomb, content_type="text/html", headers={"Content-Encoding": "gzip"})
    with pytest.raises(TooLarge):
        await fetcher.fetch(url)


async def test_international_host_name_is_sent_as_punycode(pages: PageServer) -> None:
    looked_up: list[str] = []

    async def to_loopback(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    pages.add("/idn", page(ARABIC))
    async with Fetcher(frozenset({"مثال.إختبار"}), resolver=to_loopback) as f:
        got = await f.fetch(f"http://مثال.إختبار:{pages.port}/idn")
    assert "البيت الأبيض" in got.text
    assert looked_up == ["xn--mgbh0fb.xn--kgbechtv"]
    assert pages.last_headers["/idn"]["Host"] == f"xn--mgbh0fb.xn--kgbechtv:{pages.port}"


async def test_from_settings_uses_fetch_allow_hosts(pages: PageServer, tmp_path: Path) -> None:
    from bot.config import Settings

    pages.add("/s", page(ARABIC))
    allowed = Settings(  # type: ignore[call-arg]
        _env_file=None, fetch_allow_hosts="127.0.0.1, Feeds.Internal", bot_data_dir=tmp_path
    )
    fetcher = Fetcher.from_settings(allowed)
    try:
        assert fetcher.allow_hosts == frozenset({"127.0.0.1", "feeds.internal"})
        assert "البيت الأبيض" in (await fetcher.fetch(pages.url("/s"))).text
    finally:
        await fetcher.aclose()
    nothing = Settings(_env_file=None, fetch_allow_hosts="", bot_data_dir=tmp_path)  # type: ignore[call-arg]
    strict = Fetcher.from_settings(nothing)
    try:
        with pytest.raises(BlockedAddress):
            await strict.fetch(pages.url("/s"))
    finally:
        await strict.aclose()
    assert pages.hits["/s"] == 1


async def test_windows_1256_article_fetched_and_extracted(
    pages: PageServer, fetcher: Fetcher
) -> None:
    """The ingest layer end to end: a cp1256 page (meta charset only) becomes an Article."""
    from datetime import date

    from bot.ingest.extract import extract_html

    paragraphs = "".join(
        f"<p>{text}</p>"
        for text in (
            "أعلنت وزارة الصحة اللبنانية اليوم إطلاق حملة تطعيم واسعة تشمل جميع المحافظات، "
            "وقالت إن الجرعات ستكون متاحة مجانا في المراكز الصحية الحكومية.",
            "وأضاف الوزير في مؤتمر صحفي أن الحملة تستهدف نحو مليون شخص خلال الأشهر الثلاثة "
            "المقبلة، وأن الفرق الميدانية ستزور المدارس والجامعات.",
            "وأشار إلى أن الوزارة تلقت شحنة جديدة من اللقاحات الأسبوع الماضي، "
            "وأن شحنات أخرى ستصل تباعا حتى نهاية العام.",
        )
    )
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1256">'
        "<title>حملة تطعيم في لبنان</title></head><body><div id='nav'>الرئيسية | أخبار</div>"
        "<article><h1>حملة تطعيم في لبنان</h1><div class='date'>الثلاثاء، 14 كانون الثاني 2020</div>"
        f"{paragraphs}<p>الآراء الواردة أدناه لا تعبر عن رأي الموقع.</p></article></body></html>"
    )
    url = pages.add("/leb", html.encode("cp1256"), content_type="text/html")
    fetched = await fetcher.fetch(url)
    article = extract_html(fetched.text, fetched.url)
    assert article.title == "حملة تطعيم في لبنان"
    assert article.text.startswith("أعلنت وزارة الصحة اللبنانية")
    assert "الآراء الواردة" not in article.text
    assert article.published == date(2020, 1, 14)
    assert article.language == "ar"
