"""Streamed completions: read an OpenAI-compatible SSE stream as it arrives, and see the
JSON object that is still being written.

`collect(stream, on_text)` reads the SDK's chunk stream into one `Collected` (the whole
content, the finish reason, the usage when the server sent it) and calls
`on_text(content_so_far)` after each content delta. Reasoning never counts as content:
`reasoning_content` / `reasoning` deltas are not read, and `visible(text)` hides
`<think>` blocks, also one still open.

`partial_object(text)` returns the part of a JSON object already complete in `text`
(jiter's partial mode "on": a string appears only once its closing quote arrived, so
no half word or half escape is ever shown), or None while the content does not start
as a JSON object (reasoning written before a bare `</think>`, chatter).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.llm.replies import strip_think

log = logging.getLogger(__name__)

OnText = Callable[[str], Awaitable[None]]

_OPEN_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?")
_THINK_START = re.compile(r"^\s*<(think|thinking|reasoning)>", re.I)


@dataclass
class Collected:
    """A streamed reply, put together: content, finish reason, server usage (or None)."""

    content: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int = 0  # prompt tokens the server reused from its prefix cache


def cached_tokens(usage: Any, response: Any = None) -> int:
    """Prompt tokens the server took from its prefix cache: OpenAI, vLLM and recent
    llama.cpp report `usage.prompt_tokens_details.cached_tokens`; older llama.cpp only
    `timings.cache_n` beside `usage`. 0 when the server says nothing."""
    details = getattr(usage, "prompt_tokens_details", None)
    if isinstance(details, dict):
        got = details.get("cached_tokens")
    else:
        got = getattr(details, "cached_tokens", None)
    if got is None and response is not None:
        timings = (getattr(response, "model_extra", None) or {}).get("timings")
        if isinstance(timings, dict):
            got = timings.get("cache_n")
    return int(got) if isinstance(got, int | float) and got > 0 else 0


def visible(text: str) -> str:
    """The content a user may see so far: `<think>` blocks removed, and nothing while
    one is still open."""
    if _THINK_START.match(text) and not re.search(r"</(?:think|thinking|reasoning)>", text, re.I):
        return ""
    return strip_think(text)


def partial_object(text: str, *, trailing: bool = False) -> dict[str, Any] | None:
    """The complete part of the JSON object being written in `text` (see module doc);
    `trailing`: with the string still being written too (its complete escapes only)."""
    import jiter

    body = visible(text)
    fence = _OPEN_FENCE.match(body)
    if fence:
        body = body[fence.end() :]
    body = body.lstrip()
    if not body.startswith("{"):
        return None
    body = body.split("```", 1)[0]
    try:
        data = body.encode("utf-8")
        if trailing:
            value = jiter.from_json(data, partial_mode="trailing-strings")
        else:
            value = jiter.from_json(data, partial_mode="on")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def may_show_more(before: str, now: str) -> bool:
    """False when `now` only adds to `before` characters that cannot finish a string or
    a word (no quote, no space): its partial view is the same, no need to parse."""
    if not now.startswith(before):
        return True  # the reply started over (a retry)
    added = now[len(before) :]
    return '"' in added or any(ch.isspace() for ch in added) or not before


async def collect(stream: Any, on_text: OnText | None, out: Collected | None = None) -> Collected:
    """Read the SDK's `AsyncStream[ChatCompletionChunk]` to its end (see module doc),
    into `out` (a new `Collected` by default).

    Raises what the SDK raises for a broken stream, with what arrived before the break
    in `out.content` (it was spent); `on_text` errors are logged and never stop the
    reading (showing progress must not cost the reply)."""
    out = out if out is not None else Collected()
    parts: list[str] = []
    try:
        await _read(stream, on_text, out, parts)
    finally:
        out.content = "".join(parts)
    return out


async def _read(stream: Any, on_text: OnText | None, out: Collected, parts: list[str]) -> None:
    async for chunk in stream:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            out.prompt_tokens = usage.prompt_tokens or 0
            out.completion_tokens = usage.completion_tokens or 0
            out.cached_tokens = cached_tokens(usage, chunk)
        for choice in getattr(chunk, "choices", None) or []:
            if choice.index not in (0, None):
                continue
            if choice.finish_reason:
                out.finish_reason = choice.finish_reason
            piece = choice.delta.content if choice.delta is not None else None
            if not piece:
                continue
            parts.append(piece)
            if on_text is not None:
                try:
                    await on_text("".join(parts))
                except Exception:  # a display problem must not cost the reply
                    log.exception("streaming progress callback failed")
