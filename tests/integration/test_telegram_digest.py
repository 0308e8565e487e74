"""Digests end to end: links, pasted articles, forwards, groups, buttons, errors.

The real Application polls the fake Bot API; the real SummarizeService fetches from the
local page server and asks the fake LLM; everything is stored in the real Redis.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings
from bot.render import RLM, strip_marks
from bot.store.redis import Store
from tests.fakes.botapi import BotAPI, Sent
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import Bot, article_page, is_live, model_clock, running_bot

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"
GROUP = -100500


@pytest.fixture
def link(pages: PageServer) -> str:
    return pages.add("/news/syria", REAL.read_bytes())


async def digest_in(bot: Bot, chat_id: int) -> Sent:
    return await bot.fake.wait_for(
        lambda s: s.chat_id == chat_id and "•" in s.plain and s.reply_markup is not None, 15
    )


async def test_plain_link_in_private_chat_becomes_one_digest_message(bot: Bot, link: str) -> None:
    bot.fake.message(21, f"شوف هذا {link}", language_code="ar")
    digest = await digest_in(bot, 21)
    # a draft showed the first stage; the digest came as the one message of the chat
    # (its notification shows the digest, not a placeholder)
    stages = [d.plain for d in bot.fake.drafts_to(21)]
    assert stages and stages[0] == "⏳ أجلب الصفحة…"
    assert bot.fake.sent_to(21) == [digest] and digest.method == "sendMessage"
    visible = bot.fake.visible(21)
    assert len(visible) == 1 and visible[0]["message_id"] == digest.message_id
    # layout: bold headline, RTL-marked Arabic lines, bullets, source; no link preview
    assert digest.text.startswith("<b>") and digest.plain.startswith(RLM)
    assert digest.disable_preview
    assert "المصدر:" in digest.plain
    # each point's evidence: the article sentences it cites, folded under the digest
    assert "<blockquote expandable>" in digest.text and "📎 من نص المقال" in digest.plain
    lines = digest.plain.splitlines()
    bullets = [line.strip(RLM + "• ") for line in lines if "•" in line]
    quotes = [line.strip(RLM) for line in lines if "«" in line]
    assert len(quotes) == len(bullets) >= 3
    assert all(
        q.startswith(f"{n}. «") and q[5:25] in bullets[n - 1] for n, q in enumerate(quotes, 1)
    )
    buttons = digest.buttons
    assert buttons[0]["text"].startswith("English") and buttons[0]["callback_data"].endswith(":en")
    assert buttons[1]["callback_data"].endswith(":detailed")
    assert buttons[2]["url"] == link
    questions = [b for b in buttons if b["text"].startswith("❓")]
    assert [q["text"] for q in questions] == [
        "❓ من شارك في الاتصال؟",
        "❓ ما الخطوة التالية؟",
        "❓ لماذا يهم هذا؟",
    ]
    assert all(len(b.get("callback_data", "").encode()) <= 64 for b in buttons)


async def test_pasted_article_and_short_text(bot: Bot, seed_text: str) -> None:
    bot.fake.message(22, seed_text, language_code="en")
    digest = await digest_in(bot, 22)
    # the user's language (from Telegram: en) is the digest language too
    assert "The article reports its point number" in digest.plain
    assert "Published 31 December 2021 · an old article" in digest.plain
    bot.fake.message(22, "hello there")
    hint = await bot.reply(22)
    assert "•" not in hint.plain


async def test_summarize_with_language_override(bot: Bot, link: str) -> None:
    bot.fake.command(23, f"/summarize en {link}", language_code="ar")
    digest = await digest_in(bot, 23)
    assert "The article reports its point number" in digest.plain
    assert "المصدر:" in digest.plain  # labels stay in the user's language


async def test_summarize_as_reply_to_a_message_with_a_link(bot: Bot, link: str) -> None:
    original = bot.fake.message(24, f"link: {link}", queue=False)["message"]
    bot.fake.command(24, "/summarize en", reply_to=original["message_id"], language_code="ar")
    digest = await digest_in(bot, 24)
    assert "The article reports its point number" in digest.plain


async def test_summarize_without_anything_explains_usage(bot: Bot) -> None:
    bot.fake.command(25, "/summarize", language_code="ar")
    assert "/summarize" in (await bot.reply(25)).plain
    bot.fake.command(25, "/summarize en", language_code="ar")
    assert "/summarize" in (await bot.reply(25)).plain


async def test_forwarded_channel_post_with_caption(bot: Bot, link: str) -> None:
    bot.fake.message(26, None, caption=f"عاجل {link}", forward_from_channel="قناة الأخبار")
    await digest_in(bot, 26)


async def test_errors_are_translated(bot: Bot, pages: PageServer) -> None:
    missing = pages.url("/nope")
    bot.fake.message(27, missing, language_code="ar")
    error = await bot.reply(27)
    assert error.plain.startswith(RLM)  # reads right to left, whatever comes first
    assert strip_marks(error.plain).startswith("تعذّر جلب الرابط")
    assert len(bot.fake.visible(27)) == 1  # the placeholder became the error
    bot.fake.message(27, "http://10.1.2.3/news", language_code="en")
    assert "not allowed" in (await bot.reply(27)).plain
    bot.fake.command(27, "/summarize too short to be an article", language_code="en")
    assert "too short" in (await bot.reply(27)).plain


async def test_language_and_length_buttons_resummarize(bot: Bot, link: str) -> None:
    bot.fake.message(28, link, language_code="ar")
    digest = await digest_in(bot, 28)
    bot.fake.callback(28, digest.message_id, digest.buttons[0]["callback_data"])
    english = await bot.fake.wait_for(
        lambda s: (
            s.chat_id == 28
            and "The article reports its point number" in s.plain
            and s.reply_markup is not None
        ),
        15,
    )
    assert english.buttons[0]["callback_data"].endswith(":ar")
    bot.fake.callback(28, english.message_id, english.buttons[1]["callback_data"])
    detailed = await bot.fake.wait_for(
        lambda s: (
            s.chat_id == 28 and s.message_id > english.message_id and "➖" in str(s.reply_markup)
        ),
        15,
    )
    assert "The article reports its point number" in detailed.plain


async def test_expired_button(bot: Bot, link: str) -> None:
    bot.fake.message(29, link)
    digest = await digest_in(bot, 29)
    bot.fake.callback(29, digest.message_id, "d:nosuchref:en")
    assert "expired" in (await bot.reply(29)).plain


async def test_suggested_question_button_answers(bot: Bot, link: str) -> None:
    bot.fake.message(30, link, language_code="ar")
    digest = await digest_in(bot, 30)
    question = next(b for b in digest.buttons if b["text"].startswith("❓"))
    bot.fake.callback(30, digest.message_id, question["callback_data"], language_code="ar")
    answer = await bot.fake.wait_for(
        lambda s: s.chat_id == 30 and s.message_id > digest.message_id and not is_live(s), 15
    )
    assert "الجواب من المقال نفسه." in answer.plain  # the fake model's answer, rendered


async def test_group_rules(bot: Bot, link: str) -> None:
    bot.fake.message(GROUP, f"look {link}", chat_type="group", user_id=31)
    bot.fake.command(GROUP, f"/summarize@someotherbot {link}", chat_type="group", user_id=31)
    bot.fake.command(GROUP, f"/summarize@digest_test_bot {link}", chat_type="group", user_id=31)
    digest = await digest_in(bot, GROUP)
    # exactly one digest: the plain link and the other bot's command were ignored
    # (one message: under load its live edits may show bullets before the final one)
    assert len({s.message_id for s in bot.fake.sent_to(GROUP) if "•" in s.plain}) == 1
    # a reply to the bot's digest is a question about it; a plain message is ignored
    bot.fake.message(
        GROUP, "من شارك في الاتصال؟", chat_type="group", user_id=31, reply_to=digest.message_id
    )
    answer = await bot.fake.wait_for(
        lambda s: s.chat_id == GROUP and s.message_id > digest.message_id and not is_live(s), 15
    )
    assert "الجواب من المقال نفسه." in answer.plain and answer.reply_to is not None
    bot.fake.message(GROUP, "من شارك في الاتصال؟", chat_type="group", user_id=31)
    bot.fake.command(GROUP, "/help", chat_type="group", user_id=31)
    helped = await bot.reply(GROUP)
    assert "What I can do" in helped.plain  # the plain question before it got no answer


async def test_group_mention_and_reply_to_a_link(bot: Bot, link: str) -> None:
    bot.fake.message(GROUP, f"@digest_test_bot {link}", chat_type="group", user_id=32)
    await digest_in(bot, GROUP)
    original = bot.fake.message(GROUP, link, chat_type="group", user_id=33, queue=False)
    command = bot.fake.command(
        GROUP,
        "/summarize",
        chat_type="group",
        user_id=34,
        reply_to=original["message"]["message_id"],
    )
    second = await bot.fake.wait_for(
        lambda s: s.chat_id == GROUP and "•" in s.plain and s.reply_markup is not None,
        15,
        start=len(bot.fake.sent),
    )
    assert second.reply_to == command["message"]["message_id"]


async def test_long_article_shows_part_progress(
    settings: Settings,
    store: Store,
    botapi: BotAPI,
    fake_llm: FakeLLM,
    pages: PageServer,
    seed_text: str,
) -> None:
    long_text = "\n\n".join([seed_text] * 2)
    url = pages.add("/long", article_page(long_text, "مقال طويل"))
    # drafts are paced by the model's time: each part's call moves the clock as it
    # arrives, and takes long enough on the machine for the draft to show its stage
    clock = model_clock(botapi, fake_llm)
    fake_llm.latency = 0.3
    async with running_bot(
        settings, store, botapi, fake_llm, clock=clock, llm_max_input_tokens=800
    ) as bot:
        bot.fake.message(35, url, language_code="en")
        await digest_in(bot, 35)
        stages = [d.plain for d in bot.fake.drafts_to(35) if d.plain.startswith("⏳")]
        assert any(re.match(r"⏳ Summarizing part \d of \d", s) for s in stages), stages
        assert len(bot.fake.visible(35)) == 1


async def test_llm_down_gives_an_offline_digest_saying_so(
    bot: Bot, fake_llm: FakeLLM, seed_text: str
) -> None:
    fake_llm.handler = lambda body: 503
    bot.fake.message(36, seed_text, language_code="ar")
    digest = await digest_in(bot, 36)
    assert "ملخص دون اتصال" in digest.plain
    assert "Traceback" not in digest.plain and "503" not in digest.plain
