"""LLMClient: the real openai SDK against the local OpenAI-compatible fake."""

from __future__ import annotations

import json
import time

import pytest

from bot import metrics
from bot.config import Settings
from bot.errors import LLMError
from bot.llm.client import LLMClient
from bot.llm.replies import LLMOutputError, parse_json_object
from tests.fakes.llm import FakeLLM, Timeout

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


async def ask(client: LLMClient) -> tuple[dict[str, object], int]:
    data, usage = await client.complete_json(
        system="sys", user="question", schema_name="answer", schema=SCHEMA
    )
    return data, usage.calls


async def test_structured_output_request_and_usage(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.queue(json.dumps({"answer": "نعم"}))
    ok_before = metrics.value("digestbot_llm_calls_total", outcome="ok")
    client = LLMClient(settings)
    try:
        data, usage = await client.complete_json(
            system="sys", user="question", schema_name="answer", schema=SCHEMA, max_tokens=50
        )
    finally:
        await client.aclose()
    assert data == {"answer": "نعم"}
    body = fake_llm.requests[0]
    assert body["model"] == "fake-model"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert usage.calls == 1 and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert metrics.value("digestbot_llm_calls_total", outcome="ok") == ok_before + 1


async def test_rejected_response_format_falls_back_to_prompted_json(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.reject_response_format = True
    fake_llm.handler = lambda body: '```json\n{"answer": "ok"}\n```'
    client = LLMClient(settings)
    try:
        first, calls = await ask(client)
        second, calls2 = await ask(client)
    finally:
        await client.aclose()
    assert first == second == {"answer": "ok"}
    # json_schema refused, then json_object refused, then JSON asked for in the prompt;
    # the refusals are remembered for the next request
    assert calls == 3 and calls2 == 1
    formats = [r.get("response_format", {}).get("type") for r in fake_llm.requests]
    assert formats == ["json_schema", "json_object", None, None]
    assert '"answer"' in fake_llm.user_texts()[2]  # the schema is spelled out in the prompt


@pytest.mark.parametrize("status", [429, 500, 503, 401])
async def test_http_errors_become_llm_error(
    settings: Settings, fake_llm: FakeLLM, status: int
) -> None:
    fake_llm.queue(status)
    errors_before = metrics.value("digestbot_llm_calls_total", outcome="error")
    client = LLMClient(settings)
    try:
        with pytest.raises(LLMError) as info:
            await ask(client)
    finally:
        await client.aclose()
    assert not isinstance(info.value, LLMOutputError)
    assert str(status) in info.value.detail
    assert metrics.value("digestbot_llm_calls_total", outcome="error") == errors_before + 1


async def test_sdk_retries_a_500_then_succeeds(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.queue(500, json.dumps({"answer": "after retry"}))
    client = LLMClient(settings.model_copy(update={"llm_max_retries": 1}))
    try:
        data, _ = await ask(client)
    finally:
        await client.aclose()
    assert data == {"answer": "after retry"} and fake_llm.calls == 2


async def test_timeout_becomes_llm_error(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.queue(Timeout(seconds=1))
    client = LLMClient(settings.model_copy(update={"llm_timeout_seconds": 0.3}))
    start = time.monotonic()
    try:
        with pytest.raises(LLMError, match="timed out"):
            await ask(client)
    finally:
        await client.aclose()
    assert time.monotonic() - start < 1.5


async def test_unreachable_server(settings: Settings) -> None:
    client = LLMClient(settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1"}))
    try:
        with pytest.raises(LLMError, match="cannot reach"):
            await ask(client)
    finally:
        await client.aclose()


@pytest.mark.parametrize("reply", ["not json at all", "[1, 2]", '{"answer": '])
async def test_garbage_is_an_output_error(
    settings: Settings, fake_llm: FakeLLM, reply: str
) -> None:
    fake_llm.queue(reply)
    client = LLMClient(settings)
    try:
        with pytest.raises(LLMOutputError):
            await ask(client)
    finally:
        await client.aclose()


async def test_complete_text(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.queue("a plain answer")
    client = LLMClient(settings)
    try:
        text, usage = await client.complete_text(system="s", user="u")
    finally:
        await client.aclose()
    assert text == "a plain answer" and usage.calls == 1
    assert "response_format" not in fake_llm.requests[0]


def test_from_settings_without_a_key_is_offline(settings: Settings) -> None:
    assert LLMClient.from_settings(settings.model_copy(update={"openai_api_key": ""})) is None


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '```json\n{"a": 1}\n```',
        '```\n{"a": 1}\n```',
        'Here you go: {"a": 1} hope it helps',
    ],
)
def test_parse_json_object_tolerates_fences_and_chatter(text: str) -> None:
    assert parse_json_object(text) == {"a": 1}
