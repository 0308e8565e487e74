"""bot.i18n.error_text: the one place a typed error becomes a user's sentence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.errors import (
    BadInput,
    BlockedAddress,
    ConfigError,
    DigestBotError,
    FetchError,
    TextTooShort,
    UnsupportedContent,
)
from bot.i18n import catalog, error_text
from bot.ingest.fetch import content_reason

BOT = Path(__file__).parents[2] / "bot"


def test_every_reason_raised_in_the_code_has_a_sentence() -> None:
    codes: set[str] = set()
    for path in BOT.rglob("*.py"):
        source = path.read_text("utf-8")
        codes |= set(re.findall(r"""reason\s*=\s*["']([a-z_]+)["']""", source))
        codes |= set(re.findall(r"""default_reason\s*=\s*["']([a-z_]+)["']""", source))
    codes |= {f"content_{kind}" for kind in re.findall(r'"([a-z]+)"\)', _content_kinds())}
    assert {"scheme", "timeout", "http_status", "no_such_file", "now_format"} <= codes
    for code in codes:
        for lang in ("ar", "en"):
            assert f"reason.{code}" in catalog(lang), (lang, code)


def _content_kinds() -> str:
    source = (BOT / "ingest" / "fetch.py").read_text("utf-8")
    return source.split("_CONTENT_KINDS", 1)[1].split("\n)\n", 1)[0]


@pytest.mark.parametrize(
    "err",
    [
        BadInput("scheme ftp refused", reason="scheme", scheme="ftp"),
        FetchError("HTTP 404", reason="http_status", status=404),
        FetchError("ConnectError: [Errno 111] refused", reason="connect"),
        FetchError("something odd"),  # no reason: the generic network sentence
        BlockedAddress("host.internal resolves to a non-public address"),
        UnsupportedContent("content type application/pdf", reason="content_pdf"),
        TextTooShort("text has 12 characters", chars=12),
        ConfigError("REDIS_URL is not a redis:// URL"),
        DigestBotError("KeyError: 'secret'"),
    ],
)
def test_detail_never_reaches_the_user(err: DigestBotError) -> None:
    for lang in ("ar", "en"):
        text = error_text(lang, err)
        assert text and err.detail not in text
        assert "{" not in text and "}" not in text
    assert re.search(r"[\u0600-\u06FF]", error_text("ar", err))


def test_reason_sentences() -> None:
    ftp = BadInput("x", reason="scheme", scheme="ftp")
    assert error_text("en", ftp) == "Links of type ftp: are not supported; use http or https."
    assert "ftp://" in error_text("ar", ftp)
    status = FetchError("HTTP 503", reason="http_status", status=503)
    assert error_text("en", status).startswith(
        "I couldn't fetch that link (the server answered with code 503)."
    )
    assert "أجاب الخادم بالرمز 503" in error_text("ar", status)
    # a reason the catalogs do not know falls back to the error's own message
    odd = BadInput("x", reason="no_such_reason")
    assert error_text("en", odd) == "I need a link (http or https) or the text of an article."


@pytest.mark.parametrize(
    ("content_type", "reason"),
    [
        ("application/pdf", "content_pdf"),
        ("image/png", "content_image"),
        ("video/mp4", "content_video"),
        ("application/zip", "content_archive"),
        ("application/json", "content_data"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "content_document",
        ),
        ("binary data", "content_binary"),
        ("chemical/x-pdb", "content_other"),
    ],
)
def test_content_types_by_kind(content_type: str, reason: str) -> None:
    assert content_reason(content_type) == reason
