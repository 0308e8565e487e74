"""Every regex in bot/ on hostile runs (tests/regexes.py), and the issue-18 inputs before
and after the fix. Writes the `regexes on hostile text` section of docs/benchmarks.md.

    python -m bench.regex            # the quick input set for every pattern
    python -m bench.regex --full     # every input shape (slow: tens of minutes)
    python -m bench.regex --no-sweep # only the before/after table
"""

from __future__ import annotations

import argparse
import re
import time

from bench._report import write_section
from bot.ingest.arabic import split_sentences
from bot.ingest.extract import load_rules, strip_boilerplate
from tests.regexes import Hostile, collect, growth, worst_inputs

# (what, pattern before the fix, pattern now, the worst input found for it)
BEFORE_AFTER = [
    (
        "e-mail rule, 20k letters",
        r"[\w.+\-]+@[\w\-]+(\.[\w\-]+)+",
        r"(?<![\w.+\-])[\w.+\-]+@[\w\-]+(\.[\w\-]+)+",
        Hostile("", "a"),
    ),
    (
        "citation, 20k spaces",
        r"\s*\[(\d+(?:\s*[,،]\s*\d+)*)\]\s*([.؟?!]?)\s*$",
        r"(?<!\s)\s*\[(\d+(?:\s*[,،]\s*\d+)*)\]\s*+([.؟?!]?)\s*+$",
        Hostile("", " "),
    ),
    ("feed tags, 20k '<'", r"<[^>]+>", r"<[^<>]+>", Hostile("", "<")),
    ("title parts, 20k spaces", r"\s+[-|–—:]+\s+", r"(?<!\s)\s+[-|–—:]+\s+", Hostile("", " ")),
    (
        "URL in sentences, www. + 20k dots + x",
        r"(?:https?://|www\.)[^\s]+?(?=[.,;:!?)\]”’\"»،؛؟]*(?:\s|$))",
        r"(?:https?://|www\.)(\S+)",
        Hostile("www.", ".", "x"),
    ),
]


def _time(fn, *args) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _scan(pattern: re.Pattern[str], text: str) -> None:
    for _ in pattern.finditer(text):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--no-sweep", action="store_true", help="only the before/after table")
    args = parser.parse_args()
    rows = ["| input | before | after |", "| --- | ---: | ---: |"]
    for what, old, new, hostile in BEFORE_AFTER:
        text = hostile.build(20_000)
        t_old = _time(_scan, re.compile(old, re.I), text)
        t_new = _time(_scan, re.compile(new, re.I), text)
        rows.append(f"| {what} | {t_old:.2f} s | {t_new * 1000:.1f} ms |")
    rules = load_rules()
    rows.append(
        f"| strip_boilerplate, one 80 KB word (was 10.7 s) | | "
        f"{_time(strip_boilerplate, ['a' * 80_000], rules) * 1000:.1f} ms |"
    )
    rows.append(
        f"| split_sentences, www. + 80k dots | | "
        f"{_time(split_sentences, 'www.' + '.' * 80_000 + 'x') * 1000:.1f} ms |"
    )
    sweep = ["| pattern | worst growth for 4x the input |", "| --- | ---: |"]
    patterns = collect()
    for found in [] if args.no_sweep else patterns:
        suspects = worst_inputs(found.pattern, full=args.full)
        if suspects:
            _, hostile = suspects[0]
            small, big = growth(found.pattern, hostile, 8000)
            sweep.append(f"| `{found.where}` on {hostile} | {big / max(small, 1e-6):.1f}x |")
    body = "\n".join(
        [
            "Issue 18: `re` holds the GIL, so a regex that backtracks on a long input freezes",
            "the event loop. Before/after on the worst inputs (one run each):",
            "",
            *rows,
            "",
            f"Sweep of all {len(patterns)} patterns in bot/ over runs of their own pieces "
            "(tests/regexes.py); a linear pattern grows about 4x, a quadratic one 16x. "
            "Patterns the screen suspects, measured at 8k and 32k characters:",
            "",
            *(sweep if not args.no_sweep else ["(not run this time: `python -m bench.regex`)"]),
        ]
    )
    print(write_section("regexes on hostile text", body))


if __name__ == "__main__":
    main()
