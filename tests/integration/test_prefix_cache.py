"""One prompt prefix per article (issue 21), against a fake llama.cpp with its prompt cache.

Every request about one article (the digest, the other language's button, a follow-up
question) starts with the same system and article messages, byte for byte in the
request bodies; the server's reported cached tokens then show in the digest's JSON,
in /metrics and /stats' counters, and the budget charges them at LLM_CACHED_INPUT_PRICE.
The translation's items start with the article's messages too when
LLM_TRANSLATE_WITH_ARTICLE is on (off by default: it cost a small model its English).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import metrics, stats
from bot.config import Settings
from bot.llm.tokens import count_tokens
from bot.store.redis import Store
from tests.fakes.llm import MODES, FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import NOW, Bot, article_page, model
from tests.integration.test_cli_summarize import SAMPLE, cli_env, summarize
from tests.integration.test_console import REAL, chat
from tests.integration.test_telegram_groups import _feed
from tests.unit.test_retrieval import real_paragraphs

USER = 7


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Every request about an article on its one prefix, the translation's items too."""
    return settings.model_copy(update={"llm_translate_with_article": True})


def prefix_bytes(raw: bytes) -> bytes:
    """The bytes of a request body's first two messages (system, article) as sent."""
    text = raw.decode("utf-8")
    start = text.index('"messages"')
    at = text.index("[", start) + 1
    decoder = json.JSONDecoder()
    for _ in range(2):
        while text[at] in " ,\n":
            at += 1
        _, at = decoder.raw_decode(text, at)
    return text[start:at].encode("utf-8")


def roles(body: dict[str, Any]) -> list[str]:
    return [m["role"] for m in body["messages"]]


async def test_every_request_about_an_article_starts_with_the_same_bytes(
    settings: Settings, store: Store, fake_llm: FakeLLM, pages: PageServer
) -> None:
    fake_llm.quirks = MODES["llamacpp-cache"]
    fake_llm.handler = model
    cached_before = metrics.value("digestbot_llm_cached_tokens_total")
    cheap = settings.model_copy(update={"llm_cached_input_price": 0.25})
    link = pages.add("/a", REAL.read_bytes())
    # the digest (Arabic), the English button, then a question about the article
    out = await chat(cheap, store, link, "#1", "ماذا قالت جهات سورية معارضة؟", lang="ar")
    digest, english, answer = out
    assert "• " in digest and "The article reports its point number" in english
    assert "الجواب من المقال نفسه" in answer  # the fake model's answer, from the article

    bodies = fake_llm.requests
    # the digest, the translation's items, the answer: no retry in between
    assert all("<digest>" in b["messages"][-1]["content"] for b in bodies[1:-1])
    first = prefix_bytes(fake_llm.raw[0])
    assert "أكدت جهات سورية معارضة" in first.decode()  # the article is in the prefix
    for raw, body in zip(fake_llm.raw, bodies, strict=True):
        assert prefix_bytes(raw) == first
        assert roles(body)[:3] == ["system", "user", "user"]  # the task after the article
    assert "<question>" in bodies[-1]["messages"][-1]["content"]

    # the server read the article from its cache for the button and the question
    article_tokens = len(bodies[0]["messages"][1]["content"]) // 3
    assert fake_llm.cached[0] == 0
    assert all(c >= article_tokens for c in fake_llm.cached[1:])
    total_cached = sum(fake_llm.cached)
    assert metrics.value("digestbot_llm_cached_tokens_total") == cached_before + total_cached
    today = datetime.now(UTC).date()
    assert await stats.get(store, "llm_cached_tokens", today) == total_cached

    # the budget charges cached prompt tokens at a quarter of the price, per operation
    # (the digest, the translation's items together, the answer)
    spent = [u["prompt_tokens"] + u["completion_tokens"] for u in fake_llm.usages]
    cached = fake_llm.cached
    ops = [(spent[:1], cached[:1]), (spent[1:-1], cached[1:-1]), (spent[-1:], cached[-1:])]
    charged = sum(sum(s) - sum(c) + math.ceil(sum(c) * 0.25) for s, c in ops)
    assert charged < sum(spent)
    key = store.keys.tokens(USER, NOW.date().isoformat())  # the console's clock
    assert int(await store.redis.get(key) or 0) == charged


