"""What an edited message asks (bot/chat/edits.py:material): two versions of a message
that deserve the same answer give the same string, and only those."""

from __future__ import annotations

import pytest

from bot.chat.edits import addressed, material
from bot.messages import Document, Incoming


async def _none() -> bytes:
    return b""


def msg(text: str = "", **kw: object) -> Incoming:
    return Incoming(user_id=1, chat_id=1, text=text, message_id=5, **kw)  # type: ignore[arg-type]


LINK = "https://news.example/a/1"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (LINK, f"شوف هذا {LINK}"),  # the comment beside a link
        (LINK, f"{LINK}?utm_source=tg#top"),  # tracking and fragment
        ("What happens next?", "  what happens   NEXT? "),  # spaces and case
    ],
)
def test_the_same_request_in_other_words_is_the_same(before: str, after: str) -> None:
    assert material(msg(before)) == material(msg(after))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("https://news.example/a/l", LINK),  # a typo fixed in the link
        ("Who took part?", "What happens next?"),  # another question
        ("x " * 200 + LINK, "y " * 200 + LINK),  # an article with a link: the text counts
    ],
)
def test_a_different_request_is_different(before: str, after: str) -> None:
    assert material(msg(before)) != material(msg(after))


def test_command_file_and_mention() -> None:
    assert material(msg(command="summarize", args=LINK)) != material(msg(LINK))
    mentioned = msg(f"@digest_bot {LINK}", mentioned=True, chat_type="group")
    assert material(mentioned) == material(msg(LINK))
    a = Document("f1", "a.png", "image/png", 10, _none, unique_id="u1")
    b = Document("f2", "a.png", "image/png", 10, _none, unique_id="u2")
    assert material(msg("en", document=a)) != material(msg("en", document=b))
    assert material(msg("en", document=a)) != material(msg("ar", document=a))


def test_only_messages_for_the_bot_are_addressed_in_groups() -> None:
    assert addressed(msg("hi"))
    assert not addressed(msg("hi", chat_type="group"))
    assert addressed(msg("hi", chat_type="group", mentioned=True))
    assert addressed(msg("hi", chat_type="group", reply_to_bot=True))
    assert addressed(msg("", chat_type="group", command="help"))
