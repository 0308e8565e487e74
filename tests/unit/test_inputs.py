"""Input validation: every bad input is a clear BadInput / TextTooShort."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import BadInput, TextTooShort
from bot.i18n import error_text, t
from bot.ingest.inputs import MIN_CHARS, find_url, normalize_url, read_source, validate_url


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("ftp://example.com/a.txt", "ftp:"),
        ("javascript:alert(1)", "javascript:"),
        ("data:text/html,<b>hi</b>", "data:"),
        ("file:///etc/passwd", "file:"),
        ("http://", "no host"),
        ("https:///path", "no host"),
        ("http:example.com", "no host"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/\x00", "spaces"),
        ("https://example.com/" + "a" * 2048, "too long"),
        ("https://user:secret@example.com/", "password"),
        ("https://example.com:99999/", "malformed"),
        ("https://example.com:0/", "port"),
        ("example.com/news", "http://"),
        ("http://xn--/", "host name"),
        ("http://xn--abcxn--abc/", "host name"),
        ("http://exa..mple.com/", "host name"),
        ("", "empty"),
    ],
)
def test_validate_url_refuses(url: str, needle: str) -> None:
    with pytest.raises(BadInput) as err:
        validate_url(url)
    assert needle in err.value.detail
    # users read the translated reason: the same sentence in English, Arabic in Arabic
    assert err.value.reason
    assert err.value.detail in error_text("en", err.value)
    arabic = error_text("ar", err.value)
    assert err.value.detail not in arabic
    assert re.search(r"[\u0600-\u06FF]", arabic)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/news/1?id=2",
        "  http://arabic.cnn.com/2013/middle_east/8/28/syria.html  ",
        "https://مثال.إختبار/مقال",
        "https://xn--mgbh0fb.xn--kgbechtv/",
        "http://127.0.0.1:8080/a",
        "http://[2001:db8::1]/a",
    ],
)
def test_validate_url_accepts(url: str) -> None:
    assert validate_url(url) == url.strip()


@pytest.mark.parametrize(
    ("message", "url"),
    [
        ("اقرأ هذا https://example.com/a/b.html.", "https://example.com/a/b.html"),
        ("(https://example.com/wiki/A_(b))", "https://example.com/wiki/A_(b)"),
        ("الرابط: https://example.com/x?id=1، شكرا", "https://example.com/x?id=1"),
        ("«https://example.com/q»", "https://example.com/q"),
        ("HTTP://EXAMPLE.com/Up", "HTTP://EXAMPLE.com/Up"),
        ("no link here, ftp://example.com", None),
        ("just https://", None),
    ],
)
def test_find_url(message: str, url: str | None) -> None:
    assert find_url(message) == url


def test_normalize_url_is_the_cache_identity() -> None:
    a = normalize_url("HTTPS://Example.COM:443/news?b=2&utm_source=tw&a=1&fbclid=x#top")
    b = normalize_url("https://example.com/news?a=1&b=2&gclid=y")
    assert a == b == "https://example.com/news?a=1&b=2"
    assert normalize_url("http://example.com") == "http://example.com/"
    assert normalize_url("http://example.com:8080/a") == "http://example.com:8080/a"
    assert normalize_url("http://example.com/A") != normalize_url("http://example.com/a")
    # one article, written three ways
    assert (
        normalize_url("https://مثال.إختبار/مقال?id=1")
        == normalize_url("https://xn--mgbh0fb.xn--kgbechtv/%d9%85%d9%82%d8%a7%d9%84?id=1")
        == normalize_url("https://XN--MGBH0FB.xn--kgbechtv/%D9%85%D9%82%D8%A7%D9%84?id=1#x")
    )


def test_read_source_url_file_and_stdin(tmp_path: Path, seed_text: str) -> None:
    assert read_source("https://example.com/a") == ("url", "https://example.com/a")
    f = tmp_path / "a.txt"
    f.write_text(seed_text, "utf-8")
    assert read_source(str(f)) == ("text", seed_text)
    assert read_source("-", io.StringIO(seed_text)) == ("text", seed_text)


@pytest.mark.parametrize(
    "arg", ["ftp://example.com/a", "javascript:alert(1)", "http://", "nofile.txt", ""]
)
def test_read_source_refuses(arg: str) -> None:
    with pytest.raises(BadInput) as err:
        read_source(arg)
    assert err.value.detail


def test_read_source_empty_and_short_text(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="empty") as err:
        read_source("-", io.StringIO("  \n\u200b \n"))
    assert not isinstance(err.value, TextTooShort)
    short = "نص قصير جدا " * 5
    with pytest.raises(TextTooShort) as err2:
        read_source("-", io.StringIO(short))
    chars = err2.value.params["chars"]
    assert chars < MIN_CHARS
    assert str(chars) in t("ar", err2.value.key, **err2.value.params)
    # zero-width padding does not count towards the length
    padded = "كلمة\u200b" * 45  # 180 visible characters
    with pytest.raises(TextTooShort):
        read_source("-", io.StringIO(padded + "\u200b" * 300))


def test_read_source_binary_and_unreadable_files(tmp_path: Path) -> None:
    binary = tmp_path / "img.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00" * 50)
    with pytest.raises(BadInput, match="not a text file"):
        read_source(str(binary))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 ".encode("latin-1") * 100)
    with pytest.raises(BadInput, match="UTF-8"):
        read_source(str(latin))
    with pytest.raises(BadInput, match="not a regular file"):
        read_source(str(tmp_path))


@settings(deadline=None)  # the 2-core CI machine is shared; no timing asserts
@given(st.text(max_size=300))
def test_validate_url_only_ever_raises_bad_input(text: str) -> None:
    text = f"http://{text}" if text[:1].isalnum() and len(text) % 2 else text
    try:
        out = validate_url(text)
    except BadInput as err:
        assert err.detail
    else:
        assert out == text.strip()
        assert out.lower().startswith(("http://", "https://"))
        assert httpx.URL(out).host  # the fetcher can parse whatever we accept


@settings(deadline=None)  # the 2-core CI machine is shared; no timing asserts
@given(
    st.text(max_size=200), st.sampled_from(["https://example.com/a", "http://news.example/ب?x=1"])
)
def test_find_url_finds_an_embedded_link(prefix: str, url: str) -> None:
    found = find_url(f"{prefix} {url}. ")
    assert found is not None
    assert found in f"{prefix} {url}"
    assert not any(ch.isspace() for ch in found)


def test_oversized_file_and_stdin_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("كلمة " * (1_100_000), "utf-8")  # about 11 MB
    with pytest.raises(BadInput, match="too large"):
        read_source(str(big))
    with pytest.raises(BadInput, match="too large"):
        read_source("-", io.StringIO("a" * (5 * 1024 * 1024 + 10)))
