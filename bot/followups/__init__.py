"""Follow-up questions about the chat's article (transport-neutral core)."""

from bot.followups.service import Answer, ArticleSource, FollowupService

__all__ = ["Answer", "ArticleSource", "FollowupService"]
