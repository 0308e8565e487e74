"""The metrics module: label helpers and the Prometheus text it serves."""

from __future__ import annotations

import httpx
import pytest

from bot import metrics
from bot.errors import (
    BlockedAddress,
    FetchError,
    NotAnArticle,
    TooLarge,
    UnsupportedContent,
)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"update_id": 1, "message": {}}, "message"),
        ({"update_id": 2, "callback_query": {}}, "callback_query"),
        ({"update_id": 3, "edited_message": {}}, "edited_message"),
        ({"update_id": 4, "poll": {}}, "other"),
    ],
)
def test_update_type(data: dict[str, object], kind: str) -> None:
    assert metrics.update_type(data) == kind


def test_fetch_error_kinds_stay_a_small_fixed_set() -> None:
    timeout = FetchError("timed out")
    timeout.__cause__ = httpx.ReadTimeout("slow")
    cases = {
        BlockedAddress("10.0.0.1 is private"): "blocked",
        UnsupportedContent("pdf", content_type="application/pdf"): "content_type",
        TooLarge("big"): "too_large",
        NotAnArticle("no text"): "not_article",
        timeout: "timeout",
        FetchError("HTTP 404"): "http",
    }
    for exc, kind in cases.items():
        assert metrics.fetch_error_kind(exc) == kind


def test_counts_show_in_the_prometheus_text() -> None:
    before = metrics.value("digestbot_digests_total", path="cache")
    metrics.DIGESTS.labels(path="cache").inc()
    metrics.observe_llm(seconds=1.5, tokens_in=900, tokens_out=120)
    assert metrics.value("digestbot_digests_total", path="cache") == before + 1
    text = metrics.render().decode()
    assert 'digestbot_digests_total{path="cache"}' in text
    assert 'digestbot_llm_tokens_total{direction="in"}' in text
    assert 'digestbot_llm_latency_seconds_bucket{le="2.0"}' in text
    assert metrics.CONTENT_TYPE.startswith("text/plain")
