"""Prometheus metrics: every metric the bot exposes, in one module, on one registry.

The metrics live on a module-level `REGISTRY` (its own `CollectorRegistry`, not the
prometheus-client global one), so importing this module twice, or running several
`Application`s in one test process, never raises "Duplicated timeseries". Several
apps in one process share the counters; tests compare values before and after with
`value(...)`. `/metrics` serves `render()`.

Call sites use the objects below directly, with these label values only (keep the
label sets small: never put user ids, URLs or error messages in a label):

| object | type | labels | who calls it |
| --- | --- | --- | --- |
| `UPDATES` `digestbot_updates_total` | counter | `type`: message, edited_message, channel_post, callback_query, my_chat_member, other | webhook server (and polling via a TypeHandler) |
| `WEBHOOK_REQUESTS` `digestbot_webhook_requests_total` | counter | `outcome`: accepted, duplicate, forbidden, bad_request, unavailable, overloaded | webhook server |
| `WEBHOOK_ACK_SECONDS` | histogram | - | webhook server: time to answer Telegram |
| `WEBHOOK_INFLIGHT` | gauge | - | webhook server: updates accepted and not yet finished |
| `UPDATE_SECONDS` `digestbot_update_seconds` | histogram | - | the update processor (bot/telegram/lifecycle.py), polling and webhook: time to process one update |
| `DIGESTS` `digestbot_digests_total` | counter | `path`: cache, llm, extractive | summarize service, once per digest returned |
| `LLM_CALLS` `digestbot_llm_calls_total` | counter | `outcome`: ok, error | LLM client, once per API call (not per retry) |
| `LLM_TOKENS` `digestbot_llm_tokens_total` | counter | `direction`: in, out | LLM client, from the response's `usage` |
| `LLM_CACHED_TOKENS` `digestbot_llm_cached_tokens_total` | counter | - | LLM client, `usage.prompt_tokens_details.cached_tokens` (or llama.cpp's `timings.cache_n`): prompt tokens reused from the server's prefix cache |
| `LLM_SECONDS` `digestbot_llm_latency_seconds` | histogram | - | LLM client, wall time of one call |
| `FETCH_ERRORS` `digestbot_fetch_errors_total` | counter | `kind`: see `fetch_error_kind()` | fetcher / extractor, once per failed fetch |
| `BRIEFINGS` `digestbot_briefings_total` | counter | `outcome`: the names of `bot.briefings.delivery.OUTCOMES` (sent, skipped_empty, blocked, failed, already_sent, late_skipped) plus its diagnostics (gone, replanned, in_flight) | `Delivery.tick`, once per claimed subscriber |
| `LLM_REPAIRS` `digestbot_llm_repairs_total` | counter | `kind`: see `REPAIR_KINDS` | LLM client and digest guards, once per adaptation, retry or repair |
| `RATE_LIMIT_HITS` `digestbot_rate_limit_hits_total` | counter | `limit`: summary_rate, token_budget, commands, forget, telegram_429, broadcast | per-user limiter, Telegram 429s, broadcast limiter waits |
| `READER_REFUSALS` `digestbot_reader_refusals_total` | counter | `reader`: the registered readers (page, text, pdf, docx); `reason`: too_large, deadline, cpu, memory, crashed, failed, or the last part of the refusal's message key (too_short, not_article, scanned, unreadable, too_slow ...) | `bot/readers/reading.py`, once per input refused |
| `READ_SECONDS` `digestbot_read_seconds` | histogram | `reader` | `bot/readers/reading.py`: wall time of one read in a worker process, queueing excluded |
| `OCR_PAGES` `digestbot_ocr_pages_total` | counter | - | `bot/readers/reading.py`, from the worker's reply: pictures and PDF pages read by OCR |
| `OCR_SECONDS` `digestbot_ocr_seconds_total` | counter | - | the same: wall time spent in OCR |
| `PDF_PAGES` `digestbot_pdf_pages_total` | counter | `path`: text, ocr, none | the same, once per PDF page read (its text layer, OCR, or neither) |

Example: `from bot import metrics; metrics.DIGESTS.labels(path="cache").inc()`, or
`metrics.observe_llm(seconds=1.2, tokens_in=900, tokens_out=120)` for one LLM call.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "callback_query",
    "my_chat_member",
)

UPDATES = Counter(
    "digestbot_updates",
    "Telegram updates accepted for processing, by type.",
    ["type"],
    registry=REGISTRY,
)
WEBHOOK_REQUESTS = Counter(
    "digestbot_webhook_requests",
    "Update POSTs to the webhook, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_ACK_SECONDS = Histogram(
    "digestbot_webhook_ack_seconds",
    "Time from receiving an update POST to answering it.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    registry=REGISTRY,
)
WEBHOOK_INFLIGHT = Gauge(
    "digestbot_webhook_inflight",
    "Updates accepted by this process and not yet processed (running or queued).",
    registry=REGISTRY,
)
UPDATE_SECONDS = Histogram(
    "digestbot_update_seconds",
    "Time to process one update in the background.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
DIGESTS = Counter(
    "digestbot_digests",
    "Digests returned, by path: cache hit, LLM summary, or offline extractive summary.",
    ["path"],
    registry=REGISTRY,
)
LLM_CALLS = Counter(
    "digestbot_llm_calls",
    "LLM API calls, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
LLM_CACHED_TOKENS = Counter(
    "digestbot_llm_cached_tokens",
    "Prompt tokens the LLM server read from its prefix cache (of the `in` tokens).",
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "digestbot_llm_tokens",
    "LLM tokens, by direction (in = prompt, out = completion).",
    ["direction"],
    registry=REGISTRY,
)
LLM_SECONDS = Histogram(
    "digestbot_llm_latency_seconds",
    "Wall time of one LLM call.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
    registry=REGISTRY,
)
FETCH_ERRORS = Counter(
    "digestbot_fetch_errors",
    "Failed page or feed fetches, by kind.",
    ["kind"],
    registry=REGISTRY,
)
BRIEFINGS = Counter(
    "digestbot_briefings",
    "Daily briefing deliveries, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
# What the LLM client and the digest guards had to do to get a usable reply.
REPAIR_KINDS = (
    "param_adapted",  # a 400 named a parameter; the request was adapted and re-sent
    "roles_adapted",  # the chat template refused the roles; the conversation was adapted
    "think_stripped",  # a <think> block was removed from the reply
    "length_retry",  # finish_reason "length": asked again with more room
    "json_repaired",  # broken JSON (prompt-only path) repaired by json-repair
    "shape_retry",  # a digest broke a shape or evidence rule: one corrective retry
    "item_dropped",  # a bullet or question dropped (cut off, duplicate, malformed)
    "unsupported_dropped",  # a bullet not supported by its cited sentences, dropped
    "recited",  # a bullet's citation pointed elsewhere; re-anchored to its support
    "topped_up",  # too few bullets left: article sentences added to reach the range
    "language_pivot",  # wrong language: summarized in the article's language, translated
)
LLM_REPAIRS = Counter(
    "digestbot_llm_repairs",
    "Adaptations, corrective retries and repairs of LLM replies, by kind.",
    ["kind"],
    registry=REGISTRY,
)
OCR_PAGES = Counter(
    "digestbot_ocr_pages",
    "Pictures and PDF pages read by OCR (cached readings not counted).",
    registry=REGISTRY,
)
OCR_SECONDS = Counter(
    "digestbot_ocr_seconds",
    "Wall time spent reading pictures and PDF pages by OCR.",
    registry=REGISTRY,
)
PDF_PAGES = Counter(
    "digestbot_pdf_pages",
    "PDF pages read, by path: text (its text layer), ocr, none (refused or past a limit).",
    ["path"],
    registry=REGISTRY,
)
RATE_LIMIT_HITS = Counter(
    "digestbot_rate_limit_hits",
    "Times a rate limit or budget was hit, by limit.",
    ["limit"],
    registry=REGISTRY,
)
READER_REFUSALS = Counter(
    "digestbot_reader_refusals",
    "Inputs (pages, texts, files) a reader refused, by reader and reason.",
    ["reader", "reason"],
    registry=REGISTRY,
)
READ_SECONDS = Histogram(
    "digestbot_read_seconds",
    "Wall time of one read in a reader worker process.",
    ["reader"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)


def update_type(data: Mapping[str, object]) -> str:
    """The `type` label for a raw update dict: its first known field, else "other"."""
    for name in UPDATE_TYPES:
        if name in data:
            return name
    return "other"


def fetch_error_kind(exc: BaseException) -> str:
    """The `kind` label for a fetch failure: blocked, content_type, too_large,
    not_article, timeout, or http (anything else)."""
    from bot.errors import BlockedAddress, NotAnArticle, TooLarge, UnsupportedContent

    if isinstance(exc, BlockedAddress):
        return "blocked"
    if isinstance(exc, UnsupportedContent):
        return "content_type"
    if isinstance(exc, TooLarge):
        return "too_large"
    if isinstance(exc, NotAnArticle):
        return "not_article"
    if isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower():
        return "timeout"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and "timeout" in type(cause).__name__.lower():
        return "timeout"
    return "http"


def observe_llm(
    *, seconds: float, tokens_in: int, tokens_out: int, ok: bool = True, tokens_cached: int = 0
) -> None:
    """Record one LLM call: its outcome, latency and token usage (`tokens_cached`: of
    `tokens_in`, what the server read from its prefix cache)."""
    if tokens_cached:
        LLM_CACHED_TOKENS.inc(tokens_cached)
    LLM_CALLS.labels(outcome="ok" if ok else "error").inc()
    LLM_SECONDS.observe(seconds)
    if tokens_in:
        LLM_TOKENS.labels(direction="in").inc(tokens_in)
    if tokens_out:
        LLM_TOKENS.labels(direction="out").inc(tokens_out)


def value(name: str, **labels: str) -> float:
    """Current value of one sample (0.0 when never set), e.g.
    `value("digestbot_digests_total", path="cache")`. For tests and /stats."""
    got = REGISTRY.get_sample_value(name, labels or None)
    return 0.0 if got is None else got


def render() -> bytes:
    """Every metric in the Prometheus text format (serve with `CONTENT_TYPE`)."""
    return generate_latest(REGISTRY)
