"""Questions about a briefing: a reply to a briefing message asks about its stories.

The briefing message's stories are known (bot/briefings/recall.py). The question is
about one of them: the one it names by number ("the second story", "الخبر الثاني",
"#2", "story 2"), else the one whose article shares the most words with the question.
That story's lead article is kept like any summarized article (so follow-ups can read
it), and the question is answered from it by the follow-up service (retrieval over
its text, the answer grounded in its sentences); the answer starts with the story it
comes from ("From story 2: <title>"). Works the same in groups, where the question is
a reply to the bot's briefing, and in a channel's discussion group, where it is a
comment on the channel's briefing (a reply to Telegram's copy of the post there).

When the story is an update of one the chat's earlier briefings told (issue 23), what
those briefings said about it is added to the article the question is answered from
(a paragraph per earlier briefing, dated), so "what happened before?" is answered from
what the reader was told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.briefings import FeedArticle
from bot.chat.answering import answer_within_limits
from bot.chat.router import Conversation
from bot.followups import render_answer_html
from bot.i18n import t
from bot.ingest.arabic import tokens
from bot.messages import Incoming, Outbox, Reply
from bot.render import escape, rtl_line

_ORDINALS: dict[int, tuple[str, ...]] = {
    1: ("first", "1st", "الأول", "الاول", "الأولى", "الاولى"),
    2: ("second", "2nd", "الثاني", "الثانى", "الثانية"),
    3: ("third", "3rd", "الثالث", "الثالثة"),
    4: ("fourth", "4th", "الرابع", "الرابعة"),
    5: ("fifth", "5th", "الخامس", "الخامسة"),
    6: ("sixth", "6th", "السادس", "السادسة"),
    7: ("seventh", "7th", "السابع", "السابعة"),
    8: ("eighth", "8th", "الثامن", "الثامنة"),
}
_NUMBERED = re.compile(
    r"(?:#|\b(?:story|item|news|no\.?)\s*|(?:الخبر|القصة|رقم)\s*)(\d{1,2})", re.I
)


def _date(lang: str, day: date) -> str:
    return f"{day.day} {t(lang, f'digest.month_{day.month}')} {day.year}"


@dataclass(frozen=True)
class _Story:
    n: int  # 1-based, as numbered in the briefing
    article: FeedArticle


def named_story(question: str, count: int) -> int | None:
    """The story number (1-based) the question names, or None."""
    m = _NUMBERED.search(question.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")))
    if m and 1 <= int(m.group(1)) <= count:
        return int(m.group(1))
    words = set(re.findall(r"[\w]+", question.lower()))
    for n, forms in _ORDINALS.items():
        if n <= count and words & set(forms):
            return n
    return None


def best_story(question: str, stories: list[_Story]) -> _Story:
    """The story named in the question, else the one sharing the most words with it."""
    n = named_story(question, len(stories))
    if n is not None:
        return stories[n - 1]
    asked = set(tokens(question))

    def overlap(s: _Story) -> float:
        words = set(tokens(f"{s.article.title}\n{s.article.text}"))
        title = set(tokens(s.article.title))
        return len(asked & words) + 2 * len(asked & title)

    return max(stories, key=overlap)  # ties: the first story


async def ask_about_post(conv: Conversation, msg: Incoming, out: Outbox, question: str) -> None:
    """A comment on a channel post (a reply to its copy in the discussion group): a
    question when the post is the channel's briefing; any other comment is not for
    the bot (nothing is said)."""
    if msg.reply_to_post is None or not question.strip():
        return
    channel, post = msg.reply_to_post
    await ask_briefing(conv, msg, out, question.strip(), post, briefing_chat=channel)


async def ask_briefing(
    conv: Conversation,
    msg: Incoming,
    out: Outbox,
    question: str,
    target: int,
    *,
    briefing_chat: int | None = None,
) -> bool:
    """Answer `question` when `target` is a briefing message (in `briefing_chat`, else
    this chat); False when it is not one."""
    services = conv.services
    found = await services.briefings.stories_of(briefing_chat or msg.chat_id, target)
    if not found:
        return False  # not a briefing, or its stories expired: the caller's path explains
    stories = [_Story(n, fa) for n, fa in enumerate(found, 1)]
    story = best_story(question, stories)
    article = story.article.to_article()
    told = await services.briefings.earlier_of(briefing_chat or msg.chat_id, [story.article.id])
    ui = await conv.lang(msg)
    if told.get(story.article.id):
        earlier = [
            t(
                ui,
                "briefing.earlier_context",
                date=_date(ui, day),
                text=item.text.replace("\n", " — "),
            )
            for day, item in told[story.article.id]
        ]
        article = article.model_copy(update={"text": "\n\n".join([article.text, *earlier])})
    await services.digests.keep(article)
    answer = await answer_within_limits(
        services, msg, out, question, ui=ui, article_id=article.id, reply_to=msg.message_id
    )
    cite = t(ui, "group.story_cited", n=story.n, title=story.article.title)
    html = f"<i>{escape(rtl_line(cite, ui))}</i>\n\n" + render_answer_html(answer, ui)
    ids = await out.send(
        Reply(
            html=html,
            kind="answer",
            article_id=article.id,
            reply_to_message_id=msg.message_id,
            edit_placeholder=True,  # the answer grew there while the model wrote it
        )
    )
    for mid in ids:  # a reply to the answer continues about that story
        await services.followups.bind_message(msg.chat_id, mid, article.id)
    return True
