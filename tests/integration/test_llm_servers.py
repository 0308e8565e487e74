"""Every mainstream OpenAI-compatible server, as the fake plays it, gives an LLM digest.

Each mode of `tests.fakes.llm.MODES` is a real server's known quirks (refused
parameters, reasoning output, cut replies, error shapes, no usage). The digest must come
from the LLM (not the offline fallback), pass the checks, and count every call made on
the way, refused ones included.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bot import metrics
from bot.config import Settings
from bot.domain import Article
from bot.ingest.arabic import arabic_ratio
from bot.ingest.extract import extract_text
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.llm.replies import LLMTruncated, strip_think
from bot.store.redis import Store
from bot.summarize.service import SummarizeService
from tests.fakes.llm import MODES, FakeLLM, Quirks
from tests.fakes.models import faithful


@pytest.fixture
def seed(seed_text: str) -> Article:
    return extract_text(seed_text)


@pytest.fixture
async def service(settings: Settings, store: Store) -> AsyncIterator[SummarizeService]:
    svc = SummarizeService(
        settings, store, fetcher=Fetcher.from_settings(settings), llm=LLMClient(settings)
    )
    yield svc
    await svc.aclose()


@pytest.mark.parametrize("mode", sorted(MODES))
async def test_every_server_mode_gives_an_llm_digest(
    service: SummarizeService, fake_llm: FakeLLM, seed: Article, mode: str
) -> None:
    fake_llm.quirks = MODES[mode]
    fake_llm.handler = faithful
    digest = await service.summarize(seed, lang="ar")
    assert digest.path == "llm", mode
    assert 3 <= len(digest.bullets) <= 5 and len(digest.questions) == 3
    assert all("{" not in b and "think" not in b.lower() for b in digest.bullets)
    assert "{" not in digest.headline and "<think>" not in digest.headline
    assert len(digest.sources) == len(digest.bullets) and all(digest.sources)
    assert digest.llm_calls == fake_llm.calls  # refused and cut requests are counted
    assert digest.tokens_in > 0 and digest.tokens_out > 0
    # a second digest (another length) needs no more adaptation: what worked is kept
    before = fake_llm.calls
    detailed = await service.summarize(seed, lang="ar", length="detailed")
    assert detailed.path == "llm" and 6 <= len(detailed.bullets) <= 10
    assert fake_llm.calls - before == detailed.llm_calls
    assert not [i for i in fake_llm.refused if i >= before], mode


async def test_an_english_digest_through_a_reasoning_server(
    service: SummarizeService, fake_llm: FakeLLM, seed: Article
) -> None:
    fake_llm.quirks = MODES["openai-reasoning"]
    fake_llm.handler = faithful
    digest = await service.summarize(seed, lang="en")
    assert digest.path == "llm" and arabic_ratio(" ".join(digest.bullets)) == 0


async def test_known_reasoning_model_names_start_with_the_right_parameters(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.quirks = MODES["openai-reasoning"]
    fake_llm.handler = lambda body: json.dumps({"answer": "ok"})
    client = LLMClient(settings.model_copy(update={"llm_model": "o4-mini"}))
    try:
        text, usage = await client.complete_text(system="s", user="u")
    finally:
        await client.aclose()
    assert text == '{"answer": "ok"}' and fake_llm.calls == usage.calls == 1  # nothing refused
    body = fake_llm.requests[0]
    assert "max_tokens" not in body and "temperature" not in body
    assert body["max_completion_tokens"] > 2000 and body["reasoning_effort"] == "low"


async def test_a_reply_cut_twice_is_never_parsed(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.quirks = Quirks(hidden_reasoning_tokens=100_000)  # never enough room
    fake_llm.handler = lambda body: json.dumps({"answer": "ok"})
    length_before = metrics.value("digestbot_llm_repairs_total", kind="length_retry")
    client = LLMClient(settings)
    try:
        with pytest.raises(LLMTruncated) as info:
            await client.complete_json(
                system="s",
                user="u",
                schema_name="a",
                schema={"type": "object", "properties": {"answer": {"type": "string"}}},
            )
    finally:
        await client.aclose()
    assert fake_llm.calls == 2  # the second try had more room
    budgets = [r["max_completion_tokens"] for r in fake_llm.requests]
    assert budgets[1] > budgets[0]
    assert info.value.usage is not None and info.value.usage.calls == 2
    assert metrics.value("digestbot_llm_repairs_total", kind="length_retry") == length_before + 1


async def test_a_gemini_style_error_list_still_names_the_parameter(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.quirks = Quirks(
        reject_params={"max_completion_tokens": 'Unknown name "max_completion_tokens"'},
        param_in_body=False,
        error_list=True,
    )
    fake_llm.handler = lambda body: "fine"
    client = LLMClient(settings)
    try:
        text, usage = await client.complete_text(system="s", user="u")
        again, usage2 = await client.complete_text(system="s", user="u")
    finally:
        await client.aclose()
    assert text == again == "fine" and usage.calls == 2 and usage2.calls == 1
    assert "max_tokens" in fake_llm.requests[-1]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('<think>a {"x": 1} b</think>\n{"ok": true}', '{"ok": true}'),
        ('reasoning with {braces}\n</think>\n\n{"ok": true}', '{"ok": true}'),
        ("<think>cut while thinking {", ""),
        ('{"ok": true}', '{"ok": true}'),
    ],
)
def test_reasoning_blocks_are_stripped(raw: str, clean: str) -> None:
    assert strip_think(raw) == clean
