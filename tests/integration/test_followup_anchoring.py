"""Follow-up answers anchored like digest bullets: the model cites numbered sentences,
the answer is checked against them, re-anchored when miscited, retried once when
unsupported and then shown unverified. Every call is charged.

Real Redis, the real openai SDK against the fake LLM server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot import metrics, stats
from bot.config import Settings
from bot.domain import Article
from bot.followups import FollowupService
from bot.followups.render import render_answer_html, render_answer_text
from bot.grounding import evidence
from bot.i18n import t
from bot.llm.client import LLMClient
from bot.render import strip_marks
from bot.store.redis import Store
from tests.fakes.llm import FakeLLM
from tests.integration.test_followups import (
    SEED_ANSWER,
    SEED_QUOTE,
    Articles,
    cites,
    reply,
    user_message,
)
from tests.unit.test_retrieval import real_paragraphs

CHAT = 2002
BEGAN = "بدأ الساعة 15,35"  # seed sentence 2: the call began at 15:35


def repairs(kind: str) -> float:
    return metrics.value("digestbot_llm_repairs_total", kind=kind)


@pytest.fixture
def seed() -> Article:
    return Article(text="\n\n".join(real_paragraphs("seed")))


@pytest.fixture
async def svc(settings: Settings, store: Store, seed: Article) -> Any:
    llm = LLMClient(settings)
    service = FollowupService(settings, store, articles=Articles(seed), llm=llm)
    await service.set_active(CHAT, seed.id)
    yield service
    await llm.aclose()


def sentence_id(article: Article, fragment: str) -> int:
    (found,) = [s.id for s in evidence.number_sentences(article.text) if fragment in s.text]
    return found


async def charged(store: Store, name: str) -> int:
    return await stats.get(store, name, datetime.now(UTC).date())


async def test_a_miscited_answer_is_re_anchored_to_the_sentence_that_supports_it(
    svc: FollowupService, fake_llm: FakeLLM, seed: Article
) -> None:
    before = repairs("recited")
    fake_llm.queue(reply(SEED_ANSWER, [1]))  # sentence 1 is about the phone call

    answer = await svc.answer(chat_id=CHAT, question="هل تخطط روسيا للهجوم؟", lang=None)

    assert fake_llm.calls == 1  # no retry: the support was elsewhere in the article
    assert answer.verified and answer.sources == [sentence_id(seed, SEED_QUOTE[:30])]
    assert answer.quote == SEED_QUOTE
    assert repairs("recited") == before + 1


def _retry_note(body: dict[str, Any]) -> str:
    text = user_message(body)
    return text[text.index("</question>") :]


async def test_an_added_number_gets_one_retry_then_the_answer_is_marked_unverified(
    svc: FollowupService, fake_llm: FakeLLM, store: Store, seed: Article
) -> None:
    retries, dropped = repairs("shape_retry"), repairs("unsupported_dropped")
    fake_llm.queue(
        cites("بدأ الاتصال الهاتفي الساعة 16,35 واستمر 50 دقيقة.", BEGAN),  # not in the article
        cites("انتهى الاتصال الهاتفي الساعة 15,35.", BEGAN),  # "ended" where it says "began"
    )

    answer = await svc.answer(chat_id=CHAT, question="متى بدأ الاتصال الهاتفي؟", lang=None)

    assert fake_llm.calls == 2
    note = _retry_note(fake_llm.requests[1])
    assert "Correction" in note and "16,35" in note and "not in the cited sentences" in note
    assert f"cites {sentence_id(seed, BEGAN)}" in note
    assert "Correction" not in user_message(fake_llm.requests[0])
    assert answer.path == "llm" and not answer.verified and not answer.not_in_article
    assert answer.quote is None and answer.sources == []
    assert answer.text == "انتهى الاتصال الهاتفي الساعة 15,35."
    html = strip_marks(render_answer_html(answer, "ar"))
    assert "<blockquote" not in html and t("ar", "followup.unverified") in html
    assert t("en", "followup.unverified") in strip_marks(render_answer_text(answer, "en"))
    assert repairs("shape_retry") == retries + 1
    assert repairs("unsupported_dropped") == dropped + 1
    # both calls are charged: to the user (Answer.tokens) and in /stats
    assert await charged(store, "llm_calls") == 2
    assert answer.tokens == await charged(store, "llm_tokens") > 0


async def test_a_retry_that_fixes_the_answer_is_shown_verified(
    svc: FollowupService, fake_llm: FakeLLM, seed: Article
) -> None:
    fake_llm.queue(
        cites("انتهى الاتصال الهاتفي الساعة 15,35.", BEGAN),
        cites("بدأ الاتصال الهاتفي الساعة 15,35.", BEGAN),
    )

    answer = await svc.answer(chat_id=CHAT, question="متى بدأ الاتصال الهاتفي؟", lang=None)

    assert fake_llm.calls == 2
    assert "opposite" in _retry_note(fake_llm.requests[1])
    assert answer.verified and answer.text == "بدأ الاتصال الهاتفي الساعة 15,35."
    assert answer.sources == [sentence_id(seed, BEGAN)] and BEGAN in (answer.quote or "")
    html = strip_marks(render_answer_html(answer, "ar"))
    assert f"<blockquote expandable>{answer.quote}</blockquote>" in html


async def test_an_english_answer_about_an_arabic_article_is_checked_on_numbers(
    svc: FollowupService, fake_llm: FakeLLM, seed: Article
) -> None:
    fake_llm.queue(
        cites("The call began at 16,35.", BEGAN),  # a number the article does not give
        reply("The call began at 15,35 (20,35 GMT).", [1]),  # right numbers, wrong sentence
    )

    answer = await svc.answer(chat_id=CHAT, question="When did the phone call begin?", lang=None)

    assert answer.lang == "en" and fake_llm.calls == 2
    assert "16,35" in _retry_note(fake_llm.requests[1])
    assert answer.verified and answer.sources == [sentence_id(seed, BEGAN)]
    assert BEGAN in (answer.quote or "")  # the quote stays in the article's language


async def test_an_english_answer_with_a_name_the_cited_sentence_lacks_is_not_verified(
    svc: FollowupService, fake_llm: FakeLLM
) -> None:
    fake_llm.handler = cites("Emmanuel Macron (إيمانويل ماكرون) denied it.", SEED_QUOTE[:30])

    answer = await svc.answer(chat_id=CHAT, question="Who denies the plan?", lang=None)

    assert fake_llm.calls == 2 and not answer.verified and answer.quote is None
    assert "ماكرون" in _retry_note(fake_llm.requests[1])


async def test_a_failed_retry_keeps_the_first_answer_unverified_and_charges_both_calls(
    svc: FollowupService, fake_llm: FakeLLM, store: Store
) -> None:
    fake_llm.queue(cites("بدأ الاتصال الساعة 18,00.", BEGAN), 500, 500, 500)

    answer = await svc.answer(chat_id=CHAT, question="متى بدأ الاتصال الهاتفي؟", lang=None)

    assert answer.path == "llm" and not answer.verified and answer.quote is None
    assert answer.text == "بدأ الاتصال الساعة 18,00."
    assert await charged(store, "llm_calls") == fake_llm.calls >= 2
    assert answer.tokens == await charged(store, "llm_tokens") > 0


async def test_inline_citations_are_read_and_removed_from_the_answer(
    svc: FollowupService, fake_llm: FakeLLM, seed: Article
) -> None:
    sid = sentence_id(seed, SEED_QUOTE[:30])
    fake_llm.queue(reply(f"تنفي روسيا التخطيط لمهاجمة أوكرانيا [{sid}].", []))

    answer = await svc.answer(chat_id=CHAT, question="هل تخطط روسيا للهجوم؟", lang=None)

    assert answer.text == "تنفي روسيا التخطيط لمهاجمة أوكرانيا."
    assert answer.verified and answer.sources == [sid]


async def test_a_reply_that_is_not_json_is_charged_although_it_failed(
    svc: FollowupService, fake_llm: FakeLLM, store: Store
) -> None:
    fake_llm.queue("not json at all")

    answer = await svc.answer(chat_id=CHAT, question="ماذا حدث؟", lang="ar")

    assert answer.path == "unavailable" and answer.tokens > 0
    assert await charged(store, "llm_calls") == 1
    assert await charged(store, "llm_tokens") == answer.tokens


@pytest.mark.parametrize("found", [False, True])
async def test_a_retry_may_say_the_article_does_not_answer(
    svc: FollowupService, fake_llm: FakeLLM, found: bool
) -> None:
    """found=false (or an empty answer) on the retry is the honest "not in the article"."""
    again: Callable[[dict[str, Any]], str] = lambda body: reply("", [], found=found)  # noqa: E731
    fake_llm.queue(cites("سعر النفط 80 دولارا.", BEGAN), again)

    answer = await svc.answer(chat_id=CHAT, question="كم سعر النفط؟", lang=None)

    assert answer.not_in_article and answer.text == t("ar", "followup.not_in_article")
    assert fake_llm.calls == 2
