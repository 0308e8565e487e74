"""A fake OpenAI-compatible server on 127.0.0.1 (aiohttp), for the real `openai` SDK.

Serves POST /v1/chat/completions, JSON and streaming (SSE). What it answers:

* `fake.queue(...)` pushes scripted replies, used first-in first-out:
  a `str` (the message content), an `int` (an HTTP error status), `Timeout()` (never
  answers in time), `Cut(content, chars)` (a stream that breaks after `chars`
  characters), or a callable `(body) -> str | int`.
* otherwise `fake.handler(body) -> str | int` answers (default: a fixed short text).

Every request body is kept in `fake.requests` (its bytes as sent in `fake.raw`, the
usage its reply reported in `fake.usages`; with `fake.spans`: when each arrived and
was answered). `fake.latency` adds a delay per reply. A `stream: true` request is
answered as SSE, one token (3 characters) per chunk at `fake.stream_rate` tokens a
second (`stream_tick` lets a test move its clock by each token's time instead of
waiting; a whole, unstreamed reply moves it by all its tokens' time at once),
reasoning deltas first, then the finish reason and, when
`stream_options.include_usage` asks, the usage.
`fake.reject_response_format` makes the server answer 400 to `response_format`, like
some local servers do.

`fake.quirks` (a `Quirks`) plays what real servers do; `MODES` names one per server
(OpenAI chat and reasoning models, Azure OpenAI, Ollama, vLLM, llama.cpp, LM Studio,
OpenRouter, DeepSeek, Gemini, and an old local server that knows no response_format),
and servers that refuse `stream`, `stream` with a response_format, or `stream_options`,
and chat templates that refuse the conversation's roles: "alternating-roles" (vLLM with
Gemma 3: 400 to two turns of one role in a row), "alternating-roles-llamacpp" (the same
from llama.cpp: a 500), "no-system-role" (vLLM with Gemma 2: 400 to a system message)
and "mistral-v0.1" (the system message counts as a turn); `fake.refused` lists the
requests a quirk refused.
Every quirk here was seen on a real server or is documented by its vendor.

What a small real MODEL does wrong (whatever the server) is played by handlers in
`tests.fakes.models.SMALL_MODEL_MODES` (`fake.handler = SMALL_MODEL_MODES[name]`),
each measured on Qwen2.5-Coder 0.5B/1.5B under llama.cpp: "invents-english-names"
("Obama" for جو بايدن in a translation, until given a checked name list),
"invents-a-name-twice", "restates-questions", "fewer-questions", "cuts-answers"
(«… قال إن»).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Reply = str | int | Callable[[dict[str, Any]], "str | int"]


@dataclass
class Timeout:
    """A scripted reply that hangs longer than any sane client timeout."""

    seconds: float = 3600.0


class Drop:
    """A scripted reply that closes the connection without answering (a crashed or
    restarted server); also usable as a handler's return value."""


@dataclass
class Cut:
    """A scripted streamed reply whose connection closes after its first `chars`
    characters of `content` (a server that crashed, or a proxy timeout, mid-reply)."""

    content: str
    chars: int