async def test_a_retry_appends_to_the_conversation(
    settings: Settings, store: Store, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """A reply that is not the digest's JSON gets a correction after it: the retry's
    messages are the first request's, then the reply, then the correction."""
    fake_llm.quirks = MODES["llamacpp-cache"]
    fake_llm.handler = model
    fake_llm.queue("not json at all")
    link = pages.add("/a", REAL.read_bytes())
    (digest,) = await chat(settings, store, link, lang="ar")
    assert "• " in digest
    first, retry = fake_llm.requests
    assert retry["messages"][:3] == first["messages"]
    assert retry["messages"][3] == {"role": "assistant", "content": "not json at all"}
    assert retry["messages"][4]["role"] == "user"
    assert "not the JSON object" in retry["messages"][4]["content"]
    # the whole first request and its reply came from the cache
    assert fake_llm.cached[1] * 3 >= sum(len(m["content"]) for m in first["messages"])


async def test_cached_tokens_show_in_the_digests_json(
    tmp_path: Path, redis_url: str, store: Store, fake_llm: FakeLLM
) -> None:
    fake_llm.quirks = MODES["llamacpp-cache"]
    fake_llm.handler = model
    env = cli_env(
        tmp_path,
        REDIS_URL=redis_url,
        REDIS_PREFIX=store.keys.prefix,
        OPENAI_API_KEY="sk-test-cli-123456",
        OPENAI_BASE_URL=fake_llm.base_url,
        LLM_MODEL="fake-model",
        LLM_TRANSLATE_WITH_ARTICLE="true",
    )
    sample = SAMPLE.read_bytes()
    code, out, err = await summarize("-", "--format", "json", env=env, cwd=tmp_path, stdin=sample)
    assert code == 0, err
    arabic = json.loads(out)
    assert arabic["lang"] == "ar" and arabic["tokens_cached"] == 0
    args = ("-", "--format", "json", "--lang", "en")
    code, out, err = await summarize(*args, env=env, cwd=tmp_path, stdin=sample)
    assert code == 0, err
    english = json.loads(out)
    assert english["lang"] == "en" and english["translated"]
    # the translation's items started with the Arabic digest's prefix: the server read
    # it from its cache for each
    assert english["tokens_cached"] == sum(fake_llm.cached[1:]) > 0
    assert english["tokens_cached"] >= english["tokens_in"] // 2


def schema_of(body: dict[str, Any]) -> str:
    return str(((body.get("response_format") or {}).get("json_schema") or {}).get("name"))


async def test_a_briefing_item_and_a_question_about_its_story_start_with_the_same_bytes(
    bot: Bot, store: Store, pages: PageServer, fake_llm: FakeLLM
) -> None:
    """The item of a briefing story (written in the article's language, then translated
    for an English reader) and a reader's question about that story start with the
    same system and article messages: the server reads the article once for all three."""
    fake_llm.quirks = MODES["llamacpp-cache"]
    await _feed(store, pages, 31)
    bot.fake.command(31, "/briefing", language_code="en")
    brief = await bot.reply(31, contains="2. ")
    question = "what are the details of the second story?"
    bot.fake.message(31, question, reply_to=brief.message_id, language_code="en")
    answer = await bot.reply(31, contains="From story 2: الناتو", wait=15)
    assert "The article says it in the cited sentence." in answer.plain

    def about_nato(body: dict[str, Any]) -> bool:
        return "ستولتنبرغ" in body["messages"][1]["content"]

    calls = {
        schema_of(body): raw
        for raw, body in zip(fake_llm.raw, fake_llm.requests, strict=True)
        if about_nato(body)
    }
    assert set(calls) == {"briefing_item", "translation", "answer"}
    first = prefix_bytes(calls["briefing_item"])
    assert "ستولتنبرغ" in first.decode()  # the story's article is in the prefix
    assert prefix_bytes(calls["translation"]) == first
    assert prefix_bytes(calls["answer"]) == first
    item = next(b for b in fake_llm.requests if schema_of(b) == "briefing_item" and about_nato(b))
    assert roles(item) == ["system", "user", "user"]  # the item's task after the article
    assert "one item of a daily news briefing" in item["messages"][2]["content"]


async def test_a_long_articles_reduce_call_english_button_and_question_share_the_prefix(
    settings: Settings, store: Store, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """A map-reduced article: the reduce call reads the notes on its parts; the English
    button's translation and a question about the article start with the same system
    and notes messages (the question's passages come in its task), so the server reads
    the notes once."""
    fake_llm.quirks = MODES["llamacpp-cache"]
    fake_llm.handler = model
    small = settings.model_copy(update={"llm_max_input_tokens": 3000})
    text = "\n\n".join(f"{p} (الفقرة {i})" for i in range(6) for p in real_paragraphs("seed"))
    assert count_tokens(text) > 1.5 * small.llm_max_input_tokens  # several parts
    link = pages.add("/long", article_page(text, "روسيا وأوكرانيا"))
    question = "ماذا قالت روسيا عن التخطيط لمهاجمة أوكرانيا؟"
    digest, english, answer = await chat(small, store, link, "#1", question, lang="ar")
    assert "• " in digest and "The article reports its point number" in english
    assert "الجواب من المقال نفسه" in answer  # answered from the article's own sentences

    maps = [b for b in fake_llm.requests if schema_of(b) == "notes"]
    assert len(maps) >= 2  # map-reduced
    calls = {schema_of(b): raw for raw, b in zip(fake_llm.raw, fake_llm.requests, strict=True)}
    reduce = prefix_bytes(calls["digest"])  # the last digest request: the reduce call
    assert "<notes>" in reduce.decode()
    assert prefix_bytes(calls["translation"]) == reduce
    assert prefix_bytes(calls["answer"]) == reduce
    asked = next(b for b in fake_llm.requests if schema_of(b) == "answer")
    assert roles(asked) == ["system", "user", "user"]
    task = asked["messages"][2]["content"]
    assert "<passages>" in task and "[…]" in task  # the question's passages, numbered
    # the server read the notes from its cache for the button and the question
    notes_tokens = len(asked["messages"][1]["content"]) // 3
    at = [i for i, b in enumerate(fake_llm.requests) if schema_of(b) in ("translation", "answer")]
    assert all(fake_llm.cached[i] >= notes_tokens for i in at)
