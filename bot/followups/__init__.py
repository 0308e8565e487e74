"""Follow-up questions about the chat's article (transport-neutral core).

The front door: code outside bot/followups uses only what this module exports.
"""

from bot.followups.anchored import MAX_ANSWER_TOKENS
from bot.followups.answer import Answer
from bot.followups.context import ChatContext
from bot.followups.prompt import question_prefix
from bot.followups.render import render_answer_html
from bot.followups.service import ArticleSource, FollowupService

__all__ = [
    "MAX_ANSWER_TOKENS",
    "Answer",
    "ArticleSource",
    "ChatContext",
    "FollowupService",
    "question_prefix",
    "render_answer_html",
]
