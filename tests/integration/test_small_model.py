"""What a reader gets from a small real model's quirks (issue 21.3-5), each played by
the fake LLM server (`tests.fakes.models.SMALL_MODEL_MODES`): an English digest with
only verified names, three suggested questions on every digest, and never an answer
cut mid-sentence.

Real Redis, the real openai SDK against the fake LLM server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.clock import FrozenClock
from bot.config import Settings
from bot.domain import Article, Stage
from bot.followups import FollowupService
from bot.followups.render import render_answer_html
from bot.ingest.extract import extract_text
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.render import render_digest_html, strip_marks
from bot.store.redis import Store
from bot.summarize import shape
from bot.summarize.service import SummarizeService
from tests.fakes.llm import FakeLLM
from tests.fakes.models import KREMLIN_CUT, SMALL_MODEL_MODES
from tests.integration.test_followups import Articles

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CHAT = 2103


@pytest.fixture
async def service(
    settings: Settings, store: Store, fake_llm: FakeLLM
) -> AsyncIterator[SummarizeService]:
    svc = SummarizeService(
        settings,
        store,
        fetcher=Fetcher.from_settings(settings),
        llm=LLMClient(settings),
        clock=FrozenClock(NOW),
    )
    yield svc
    await svc.aclose()


@pytest.fixture
def seed(seed_text: str) -> Article:
    return extract_text(seed_text)


def shown(digest: Any) -> str:
    return " ".join([digest.headline, *digest.bullets, *digest.questions])


def resampled(fake_llm: FakeLLM) -> list[dict[str, Any]]:
    """The translation requests sent again as a fresh sample (a higher temperature)."""
    return [
        b
        for b in fake_llm.requests
        if "<digest>" in str(b["messages"]) and float(b.get("temperature") or 0) > 0.5
    ]


async def test_an_english_digest_uses_no_name_the_article_lacks(
    service: SummarizeService, fake_llm: FakeLLM, seed: Article
) -> None:
    """The model's English says "President Obama" for every item: each is refused and
    translated again as a fresh sample, and the reader gets an English digest with
    every bullet, each keeping its evidence, and no invented name."""
    fake_llm.handler = SMALL_MODEL_MODES["invents-english-names"]
    arabic = await service.summarize(seed, lang="ar")
    english = await service.summarize(seed, lang="en")

    assert english.lang == "en" and english.translated and not english.translation_note
    assert "Obama" not in shown(english)
    assert len(english.bullets) == len(arabic.bullets)
    assert english.sources == arabic.sources  # each bullet keeps its evidence
    assert len(english.questions) == len(arabic.questions)
    assert len(resampled(fake_llm)) >= len(arabic.bullets)
    assert "Obama" not in render_digest_html(english, "en")


async def test_a_partial_translation_keeps_its_verified_bullets(
    service: SummarizeService, fake_llm: FakeLLM, seed: Article
) -> None:
    """One bullet's every sample invents a name: that bullet is dropped, the verified
    others are delivered in English (not the Arabic digest labelled)."""
    fake_llm.handler = SMALL_MODEL_MODES["invents-a-name-twice"]
    arabic = await service.summarize(seed, lang="ar")
    english = await service.summarize(seed, lang="en")

    assert english.lang == "en" and not english.translation_note
    assert "Obama" not in shown(english)
    assert len(english.bullets) == len(arabic.bullets) - 1 >= 3
    assert english.sources == arabic.sources[1:]
    assert english.quality["translation_dropped"] == 1


async def test_a_translation_repeating_one_sentence_is_retried_never_shown_twice(
    service: SummarizeService, fake_llm: FakeLLM, seed: Article
) -> None:
    """The model writes one English sentence for every item (each passes the
    cross-language checks alone): the repeats are sampled again, and the reader gets
    each point once."""
    fake_llm.handler = SMALL_MODEL_MODES["repeats-one-bullet"]
    arabic = await service.summarize(seed, lang="ar")
    english = await service.summarize(seed, lang="en")

    assert english.lang == "en" and english.translated
    assert len(set(english.bullets)) == len(english.bullets) == len(arabic.bullets)
    assert len(resampled(fake_llm)) >= len(arabic.bullets) - 1


async def test_a_refusal_is_never_shown_as_a_translation(
    service: SummarizeService, fake_llm: FakeLLM, seed: Article
) -> None:
    """The model answers "I'm sorry, but I can't assist with that request." instead of a
    translation (a sentence with no name or number: the cross-language checks alone
    would pass it): it is sampled again, and the reader never sees it."""
    fake_llm.handler = SMALL_MODEL_MODES["refuses-to-translate"]
    arabic = await service.summarize(seed, lang="ar")
    english = await service.summarize(seed, lang="en")

    assert english.lang == "en" and english.translated
    assert len(english.bullets) == len(arabic.bullets)
    assert "sorry" not in shown(english).lower()
    assert len(resampled(fake_llm)) >= len(arabic.bullets)


@pytest.mark.parametrize("mode", ["restates-questions", "fewer-questions"])
async def test_every_digest_suggests_three_questions_none_restating_a_bullet(
    service: SummarizeService, fake_llm: FakeLLM, seed: Article, mode: str
) -> None:
    """The model's questions restate its bullets (or are too few): the checks drop
    them and one short extra call on the same article prompt brings replacements."""
    fake_llm.handler = SMALL_MODEL_MODES[mode]
    digest = await service.summarize(seed, lang="ar")

    assert len(digest.questions) == 3, digest.questions
    assert all(shape.good_question(q) for q in digest.questions)
    for q in digest.questions:
        assert not any(shape.similar(q, b) for b in digest.bullets), q
    assert fake_llm.calls == 2 and digest.llm_calls == 2  # the digest, the extra questions
    first, extra = (r["messages"] for r in fake_llm.requests)
    assert extra[0] == first[0]  # the same system message, and the article's user
    assert extra[1]["content"].startswith(first[1]["content"])  # message as its start


async def test_an_answer_cut_mid_sentence_never_reaches_the_reader(
    settings: Settings, store: Store, fake_llm: FakeLLM, seed: Article
) -> None:
    """Both the answer and its retry stop at «… قال إن»: the reader gets the article's
    own sentence with a note, and nothing cut was shown while it was written."""
    fake_llm.handler = SMALL_MODEL_MODES["cuts-answers"]
    llm = LLMClient(settings)
    svc = FollowupService(settings, store, articles=Articles(seed), llm=llm)
    await svc.set_active(CHAT, seed.id)
    stages: list[Stage] = []

    async def progress(stage: Stage) -> None:
        stages.append(stage)

    try:
        answer = await svc.answer(
            chat_id=CHAT, question="ماذا قال الكرملين؟", lang=None, progress=progress
        )
    finally:
        await llm.aclose()

    assert fake_llm.calls == 2  # the answer and its corrective retry
    assert answer.from_article and "بيسكوف" in answer.text
    assert not answer.text.rstrip(" .").endswith("قال إن")
    html = strip_marks(render_answer_html(answer, "ar"))
    assert "جملة المقال نفسها" in html and KREMLIN_CUT not in html
    assert all(KREMLIN_CUT not in (s.partial.text if s.partial else "") for s in stages)


async def test_an_english_digest_is_asked_with_arabic_script_only_in_parentheses(
    service: SummarizeService, fake_llm: FakeLLM, seed: Article
) -> None:
    """The English digest of an Arabic article is asked with a json-schema `pattern` on
    every text field (llama.cpp, vLLM and OpenAI honour it while the model writes), so a
    small model cannot answer an English field in Arabic; a name may keep its Arabic
    spelling in parentheses."""
    await service.summarize(seed, lang="en")
    schema = fake_llm.requests[0]["response_format"]["json_schema"]["schema"]
    props = schema["properties"]
    fields = [
        props["headline"],
        props["bullets"]["items"]["properties"]["text"],
        props["questions"]["items"],
    ]
    for field in fields:
        assert re.fullmatch(field["pattern"], "President Joe Biden (جو بايدن) called Putin.")
        assert not re.fullmatch(field["pattern"], "قال الرئيس بايدن")


async def test_a_bullet_quoting_someone_is_translated_whole(
    service: SummarizeService, fake_llm: FakeLLM, seed: Article
) -> None:
    """The seed's bullets quote («المسار الدبلوماسي»); the English pattern has no double
    quote, so a small model ends its string at one. The items go with single quotes:
    every bullet comes in English, none cut ("... the country is")."""
    fake_llm.handler = SMALL_MODEL_MODES["stops-at-a-quote"]
    arabic = await service.summarize(seed, lang="ar")
    assert any(q in b for b in arabic.bullets for q in '"“”«»')  # the case at hand
    english = await service.summarize(seed, lang="en")
    assert english.lang == "en" and english.translated
    assert len(english.bullets) == len(arabic.bullets)
    assert not any(b.endswith("is.") for b in english.bullets)
