"""python-telegram-bot's HTTP transport on aiohttp (`AiohttpRequest`), used by the bot's
Application and by the briefing sender for every Bot API call."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_Default = type(BaseRequest.DEFAULT_NONE)  # "argument not given" (PTB's DefaultValue)

# every Bot API and file URL carries the token (`/bot<token>/...`, `/file/bot<token>/...`),
# and aiohttp puts the URL into some errors (TooManyRedirects, InvalidURL, ...)
_TOKEN_IN_URL = re.compile(r"/bot[^/\s'\")]+")


def without_token(text: str) -> str:
    """`text` with the token of any Bot API URL in it replaced by `***`."""
    return _TOKEN_IN_URL.sub("/bot***", text)


class BodyTooLarge(Exception):
    """A download went over its byte limit (it was stopped there)."""


class AiohttpRequest(BaseRequest):
    """python-telegram-bot's HTTP transport on aiohttp, with HTTPXRequest's contract:
    form-encoded parameters, multipart uploads, TimedOut for timeouts (connecting,
    waiting for a pooled connection, reading) and NetworkError for other connection
    failures. It spends a fraction of httpx's CPU per call (httpcore re-checks every
    pooled connection with syscalls on each request), and the Bot API call was about
    40 % of a cached digest's CPU: see the "telegram bot" section of docs/benchmarks.md.
    """

    def __init__(
        self,
        *,
        pool_size: int,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = pool_size
        self._connect = connect_timeout
        self._read = read_timeout
        self._write = write_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return (HTTP status, body). Raises TimedOut / NetworkError."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        params = request_data.json_parameters if request_data else None
        read = self._read if isinstance(read_timeout, _Default) else read_timeout
        connect = self._connect if isinstance(connect_timeout, _Default) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, _Default) else pool_timeout
        write = write_timeout
        if isinstance(write_timeout, _Default):
            write = self._media_write if files else self._write
        phases = (pool, connect, write, read)
        timeout = aiohttp.ClientTimeout(
            # aiohttp has no write timeout: bound the whole call by the sum of the phases
            total=None if None in phases else sum(phases),
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        data: Any = params
        if files:
            form = aiohttp.FormData()
            for name, value in (params or {}).items():
                form.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data = form
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as res:
                return res.status, await res.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(without_token(f"aiohttp.{type(err).__name__}: {err}")) from None

    async def download(self, url: str, max_bytes: int, total_seconds: float = 60.0) -> bytes:
        """The body at `url` (a Bot API file URL), read in chunks and stopped as soon as
        it passes `max_bytes` (BodyTooLarge), whatever size the server or getFile said.
        Asks for no content coding, so the count is of the bytes sent. Raises TimedOut /
        NetworkError (without the token) for the transport's failures and HTTP errors."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        limit = aiohttp.ClientTimeout(total=total_seconds, sock_connect=self._connect, sock_read=30)
        headers = {"Accept-Encoding": "identity"}
        try:
            async with self._session.get(url, timeout=limit, headers=headers) as res:
                if res.status != 200:
                    raise NetworkError(f"file download failed: HTTP {res.status}")
                if (res.content_length or 0) > max_bytes:
                    raise BodyTooLarge(f"Content-Length {res.content_length}")
                body = bytearray()
                async for chunk in res.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > max_bytes:
                        raise BodyTooLarge(f"body over {max_bytes} bytes")
                return bytes(body)
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(without_token(f"aiohttp.{type(err).__name__}: {err}")) from None
