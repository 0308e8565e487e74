"""Shape rules and repair, on what real small models returned (Qwen2.5-Coder 1.5B/0.5B)."""

from __future__ import annotations

import pytest

from bot.summarize import shape

PARAGRAPH = (
    "وأثارت موسكو قلق الغرب بعد حشدها عشرات الآلاف من الجنود بالقرب من حدودها مع أوكرانيا "
    "في الشهرين الماضيين، بعد استيلائها على شبه جزيرة القرم الأوكرانية عام 2014 ودعمها "
    "للانفصاليين الذين يقاتلون الحكومة في شرق أوكرانيا."
)


@pytest.mark.parametrize(
    "text",
    [
        "أعلن البيت الأبيض انتهاء الاتصال الهاتفي بين",  # stops on a joining word
        "وأكد بوتين أنه مقتنع بإمكان إقامة حوار،",  # stops on a comma
        "The talks will resume in Geneva and",
        "قال المتحدث إن “الحوار هو الطريق",  # an open quote
    ],
)
def test_cut_bullets_are_found(text: str) -> None:
    assert shape.is_cut(text) and not shape.complete_sentence(text)


@pytest.mark.parametrize(
    "text",
    [
        "ويريد بايدن أن يقترح مسارا دبلوماسيا لتجنب التصعيد.",
        "ويريد بايدن أن يقترح مسارا دبلوماسيا",  # no final stop: repairable, not cut
        "Biden wants a diplomatic path (مسار دبلوماسي) to avoid escalation.",
    ],
)
def test_complete_sentences_pass(text: str) -> None:
    assert shape.complete_sentence(text)


@pytest.mark.parametrize("question", ["{", PARAGRAPH, '"questions": ["ما', "نعم"])
def test_malformed_questions_are_refused(question: str) -> None:
    assert not shape.good_question(question)


def test_real_model_digest_problems_are_all_named() -> None:
    """A detailed digest the 1.5B model returned: 4 bullets (6-10 asked), one cut, the
    same question twice and a paragraph as a question."""
    bullets = [
        "أعلن البيت الأبيض انتهاء الاتصال الهاتفي بين الرئيسين.",
        "ويريد بايدن أن يقترح مسارا دبلوماسيا.",
        "ويريد بايدن أن يقترح مسارا دبلوماسيا.",
        "وكانت روسيا أعلنت الإثنين الماضي إجراء محادثات أمنية مع",
    ]
    questions = ["هل انتهى الاتصال؟", "هل انتهى الاتصال؟", PARAGRAPH]
    found = shape.problems("عنوان الخبر", bullets, questions, shape.Range(6, 10))
    joined = "\n".join(found)
    assert "write 6 to 10 bullets (you wrote 4)" in joined
    assert "bullet 3 repeats" in joined and "bullet 4 is not a complete sentence" in joined
    assert "question 2 repeats" in joined and "question 3 is not a short question" in joined


def test_repair_keeps_what_can_be_kept() -> None:
    bullets, dropped = shape.repair_items(
        [
            '"ويريد بايدن أن يقترح مسارا دبلوماسيا',
            "ويريد بايدن أن يقترح مسارا دبلوماسيا.",
            '{"text": "x"}',
            "وكانت روسيا أعلنت إجراء محادثات أمنية مع",
        ],
        lang="ar",
        questions=False,
    )
    assert bullets == ["ويريد بايدن أن يقترح مسارا دبلوماسيا."] and dropped == 3
    questions, lost = shape.repair_items(
        ["هل انتهى الاتصال", "هل انتهى الاتصال؟", "{"], lang="ar", questions=True
    )
    assert questions == ["هل انتهى الاتصال؟"] and lost == 2


@pytest.mark.parametrize(
    ("lo", "hi", "sentences", "expected"),
    [(6, 10, 40, (6, 10)), (6, 10, 5, (3, 5)), (3, 5, 2, (1, 2)), (3, 5, 1, (1, 1))],
)
def test_bullet_range_narrows_for_short_articles(
    lo: int, hi: int, sentences: int, expected: tuple[int, int]
) -> None:
    want = shape.bullet_range(lo, hi, sentences)
    assert (want.lo, want.hi) == expected
