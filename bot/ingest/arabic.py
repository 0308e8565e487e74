"""Arabic-aware text normalization, tokenizing and sentence splitting (pure functions).

Two levels of normalization:

* `clean_text` is for DISPLAY: it only removes what a reader cannot see or should not
  see twice (zero-width and bidi controls, soft hyphens, tatweel, repeated spaces,
  repeated blank lines). Letters and diacritics are kept as written.
* `normalize_for_match` is for MATCHING ONLY (retrieval, scoring, the faithfulness
  guard, MinHash): it also drops tashkeel, unifies alef/yeh/teh-marbuta/hamza-seat
  forms, maps Arabic-Indic and Persian digits to ASCII and lowercases Latin letters.
  Never show its output to a user.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Literal

# Invisible format characters: zero-width space/joiners, LRM/RLM, bidi embeddings and
# isolates, word joiner and invisible operators, Arabic letter mark, BOM, soft hyphen;
# and lone surrogates: the trace of a byte that was not UTF-8 (text cut inside a letter,
# read with surrogateescape), which cannot be encoded, hashed or sent.
_INVISIBLE = re.compile(
    "[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u061c\ufeff\u00ad\ud800-\udfff]"
)
_TATWEEL = "\u0640"

# Tashkeel and other Arabic combining marks (harakat, shadda, sukun, superscript alef,
# hamza above/below as marks, Quranic annotation signs).
_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]")

# Matching-only letter unification. ؤ→و and ئ→ي are the usual hamza-seat folds of Arabic
# IR normalizers: they merge spelling variants (مسؤول/مسئول) at the cost of rare collisions.
_FOLD_MAP = {
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ى": "ي",
    "ة": "ه",
    "ؤ": "و",
    "ئ": "ي",
    "ک": "ك",  # Persian keheh
    "ی": "ي",  # Persian yeh
    "ە": "ه",
    "٫": ".",  # Arabic decimal separator
    "٬": ",",  # Arabic thousands separator
}
_DIGIT_MAP = {
    **{chr(0x0660 + i): str(i) for i in range(10)},
    **{chr(0x06F0 + i): str(i) for i in range(10)},
}
_DIGITS = re.compile("[" + "".join(_DIGIT_MAP) + "]")
# Chained str.replace (only for characters present) is ~20x faster than re.sub with a
# lookup function, and str.translate is slower still for these non-ASCII tables.
_FOLD_ITEMS = tuple({**_FOLD_MAP, **_DIGIT_MAP}.items())


def _fold(text: str) -> str:
    for src, dst in _FOLD_ITEMS:
        if src in text:
            text = text.replace(src, dst)
    return text


def _digit(match: re.Match[str]) -> str:
    return _DIGIT_MAP[match.group()]


_CACHE_MAX_CHARS = 400  # normalize_for_match caches strings up to this length

# After normalize_for_match: numbers (with inner separators) or runs of letters.
_TOKEN = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W\d_]+")
# The article at the start of a letter run, when two more letters follow (longest first).
_ARTICLE = re.compile(r"(?<![^\W\d_])(?:وال|بال|كال|فال|ال|لل)(?=[^\W\d_]{2})")

_ARABIC_RANGES = (
    (0x0600, 0x06FF),
    (0x0750, 0x077F),
    (0x08A0, 0x08FF),
    (0xFB50, 0xFDFF),
    (0xFE70, 0xFEFF),
)
_NOT_LETTER = re.compile(r"[\W\d_]+")


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    """A regex class of the letters (str.isalpha) inside `ranges`."""
    spans: list[tuple[int, int]] = []
    for lo, hi in ranges:
        for code in range(lo, hi + 1):
            if chr(code).isalpha():
                if spans and spans[-1][1] == code - 1:
                    spans[-1] = (spans[-1][0], code)
                else:
                    spans.append((code, code))
    return "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in spans)


_NOT_ARABIC_LETTER = re.compile(f"[^{_char_class(_ARABIC_RANGES)}]+")


def clean_text(text: str) -> str:
    """Return `text` normalized for display.

    NFC; zero-width/bidi controls, soft hyphens and tatweel removed; every line stripped
    with inner runs of whitespace collapsed to one space; at most one blank line between
    paragraphs (paragraphs are separated by "\\n\\n"); no leading/trailing blank lines.
    Idempotent.
    """
    text = _INVISIBLE.sub("", text).replace(_TATWEEL, "")
    out: list[str] = []
    blank = False
    for raw in unicodedata.normalize("NFC", text).splitlines():
        line = " ".join(raw.split())  # str.split() is far faster than a regex here
        if not line:
            blank = True
            continue
        if blank and out:
            out.append("")
        out.append(line)
        blank = False
    return "\n".join(out)


def to_ascii_digits(text: str) -> str:
    """Return `text` with Arabic-Indic (U+0660–9) and Persian (U+06F0–9) digits as ASCII."""
    return _DIGITS.sub(_digit, text)


def normalize_for_match(text: str) -> str:
    """Return a matching key for `text` (never for display).

    clean_text, then: tashkeel and superscript alef dropped; أ إ آ ٱ → ا, ى → ي, ة → ه,
    ؤ → و, ئ → ي (plus Persian kaf/yeh); Arabic-Indic/Persian digits → ASCII; Arabic
    decimal/thousands separators → "." / ","; lowercase; all whitespace (newlines
    included) collapsed to single spaces. Idempotent.
    """
    if len(text) <= _CACHE_MAX_CHARS:
        return _normalize_short(text)
    return _normalize(text)


@lru_cache(maxsize=8192)
def _normalize_short(text: str) -> str:
    # lines, titles and questions are normalized again and again by the extractor,
    # the date finder and retrieval: cache the short ones.
    return _normalize(text)


def clear_match_cache() -> None:
    """Empty the cache of short normalized strings (benchmarks measure cold runs)."""
    _normalize_short.cache_clear()


def _normalize(text: str) -> str:
    text = _MARKS.sub("", clean_text(text))
    text = _fold(text).lower()
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Return word tokens of `text` for retrieval, scoring and MinHash.

    Tokens come from normalize_for_match: runs of letters (any script) or numbers (with
    inner "." / "," kept, so "15,35" is one token). The Arabic definite article and its
    attached forms (ال وال بال كال فال لل) are stripped when at least two letters remain.
    Tokens of one character are dropped.
    """
    norm = _ARTICLE.sub("", normalize_for_match(text))
    return [word for word in _TOKEN.findall(norm) if len(word) > 1]


