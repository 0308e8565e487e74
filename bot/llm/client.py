"""The LLM client: the official `openai` SDK (AsyncOpenAI) against any OpenAI-compatible
server (OpenAI chat and reasoning models, Azure OpenAI, Ollama, vLLM, llama.cpp, LM
Studio, OpenRouter, DeepSeek, Gemini), with structured JSON output.

What real servers do, and what the client does about it (`tests/fakes/llm.py` has one
fake mode per server that plays each of these):

* **Parameters a model refuses.** A 400 that names a parameter (`param` in the error
  body, or the parameter quoted in the message: "Unsupported parameter: 'max_tokens'",
  "Unrecognized request argument supplied: max_completion_tokens") makes the client adapt
  the request and send it again: `max_completion_tokens` <-> `max_tokens`, no
  `temperature`, no `reasoning_effort`, and `response_format` stepped down from
  json_schema to json_object to none (JSON asked for in the prompt). What worked is
  remembered per model for the client's lifetime (`profile(model)`).
* **Conversation roles a chat template refuses.** A server whose template wants strict
  user/assistant turns (Gemma, older Mistral: "Conversation roles must alternate ...",
  a 400 from vLLM, a 500 from llama.cpp) or no system message ("System role not
  supported") gets the same request again with the conversation adapted
  (`bot/llm/roles.py`: same-role messages merged, the system text folded into the first
  user message; the article stays first, so the prefix stays shared). What worked is
  remembered per server and model for the process's lifetime; streamed requests too.
* **Reasoning models.** Names of the o-series and the gpt-5 family start with
  `max_completion_tokens`, no temperature, `reasoning_effort="low"` and extra room for
  the hidden reasoning. `<think>…</think>` blocks in the content (DeepSeek-R1 or Qwen3
  behind llama.cpp, vLLM or Ollama) are stripped; `reasoning_content` / `reasoning`
  fields are ignored.
* **Cut replies.** `finish_reason: "length"` is never parsed as if whole: the request is
  sent once more with more room; cut again, it fails as `LLMTruncated`.
* **Streaming.** With an `on_text` callback the reply is streamed (`stream=True`,
  `stream_options.include_usage` for true token counts; `bot/llm/stream.py` reads it);
  a server that refuses either is remembered and asked without it (usage is then
  counted locally). Reasoning deltas and `<think>` blocks are never passed on.
* **Broken JSON** on the prompt-only path (fences, unescaped quotes, a missing brace) is
  repaired with `json-repair`; on the schema path the JSON must parse as is.

Every call, refused and failed ones included, is counted in `Usage` (`calls`, tokens)
and in the metrics; an error carries what was spent so far (`LLMError(usage=...)`):
a timeout is charged the prompt it sent, a broken stream the prompt and what streamed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import metrics
from bot.config import Settings
from bot.errors import LLMError
from bot.llm import roles
from bot.llm.profile import (
    MAX_ADAPTATIONS,
    REASONING_HEADROOM,
    JsonMode,
    ModelProfile,
    bad_param,
)
from bot.llm.prompts import load_prompt
from bot.llm.replies import LLMOutputError, LLMTruncated, parse_json_object, strip_think
from bot.llm.stream import Collected, OnText, cached_tokens, collect
from bot.llm.tokens import count_tokens

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)
TEMPERATURE = 0.2  # every request; a fresh sample of a refused translation asks for more


@dataclass
class Usage:
    """Tokens and calls spent (server-reported when available, else counted locally)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cached_tokens: int = 0  # of `prompt_tokens`, read from the server's prefix cache

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls
        self.cached_tokens += other.cached_tokens

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_failed(self, err: LLMError) -> None:
        """Add what a failed LLM step had already spent (`err.usage`), if anything."""
        if isinstance(err.usage, Usage):
            self.add(err.usage)


Message = dict[str, str]


@dataclass
class Reply:
    """One successful completion: its text (think blocks removed) and what it cost."""

    text: str
    usage: Usage
    truncated: bool = False


@dataclass
class JsonReply:
    """One structured reply: the JSON object, what it cost, and the reply's text (what
    a corrective retry puts back into the conversation as the assistant's turn)."""

    data: dict[str, Any]
    usage: Usage
    text: str


def _prompt_tokens(messages: list[dict[str, str]]) -> int:
    """The prompt's tokens, counted locally (when the server did not report them)."""
    return sum(count_tokens(m["content"]) for m in messages)


