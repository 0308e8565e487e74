"""Safe async HTTP fetching of article pages and feeds (httpx), with an SSRF guard.

How the guard works, per request and again on every redirect hop:

1. The URL is validated (http/https only, a host, no credentials).
2. The host is resolved once, through the event loop's getaddrinfo (or an injected
   resolver), and EVERY address is checked: loopback, private, link-local
   (169.254.0.0/16, fe80::/10), multicast, reserved, unspecified, CGNAT (100.64.0.0/10),
   and IPv6 forms that embed such an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, 6to4
   2002::/16, NAT64 64:ff9b::/96, Teredo) are refused. The base test is
   `not ip.is_global`. Hosts listed in `allow_hosts` (exact, case-insensitive match on
   the URL's host) skip the address check, nothing else does.
3. The connection goes to the address that was checked: the request URL is rewritten to
   that IP, the original `Host` header is sent, and for https the original host name is
   used for SNI and certificate checks (httpx's `sni_hostname` request extension).
   A second DNS answer (DNS rebinding) therefore never reaches the socket. Keep-alive is
   off so a TLS connection made for one host name is never reused for another, and
   `trust_env=False` so no environment proxy sits between us and the checked address.
4. Redirects are followed by hand (at most `max_redirects`), each hop going through
   1–3 again before anything is sent to it.

Limits: connect timeout 5 s; the whole fetch (DNS, redirects, body) runs under one
`asyncio.timeout(total_timeout)`; the body is streamed and refused above `max_bytes`
(early when Content-Length says so). Content types outside `accept` are refused, and so
are bodies that are binary whatever their label says.

Address rules: bot/ingest/addresses.py; decoding the body: bot/ingest/decode.py.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from bot import metrics
from bot.errors import BadInput, BlockedAddress, FetchError, TooLarge, UnsupportedContent
from bot.ingest.addresses import IP, is_public_address, parse_ip, system_resolver
from bot.ingest.decode import decode_body, is_image, sniff_binary
from bot.ingest.inflate import ACCEPT_ENCODING, BoundedDecoder, limit_mb
from bot.ingest.inputs import validate_url

log = logging.getLogger(__name__)

HTML_TYPES: tuple[str, ...] = ("text/html", "application/xhtml+xml", "text/plain")
FEED_TYPES: tuple[str, ...] = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
    "application/feed+json",
    "application/json",
    *HTML_TYPES,
)

# Article links may serve a PDF (official statements, reports): its bytes are kept in
# FetchedPage.body and read by bot/ingest/pdf.py. A .pdf link labelled as a generic
# binary is read too when its body starts with the PDF signature.
PDF_TYPE = "application/pdf"
PAGE_OR_PDF_TYPES: tuple[str, ...] = (*HTML_TYPES, PDF_TYPE)
# A link to a picture (a screenshot of an article) is read by OCR: its bytes are kept in
# FetchedPage.body, as for a PDF, when the caller accepts these types.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/tiff", "image/gif", "image/bmp")
PAGE_PDF_OR_IMAGE_TYPES: tuple[str, ...] = (*PAGE_OR_PDF_TYPES, *IMAGE_TYPES)
_GENERIC_BINARY = ("application/octet-stream", "binary/octet-stream", "application/x-pdf")

Resolver = Callable[[str, int], Awaitable[list[str]]]

_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass
class FetchedPage:
    """A fetched page. `url` is the final URL after redirects; `text` the decoded body."""

    url: str
    status: int
    content_type: str
    text: str
    encoding: str
    etag: str | None
    last_modified: str | None
    not_modified: bool = False
    body: bytes | None = None  # the raw bytes of a PDF (content_type application/pdf)


class Fetcher:
    """Fetches pages over HTTP(S) with the SSRF guard and limits described in the module doc.

    `resolver` (host, port) -> addresses replaces DNS (tests use it to control answers);
    `verify` is passed to httpx (an SSLContext trusting a test CA, or True).
    """

    def __init__(
        self,
        allow_hosts: frozenset[str] = frozenset(),
        *,
        connect_timeout: float = 5.0,
        total_timeout: float = 20.0,
        max_bytes: int = 5 * 1024 * 1024,
        max_redirects: int = 5,
        user_agent: str = "digestbot/0.1 (+news digest)",
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.allow_hosts = frozenset(h.lower().strip("[]") for h in allow_hosts)
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self.resolver: Resolver = resolver or system_resolver
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(total_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
            follow_redirects=False,
            trust_env=False,
            verify=verify,
        )

    @classmethod
    def from_settings(cls, settings: Any) -> Fetcher:
        """Build a Fetcher from Settings (uses `settings.allow_hosts`)."""
        return cls(frozenset(settings.allow_hosts))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def check_host(self, host: str, port: int, display: str | None = None) -> list[str]:
        """Resolve `host` and return its addresses, all checked, in the resolver's order.

        `display` is the host as written in the URL (an international name); the host is
        allow-listed when either form is in `allow_hosts`. Raises BlockedAddress if any
        resolved address is not public (unless allow-listed), FetchError if the name does
        not resolve.
        """
        host = host.lower().strip("[]")
        allowed = host in self.allow_hosts or (display or "").lower() in self.allow_hosts
        try:
            literal: IP | None = parse_ip(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self.resolver(host, port)
            except (OSError, UnicodeError) as exc:
                raise FetchError("host not found", reason="host_not_found") from exc
            if not addresses:
                raise FetchError("host not found", reason="host_not_found")
        if allowed:
            return addresses
        for addr in addresses:
            try:
                ip = parse_ip(addr)
            except ValueError as exc:
                raise BlockedAddress(f"unparsable address for {host}") from exc
            if not is_public_address(ip):
                # host name only: paths and queries of user links may carry tokens
                log.warning("fetch blocked: %s resolves to non-public %s", host, ip)
                raise BlockedAddress(f"{host} resolves to a non-public address")
        return addresses

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: tuple[str, ...] = HTML_TYPES,
        max_bytes: int | None = None,
    ) -> FetchedPage:
        """Fetch `url` and return the decoded page (at most `max_bytes` decoded bytes,
        default the Fetcher's limit).

        Raises BadInput (bad URL), BlockedAddress (SSRF guard, any hop), FetchError
        (network error, "timed out", "HTTP 404", too many redirects), UnsupportedContent
        (param content_type: what was received), TooLarge (param limit_mb). With `etag` /
        `last_modified` given, a 304 answer returns FetchedPage(not_modified=True, text="").
        """
        url = validate_url(url)
        try:
            async with asyncio.timeout(self.total_timeout):
                limit = min(max_bytes or self.max_bytes, self.max_bytes)
                return await self._fetch(url, etag, last_modified, accept, limit)
        except TimeoutError as exc:
            metrics.FETCH_ERRORS.labels(kind="timeout").inc()
            raise FetchError("timed out", reason="timeout") from exc
        except FetchError as exc:
            metrics.FETCH_ERRORS.labels(kind=metrics.fetch_error_kind(exc)).inc()
            raise

    async def _fetch(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        accept: tuple[str, ...],
        limit: int,
    ) -> FetchedPage:
        headers = {
            "User-Agent": self.user_agent,
            "Accept": ", ".join(accept) + ", */*;q=0.1",
            "Accept-Language": "ar, en;q=0.8",
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for _hop in range(self.max_redirects + 1):
            response = await self._send(url, headers)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    url = self._next_hop(url, response.headers["location"])
                    continue
                return await self._finish(url, response, accept, bool(etag or last_modified), limit)
            finally:
                await response.aclose()
        raise FetchError("too many redirects", reason="redirects")

    @staticmethod
    def _next_hop(url: str, location: str) -> str:
        target = urljoin(url, location.strip())
        try:
            return validate_url(target)
        except BadInput as exc:
            raise FetchError("redirected to an unsupported link", reason="bad_redirect") from exc

    async def _send(self, url: str, headers: dict[str, str]) -> httpx.Response:
        logical = httpx.URL(url)
        host = logical.raw_host.decode("ascii")  # IDNA (punycode) form for DNS, Host, SNI
        port = logical.port or (443 if logical.scheme == "https" else 80)
        addresses = await self.check_host(host, port, display=logical.host)
        host_header = f"[{host}]" if ":" in host else host
        if logical.port is not None:
            host_header += f":{logical.port}"
        extensions: dict[str, Any] = {}
        if logical.scheme == "https":
            extensions["sni_hostname"] = host
        # Try the checked addresses in order (e.g. "localhost" -> ::1 then 127.0.0.1);
        # only a failure to connect moves on to the next one.
        for i, address in enumerate(addresses):
            request = self._client.build_request(
                "GET",
                logical.copy_with(host=address),
                headers={**headers, "Host": host_header},
                extensions=extensions,
            )
            try:
                return await self._client.send(request, stream=True)
            except httpx.ConnectError as exc:
                if i + 1 < len(addresses) and "CERTIFICATE" not in str(exc):
                    continue
                raise _network_error(exc) from exc
            except httpx.TimeoutException as exc:
                raise FetchError("timed out", reason="timeout") from exc
            except httpx.HTTPError as exc:
                raise _network_error(exc) from exc
        raise FetchError(
            "host not found", reason="host_not_found"
        )  # unreachable: check_host returns >= 1 address

    async def _finish(
        self,
        url: str,
        response: httpx.Response,
        accept: tuple[str, ...],
        conditional: bool,
        limit: int,
    ) -> FetchedPage:
        status = response.status_code
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")
        if status == 304 and conditional:
            return FetchedPage(url, status, "", "", "", etag, last_modified, not_modified=True)
        if status >= 400 or status < 200 or status == 304 or status in _REDIRECTS:
            raise FetchError(f"HTTP {status}", reason="http_status", status=status)
        raw_type = response.headers.get("content-type", "")
        content_type = raw_type.split(";", 1)[0].strip().lower()
        maybe_pdf = PDF_TYPE in accept and (
            content_type == PDF_TYPE
            or (content_type in _GENERIC_BINARY and httpx.URL(url).path.lower().endswith(".pdf"))
        )
        if content_type and content_type not in accept and not maybe_pdf:
            raise UnsupportedContent(
                f"content type {content_type}",
                reason=content_reason(content_type),
                content_type=content_type,
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"Content-Length {declared}", limit_mb=limit_mb(limit))
        body = await self._read_body(response, limit)
        if content_type in IMAGE_TYPES:  # accepted (checked above): keep it if it is one
            if not is_image(body[:16]):
                raise UnsupportedContent(
                    "an image link that is no image", reason="content_binary", content_type="binary"
                )
            return FetchedPage(
                url, status, content_type, "", "binary", etag, last_modified, body=body
            )
        sniffed = sniff_binary(body)
        if sniffed == PDF_TYPE and PDF_TYPE in accept:
            return FetchedPage(url, status, PDF_TYPE, "", "binary", etag, last_modified, body=body)
        if maybe_pdf:  # labelled PDF (or a binary .pdf link), but the body is no PDF
            raise UnsupportedContent(
                "a PDF link that is not a PDF", reason="content_binary", content_type="binary"
            )
        if sniffed:
            raise UnsupportedContent(
                f"binary body labelled {content_type or 'nothing'}",
                reason=content_reason(sniffed),
                content_type=sniffed,
            )
        header_charset = response.charset_encoding if raw_type else None
        text, encoding = decode_body(body, header_charset)
        log.debug(
            "fetched %s: HTTP %s, %d bytes, %s", httpx.URL(url).host, status, len(body), encoding
        )
        return FetchedPage(
            url=url,
            status=status,
            content_type=content_type or "text/html",
            text=text,
            encoding=encoding,
            etag=etag,
            last_modified=last_modified,
        )

    async def _read_body(self, response: httpx.Response, limit: int) -> bytes:
        """The decoded body, read raw and inflated with a bounded decoder
        (bot/ingest/inflate.py): httpx's own decoding has no cap (decompression bombs)."""
        decoder = BoundedDecoder(response.headers.get("content-encoding", ""), limit)
        chunks: list[bytes] = []
        try:
            async for raw in response.aiter_raw():
                chunks.append(decoder.decode(raw))
            chunks.append(decoder.flush())
        except httpx.TimeoutException as exc:
            raise FetchError("timed out", reason="timeout") from exc
        except httpx.HTTPError as exc:
            raise _network_error(exc) from exc
        return b"".join(chunks)


def _network_error(exc: httpx.HTTPError) -> FetchError:
    """A FetchError saying which network failure `exc` was (reason and log detail)."""
    if "CERTIFICATE_VERIFY_FAILED" in str(exc) or isinstance(exc.__cause__, ssl.SSLError):
        return FetchError("TLS certificate error", reason="tls")
    if isinstance(exc, httpx.ConnectError):
        return FetchError("connection failed", reason="connect")
    if isinstance(exc, httpx.RemoteProtocolError):
        return FetchError("the server broke the connection", reason="broken_connection")
    return FetchError("network error", reason="network")


_CONTENT_KINDS: tuple[tuple[str, str], ...] = (
    ("application/pdf", "pdf"),
    ("image/", "image"),
    ("audio/", "audio"),
    ("video/", "video"),
    ("application/zip", "archive"),
    ("application/gzip", "archive"),
    ("application/x-", "archive"),
    ("application/vnd.", "document"),
    ("application/msword", "document"),
    ("application/rtf", "document"),
    ("application/json", "data"),
    ("application/xml", "data"),
    ("text/", "data"),
    ("application/octet-stream", "binary"),
    ("binary data", "binary"),
)


def content_reason(content_type: str) -> str:
    """The error reason ("content_pdf", "content_image", ...; "content_other" when
    unknown) for a refused content type, so users read what they got in their language."""
    ct = content_type.lower()
    for prefix, kind in _CONTENT_KINDS:
        if ct.startswith(prefix):
            return f"content_{kind}"
    return "content_other"