def _is_arabic(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _ARABIC_RANGES)


def _letter_counts(text: str) -> tuple[int, int]:
    """Return (letters, Arabic letters) in `text`."""
    return len(_NOT_LETTER.sub("", text)), len(_NOT_ARABIC_LETTER.sub("", text))


def letter_count(text: str) -> int:
    """Return the number of letters (any script) in `text`."""
    return len(_NOT_LETTER.sub("", text))


def arabic_ratio(text: str) -> float:
    """Return the share of Arabic letters among all letters in `text` (0.0 if no letters)."""
    letters, arabic = _letter_counts(text)
    return arabic / letters if letters else 0.0


def detect_language(text: str) -> Literal["ar", "en"]:
    """Return "ar" when at least 30% of the letters are Arabic (or there are no letters), else "en"."""
    letters, arabic = _letter_counts(text)
    return "ar" if not letters or arabic / letters >= 0.3 else "en"


# --- sentences -------------------------------------------------------------------------

_HARD_END = ".!?؟؛…"
_CLOSERS = "\"'”’»)]}›"
# A URL runs to the next space; the punctuation it ends with belongs to the sentence
# (_url_spans trims it: a lazy match with a look-ahead would be quadratic on "www.....x").
_URL = re.compile(r"(?:https?://|www\.)(\S+)", re.I)
_URL_TRAILING = '.,;:!?)]”’"»،؛؟'
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "corp",
        "gen",
        "gov",
        "sen",
        "rep",
        "fig",
        "vol",
        "pp",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "a.m",
        "p.m",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)
_TERMINATORS = re.compile(f"([{re.escape(_HARD_END)}]+)[{re.escape(_CLOSERS)}]*")
_COMMA_MIN = 40  # both sides of an Arabic comma must be this long to split there