class LLMClient:
    """A thin wrapper over `openai.AsyncOpenAI` with the settings' timeout and retries."""

    def __init__(self, settings: Settings) -> None:
        import openai  # imported here: it takes over a second, and offline runs never need it

        self.model = settings.llm_model
        self.translate_with_article = settings.llm_translate_with_article
        self._client: openai.AsyncOpenAI = openai.AsyncOpenAI(
            api_key=settings.openai_api_key or "unset",
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
        )
        self._profiles: dict[str, ModelProfile] = {}
        self._server = str(self._client.base_url)  # the conversation shapes' memory key

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClient | None:
        """Return a client, or None when OPENAI_API_KEY is unset (offline mode)."""
        return cls(settings) if settings.openai_api_key else None

    async def aclose(self) -> None:
        await self._client.close()

    def profile(self, model: str | None = None) -> ModelProfile:
        """What the model accepts (learned so far)."""
        name = model or self.model
        if name not in self._profiles:
            self._profiles[name] = ModelProfile.for_model(name)
        return self._profiles[name]

    def _request(
        self,
        prof: ModelProfile,
        max_tokens: int,
        response_format: dict[str, Any] | None,
        streaming: bool = False,
        temperature: float = TEMPERATURE,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {prof.token_param: max_tokens + prof.headroom}
        if streaming:
            kwargs["stream"] = True
            if prof.stream_usage:
                kwargs["stream_options"] = {"include_usage": True}
        if prof.temperature:
            kwargs["temperature"] = temperature
        if prof.reasoning_effort:
            kwargs["reasoning_effort"] = "low"
        if response_format is not None:
            kwargs["response_format"] = response_format
        return kwargs

    async def _send(
        self, messages: list[dict[str, str]], kwargs: dict[str, Any], usage: Usage
    ) -> tuple[Any, float]:
        """One API call: (the response, when it started). Transport and HTTP errors
        become LLMError (with `usage`); a 4xx keeps the SDK exception as __cause__ for
        `_create`. A timeout is charged the prompt, counted locally: the server read it."""
        import openai

        started = time.perf_counter()
        usage.calls += 1
        try:
            resp = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                **kwargs,
            )
        except openai.OpenAIError as exc:
            metrics.observe_llm(
                seconds=time.perf_counter() - started, tokens_in=0, tokens_out=0, ok=False
            )
            if isinstance(exc, openai.APITimeoutError):
                usage.prompt_tokens += _prompt_tokens(messages)
                raise LLMError("the LLM timed out", usage=usage) from None
            if isinstance(exc, openai.APIConnectionError):
                detail = f"cannot reach the LLM: {type(exc).__name__}"
                raise LLMError(detail, usage=usage) from None
            if isinstance(exc, openai.APIStatusError):
                raise LLMError(
                    f"the LLM answered HTTP {exc.status_code}", usage=usage, status=exc.status_code
                ) from exc
            raise LLMError(f"LLM error: {type(exc).__name__}", usage=usage) from None
        return resp, started

    async def _create(
        self,
        messages_for: Callable[[JsonMode], list[dict[str, str]]],
        max_tokens: int,
        usage: Usage,
        json_schema: tuple[str, dict[str, Any]] | None = None,
        on_text: OnText | None = None,
        temperature: float = TEMPERATURE,
    ) -> Reply:
        """Send the request, adapting it to what the model refuses; return the reply.
        `messages_for(json_mode)` builds the messages for the current JSON mode. With
        `on_text`, the reply is streamed (when the server takes `stream`) and
        `on_text(content_so_far)` called as it grows."""
        import openai

        prof = self.profile()
        for _ in range(MAX_ADAPTATIONS + roles.MAX_STEPS + 1):
            response_format = self._response_format(prof, json_schema)
            streaming = on_text is not None and prof.stream
            kwargs = self._request(prof, max_tokens, response_format, streaming, temperature)
            built = messages_for(prof.json_mode)
            shape = roles.shape_for(self._server, self.model)
            messages = shape.apply(built)
            try:
                resp, started = await self._send(messages, kwargs, usage)
                if streaming:
                    resp = await self._collect(resp, on_text, usage, started, messages)
            except LLMError as err:
                cause = err.__cause__
                if isinstance(cause, openai.APIStatusError):
                    refused = roles.refusal(cause)
                    if refused is not None and self._reshape(shape, refused, built):
                        metrics.LLM_REPAIRS.labels(kind="roles_adapted").inc()
                        continue
                    if cause.status_code in (400, 422) and self._adapt(prof, cause, kwargs):
                        metrics.LLM_REPAIRS.labels(kind="param_adapted").inc()
                        continue
                err.__cause__ = None
                raise
            return self._reply(resp, messages, usage, started=started)
        raise LLMError("the LLM refused every form of the request", usage=usage)

    def _reshape(self, sent: roles.Shape, refused: roles.Refusal, built: list[Message]) -> bool:
        """Learn the conversation's next shape after the server's chat template refused
        `built` sent in shape `sent`; False when no shape is left to try."""
        if roles.shape_for(self._server, self.model) != sent:
            return True  # a request in flight meanwhile learned it: send that shape
        nxt = sent.after(refused, built)
        if nxt is None:
            return False
        roles.learn(self._server, self.model, nxt)
        log.info(
            "LLM server %s refuses %s for model %s: conversations are sent with %s",
            roles.server_name(self._server),
            "a system message" if refused == "system" else "two turns of one role in a row",
            self.model,
            nxt.describe(),
        )
        return True

    @staticmethod
    def _response_format(
        prof: ModelProfile, json_schema: tuple[str, dict[str, Any]] | None
    ) -> dict[str, Any] | None:
        if json_schema is None or prof.json_mode == "prompt":
            return None
        if prof.json_mode == "object":
            return {"type": "json_object"}
        name, schema = json_schema
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }

    def _adapt(self, prof: ModelProfile, exc: openai.APIStatusError, sent: dict[str, Any]) -> bool:
        param = bad_param(exc)
        if not param and "response_format" in sent:
            param = "response_format"  # a bare 400 to a structured request: step down
        if not param and sent.get("stream"):
            param = "stream"  # a bare 400 to a plain streamed request: stream no more
        if param and prof.adapt(param, sent=sent):
            log.info("model %s refused %r: request adapted", self.model, param)
            return True
        return False

    @staticmethod
    async def _collect(
        resp: Any,
        on_text: OnText | None,
        usage: Usage,
        started: float,
        messages: list[dict[str, str]],
    ) -> Any:
        """A streamed reply read to its end, as a `Collected`; a stream that breaks
        becomes LLMError, charged what was spent: the prompt and the reply so far,
        counted locally."""
        import httpx
        import openai

        got = Collected()
        try:
            return await collect(resp, on_text, got)
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            spent_in, spent_out = _prompt_tokens(messages), count_tokens(got.content)
            usage.add(Usage(spent_in, spent_out, 0))
            metrics.observe_llm(
                seconds=time.perf_counter() - started,
                tokens_in=spent_in,
                tokens_out=spent_out,
                ok=False,
            )
            detail = f"the LLM stream broke: {type(exc).__name__}"
            raise LLMError(detail, usage=usage) from None

    @staticmethod
    def _reply(resp: Any, messages: list[dict[str, str]], usage: Usage, *, started: float) -> Reply:
        cached = 0
        if isinstance(resp, Collected):
            raw, finish = resp.content, resp.finish_reason
            server = (
                (resp.prompt_tokens, resp.completion_tokens)
                if resp.completion_tokens is not None
                else None
            )
            cached = resp.cached_tokens
        else:
            choice = resp.choices[0] if resp.choices else None
            raw = (choice.message.content or "") if choice is not None else ""
            finish = choice.finish_reason if choice is not None else None
            server = None
            if resp.usage is not None:
                server = (resp.usage.prompt_tokens, resp.usage.completion_tokens)
                cached = cached_tokens(resp.usage, resp)
        text = strip_think(raw)
        if text != raw.strip():
            metrics.LLM_REPAIRS.labels(kind="think_stripped").inc()
        if server is not None:
            prompt = server[0] or 0
            spent = Usage(prompt, server[1] or 0, 0, min(cached, prompt))
        else:
            spent = Usage(_prompt_tokens(messages), count_tokens(raw), 0)
        usage.add(spent)
        metrics.observe_llm(
            seconds=time.perf_counter() - started,
            tokens_in=spent.prompt_tokens,
            tokens_out=spent.completion_tokens,
            tokens_cached=spent.cached_tokens,
        )
        truncated = finish == "length"
        return Reply(text=text, usage=usage, truncated=truncated)

    async def _complete(
        self,
        messages_for: Callable[[JsonMode], list[dict[str, str]]],
        max_tokens: int,
        usage: Usage,
        json_schema: tuple[str, dict[str, Any]] | None = None,
        on_text: OnText | None = None,
        temperature: float = TEMPERATURE,
    ) -> Reply:
        """A whole reply: one cut by `finish_reason: "length"` is asked again once with
        more room (four times as much when reasoning used it all), never parsed."""
        args = (messages_for, max_tokens, usage, json_schema, on_text, temperature)
        reply = await self._create(*args)
        if reply.truncated:
            metrics.LLM_REPAIRS.labels(kind="length_retry").inc()
            if not reply.text:  # hidden reasoning used it all: every later request needs room
                prof = self.profile()
                prof.headroom = max(prof.headroom, REASONING_HEADROOM)
            room = max_tokens * 2 if reply.text else max_tokens * 4
            log.info("reply cut at %d tokens; asking again with %d", max_tokens, room)
            reply = await self._create(messages_for, room, *args[2:])
            if reply.truncated:
                raise LLMTruncated("the model's reply was cut off twice", usage=usage)
        if not reply.text:
            raise LLMOutputError("the model returned an empty reply", usage=usage)
        return reply

    async def complete_json(
        self,
        *,
        system: str,
        user: str,
        schema_name: str,
        schema: dict[str, Any],
        max_tokens: int = 800,
        on_text: OnText | None = None,
    ) -> tuple[dict[str, Any], Usage]:
        """Return (the model's JSON object, usage) for one structured-output request
        of one system and one user message (`chat_json` for a conversation)."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        got = await self.chat_json(
            messages,
            schema_name=schema_name,
            schema=schema,
            max_tokens=max_tokens,
            on_text=on_text,
        )
        return got.data, got.usage

    async def chat_json(
        self,
        messages: list[Message],
        *,
        schema_name: str,
        schema: dict[str, Any],
        max_tokens: int = 800,
        on_text: OnText | None = None,
        temperature: float = TEMPERATURE,
    ) -> JsonReply:
        """The model's JSON object for a conversation (`messages`, sent as given: an
        article's requests share their first messages, `bot/llm/article.py`, so a
        server's prefix cache reuses them); with `on_text`, streamed (see `_create`;
        `stream.partial_object` reads the object being written). A server that takes
        no schema gets it in a note after the last message's text.

        Raises LLMError (transport/HTTP), LLMTruncated (cut twice) or LLMOutputError (no
        JSON object with the schema's required keys in the reply; `params["reply"]` is
        the reply's text, for a correction that follows it); each carries `usage`.
        """
        usage = Usage()

        def messages_for(mode: JsonMode) -> list[Message]:
            if mode == "schema":
                return messages
            dumped = json.dumps(schema, ensure_ascii=False)  # the schema travels in the prompt
            last = messages[-1]
            note = load_prompt("json_only").render(schema=dumped)
            return [*messages[:-1], {**last, "content": f"{last['content']}\n\n{note}"}]

        reply = await self._complete(
            messages_for, max_tokens, usage, (schema_name, schema), on_text, temperature
        )
        try:
            data = parse_json_object(reply.text, repair=self.profile().json_mode != "schema")
        except LLMOutputError as err:
            raise LLMOutputError(err.detail, usage=usage, reply=reply.text) from None
        missing = [k for k in schema.get("required", []) if k not in data]
        if missing:
            raise LLMOutputError(f"the model's JSON lacks {missing}", usage=usage, reply=reply.text)
        return JsonReply(data, usage, reply.text)

    async def complete_text(
        self, *, system: str, user: str, max_tokens: int = 600, on_text: OnText | None = None
    ) -> tuple[str, Usage]:
        """Return (the model's text reply, usage); with `on_text`, streamed (`_create`).
        Raises LLMError (with `usage`)."""
        usage = Usage()
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        reply = await self._complete(lambda _mode: messages, max_tokens, usage, on_text=on_text)
        return reply.text, usage

    async def chat_text(
        self, messages: list[Message], *, max_tokens: int = 600, temperature: float = TEMPERATURE
    ) -> tuple[str, Usage]:
        """The model's text reply to a conversation, and its usage (`temperature`: more
        for a fresh sample). Raises LLMError (with `usage`)."""
        usage = Usage()
        reply = await self._complete(
            lambda _mode: messages, max_tokens, usage, temperature=temperature
        )
        return reply.text, usage
