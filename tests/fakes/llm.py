"""A fake OpenAI-compatible server on 127.0.0.1 (aiohttp), for the real `openai` SDK.

Serves POST /v1/chat/completions, JSON and streaming (SSE). What it answers:

* `fake.queue(...)` pushes scripted replies, used first-in first-out:
  a `str` (the message content), an `int` (an HTTP error status), `Timeout()` (never
  answers in time), or a callable `(body) -> str | int`.
* otherwise `fake.handler(body) -> str | int` answers (default: a fixed short text).

Every request body is kept in `fake.requests`. `fake.latency` adds a delay per reply.
`fake.reject_response_format` makes the server answer 400 to `response_format`, like
some local servers do.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Reply = str | int | Callable[[dict[str, Any]], "str | int"]


@dataclass
class Timeout:
    """A scripted reply that hangs longer than any sane client timeout."""

    seconds: float = 3600.0


@dataclass
class FakeLLM:
    handler: Callable[[dict[str, Any]], str | int] = lambda body: "ok"
    latency: float = 0.0
    reject_response_format: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    _queue: deque[Any] = field(default_factory=deque)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        return len(self.requests)

    def queue(self, *replies: Any) -> None:
        self._queue.extend(replies)

    def user_texts(self) -> list[str]:
        """The concatenated user-message text of every request received."""
        out = []
        for body in self.requests:
            out.append(
                "\n".join(
                    str(m.get("content", "")) for m in body["messages"] if m["role"] == "user"
                )
            )
        return out

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.reject_response_format and "response_format" in body:
            return _error(400, "response_format is not supported by this server")
        reply: Any = self._queue.popleft() if self._queue else self.handler
        if isinstance(reply, Timeout):
            await asyncio.sleep(reply.seconds)
            return _error(504, "timeout")
        if callable(reply):
            reply = reply(body)
        if self.latency:
            await asyncio.sleep(self.latency)
        if isinstance(reply, int):
            return _error(reply, "scripted failure")
        content = str(reply)
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 3
        completion_tokens = max(1, len(content) // 3)
        if body.get("stream"):
            return await self._stream(request, body, content)
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake-model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], content: str
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        step = 16
        for i in range(0, len(content), step):
            chunk = {
                "id": "chatcmpl-s",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", "fake-model"),
                "choices": [
                    {"index": 0, "delta": {"content": content[i : i + step]}, "finish_reason": None}
                ],
            }
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "fake_error", "code": status}}, status=status
    )