@dataclass
class Quirks:
    """Behaviours of real OpenAI-compatible servers (all off: a well-behaved server)."""

    # 400 when the request holds this parameter: {param: message}; `param_in_body`
    # False leaves `param` out of the error body (the name is only in the message)
    reject_params: dict[str, str] = field(default_factory=dict)
    param_in_body: bool = True
    only_default_temperature: bool = False  # OpenAI reasoning models: 400 unless 1
    reject_json_schema: str = ""  # message of a 400 to response_format json_schema
    reject_json_object: str = ""  # message of a 400 to response_format json_object
    think: bool = False  # "<think>…{braces}…</think>" before the answer
    think_open_in_template: bool = False  # the reasoning ends with a bare "</think>"
    reasoning_field: str = ""  # the reasoning goes in message[<field>] instead
    hidden_reasoning_tokens: int = 0  # reasoning eats this much of the completion budget
    fence_without_schema: bool = False  # ```json fences when no schema was asked for
    error_list: bool = False  # error bodies are a JSON array (Gemini)
    extra_fields: dict[str, Any] = field(default_factory=dict)  # added to the response
    extra_choice_fields: dict[str, Any] = field(default_factory=dict)
    no_usage: bool = False
    # reported tokens per 3 characters: a server whose tokenizer splits Arabic finer
    # than ours (cl100k: about 1.4 characters a token) reports more than we estimate
    usage_scale: float = 1.0
    reject_stream: str = ""  # message of a 400 to `stream` (param "stream")
    reject_stream_options: str = ""  # message of a 400 to `stream_options`
    reject_stream_with_schema: str = ""  # 400 to `stream` with a response_format
    # llama.cpp's prompt cache: the server keeps the last request's prompt and reply
    # (its KV cache) and reads the longest common prefix of the next prompt from it,
    # reported as usage.prompt_tokens_details.cached_tokens and timings.cache_n
    prefix_cache: bool = False
    # a chat template that wants strict turns (Gemma's; Mistral's and Llama 2's older
    # ones), as the server renders it: after the optional system message the roles must
    # go user, assistant, user, ... or the request is answered with this (status, error
    # body as that server sends it); `system_is_a_turn`: the template has no system
    # exemption (Mistral v0.1: a system message at the start breaks the alternation)
    reject_same_role_turns: tuple[int, dict[str, Any]] | None = None
    system_is_a_turn: bool = False
    reject_system_role: tuple[int, dict[str, Any]] | None = None  # Gemma 1 and 2


THINKING = (
    'The user wants a digest. The schema looks like {"headline": ..., "bullets": [...]}'
    ' and I must keep {numbers} exact. Let me draft: {"headline": "draft"}'
)

# What real servers answer when a chat template refuses the conversation's roles (the
# error texts and statuses of public reports, see bot/llm/roles.py):
# vLLM with Gemma 3 (suitenumerique/conversations#197, OpenSecretCloud/opensecret#120)
VLLM_ALTERNATE = (
    400,
    {
        "error": {
            "message": "Conversation roles must alternate user/assistant/user/assistant/... "
            "Conversation roles must alternate user/assistant/user/assistant/...",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        }
    },
)
# llama.cpp --jinja with Gemma 3 (idiap/sdialog#122, raycast-openai-translator#34)
LLAMACPP_ALTERNATE = (
    500,
    {
        "error": {
            "code": 500,
            "message": "\n------------\nWhile executing CallExpression at line 19, column 27 in "
            'source:\n...% 2 == 0) -%}\u21b5        {{ raise_exception("Conversation roles '
            "must alternate user...\n                                           ^\nError: "
            "Jinja Exception: Conversation roles must alternate user/assistant/user/assistant/...",
            "type": "server_error",
        }
    },
)
# vLLM with Gemma 2 (vllm-project/vllm#2964): the old error shape, no "error" wrapper
VLLM_NO_SYSTEM = (
    400,
    {
        "object": "error",
        "message": "System role not supported",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    },
)
# older vLLM with Mistral-7B-Instruct v0.1/v0.2, a system message included (autogen#1037)
VLLM_MISTRAL_ALTERNATE = (
    400,
    {
        "object": "error",
        "message": "Conversation roles must alternate user/assistant/user/assistant/...",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    },
)

