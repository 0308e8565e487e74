"""Daily briefings: feeds -> articles -> stories -> per-user briefing -> delivery.

The front door: code outside bot/briefings uses only what this module exports. The
`Briefings` object (service.py) is built once per process and holds the rest.

Inside: schedule (pure due math), subscriptions, sources, registry (which feeds are
polled), feeds (poller), stories (clustering, ranking), compose (per-user briefing,
cached story summaries), message (rendering), pacing (per-group pace), limiter (global
send rate), lease, recall (which stories a briefing message shows), delivery (the tick),
scheduler (APScheduler jobs).
"""

from bot.briefings.delivery import (
    SendBlocked,
    Sender,
    SendFailed,
    SendMoved,
    SendRetryAfter,
    format_counts,
)
from bot.briefings.feeds import FeedArticle
from bot.briefings.message import DIGEST_PREFIX, UNSUBSCRIBE, render_text
from bot.briefings.schedule import format_hhmm
from bot.briefings.scheduler import start_scheduler
from bot.briefings.service import Briefings
from bot.briefings.sources import Source, feed_id
from bot.briefings.subscriptions import Subscription, check_time
from bot.briefings.subscriptions import forget_user as forget_subscriber

__all__ = [
    "DIGEST_PREFIX",
    "UNSUBSCRIBE",
    "Briefings",
    "FeedArticle",
    "SendBlocked",
    "SendFailed",
    "SendMoved",
    "SendRetryAfter",
    "Sender",
    "Source",
    "Subscription",
    "check_time",
    "feed_id",
    "forget_subscriber",
    "format_counts",
    "format_hhmm",
    "render_text",
    "start_scheduler",
]
