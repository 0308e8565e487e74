"""Is this text made of Arabic or English words, or of letters that are not words?

A PDF's text layer can lie: an old font encoding maps glyphs to wrong letters, and
every extractor then returns `صوو عييهاوخ` where the page shows `صوب أعينها`. Such text
is made of real letters in impossible orders. A letter-pair model tells them apart:
`letter_score(text)` is the mean log-probability of each letter given the one before
(word edges included), under letter-pair frequencies of Arabic news and English prose
(bot/data/letter_pairs.json, built by bench/plausible.py from tests/fixtures/real/articles
and English prose). Real text scores -2.4 to -2.6;
text with half of its letters mapped to wrong ones -3.0 to -6; `PLAUSIBLE` sits
between, calibrated in bench/plausible.py (docs/benchmarks.md). A short text's mean
wanders further (a slack that shrinks with its length), and a lightly garbled text
(a few letters of the alphabet mapped wrong) keeps a mean near real text's but has
many words with a pair real words never have (`RARE_SHARE`).

`unmapped_share(text)` counts what a font with no character map gives instead of
letters: U+FFFD, U+FFFF, private-use code points and pdfminer's "(cid:N)".
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources

PLAUSIBLE = -2.85  # a long text scoring under this is not Arabic or English words
SLACK = 3.0  # ... a short one under PLAUSIBLE - SLACK / sqrt(its letter pairs)
MIN_PAIRS = 8  # fewer letter pairs (about two words) than this: judged plausible
LONGEST = 40  # a longer "word" is not judged (one glyph drawn a thousand times)
RARE = -7.5  # a letter pair this unlikely is one real words (almost) never have
RARE_WORDS = 10  # with this many different words or more, ...
RARE_SHARE = 0.15  # ... a text with more than this share of words holding one is garbled
UNMAPPED = 0.02  # a page with more than this share of unmapped characters is refused

_TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_CID = re.compile(r"\(cid:\d+\)")
EDGE = " "  # word boundary symbol in the model


def _is_unmapped(ch: str) -> bool:
    code = ord(ch)
    return (
        ch in "\ufffd\uffff\ufffe"
        or 0xE000 <= code <= 0xF8FF
        or 0xF0000 <= code <= 0x10FFFF
        or unicodedata.category(ch) == "Cn"
    )


def unmapped_share(text: str) -> float:
    """The share of `text`'s non-space characters that stand for no letter."""
    cids = _CID.findall(text)
    rest = _CID.sub("", text)
    chars = [c for c in rest if not c.isspace()]
    total = len(chars) + len(cids)
    if not total:
        return 0.0
    return (sum(1 for c in chars if _is_unmapped(c)) + len(cids)) / total


def script_of(ch: str) -> str | None:
    """ "ar" for an Arabic letter, "en" for a Latin one, else None."""
    if "\u0621" <= ch <= "\u064a" or ch in "\u0671\u067e\u0686\u06a4\u06af\u06cc\u06a9":
        return "ar"
    if "a" <= ch <= "z":
        return "en"
    return None


def words_of(text: str) -> list[tuple[str, str]]:
    """The letter runs of `text` (NFKC-folded, lower-cased, without tashkeel), each with
    its script: an Arabic or Latin word."""
    folded = _TASHKEEL.sub("", unicodedata.normalize("NFKC", text)).lower()
    out: list[tuple[str, str]] = []
    word = ""
    script: str | None = None
    for ch in folded + " ":
        s = script_of(ch)
        if s is not None and (s == script or not word):
            word += ch
            script = s
            continue
        if word and script:
            out.append((script, word))
        word, script = (ch, s) if s else ("", None)
    return out


@functools.cache
def _model() -> dict[str, dict[str, float]]:
    raw = resources.files("bot").joinpath("data/letter_pairs.json").read_text("utf-8")
    data: dict[str, dict[str, float]] = json.loads(raw)
    return data


def build_model(texts: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Letter-pair log-probabilities per script from sample texts (add-one smoothed);
    each script also gets "?" (the log-probability of an unseen pair)."""
    model: dict[str, dict[str, float]] = {}
    for script, samples in texts.items():
        pairs: dict[str, int] = {}
        firsts: dict[str, int] = {}
        alphabet: set[str] = {EDGE}
        for sample in samples:
            for s, word in words_of(sample):
                if s != script:
                    continue
                chars = EDGE + word + EDGE
                alphabet.update(word)
                for a, b in itertools.pairwise(chars):
                    pairs[a + b] = pairs.get(a + b, 0) + 1
                    firsts[a] = firsts.get(a, 0) + 1
        size = len(alphabet)
        table = {
            pair: round(math.log((n + 1) / (firsts[pair[0]] + size)), 3)
            for pair, n in sorted(pairs.items())
        }
        table["?"] = round(math.log(1 / (max(firsts.values(), default=1) + size)), 3)
        model[script] = table
    return model


@dataclass(frozen=True)
class Judgement:
    """What `judge` measured: the mean letter-pair log-probability of the distinct
    words (`score`), over how many `pairs`, and the share of those `words` holding a
    pair rarer than RARE (None when there are under MIN_PAIRS pairs)."""

    score: float | None
    pairs: int
    words: int
    rare_share: float


def judge(text: str, model: dict[str, dict[str, float]] | None = None) -> Judgement:
    """Measure `text`'s Arabic and Latin words against the letter-pair model. Each
    word counts once (a page repeating one phrase is that phrase)."""
    table = model or _model()
    total = 0.0
    pairs = 0
    words = 0
    rare = 0
    for script, word in dict.fromkeys(words_of(text)):
        table_of = table.get(script)
        if table_of is None or len(word) > LONGEST:
            continue
        unseen = table_of["?"]
        probs = [table_of.get(a + b, unseen) for a, b in itertools.pairwise(EDGE + word + EDGE)]
        total += sum(probs)
        pairs += len(probs)
        words += 1
        rare += min(probs) <= RARE
    score = total / pairs if pairs >= MIN_PAIRS else None
    return Judgement(score, pairs, words, rare / words if words else 0.0)


def letter_score(text: str, model: dict[str, dict[str, float]] | None = None) -> float | None:
    """The mean log-probability per letter pair of `text`'s distinct Arabic and Latin
    words (higher is more like real words); None under MIN_PAIRS pairs."""
    return judge(text, model).score


def plausible(text: str, model: dict[str, dict[str, float]] | None = None) -> bool:
    """True when `text` reads as Arabic or English words (or is too short to judge):
    its score is over PLAUSIBLE, less SLACK / sqrt(pairs) (a few words' mean wanders
    further: calibrated in bench/plausible.py so that under 1 % of real snippets of
    1-6 words fall under it), and, with RARE_WORDS words or more, no more than
    RARE_SHARE of them hold a pair real words (almost) never have: a few letters
    mapped wrong leave the mean nearly as it was but make such pairs."""
    found = judge(text, model)
    if found.score is None:
        return True
    if found.score < PLAUSIBLE - SLACK / math.sqrt(found.pairs):
        return False
    return not (found.words >= RARE_WORDS and found.rare_share > RARE_SHARE)