MODES: dict[str, Quirks] = {
    "openai": Quirks(),
    "openai-reasoning": Quirks(
        reject_params={
            "max_tokens": "Unsupported parameter: 'max_tokens' is not supported with this "
            "model. Use 'max_completion_tokens' instead."
        },
        only_default_temperature=True,
        hidden_reasoning_tokens=900,
    ),
    "azure-openai": Quirks(
        reject_params={
            "max_completion_tokens": "Unrecognized request argument supplied: max_completion_tokens"
        },
        param_in_body=False,
        extra_fields={"prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]},
        extra_choice_fields={"content_filter_results": {"hate": {"filtered": False}}},
    ),
    "ollama-think": Quirks(think=True, extra_fields={"system_fingerprint": "fp_ollama"}),
    "vllm-reasoning-parser": Quirks(reasoning_field="reasoning_content"),
    "vllm-r1-no-parser": Quirks(think_open_in_template=True),
    "llamacpp": Quirks(think=True, extra_fields={"timings": {"predicted_per_second": 26.0}}),
    # llama.cpp (b5000+) with its one slot's prompt cache, as seen on the real server:
    # "usage": {..., "prompt_tokens_details": {"cached_tokens": 33}}, "timings":
    # {"cache_n": 33, "prompt_n": 1, ...}
    "llamacpp-cache": Quirks(prefix_cache=True),
    "lmstudio": Quirks(
        reject_json_object="'response_format.type' must be 'json_schema' or 'text'",
        no_usage=True,
    ),
    "openrouter": Quirks(reasoning_field="reasoning", extra_fields={"provider": "DeepInfra"}),
    "deepseek": Quirks(
        reject_json_schema="This response_format type is unavailable now",
        reasoning_field="reasoning_content",
        fence_without_schema=True,
    ),
    "gemini": Quirks(
        error_list=True,
        hidden_reasoning_tokens=700,
        fence_without_schema=True,
    ),
    "no-stream": Quirks(
        reject_stream="Unsupported parameter: 'stream' is not supported with this model."
    ),
    "no-stream-with-schema": Quirks(
        reject_stream_with_schema="'stream' is not supported together with response_format"
    ),
    "no-stream-options": Quirks(
        reject_stream_options="Unrecognized request argument supplied: stream_options",
        think=True,
    ),
    "alternating-roles": Quirks(reject_same_role_turns=VLLM_ALTERNATE),
    "alternating-roles-llamacpp": Quirks(reject_same_role_turns=LLAMACPP_ALTERNATE),
    "no-system-role": Quirks(reject_system_role=VLLM_NO_SYSTEM),
    "mistral-v0.1": Quirks(reject_same_role_turns=VLLM_MISTRAL_ALTERNATE, system_is_a_turn=True),
    "no-response-format": Quirks(
        reject_json_schema="Unsupported",
        reject_json_object="Unsupported",
        fence_without_schema=True,
        param_in_body=False,
    ),
}


@dataclass
class FakeLLM:
    handler: Callable[[dict[str, Any]], str | int] = lambda body: "ok"
    latency: float = 0.0
    # streaming: tokens per second (0: as fast as possible; a token is 3 characters),
    # and `stream_tick(seconds)` called per token with its share of time (a test moves
    # its clock with it; `stream_sleep` False then skips the real pacing)
    stream_rate: float = 0.0
    stream_tick: Callable[[float], None] | None = None
    stream_sleep: bool = True
    # awaited before each streamed chunk of content with (request body, chunk index): a
    # test makes the model pause there (moving its clock while the bot waits)
    stream_pause: Callable[[dict[str, Any], int], Awaitable[None]] | None = None
    reject_response_format: bool = False
    quirks: Quirks = field(default_factory=Quirks)
    requests: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # each request's body as sent
    usages: list[dict[str, Any]] = field(default_factory=list)  # each reply's usage
    # per request, in order: (arrived, last byte sent), time.perf_counter() seconds
    spans: list[list[float]] = field(default_factory=list)
    # the prompt cache (`Quirks.prefix_cache`): what the last request left in it, and
    # per request the prompt tokens read from it
    cache_text: str = ""
    cached: list[int] = field(default_factory=list)
    # per streamed request (by its index in `requests`): its content and when each
    # chunk of it (3 characters) was sent, time.perf_counter() seconds
    streamed: dict[int, tuple[str, list[float]]] = field(default_factory=dict)
    refused: list[int] = field(default_factory=list)  # requests refused by a quirk, by index
    _queue: deque[Any] = field(default_factory=deque)
    _index_of: dict[int, int] = field(default_factory=dict)
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
        raw = await request.read()
        body = json.loads(raw)
        self.raw.append(raw)
        self.requests.append(body)
        self._index_of[id(body)] = len(self.requests) - 1  # (bodies stay in `requests`)
        span = [time.perf_counter(), 0.0]
        self.spans.append(span)
        try:
            return await self._answer(request, body)
        finally:
            span[1] = time.perf_counter()

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        refusal = self._refusal(body)
        if self.reject_response_format and "response_format" in body:
            refusal = _error(400, "response_format is not supported by this server")
        if refusal is not None:
            self.refused.append(self._index_of.get(id(body), -1))
            return refusal
        reply: Any = self._queue.popleft() if self._queue else self.handler
        if isinstance(reply, Timeout):
            await asyncio.sleep(reply.seconds)
            return _error(504, "timeout")
        if isinstance(reply, Cut) and body.get("stream"):
            return await self._stream(request, body, reply.content, cut_at=reply.chars)
        if isinstance(reply, Cut):
            reply = reply.content
        if callable(reply):
            reply = reply(body)
        if isinstance(reply, Drop):
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=204)  # never reaches the client
        if self.stream_tick is not None and self.stream_rate and not body.get("stream"):
            # a whole reply takes the model its tokens' time too: the test's clock moves
            # by it as the request arrives (before `latency`, the machine's own wait)
            self.stream_tick(len(str(reply)) / 3 / self.stream_rate)
        if self.latency:
            await asyncio.sleep(self.latency)
        if isinstance(reply, int):
            return _error(reply, "scripted failure")
        content = str(reply)
        if body.get("stream"):
            return await self._stream(request, body, content)
        return web.json_response(self._completion(body, content))

    def _refusal(self, body: dict[str, Any]) -> web.Response | None:
        """The 400 a quirky server gives to this request, or None."""
        q = self.quirks
        for param, message in q.reject_params.items():
            if param in body:
                return _error(
                    400, message, param=param if q.param_in_body else None, as_list=q.error_list
                )
        if body.get("stream") and q.reject_stream:
            return _error(400, q.reject_stream, param="stream", as_list=q.error_list)
        if body.get("stream") and body.get("response_format") and q.reject_stream_with_schema:
            return _error(400, q.reject_stream_with_schema, as_list=q.error_list)
        if "stream_options" in body and q.reject_stream_options:
            return _error(400, q.reject_stream_options, as_list=q.error_list)
        temperature = body.get("temperature")
        if q.only_default_temperature and temperature is not None and temperature != 1:
            return _error(
                400,
                f"Unsupported value: 'temperature' does not support {temperature} with this "
                "model. Only the default (1) value is supported.",
                param="temperature" if q.param_in_body else None,
                as_list=q.error_list,
            )
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema" and q.reject_json_schema:
            return _error(400, q.reject_json_schema, as_list=q.error_list)
        if kind == "json_object" and q.reject_json_object:
            return _error(400, q.reject_json_object, as_list=q.error_list)
        return self._template_refusal(body["messages"])

    def _template_refusal(self, messages: list[dict[str, Any]]) -> web.Response | None:
        """What a strict chat template raises while the server renders `messages`."""
        q = self.quirks
        roles = [m["role"] for m in messages]
        if q.reject_system_role and "system" in roles:
            status, body = q.reject_system_role
            return web.json_response(body, status=status)
        if q.reject_same_role_turns:
            turns = roles if q.system_is_a_turn or roles[:1] != ["system"] else roles[1:]
            if any((role == "user") != (i % 2 == 0) for i, role in enumerate(turns)):
                status, body = q.reject_same_role_turns
                return web.json_response(body, status=status)
        return None

    def _completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        """A chat.completion for `content`, as the quirky server would shape it: its
        reasoning, its completion budget (a reply that does not fit is cut, with
        finish_reason "length"), its extra fields."""
        q = self.quirks
        budget = body.get("max_completion_tokens", body.get("max_tokens"))
        answer_tokens = max(1, len(content) // 3)
        finish = "stop"
        if budget is not None and q.hidden_reasoning_tokens + answer_tokens > budget:
            room = max(0, budget - q.hidden_reasoning_tokens)
            content, finish = content[: room * 3], "length"
        if q.fence_without_schema and "response_format" not in body:
            content = f"```json\n{content}\n```"
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if q.think:
            message["content"] = f"<think>\n{THINKING}\n</think>\n\n{content}"
        elif q.think_open_in_template:
            message["content"] = f"{THINKING}\n</think>\n\n{content}"
        elif q.reasoning_field:
            message[q.reasoning_field] = THINKING
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 3
        completion_tokens = min(answer_tokens, budget or answer_tokens) + q.hidden_reasoning_tokens
        cached = self._cache(body, content, prompt_tokens) if q.prefix_cache else 0
        prompt_tokens = int(prompt_tokens * q.usage_scale)
        completion_tokens = int(completion_tokens * q.usage_scale)
        out: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, **q.extra_choice_fields}
            ],
            **q.extra_fields,
        }
        if not q.no_usage:
            out["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            self.usages.append(out["usage"])
            if q.hidden_reasoning_tokens:
                out["usage"]["completion_tokens_details"] = {
                    "reasoning_tokens": q.hidden_reasoning_tokens
                }
            if q.prefix_cache:
                cached = min(cached, prompt_tokens)
                out["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}
                out["timings"] = {"cache_n": cached, "prompt_n": prompt_tokens - cached}
        return out

    def _cache(self, body: dict[str, Any], content: str, prompt_tokens: int) -> int:
        """The prompt cache of one llama.cpp slot: the prompt, rendered as a chat
        template does, is compared with what the last request left (its prompt and
        reply); the common prefix counts as read from the cache (3 characters a token,
        as this server counts; never more than the prompt's `prompt_tokens`, as a real
        server reports), and this request's prompt and reply replace it."""
        prompt = "".join(
            f"<|im_start|>{m['role']}\n{m.get('content', '')}<|im_end|>\n" for m in body["messages"]
        )
        prompt += "<|im_start|>assistant\n"
        common = 0
        for a, b in zip(prompt, self.cache_text, strict=False):
            if a != b:
                break
            common += 1
        self.cache_text = prompt + content + "<|im_end|>\n"
        tokens = min(common // 3, prompt_tokens)
        self.cached.append(tokens)
        return tokens

    async def _stream(
        self, request: web.Request, body: dict[str, Any], content: str, cut_at: int = -1
    ) -> web.StreamResponse:
        """The reply as SSE chunks (one token, 3 characters, each) at `stream_rate`:
        the reasoning field's deltas first, then the content (think block included),
        then the finish reason, then usage when `stream_options.include_usage` asks."""
        whole = self._completion(body, content)
        choice = whole["choices"][0]
        message = choice["message"]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
            chunk = {
                "id": whole["id"],
                "object": "chat.completion.chunk",
                "created": whole["created"],
                "model": whole["model"],
                "choices": [] if extra else [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            await resp.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        times: list[float] = []
        index = self._index_of.get(id(body), -1)
        self.streamed[index] = (str(message.get("content") or ""), times)
        for field_name in ("reasoning_content", "reasoning", "content"):
            text = str(message.get(field_name) or "")
            for i in range(0, len(text), 3):
                if field_name == "content" and 0 <= cut_at <= i:
                    assert request.transport is not None
                    request.transport.close()  # the connection drops mid-reply
                    return resp
                if field_name == "content" and self.stream_pause is not None:
                    await self.stream_pause(body, i // 3)
                await self._pace()
                await send({field_name: text[i : i + 3]})
                if field_name == "content":
                    times.append(time.perf_counter())
        await send({}, choice["finish_reason"])
        if (body.get("stream_options") or {}).get("include_usage") and "usage" in whole:
            await send({}, usage=whole["usage"])
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _pace(self) -> None:
        """One token's time at `stream_rate` (told to `stream_tick`; slept unless not)."""
        if not self.stream_rate:
            return
        seconds = 1.0 / self.stream_rate
        if self.stream_tick is not None:
            self.stream_tick(seconds)
        if self.stream_sleep:
            await asyncio.sleep(seconds)


def _error(
    status: int, message: str, *, param: str | None = None, as_list: bool = False
) -> web.Response:
    """An OpenAI-style error body (`as_list`: wrapped in a JSON array, as Gemini does)."""
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": status}
    body: Any = [{"error": error}] if as_list else {"error": error}
    return web.json_response(body, status=status)
