"""Servers whose chat template refuses the conversation's roles (Gemma, older Mistral).

Every request about an article is [system, article, task, ...]: two user messages in a
row, which a strict template refuses ("Conversation roles must alternate ...", a 400
from vLLM, a 500 from llama.cpp), and some refuse the system message too ("System role
not supported"). The bot sends the same request again adapted and remembers it: the
digest, the English button and a follow-up question all work, only the first request
is refused, requests about one article still start with the same bytes, and the budget
is charged only what the server answered.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain import Article
from bot.errors import LLMError
from bot.i18n import t
from bot.ingest.extract import extract_text
from bot.llm.article import article_messages, with_task
from bot.llm.client import LLMClient
from bot.store.redis import Store
from tests.fakes.llm import MODES, FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import NOW, model
from tests.integration.test_cli_summarize import SAMPLE, cli_env, summarize
from tests.integration.test_console import REAL, chat

USER = 7
ROLE_MODES = ["alternating-roles", "alternating-roles-llamacpp", "no-system-role", "mistral-v0.1"]
# requests the first request about an article costs before its shape is found
STEPS = {"mistral-v0.1": 2}
LEARNED = "conversations are sent with"


def article_prefix(raw: bytes) -> str:
    """A request body as sent, from its messages to the end of the article block."""
    text = raw.decode("utf-8")
    start = text.index('"messages"')
    return text[start : text.index("\\n</article>", start)]  # the block's own end


@pytest.mark.parametrize("mode", ROLE_MODES)
async def test_digest_english_and_question_through_a_strict_template(
    settings: Settings,
    store: Store,
    fake_llm: FakeLLM,
    pages: PageServer,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_llm.quirks = MODES[mode]
    fake_llm.handler = model
    link = pages.add("/a", REAL.read_bytes())
    # every request on the article's prefix, the translation's items too
    one_prefix = settings.model_copy(update={"llm_translate_with_article": True})
    with caplog.at_level(logging.INFO, logger="bot.llm.client"):
        out = await chat(one_prefix, store, link, "#1", "ماذا قالت جهات سورية معارضة؟", lang="ar")
    digest, english, answer = out
    # the model's digest (not the offline one), its English, the model's answer
    assert "• " in digest and t("ar", "digest.offline") not in digest
    assert "The article reports its point number" in english
    assert "الجواب من المقال نفسه" in answer

    # only the first request was refused: the button and the question went adapted at once
    steps = STEPS.get(mode, 1)
    assert fake_llm.refused == list(range(steps))
    answered = fake_llm.raw[steps:]
    assert len(answered) >= 3  # the digest, the translation's items, the answer
    bodies = fake_llm.requests[steps:]
    # each starts with the same bytes, the article included: the prefix cache still works
    first = article_prefix(answered[0])
    assert "أكدت جهات سورية معارضة" in first
    assert all(article_prefix(raw) == first for raw in answered)
    for body in bodies[1:-1]:
        assert "<digest>" in json.dumps(body["messages"][-1], ensure_ascii=False)
    assert "<question>" in json.dumps(bodies[-1]["messages"][-1], ensure_ascii=False)

    # logged once per change, at info, with no key in it
    learned = [r for r in caplog.records if LEARNED in r.getMessage()]
    assert len(learned) == steps and all(r.levelno == logging.INFO for r in learned)
    assert not any(settings.openai_api_key in r.getMessage() for r in caplog.records)

    # the budget is charged what the server answered; the refusals cost nothing
    spent = sum(u["prompt_tokens"] + u["completion_tokens"] for u in fake_llm.usages)
    key = store.keys.tokens(USER, NOW.date().isoformat())
    assert int(await store.redis.get(key) or 0) == spent


@pytest.mark.parametrize("mode", ["alternating-roles", "no-system-role"])
async def test_a_streamed_request_is_adapted_too(
    settings: Settings, fake_llm: FakeLLM, seed_text: str, mode: str
) -> None:
    fake_llm.quirks = MODES[mode]
    fake_llm.handler = lambda body: json.dumps({"answer": "نعم", "sources": [1]})
    article: Article = extract_text(seed_text)
    schema = {"type": "object", "required": ["answer"]}
    client = LLMClient(settings)
    shown: list[str] = []

    async def on_text(text: str) -> None:
        shown.append(text)

    try:
        for task in ("السؤال الأول", "السؤال الثاني"):
            conversation = with_task(article_messages(article), task)
            got = await client.chat_json(
                conversation, schema_name="answer", schema=schema, on_text=on_text
            )
            assert got.data["answer"] == "نعم"
    finally:
        await client.aclose()
    assert shown and shown[-1].endswith("}")  # the reply was streamed as it came
    assert all(body.get("stream") for body in fake_llm.requests)
    assert fake_llm.refused == [0] and fake_llm.calls == 3  # the second went adapted
    assert got.usage.calls == 1 and got.usage.prompt_tokens == fake_llm.usages[-1]["prompt_tokens"]


async def test_each_new_process_asks_once(
    tmp_path: Path, redis_url: str, store: Store, fake_llm: FakeLLM
) -> None:
    """The adaptation lives in the process: a restart is refused once, then adapts."""
    fake_llm.quirks = MODES["alternating-roles"]
    fake_llm.handler = model
    env = cli_env(
        tmp_path,
        REDIS_URL=redis_url,
        REDIS_PREFIX=store.keys.prefix,
        OPENAI_API_KEY="sk-test-cli-123456",
        OPENAI_BASE_URL=fake_llm.base_url,
        LLM_MODEL="fake-model",
        LOG_LEVEL="INFO",
        LLM_TRANSLATE_WITH_ARTICLE="true",  # the translation's items after the article
    )
    sample = SAMPLE.read_bytes()
    code, out, err = await summarize("-", "--format", "json", env=env, cwd=tmp_path, stdin=sample)
    assert code == 0, err
    assert json.loads(out)["path"] == "llm"
    assert err.count(LEARNED) == 1 and "sk-test-cli" not in err
    args = ("-", "--format", "json", "--lang", "en")
    code, out, err = await summarize(*args, env=env, cwd=tmp_path, stdin=sample)
    assert code == 0, err
    english = json.loads(out)
    assert english["lang"] == "en" and english["path"] == "llm"
    assert err.count(LEARNED) == 1 and "sk-test-cli" not in err
    assert len(fake_llm.refused) == 2  # once in each process
    assert fake_llm.refused[1] == fake_llm.refused[0] + 2  # the second process's first call


async def test_other_errors_stay_errors(
    settings: Settings, fake_llm: FakeLLM, seed_text: str
) -> None:
    """A 400 or 500 that is not about roles is not sent again, and changes nothing."""
    fake_llm.handler = lambda body: "fine"
    fake_llm.queue(500, 400)
    client = LLMClient(settings)
    try:
        for status in (500, 400):
            with pytest.raises(LLMError) as info:
                await client.complete_text(system="s", user="u")
            assert info.value.params["status"] == status
        text, _ = await client.complete_text(system="s", user="u")
    finally:
        await client.aclose()
    assert text == "fine" and fake_llm.calls == 3
    assert [m["role"] for m in fake_llm.requests[-1]["messages"]] == ["system", "user"]
