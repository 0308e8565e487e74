"""Pictures and every other kind of message, end to end: the real Application against
the fake Bot API (photos served through getFile and the file path), real Redis, the fake
LLM; the pictures are drawn in the test (tests/fakes/images.py) from a real article's
text, and the test checks what text reached the model. Tests that need Tesseract are
skipped, saying why, where it is not installed (.ci/run installs it)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from bot import stats
from bot.briefings import sources as srcs
from bot.config import Settings
from bot.ingest import ocr
from bot.ingest.overlap import bigram_f1
from bot.store.redis import Store
from tests.fakes.botapi import BotAPI
from tests.fakes.images import encode, render_text
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import ADMIN, Bot, running_bot
from tests.integration.test_feeds import rss
from tests.integration.test_telegram_documents import article_sent, digest_in

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAGE = (FIXTURES / "real" / "pages" / "akhbarelyom-2020-10-07.expected.txt").read_text("utf-8")
NUMBER = re.compile(r"^\[\d+\]\s*")
needs_tesseract = pytest.mark.skipif(
    not ocr.available(),
    reason="Tesseract with the ara and eng models is not installed here "
    "(apt-get install tesseract-ocr tesseract-ocr-ara tesseract-ocr-eng; .ci/run does it)",
)
GROUP = -100777


def screenshot() -> bytes:
    return encode(render_text(PAGE), "JPEG", quality=90)


@needs_tesseract
async def test_a_photo_in_a_private_chat_is_read_and_summarized(
    bot: Bot, fake_llm: FakeLLM, store: Store
) -> None:
    """Before: a photo got no reply at all. Now its largest size is downloaded, read by
    OCR, and the text reaches the model in reading order."""
    bot.fake.photo(51, screenshot(), language_code="ar")
    digest = await digest_in(bot, 51)
    assert bot.fake.downloads == ["photos/file_1.jpg"]  # the largest size, not the thumbnail
    assert bigram_f1(article_sent(fake_llm), PAGE) >= 0.8
    assert "نعيمة" in digest.plain
    today: date = date.today()
    assert await stats.get(store, "ocr_pages", today) == 1
    calls = fake_llm.calls
    bot.fake.photo(52, screenshot(), caption="en")  # the same picture, forwarded
    second = await digest_in(bot, 52)
    assert second.buttons[0]["callback_data"].endswith(":ar")  # the caption asked English
    assert await stats.get(store, "ocr_pages", today) == 1  # read once: cached by hash
    assert fake_llm.calls > calls
    bot.fake.command(ADMIN, "/stats")
    report = await bot.reply(ADMIN, contains="OCR")
    # /stats reads the service clock's day (frozen here), the counters the real day's
    assert "Read by OCR today:" in report.plain


@needs_tesseract
async def test_in_a_group_a_photo_is_read_only_when_addressed(bot: Bot, fake_llm: FakeLLM) -> None:
    shot = bot.fake.photo(GROUP, screenshot(), chat_type="supergroup")
    bot.fake.command(GROUP, "/help", chat_type="supergroup")
    await bot.reply(GROUP, contains="/")
    assert bot.fake.downloads == []  # the unaddressed photo was left alone
    photo_id = shot["message"]["message_id"]
    bot.fake.command(GROUP, "/summarize", chat_type="supergroup", reply_to=photo_id)
    await digest_in(bot, GROUP)
    assert bigram_f1(article_sent(fake_llm), PAGE) >= 0.8


@needs_tesseract
async def test_an_image_link_is_read(bot: Bot, fake_llm: FakeLLM, pages: PageServer) -> None:
    link = pages.add("/shot.png", encode(render_text(PAGE)), content_type="image/png")
    bot.fake.message(53, link)
    await digest_in(bot, 53)
    assert bigram_f1(article_sent(fake_llm), PAGE) >= 0.8


@needs_tesseract
async def test_a_photo_of_no_text_gets_a_short_message(bot: Bot) -> None:
    from PIL import Image, ImageDraw

    img = Image.new("L", (800, 600), 200)
    ImageDraw.Draw(img).ellipse((250, 100, 550, 450), fill=90)
    bot.fake.photo(54, encode(img, "JPEG"), language_code="ar")
    reply = await bot.reply(54, contains="لم أجد نص مقال")
    assert reply.plain


KINDS = {
    "video": ("can't watch videos", "لا أستطيع مشاهدة الفيديو"),
    "animation": ("GIFs", "الصور المتحركة"),
    "video_note": ("video messages", "رسائل الفيديو"),
    "voice": ("voice messages", "الرسائل الصوتية"),
    "audio": ("audio files", "الملفات الصوتية"),
    "sticker": ("sticker", "ملصق"),
    "location": ("location", "بالموقع"),
    "contact": ("contact", "بجهة الاتصال"),
    "poll": ("polls", "الاستطلاعات"),
}


async def test_every_kind_of_message_gets_an_answer_in_private_and_none_in_groups(
    bot: Bot,
) -> None:
    """Before: a video, a voice message, a sticker, ... got silence. Now each gets a
    short reply in the user's language; in a group they stay unanswered. (Edits are
    read again: tests/integration/test_telegram_edits.py.)"""
    for i, (kind, (en, ar)) in enumerate(KINDS.items()):
        bot.fake.media(60 + i, kind)
        assert en in (await bot.reply(60 + i, contains=en)).plain
        bot.fake.media(80 + i, kind, language_code="ar")
        assert ar in (await bot.reply(80 + i, contains=ar)).plain
        bot.fake.media(GROUP, kind, chat_type="supergroup")
    bot.fake.command(GROUP, "/help", chat_type="supergroup")
    await bot.reply(GROUP, contains="/")
    assert [s.plain for s in bot.fake.sent_to(GROUP)][:-1] == []  # only /help's answer


async def test_removesource_with_a_link_removes_that_source(
    bot: Bot, pages: PageServer, store: Store
) -> None:
    """Before: `/removesource <url>` ignored its argument and showed buttons."""
    one = pages.add("/one.xml", rss("واحد", [("خبر", "http://x.example/1", "")]), "text/xml")
    two = pages.add("/two.xml", rss("اثنان", [("خبر", "http://x.example/2", "")]), "text/xml")
    for feed in (one, two):
        bot.fake.command(55, f"/addsource {feed}")
        await bot.reply(55, contains="✅")
    bot.fake.command(55, f"/removesource {one}")
    removed = await bot.reply(55, contains="Removed")
    assert "واحد" in removed.plain and not removed.buttons
    assert [s.name for s in await srcs.user_sources(store, 55)] == ["اثنان"]
    bot.fake.command(55, "/removesource https://nowhere.example/rss")
    choose = await bot.reply(55, contains="None of your sources")
    assert choose.buttons


@needs_tesseract
async def test_ocr_counts_against_the_rate_even_when_it_finds_no_text(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> None:
    """Before, the unit reserved for a file was handed back when reading failed: a
    stream of pictures with no text cost OCR time and no rate. Now OCR keeps it."""
    from PIL import Image

    blank = encode(Image.new("L", (600, 400), 230), "JPEG")
    async with running_bot(settings, store, botapi, fake_llm, summary_rate_per_minute=1) as bot:
        bot.fake.photo(56, blank)
        await bot.reply(56, contains="no article text")
        bot.fake.photo(56, blank)
        await bot.reply(56, contains="too fast")
        assert bot.fake.downloads == ["photos/file_1.jpg"]  # the second was never read


@needs_tesseract
async def test_in_a_group_an_image_file_follows_the_photos_rules(
    bot: Bot, fake_llm: FakeLLM
) -> None:
    """Before: a picture sent as a file (a PNG document) in a group, addressed to the
    bot, got "I read files in a private chat only" where the same picture as a photo
    was read. Now it is read like a photo whichever way it is addressed (a caption
    that mentions the bot, a reply to the bot, a /summarize reply to it); unaddressed,
    it is left alone, and other files addressed to the bot get the pointer."""
    png = encode(render_text(PAGE))
    kw = {"chat_type": "supergroup", "user_id": 57, "language_code": "ar"}
    bot.fake.document(GROUP, png, "shot.png", mime_type="image/png", **kw)  # not addressed
    loose = bot.fake.document(GROUP, png, "shot.png", mime_type="image/png", **kw)
    bot.fake.document(
        GROUP, png, "shot.png", mime_type="image/png", caption="@digest_test_bot", **kw
    )
    first = await digest_in(bot, GROUP)
    assert bigram_f1(article_sent(fake_llm), PAGE) >= 0.8
    assert len(bot.fake.downloads) == 1  # the unaddressed files were not downloaded
    start = len(bot.fake.sent)
    bot.fake.document(
        GROUP, png, "shot.png", mime_type="image/png", reply_to=first.message_id, **kw
    )
    assert await bot.fake.wait_for(lambda s: s.chat_id == GROUP and "•" in s.plain, 15, start=start)
    start = len(bot.fake.sent)
    loose_id = loose["message"]["message_id"]
    bot.fake.command(GROUP, "/summarize@digest_test_bot", reply_to=loose_id, **kw)
    assert await bot.fake.wait_for(lambda s: s.chat_id == GROUP and "•" in s.plain, 15, start=start)
    assert len(bot.fake.downloads) == 3
    bot.fake.document(
        GROUP, b"%PDF-1.4", "a.pdf", mime_type="application/pdf", reply_to=first.message_id, **kw
    )
    assert "المحادثة الخاصة" in (await bot.reply(GROUP, contains="المحادثة الخاصة")).plain
    assert len(bot.fake.downloads) == 3
