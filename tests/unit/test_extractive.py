"""The offline extractive summarizer on real Arabic text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Article
from bot.ingest.arabic import arabic_ratio, split_sentences
from bot.summarize.extractive import score_sentences, summarize_extractive

FIXTURES = Path(__file__).parents[1] / "fixtures"
SEED = (FIXTURES / "seed-article-ar.txt").read_text("utf-8").split("قد يهمك")[0].strip()
TITLE = "مكالمة هاتفية بين بايدن وبوتين تقترح “المسار الدبلوماسي” لتجنب التصعيد العسكري في أوكرانيا"


def seed_article(**kw: object) -> Article:
    return Article(text=SEED, **kw)  # type: ignore[arg-type]


def test_short_digest_of_the_seed_is_arabic_sentences_from_the_article() -> None:
    headline, bullets = summarize_extractive(seed_article(title=TITLE), length="short")
    assert headline == TITLE
    assert 3 <= len(bullets) <= 5
    sentences = split_sentences(SEED)
    for bullet in bullets:
        assert arabic_ratio(bullet) > 0.9
        assert any(bullet.rstrip("…") in s or s in bullet for s in sentences)
    assert TITLE not in bullets  # the repeated title line is not a bullet
    assert len(set(bullets)) == len(bullets)


def test_bullets_keep_article_order_and_detailed_is_longer() -> None:
    _, short = summarize_extractive(seed_article(title=TITLE), length="short")
    _, detailed = summarize_extractive(seed_article(title=TITLE), length="detailed")
    assert len(detailed) > len(short)
    positions = [SEED.find(b.rstrip("…")[:40]) for b in detailed]
    assert positions == sorted(positions)


def test_title_overlap_raises_a_sentence() -> None:
    scored = dict((s, score) for score, s in score_sentences(seed_article(title=TITLE)))
    plain = dict((s, score) for score, s in score_sentences(seed_article()))
    diplomatic = next(s for s in scored if "مسارا دبلوماسيا" in s)
    assert scored[diplomatic] > plain[diplomatic]


def test_without_a_title_the_headline_comes_from_the_text() -> None:
    headline, bullets = summarize_extractive(seed_article(), length="short")
    assert headline and arabic_ratio(headline) > 0.9
    assert headline not in bullets


def test_english_article_stays_english() -> None:
    text = (
        "The central bank raised interest rates by half a point on Tuesday. "
        "Officials said inflation had stayed above target for a year. "
        "Markets fell after the announcement, with bank shares leading the drop. "
        "Economists expect one more rise before the end of the year. "
        "The government said it supported the bank's independence."
    )
    headline, bullets = summarize_extractive(Article(text=text, language="en"), length="short")
    assert arabic_ratio(headline + " ".join(bullets)) == 0
    assert bullets


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=400))
def test_never_fails_and_never_returns_empty(text: str) -> None:
    if not text.strip():
        text = "x"
    headline, bullets = summarize_extractive(Article(text=text), length="short")
    assert isinstance(headline, str)
    assert bullets and all(isinstance(b, str) for b in bullets)
