"""Daily briefings: feeds -> articles -> stories -> per-user briefing -> delivery.

Modules: schedule (pure due math), subscriptions, sources, feeds (poller), stories
(clustering, ranking), compose (per-user briefing, cached story summaries), message
(rendering), limiter (global send rate), delivery (the tick), scheduler (APScheduler).
"""
