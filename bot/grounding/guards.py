"""Output checks on a digest (pure functions): numbers must come from the source, and the
text must be in the requested language.

Numbers: every number of two or more digits in the digest (years included) must appear
in the source. Both sides are compared after mapping Arabic-Indic and Persian digits to
ASCII and dropping separators, so "15,35" matches "15.35" and "15:35", "٢٠٢١" matches
"2021" and "1,000" matches "1000". Each digit group of a source number also counts
("20,35" supports "20"). Spelled-out numbers are not checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.domain import Lang
from bot.ingest.arabic import arabic_ratio, to_ascii_digits

# digits with inner separators: . , : ' ’ and the Arabic decimal/thousands separators
_NUMBER = re.compile(r"\d+(?:[.,:'’٫٬]\d+)*")
_SEPARATORS = re.compile(r"[.,:'’٫٬]")

# Share of Arabic letters among all letters: at least this for an Arabic digest ...
AR_MIN_RATIO = 0.5
# ... and at most this for an English one (quoted names may stay in Arabic script).
EN_MAX_RATIO = 0.2


def _key(digits: str) -> str:
    return digits.lstrip("0") or "0"


def _numbers(text: str) -> list[str]:
    return [m.group() for m in _NUMBER.finditer(to_ascii_digits(text))]


# "50 ألفاً", "49 ألفاً و759", "3.5 مليون", "2 billion": a number with a scale word, as
# a translation writes it in digits ("50,000", "49,759", "3,500,000")
_SCALE_WORDS = (
    "ألفاً|الفاً|ألفا|الفا|آلاف|الاف|ألف|الف|ملايين|مليون|مليارات|مليار|thousand|million|billion"
)
_SCALED = re.compile(
    rf"(\d+(?:[.,٫]\d+)?)\s*({_SCALE_WORDS})"
    rf"(?:\s*و\s*(\d+)(?![\d.,]*\s*(?:{_SCALE_WORDS})))?",
    re.I,
)
_SCALES = {"ألف": 10**3, "الف": 10**3, "آلاف": 10**3, "الاف": 10**3, "مليون": 10**6}
_SCALES |= {"ملايين": 10**6, "مليار": 10**9, "مليارات": 10**9}
_SCALES |= {"thousand": 10**3, "million": 10**6, "billion": 10**9}


def _scaled_keys(source: str) -> set[str]:
    keys: set[str] = set()
    for m in _SCALED.finditer(to_ascii_digits(source)):
        word = m.group(2).lower().rstrip("اً")
        scale = _SCALES.get(word) or _SCALES.get(word + "ف") or 10**3
        value = float(m.group(1).replace(",", ".").replace("٫", ".")) * scale
        keys.add(_key(str(round(value))))
        if m.group(3):
            keys.add(_key(str(round(value) + int(m.group(3)))))
    return keys


def source_number_keys(source: str) -> set[str]:
    """Return the comparison keys of every number in `source` (whole and per group), and
    of numbers written with a scale word ("50 ألفاً" also supports "50,000")."""
    keys: set[str] = set()
    for number in _numbers(source):
        keys.add(_key(_SEPARATORS.sub("", number)))
        keys.update(_key(group) for group in _SEPARATORS.split(number))
    return keys | _scaled_keys(source)


def checked_numbers(text: str) -> list[str]:
    """Return the numbers in `text` that the guard checks (two or more digits), as written
    (ASCII digits)."""
    return [n for n in _numbers(text) if sum(ch.isdigit() for ch in n) >= 2]


def unsupported_numbers(text: str, source_keys: set[str]) -> list[str]:
    """Return the checked numbers of `text` that do not appear in the source, in order,
    without duplicates."""
    out: list[str] = []
    for number in checked_numbers(text):
        if _key(_SEPARATORS.sub("", number)) not in source_keys and number not in out:
            out.append(number)
    return out


def all_unsupported(texts: Iterable[str], source_keys: set[str]) -> list[str]:
    """unsupported_numbers over several texts, merged in order without duplicates."""
    out: list[str] = []
    for text in texts:
        for number in unsupported_numbers(text, source_keys):
            if number not in out:
                out.append(number)
    return out


def language_ok(text: str, lang: Lang) -> bool:
    """True when the script of `text` fits `lang` (Arabic-letter ratio thresholds above).

    Text with no letters passes (nothing to judge).
    """
    if not any(ch.isalpha() for ch in text):
        return True
    ratio = arabic_ratio(text)
    return ratio >= AR_MIN_RATIO if lang == "ar" else ratio <= EN_MAX_RATIO
