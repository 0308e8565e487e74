"""Rendering digests as Telegram HTML: escaping, the digest layout, splitting.

Every HTML output is checked with the fake Bot API's parser, which validates like
Telegram does (allowed tags, balance, escaping, length after entity parsing).
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.domain import Digest
from bot.render import (
    LRM,
    MARKS,
    RLM,
    escape,
    html_to_plain,
    render_digest_html,
    render_digest_text,
    split_html,
    visible_length,
)
from tests.fakes.botapi import ParseError, parse_html, utf16_len

ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإىة"
ALPHABET = st.sampled_from(
    list(ARABIC) + list("abcXYZ019٠١٢") + list("<>&\"' \n") + ["&amp;", "<b>", "😀", "\u200f"]
)
texts = st.lists(ALPHABET, max_size=200).map("".join)


def digest(**kw: object) -> Digest:
    base: dict[str, object] = {
        "headline": "روسيا تقترح <b>محادثات</b> & هدنة",
        "bullets": ["قال Sergey Lavrov إن 2024 <script>", "a < b & c > d"],
        "questions": ["متى ستعقد المحادثات؟"],
        "lang": "ar",
        "article_id": "abc123",
        "url": "https://www.example.com/news/1?a=1&b=2",
        "site_name": "CNN عربي",
        "published": date(2026, 11, 20),
        "age_days": 9,
    }
    base.update(kw)
    return Digest.model_validate(base)


def test_escape_handles_markup_characters() -> None:
    assert escape("a < b & c > d <script>") == "a &lt; b &amp; c &gt; d &lt;script&gt;"
    assert parse_html(escape("<i>not a tag</i> & more")) == "<i>not a tag</i> & more"


@given(texts)
def test_escaped_text_always_parses_and_round_trips(text: str) -> None:
    assert parse_html(escape(text)) == text


def test_digest_html_is_valid_and_shows_headline_bullets_date_source() -> None:
    d = digest()
    out = render_digest_html(d, "ar")
    plain = parse_html(out)
    assert out.startswith("<b>")
    assert "روسيا تقترح <b>محادثات</b> & هدنة" in plain  # model markup shown, not obeyed
    assert "• قال" in plain and "a < b & c > d" in plain
    assert "20 نوفمبر 2026" in plain and "CNN عربي" in plain
    assert 'href="https://www.example.com/news/1?a=1&amp;b=2"' in out
    assert "<script>" not in out


def test_old_partial_offline_and_translated_notes_in_ui_language() -> None:
    d = digest(old=True, partial=True, path="extractive", translation_note=True)
    en = parse_html(render_digest_html(d, "en"))
    assert "an old article, 9 days ago" in en
    assert (
        "Only part of the page" in en
        and "Offline summary" in en
        and "translation needs the AI service" in en
    )
    ar = parse_html(render_digest_html(d, "ar"))
    assert "مقال قديم، منذ 9 يومًا" in ar and "ملخص دون اتصال" in ar
    fresh = parse_html(render_digest_html(digest(), "en"))
    assert "old article" not in fresh and "Offline" not in fresh


def test_plain_text_digest_has_no_markup_and_no_marks() -> None:
    out = render_digest_text(digest(old=True), "en")
    assert out.splitlines()[0] == "روسيا تقترح <b>محادثات</b> & هدنة"
    assert "• a < b & c > d" in out
    assert "Source: CNN عربي — https://www.example.com/news/1?a=1&b=2" in out
    assert not any(m in out for m in MARKS)


def test_source_name_falls_back_to_host() -> None:
    out = parse_html(render_digest_html(digest(site_name=None, url="https://www.bbc.com/x"), "en"))
    assert "Source: bbc.com" in out


def test_visible_length_counts_after_entities_in_utf16() -> None:
    assert visible_length("<b>a&amp;b</b>") == 3
    assert visible_length("😀") == 2
    assert html_to_plain('<a href="x">l&lt;</a>') == "l<"


def test_short_message_is_not_split() -> None:
    assert split_html("<b>hi</b>") == ["<b>hi</b>"]


def test_split_prefers_paragraphs_and_reopens_tags() -> None:
    para = "<b>" + ("كلمة " * 300).strip() + "</b>"
    html = "\n\n".join([para] * 5)
    parts = split_html(html, limit=4096)
    assert len(parts) == 3  # 1499-char paragraphs: two fit in a message, not three
    words = ("كلمة " * 300).strip()
    for part in parts:
        plain = parse_html(part)
        assert utf16_len(plain) <= 4096
        # every paragraph is whole: the splits happened at blank lines
        assert all(p == words for p in plain.split("\n\n"))


def test_split_inside_a_long_tag_closes_and_reopens_it() -> None:
    html = "<i>" + "\n".join(f"سطر رقم {i} &amp; more" for i in range(400)) + "</i>"
    parts = split_html(html, limit=1000)
    assert len(parts) > 1
    assert all(p.startswith("<i>") and p.endswith("</i>") for p in parts)
    joined = "\n".join(parse_html(p) for p in parts)
    assert joined == parse_html(html)


def test_hard_split_of_one_huge_word_never_breaks_entities() -> None:
    html = "<code>" + "&amp;" * 5000 + "</code>"
    parts = split_html(html, limit=4096)
    assert [utf16_len(parse_html(p)) for p in parts] == [4096, 904]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["", "b", "i", "code"]), texts),
        min_size=1,
        max_size=12,
    ),
    st.integers(min_value=20, max_value=300),
)
def test_split_parts_are_valid_bounded_and_lose_no_text(
    blocks: list[tuple[str, str]], limit: int
) -> None:
    html = "\n\n".join(
        f"<{tag}>{escape(txt)}</{tag}>" if tag else escape(txt) for tag, txt in blocks
    )
    assume(parse_html(html).strip())
    parts = split_html(html, limit=limit)
    for part in parts:
        plain = parse_html(part)  # valid Telegram HTML, balanced tags
        assert utf16_len(plain) <= limit
        assert plain.strip()
    # no visible character is lost or invented (whitespace at split points may go)
    squash = lambda s: "".join(s.split())  # noqa: E731
    assert squash("".join(parse_html(p) for p in parts)) == squash(parse_html(html))


@pytest.mark.parametrize("ui", ["ar", "en"])
def test_long_digest_renders_and_splits_validly(ui: str) -> None:
    d = digest(bullets=[f"نقطة طويلة رقم {i} عن Reuters و 2024 " * 20 for i in range(30)])
    html = render_digest_html(d, ui)
    assert visible_length(html) > 4096
    parts = split_html(html)
    assert len(parts) >= 2
    for part in parts:
        assert utf16_len(parse_html(part)) <= 4096


def test_rtl_marks_in_rendered_arabic_digest() -> None:
    lines = parse_html(render_digest_html(digest(), "en")).splitlines()
    assert lines[0].startswith(RLM)  # Arabic headline
    assert any(line.startswith(LRM + "🗓 Published") for line in lines)  # English label


def test_fake_parser_rejects_what_telegram_rejects() -> None:
    for bad in [
        "<script>x</script>",
        "<b>x",
        "a < b",
        "a & b",
        "<b><i>x</b></i>",
        "<span>x</span>",
    ]:
        with pytest.raises(ParseError):
            parse_html(bad)
    assert (
        parse_html('<a href="https://x.y/?a=1&amp;b">t</a><span class="tg-spoiler">s</span>')
        == "ts"
    )


def test_a_long_detailed_digest_folds_its_later_points() -> None:
    points = [f"النقطة رقم {i}: " + "تفاصيل كثيرة عن الخبر " * 8 for i in range(1, 8)]
    out = render_digest_html(digest(bullets=points, length="detailed"), "ar")
    plain = parse_html(out)
    assert all(p.strip() in plain for p in points)  # nothing lost
    head, _, folded = out.partition("<blockquote expandable>")
    assert "النقطة رقم 3" in head and "النقطة رقم 4" not in head
    assert "النقطة رقم 4" in folded and "النقطة رقم 7" in folded
    assert all(utf16_len(parse_html(p)) <= 4096 for p in split_html(out))
    # short digests, and detailed ones that are already short, stay as they are
    short = render_digest_html(digest(bullets=points, length="short"), "ar")
    brief = render_digest_html(digest(bullets=["أ", "ب", "ج", "د"], length="detailed"), "ar")
    assert "<blockquote" not in short and "<blockquote" not in brief


def test_a_huge_folded_digest_splits_into_valid_messages() -> None:
    points = ["نقطة طويلة جدًا " * 60 for _ in range(12)]
    out = render_digest_html(digest(bullets=points, length="detailed"), "en")
    parts = split_html(out)
    assert len(parts) > 1
    for part in parts:
        assert utf16_len(parse_html(part)) <= 4096  # parse_html raises on invalid HTML
