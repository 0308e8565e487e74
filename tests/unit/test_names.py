"""English names against Arabic text, by consonant skeleton (bot/grounding/names.py)."""

from __future__ import annotations

import pytest

from bot.grounding.evidence import check_claim
from bot.grounding.names import unmatched_names

SEED = (
    "أعلن البيت الأبيض انتهاء الاتصال الهاتفي بين الرئيس الأميركي جو بايدن ونظيره الروسي "
    "فلاديمير بوتين. وأفاد مسؤول في البيت الأبيض من ولمنغتون في ديلاوير. وأضاف الناطق باسم "
    "الكرملين دميتري بيسكوف أن طريق المفاوضات وحده قد يحل المشكلات. مذكرا بالقمة التي جمعت "
    "الرئيسين في يونيو/ حزيران بجنيف. بعد استيلائها على شبه جزيرة القرم الأوكرانية."
)
ALYAUM = (
    "شيعت إيران أمس الإثنين جثمان العالم النووي محسن فخري زادة إلى مقبرة بشمال طهران. "
    "وقال الخبير في الشؤون الإيرانية هاني سليمان إن الرد سيكون محدودا."
)


@pytest.mark.parametrize(
    ("claim", "source"),
    [
        ("The White House said US President Joe Biden called Vladimir Putin.", SEED),
        ("An official spoke from Wilmington, Delaware.", SEED),
        ("Kremlin spokesman Dmitry Peskov said talks alone can help.", SEED),
        ("The presidents met in Geneva in June.", SEED),
        ("Russia seized the Ukrainian Crimea peninsula.", SEED),
        ("Iran buried Mohsen Fakhrizadeh north of Tehran.", ALYAUM),
        ("Iranian affairs expert Hani Suleiman expects a limited response.", ALYAUM),
    ],
)
def test_names_of_a_faithful_translation_are_found(claim: str, source: str) -> None:
    assert unmatched_names(claim, source) == []


def test_a_name_the_model_brought_in_is_caught() -> None:
    """What the real 1.5B model wrote for the Iranian article: 'Hani Suleiman' became
    'Hassan Suleiman', killed by a drone the article never mentions."""
    claim = "The US drone strike killed Hassan Suleiman, Iran's most wanted man, in Baghdad."
    assert unmatched_names(claim, ALYAUM) == ["Hassan", "Baghdad"]
    check = check_claim(claim, [ALYAUM], same_language=False)
    assert not check.ok and "Hassan" in check.reason


def test_exonyms_and_acronyms() -> None:
    source = "القاهرة: قالت مصر إن حلف شمال الأطلسي والأمم المتحدة والإمارات يدعمون المبادرة."
    assert unmatched_names("He said Egypt, NATO, the UAE and the UN support it.", source) == []
    assert unmatched_names("He said Egypt and Morocco support it.", source) == ["Morocco"]


def test_institution_words_are_not_names_and_joined_words_need_an_exact_match() -> None:
    """From the CERN report: 'European Organization for Nuclear Research' is the
    article's 'المنظمة الأوروبية للأبحاث النووية'; 'Einstein' is not in it, and two
    joined Arabic words that merely come close must not stand in for it."""
    source = "أعلنت المنظمة الأوروبية للأبحاث النووية أن الباحثين يأملون إيجاد البوزون."
    faithful = "The European Organization for Nuclear Research said scientists hope to find it."
    assert unmatched_names(faithful, source) == []
    assert unmatched_names("Scientists hope Einstein's theory holds.", source) == ["Einstein's"]
