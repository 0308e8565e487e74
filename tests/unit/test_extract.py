"""Extraction from the seed re-post and the real CNN Arabic page."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import NotAnArticle, TextTooShort
from bot.ingest.arabic import tokens
from bot.ingest.extract import extract_html, extract_text, load_rules, strip_boilerplate

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
CNN_URL = "http://arabic.cnn.com/2013/middle_east/8/3/syria.clashes/index.html"

SEED_BOILERPLATE = [
    "قد يهمك ايضاً",
    "المصدر:",
    "العرب اليوم",
    "ارسلوا مقالاتكم",
    "info@elaiounsidimellouk.com",
    "مصدر الخبر",
    "Feed:",
    "Created by WPeMatico",
    "إختر التصنيف للمزيد من الأخبار",
    "أحدث المقالات والأخبار",
    "About",
    "19566 Articles",
    "هيئة التحرير",
    "كن أول من يعلق",
    "أضف تعليقاً",
    "لن يتم نشر عنوان بريدك الإلكتروني.",
    "تاريخ النشر الأصلي",
]
CNN_POLICY = ["ترحب شبكة CNN بالنقاش الحيوي", "الآراء الواردة أدناه لا تعبر عن رأي"]


def f1(got: str, expected: str) -> float:
    a, b = Counter(tokens(got)), Counter(tokens(expected))
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def test_seed_boilerplate_is_gone_and_body_kept(seed_text: str) -> None:
    article = extract_text(seed_text)
    for phrase in SEED_BOILERPLATE:
        assert phrase not in article.text, phrase
    assert "@" not in article.text
    assert not any(line.strip() == "*" for line in article.text.splitlines())
    assert "وأضاف لافروف في مقابلة مع قناة “سولوفيف لايف”" in article.text
    assert article.text.startswith("أعلن البيت الأبيض انتهاء الاتصال الهاتفي")
    assert article.text.rstrip().endswith("رغم نفي روسيا هذه الاتهامات مرارا وتكرارا.")
    assert article.published == date(2021, 12, 31)
    assert article.title is not None
    assert article.title.startswith("مكالمة هاتفية بين بايدن وبوتين")
    # the repeated headline is not part of the body
    assert "تقترح المسار الدبلوماسي لتجنب" not in article.text
    assert article.language == "ar"
    assert article.source_kind == "text"
    assert not article.partial
    assert len(article.paragraphs) >= 6


def test_cnn_page_matches_the_careful_reader() -> None:
    html = (REAL / "cnn-arabic-2013-syria.html").read_text("utf-8")
    expected = (REAL / "cnn-arabic-2013-syria.expected.txt").read_text("utf-8")
    article = extract_html(html, CNN_URL)
    assert f1(article.text, expected) >= 0.95
    for phrase in CNN_POLICY:
        assert phrase not in article.text
    assert article.published == date(2013, 8, 28)
    assert article.title == "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"
    assert article.site_name
    assert article.language == "ar"
    assert article.source_kind == "url"
    assert article.url == CNN_URL
    assert not article.partial
    assert article.paragraphs[0].startswith("دمشق، سوريا (CNN)")


def test_html_date_from_metadata_is_kept() -> None:
    body = "".join(
        f"<p>{'فقرة من نص الخبر الطويل عن الاقتصاد والسياسة. ' * 4}</p>" for _ in range(6)
    )
    html = (
        '<html><head><meta property="article:published_time" content="2022-03-14T10:00:00Z">'
        f"<title>عنوان</title></head><body><article><h1>عنوان الخبر</h1>{body}</article></body></html>"
    )
    article = extract_html(html, "https://news.example/a")
    assert article.published == date(2022, 3, 14)
    assert article.site_name == "news.example"


def test_html_without_article_is_not_an_article() -> None:
    with pytest.raises(NotAnArticle):
        extract_html("<html><body><nav>الرئيسية</nav></body></html>")
    with pytest.raises(NotAnArticle):
        extract_html("")


def test_short_or_paywalled_html_is_partial() -> None:
    teaser = (
        "<p>" + "بدأت المحادثات بين الطرفين صباح اليوم في العاصمة وسط ترقب دولي واسع. " * 3 + "</p>"
    )
    html = f"<html><body><article><h1>عنوان</h1>{teaser}<p>هذا المحتوى للمشتركين فقط</p></article></body></html>"
    article = extract_html(html)
    assert article.partial


def test_pasted_text_too_short_after_cleanup() -> None:
    text = "عنوان قصير\n\nنص قصير جدا.\n\nقد يهمك ايضاً\n\n" + "المصدر: موقع ما\n" * 30
    with pytest.raises(TextTooShort) as err:
        extract_text(text)
    assert err.value.params["chars"] < 200


def test_paywall_marker_in_pasted_text() -> None:
    body = "أعلنت الحكومة اليوم عن خطة اقتصادية جديدة تشمل دعم الصناعات الصغيرة. " * 5
    article = extract_text(f"خطة اقتصادية\n\n{body}\n\nهذا المحتوى للمشتركين. للاشتراك اضغط هنا")
    assert article.partial
    assert "للمشتركين" not in article.text  # the notice is not article text
    assert article.text == body.strip()


def test_rules_come_from_the_data_file() -> None:
    rules = load_rules()
    assert "created by wpematico" in rules.cut_after
    assert any("للمشتركين" in m for m in rules.paywall)
    lines = ["نص الخبر الأول", "About محرر الموقع 12 Articles", "محرر الموقع", "نص آخر"]
    assert strip_boilerplate(lines) == ["نص الخبر الأول", "نص آخر"]
    # a cut marker too early only removes its own line
    assert strip_boilerplate(["قد يهمك ايضاً", "نص الخبر"]) == ["نص الخبر"]


def test_english_pasted_article() -> None:
    body = (
        "The White House said the two presidents spoke for fifty minutes on Thursday. "
        "Officials said the call focused on the military build-up near the border.\n\n"
        "Both sides agreed to continue talks in January, a spokesperson said."
    )
    text = (
        f"Biden and Putin discuss Ukraine\n\nPublished: December 30, 2021\n\n{body}\n\n"
        "Share this article\n\nLeave a Reply\n\nRelated Articles\n\nSome other story title"
    )
    article = extract_text(text)
    assert article.title == "Biden and Putin discuss Ukraine"
    assert article.published == date(2021, 12, 30)
    assert article.language == "en"
    assert article.text == body


def test_share_buttons_and_follow_lines_are_dropped() -> None:
    body = (
        "قالت وزارة الصحة إن حملة التطعيم ستشمل جميع المحافظات اعتبارا من الأسبوع المقبل، "
        "وإن الجرعات متوفرة في المراكز الصحية والمستشفيات الحكومية دون مقابل.\n\n"
        "وأضافت الوزارة أن الفرق الميدانية ستزور المدارس والجامعات لتطعيم الطلاب والعاملين."
    )
    text = (
        "حملة تطعيم جديدة\n\nفيسبوك\nتويتر\nواتساب\n\n"
        f"{body}\n\nشاهد أيضا: حملة سابقة\nانضم إلى قناتنا على تلغرام\nطباعة"
    )
    article = extract_text(text)
    assert article.title == "حملة تطعيم جديدة"
    assert article.text == body


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*SEED_BOILERPLATE, "نص الخبر هنا عن الاقتصاد والسياسة في المنطقة. " * 3, "\n", "\n\n"]
        ),
        max_size=40,
    )
)
def test_extract_text_is_total(parts: list[str]) -> None:
    """Any mix of boilerplate and body lines: an Article of >= 200 chars, or TextTooShort."""
    try:
        article = extract_text("\n".join(parts))
    except TextTooShort as err:
        assert err.params["chars"] < 200
    else:
        assert len(article.text) >= 200
        assert "كن أول من يعلق" not in article.text
        assert "@" not in article.text
