"""Forwarded channel posts and other messages whose link is hidden behind words (a
`text_link` entity: "Read more" linked to the article), as channels usually post."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import Bot

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"


@pytest.fixture
def link(pages: PageServer) -> str:
    return pages.add("/news/syria-hidden", REAL.read_bytes())


def with_hidden_link(bot: Bot, chat_id: int, text: str, word: str, url: str, **kw: object) -> None:
    update = bot.fake.message(chat_id, text, queue=False, **kw)
    offset = len(text[: text.index(word)].encode("utf-16-le")) // 2
    length = len(word.encode("utf-16-le")) // 2
    update["message"]["entities"] = [
        {"type": "text_link", "offset": offset, "length": length, "url": url}
    ]
    bot.fake.push_update(update)


@pytest.mark.parametrize("forwarded", [True, False])
async def test_a_post_whose_link_hides_behind_words_is_summarized_from_the_link(
    bot: Bot, link: str, forwarded: bool
) -> None:
    extra = {"forward_from_channel": "قناة الأخبار"} if forwarded else {}
    text = "عاجل: اتفاق جديد بين الطرفين. التفاصيل"
    with_hidden_link(bot, 61, text, "التفاصيل", link, language_code="ar", **extra)
    digest = await bot.fake.wait_for(lambda s: s.chat_id == 61 and s.reply_markup is not None, 15)
    assert "•" in digest.plain, digest.plain
    assert any(b.get("url") == link for b in digest.buttons)  # the source: that article


async def test_summarize_as_a_reply_in_a_group_reads_the_hidden_link(bot: Bot, link: str) -> None:
    """In a group, `/summarize@bot` sent as a reply to a forwarded post whose link
    hides behind words summarizes that link."""
    group = -1004000000004
    text = "عاجل: اتفاق جديد بين الطرفين. التفاصيل"
    with_hidden_link(
        bot,
        group,
        text,
        "التفاصيل",
        link,
        chat_type="supergroup",
        user_id=62,
        language_code="ar",
        forward_from_channel="قناة الأخبار",
    )
    post = max(mid for chat, mid in bot.fake.messages if chat == group)
    bot.fake.command(
        group,
        "/summarize@digest_test_bot",
        chat_type="supergroup",
        user_id=63,
        language_code="ar",
        reply_to=post,
    )
    digest = await bot.fake.wait_for(
        lambda s: s.chat_id == group and s.reply_markup is not None, 15
    )
    assert "•" in digest.plain, digest.plain
    assert any(b.get("url") == link for b in digest.buttons)