def _is_abbreviation(line: str, dot: int) -> bool:
    """True when the "." at `dot` ends an abbreviation such as "Dr." or "U.S." or "د."."""
    start = dot
    while start > 0 and not line[start - 1].isspace() and line[start - 1] not in _CLOSERS:
        start -= 1
    word = line[start:dot].lower()
    if not word:
        return False
    if len(word) == 1 and word.isalpha():
        return True  # initials "J." and Arabic "د." / "م."
    return word in _ABBREVIATIONS


def _is_boundary(line: str, i: int, term_end: int, end: int) -> bool:
    """Decide whether the terminators line[i:term_end] (closers up to `end`) end a sentence."""
    if any(ch not in ".…" for ch in line[i:term_end]):
        return True  # ! ? ؟ ؛ always end a sentence
    nxt = line[end] if end < len(line) else ""
    if nxt == "" or nxt.isspace():
        return term_end - i > 1 or line[i] == "…" or not _is_abbreviation(line, i)
    prev = line[i - 1] if i > 0 else ""
    if prev.isdigit() and nxt.isdigit():
        return False  # 3.5
    # missing space after a period: split only before an Arabic letter ("أوكرانيا.وأفاد");
    # "example.com", "v1.2", "U.S." stay whole.
    return _is_arabic(nxt) and nxt.isalpha() and not prev.isdigit()


def _url_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each URL in `line`, in order, without its trailing punctuation."""
    spans = []
    for m in _URL.finditer(line):
        end = m.start() + len(m.group(0).rstrip(_URL_TRAILING))
        spans.append((m.start(), max(end, m.start(1) + 1)))  # at least one character after "www."
    return spans


def _split_line(line: str) -> list[str]:
    protected = _url_spans(line) if "." in line else []
    pieces: list[str] = []
    start = 0
    url = 0  # protected[url] is the first URL that does not end before the terminator
    for m in _TERMINATORS.finditer(line):
        i, term_end, end = m.start(), m.start() + len(m.group(1)), m.end()
        while url < len(protected) and protected[url][1] <= i:
            url += 1
        if url < len(protected) and protected[url][0] <= i:
            continue
        if _is_boundary(line, i, term_end, end):
            pieces.append(line[start:end])
            start = end
    pieces.append(line[start:])
    return pieces


def _skip_spaces(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _split_commas(sentence: str) -> list[str]:
    # lengths come from positions: copying and stripping both sides at every comma
    # would be quadratic on a long run of commas
    out: list[str] = []
    start = 0
    left = _skip_spaces(sentence, 0)  # where the current piece's text starts
    end = len(sentence.rstrip())
    for m in re.finditer("،", sentence):
        pos = m.start()
        before = sentence[pos - 1 : pos]
        after = sentence[pos + 1 : pos + 2]
        if before.isdigit() and after.isdigit():
            continue
        if pos + 1 - left >= _COMMA_MIN and end - _skip_spaces(sentence, pos + 1) >= _COMMA_MIN:
            out.append(sentence[start : pos + 1].strip())
            start = pos + 1
            left = _skip_spaces(sentence, start)
    out.append(sentence[start:])
    return out


def split_sentences(text: str, *, commas: bool = True) -> list[str]:
    """Split `text` into sentences (cleaned with clean_text, in order, none empty).

    Boundaries: newlines; runs of . ! ? ؟ ؛ … (closing quotes/brackets stay with the
    sentence). A "." does not split inside numbers ("3.5"), URLs, e-mail addresses or
    after abbreviations ("Dr.", "U.S.", one-letter initials such as "د."); a "." with no
    space after it splits only before an Arabic letter ("أوكرانيا.وأفاد"). The Arabic comma
    "،" splits only when both sides are at least 40 characters long, so long clause chains
    become sentences while short lists stay whole; it never splits between digits.
    """
    out: list[str] = []
    for line in clean_text(text).split("\n"):
        if not line:
            continue
        for piece in _split_line(line):
            for sentence in _split_commas(piece) if commas else [piece]:
                s = sentence.strip()
                if s and any(ch.isalnum() for ch in s):
                    out.append(s)
    return out
