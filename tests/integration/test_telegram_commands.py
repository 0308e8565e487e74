"""The bot's commands end to end: the real Application polling the fake Bot API."""

from __future__ import annotations

import pytest

from bot.render import strip_marks
from tests.integration.telegram_harness import ADMIN, Bot


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ar", "أهلًا ليلى! أحوّل المقالات"), ("ar-EG", "أهلًا ليلى!"), ("en", "Hello, ليلى! I turn")],
)
async def test_start_greets_in_the_telegram_language(bot: Bot, code: str, expected: str) -> None:
    bot.fake.command(11, "/start", language_code=code, first_name="ليلى")
    sent = await bot.reply(11)
    assert expected in sent.plain
    assert sent.parse_mode == "HTML"
    assert "https://" in sent.plain  # an example link


async def test_commands_are_published_in_arabic_and_english(bot: Bot) -> None:
    ar = bot.fake.commands["default:ar"]
    en = bot.fake.commands["default:en"]
    assert [c["command"] for c in ar] == [c["command"] for c in en]
    assert {"start", "help", "summarize", "language", "length", "reset"} <= {
        c["command"] for c in en
    }
    assert "stats" not in {c["command"] for c in en}  # admins only: not advertised
    assert dict((c["command"], c["description"]) for c in ar)["summarize"] == "لخّص رابطًا أو نصًا"
    assert bot.fake.commands["all_private_chats:ar"] == ar


@pytest.mark.parametrize(("code", "word"), [("ar", "ما يمكنني فعله"), ("en", "What I can do")])
async def test_help_in_both_languages(bot: Bot, code: str, word: str) -> None:
    bot.fake.command(12, "/help", language_code=code)
    text = (await bot.reply(12)).plain
    assert word in text
    # every published command is listed with its description, features' commands too
    menu = bot.fake.commands[f"default:{code}"]
    for entry in menu:
        assert f"/{entry['command']} — {entry['description']}" in text
    assert "/summarize en" in text and "/stats" not in text


async def test_language_buttons_then_preference_wins_over_telegram(bot: Bot) -> None:
    bot.fake.command(13, "/language", language_code="en")
    prompt = await bot.reply(13, contains="Choose the language")
    data = [b["callback_data"] for b in prompt.buttons]
    assert data == ["s:lang:ar", "s:lang:en"]
    bot.fake.callback(13, prompt.message_id, "s:lang:ar")
    done = await bot.reply(13, contains="بالعربية")
    assert done.method == "editMessageText" and done.message_id == prompt.message_id
    assert bot.fake.answered_callbacks  # the spinner on the button stops
    bot.fake.command(13, "/help", language_code="en")
    assert "ما يمكنني فعله" in (await bot.reply(13)).plain


async def test_language_with_argument_and_bad_argument(bot: Bot) -> None:
    bot.fake.command(14, "/language en", language_code="ar")
    assert "in English" in (await bot.reply(14)).plain
    bot.fake.command(14, "/language fr", language_code="ar")
    assert "/language ar" in (await bot.reply(14)).plain


@pytest.mark.parametrize(("code", "word"), [("ar", "مفصّلة"), ("en", "detailed")])
async def test_length_buttons_and_argument(bot: Bot, code: str, word: str) -> None:
    bot.fake.command(15, "/length", language_code=code)
    prompt = await bot.reply(15)
    assert [b["callback_data"] for b in prompt.buttons] == ["s:len:short", "s:len:detailed"]
    bot.fake.callback(15, prompt.message_id, "s:len:detailed", language_code=code)
    assert word in (await bot.reply(15)).plain
    assert (await bot.services.users.prefs(15)).length == "detailed"
    bot.fake.command(15, "/length short", language_code=code)
    await bot.reply(15)
    assert (await bot.services.users.prefs(15)).length == "short"


@pytest.mark.parametrize("code", ["ar", "en"])
async def test_stats_for_admins_only(bot: Bot, code: str) -> None:
    bot.fake.command(16, "/stats", language_code=code)
    refused = await bot.reply(16)
    assert strip_marks(refused.plain) in ("هذا الأمر غير متاح.", "That command isn't available.")
    bot.fake.command(ADMIN, "/stats", language_code=code)
    report = await bot.reply(ADMIN)
    assert ("Users:" if code == "en" else "المستخدمون:") in report.plain
    assert "2026-11-29" in report.plain
    chart = await bot.fake.wait_for(lambda s: s.chat_id == ADMIN and s.method == "sendPhoto", 20)
    assert chart.photo is not None and chart.photo.startswith(b"\x89PNG\r\n\x1a\n")
    assert ("14 days" if code == "en" else "14 يومًا") in chart.plain
    assert not any(s.method == "sendPhoto" and s.chat_id == 16 for s in bot.fake.sent)


@pytest.mark.parametrize(("code", "done"), [("ar", "تم: نسيت"), ("en", "Done: I forgot")])
async def test_unknown_command_and_reset(bot: Bot, code: str, done: str) -> None:
    bot.fake.command(17, "/frobnicate", language_code=code)
    assert "/help" in (await bot.reply(17)).plain
    bot.fake.command(17, "/reset", language_code=code)
    assert done in (await bot.reply(17)).plain


async def test_retry_after_is_honoured_not_dropped(bot: Bot) -> None:
    bot.fake.fail(18, 429, retry_after=1, method="sendMessage")
    bot.fake.command(18, "/help")
    sent = await bot.reply(18, wait=10)
    assert "What I can do" in sent.plain
    assert ("sendMessage", 429, "Too Many Requests: retry after 1") in bot.fake.errors


async def test_a_failing_update_does_not_stop_the_bot(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    # Telegram refuses the first reply: the handler fails, the error handler logs it with
    # the update id and tells the user in their language; the next update is served.
    bot.fake.fail(19, 400, description="Bad Request: chat not found", method="sendMessage")
    update = bot.fake.command(19, "/help", language_code="ar")
    sorry = await bot.reply(19)
    assert f"update {update['update_id']} failed" in caplog.text
    assert sorry.plain == "حدث خطأ من جهتنا. يُرجى المحاولة بعد دقيقة."
    assert "Traceback" not in sorry.plain
    bot.fake.command(19, "/start", language_code="ar")
    assert "أهلًا" in (await bot.reply(19)).plain
    assert not bot.fake.unknown


async def test_blocked_user_is_logged_and_others_are_served(bot: Bot) -> None:
    bot.fake.fail(20, 403, times=5)
    bot.fake.command(20, "/help")
    blocked = ("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await bot.fake.wait_until(lambda: blocked in bot.fake.errors)
    bot.fake.command(21, "/help")
    await bot.reply(21)
    assert not bot.fake.visible(20)
    assert bot.fake.errors.count(blocked) == 1  # no "sorry" message tried after a 403


@pytest.mark.parametrize(
    ("code", "word"), [("ar", "حذفت كل ما خزّنته"), ("en", "I deleted everything")]
)
async def test_forget_deletes_the_users_data(bot: Bot, code: str, word: str) -> None:
    bot.fake.command(22, "/language ar", language_code=code)
    await bot.reply(22)
    store = bot.services.store
    assert await store.redis.exists(store.keys.user(22))
    bot.fake.command(22, "/forget", language_code=code)
    done = await bot.reply(22)
    assert "حذفت كل ما خزّنته عنك" in done.plain  # still in the language they had chosen
    assert not await store.redis.exists(store.keys.user(22))
    assert not await store.redis.sismember(store.keys.users(), 22)
