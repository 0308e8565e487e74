"""The LLM client: the official `openai` SDK (AsyncOpenAI) against any OpenAI-compatible
server (OpenAI, Ollama, vLLM, LM Studio, OpenRouter), with structured JSON output.

`complete_json` asks for `response_format` json_schema (strict). Servers that refuse it
with a 400 get the same request once more without it, with the schema spelled out in the
prompt; the JSON is then parsed from the text (```json fences tolerated) and the refusal
is remembered for the client's lifetime. Every failure becomes `LLMError`: connection
errors, timeouts and HTTP errors after the SDK's own retries, and `LLMOutputError` (a
subclass) for a reply that is not the JSON object asked for.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import metrics
from bot.config import Settings
from bot.errors import LLMError
from bot.llm.prompts import load_prompt
from bot.llm.tokens import count_tokens

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.S)


class LLMOutputError(LLMError):
    """The model answered, but not with the JSON object that was asked for.

    `usage` holds what that answer cost (None when unknown).
    """

    usage: Usage | None = None


@dataclass
class Usage:
    """Tokens and calls spent (server-reported when available, else counted locally)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls


def parse_json_object(text: str) -> dict[str, Any]:
    """Return the JSON object in `text` (bare, or in a ```json fence, or with chatter
    around the outermost braces); raise LLMOutputError when there is none."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    candidates = [body]
    start, end = body.find("{"), body.rfind("}")
    if start != -1 and end > start:
        candidates.append(body[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise LLMOutputError("the model's reply is not a JSON object")


def _parse(text: str, usage: Usage) -> dict[str, Any]:
    try:
        return parse_json_object(text)
    except LLMOutputError as err:
        err.usage = usage
        raise


class LLMClient:
    """A thin wrapper over `openai.AsyncOpenAI` with the settings' timeout and retries."""

    def __init__(self, settings: Settings) -> None:
        import openai  # imported here: it takes over a second, and offline runs never need it

        self.model = settings.llm_model
        self._client: openai.AsyncOpenAI = openai.AsyncOpenAI(
            api_key=settings.openai_api_key or "unset",
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
        )
        self.response_format_rejected = False

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClient | None:
        """Return a client, or None when OPENAI_API_KEY is unset (offline mode)."""
        return cls(settings) if settings.openai_api_key else None

    async def aclose(self) -> None:
        await self._client.close()

    async def _create(
        self, messages: list[dict[str, str]], max_tokens: int, **extra: Any
    ) -> tuple[str, Usage]:
        import openai

        started = time.perf_counter()
        try:
            resp = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=0.2,
                **extra,
            )
        except openai.OpenAIError as exc:
            metrics.observe_llm(
                seconds=time.perf_counter() - started, tokens_in=0, tokens_out=0, ok=False
            )
            if isinstance(exc, openai.APITimeoutError):
                raise LLMError("the LLM timed out") from None
            if isinstance(exc, openai.APIConnectionError):
                raise LLMError(f"cannot reach the LLM: {type(exc).__name__}") from None
            if isinstance(exc, openai.APIStatusError):
                raise LLMError(
                    f"the LLM answered HTTP {exc.status_code}", status=exc.status_code
                ) from None
            raise LLMError(f"LLM error: {type(exc).__name__}") from None
        content = (resp.choices[0].message.content or "") if resp.choices else ""
        if resp.usage is not None:
            usage = Usage(resp.usage.prompt_tokens, resp.usage.completion_tokens, 1)
        else:
            sent = sum(count_tokens(m["content"]) for m in messages)
            usage = Usage(sent, count_tokens(content), 1)
        metrics.observe_llm(
            seconds=time.perf_counter() - started,
            tokens_in=usage.prompt_tokens,
            tokens_out=usage.completion_tokens,
        )
        if not content.strip():
            err = LLMOutputError("the model returned an empty reply")
            err.usage = usage
            raise err
        return content, usage

    async def complete_json(
        self,
        *,
        system: str,
        user: str,
        schema_name: str,
        schema: dict[str, Any],
        max_tokens: int = 800,
    ) -> tuple[dict[str, Any], Usage]:
        """Return (the model's JSON object, usage) for one structured-output request.

        Raises LLMError (transport/HTTP) or LLMOutputError (no JSON object in the reply).
        """
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        if not self.response_format_rejected:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            }
            try:
                text, usage = await self._create(
                    messages, max_tokens, response_format=response_format
                )
                return _parse(text, usage), usage
            except LLMError as exc:
                if exc.params.get("status") != 400:
                    raise
                log.info("the LLM server refused response_format; asking for JSON in the prompt")
        plain_user = (
            user
            + "\n\n"
            + load_prompt("json_only").render(schema=json.dumps(schema, ensure_ascii=False))
        )
        messages[1] = {"role": "user", "content": plain_user}
        text, usage = await self._create(messages, max_tokens)
        if not self.response_format_rejected:
            self.response_format_rejected = True  # the plain request worked: remember
            usage.calls += 1  # the refused request counts as a call
        return _parse(text, usage), usage

    async def complete_text(
        self, *, system: str, user: str, max_tokens: int = 600
    ) -> tuple[str, Usage]:
        """Return (the model's text reply, usage). Raises LLMError."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return await self._create(messages, max_tokens)
