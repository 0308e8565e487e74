"""No regular expression in bot/ backtracks super-linearly on hostile text.

Python's `re` holds the GIL while it matches: one quadratic pattern on an 80 KB word
froze the event loop for 10 s (issue 18). Every pattern the bot holds (tests/regexes.py
finds them: module patterns, literal `re.*` calls, the boilerplate rules) is scanned over
runs of its own pieces, letters, Arabic letters, digits and spaces; 4x the input must cost
well under the 16x a quadratic pattern takes. Growth, not a time limit, so a busy machine
does not fail it. The sweep over every pattern takes minutes on a busy machine, so it is
`python -m bench.regex` (results in docs/benchmarks.md); here: the screen itself, and
the issue's concrete cases.
"""

from __future__ import annotations

import re
import time

import pytest

from bot.ingest.arabic import split_sentences
from bot.ingest.extract import extract_text, load_rules, strip_boilerplate
from tests.regexes import Hostile, collect, growth, worst_inputs

# Patterns that only ever see a model's reply, which max_tokens bounds (a few thousand
# characters): quadratic there costs milliseconds, and a reply cannot grow to 80 KB.
LLM_REPLY_ONLY = {
    r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$",
    r"<(think|thinking|reasoning)>.*?</\1>",
}

PATTERNS = [f for f in collect() if f.pattern.pattern not in LLM_REPLY_ONLY]


def test_the_audit_sees_every_kind_of_pattern() -> None:
    where = {f.where.split(":")[0].split("#")[0] for f in PATTERNS}
    # module patterns, f-string patterns, literal calls inside functions, data-file rules
    assert {"bot.ingest.arabic", "bot.ingest.dates", "bot.llm.defuse"} <= where
    assert any(w.startswith("bot/") for w in where), "literal re.* calls are collected"
    assert "boilerplate.toml" in where
    assert len(PATTERNS) > 60


def _confirmed(pattern: re.Pattern[str], hostile: Hostile) -> float:
    """Growth from 8k to 32k characters (the quick screen's suspects, measured again)."""
    small, big = growth(pattern, hostile, 8000)
    return big / max(small, 1e-6)


def test_the_screen_catches_the_old_email_rule() -> None:
    """The e-mail rule before the fix: the screen must flag it, or the test above proves nothing."""
    old = re.compile(r"[\w.+\-]+@[\w\-]+(\.[\w\-]+)+", re.I)
    assert any(_confirmed(old, h) > 10 for _, h in worst_inputs(old, full=False)[:3])


def _seconds(fn, *args) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def test_an_80kb_word_is_cleaned_in_linear_time() -> None:
    """The issue's case: an 80 KB .txt of one word took 10.7 s in the boilerplate rules."""
    rules = load_rules()
    small = min(_seconds(strip_boilerplate, ["a" * 40_000], rules) for _ in range(5))
    big = min(_seconds(strip_boilerplate, ["a" * 160_000], rules) for _ in range(5))
    assert big < 10 * max(small, 1e-3), f"{big / small:.0f}x for 4x the input"
    assert big < 2.0  # was 10.7 s


def test_an_80kb_word_inside_an_article_is_summarizable_text() -> None:
    """A real article with one endless word is prose, so it goes on to sentence
    splitting and the rest, which must all stay linear."""
    words = " ".join(f"word{i} sentence number {i} of the article." for i in range(60))
    start = time.perf_counter()
    article = extract_text(words + "\n\n" + "a" * 80_000 + "\n\n" + words)
    sentences = split_sentences(article.text)
    assert time.perf_counter() - start < 5.0  # 10+ s before
    assert any(len(s) >= 80_000 for s in sentences)


@pytest.mark.parametrize(
    ("prefix", "unit"),
    [
        ("www.", "."),
        ("http://x", "!"),
        ("", "www."),
        ("", "a،"),
        ("", "،"),
        ("", " ،"),
        ("", "www.a. "),
    ],
    ids=repr,
)
def test_sentence_splitting_is_linear(prefix: str, unit: str) -> None:
    """URLs, commas and dots in long runs: the URL rule was quadratic on "www.....x",
    the comma rule copied both sides of the sentence at every comma."""

    def run(n: int) -> float:
        text = prefix + unit * (n // len(unit)) + "x"
        return min(_seconds(split_sentences, text) for _ in range(5))

    small, big = run(40_000), run(160_000)
    assert big < 10 * max(small, 1e-3), f"{big / small:.0f}x for 4x the input"
