"""Follow-up questions about the chat's article (transport-neutral core)."""

from bot.followups.answer import Answer
from bot.followups.service import ArticleSource, FollowupService

__all__ = ["Answer", "ArticleSource", "FollowupService"]
