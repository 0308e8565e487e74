"""Build and calibrate the letter-pair model that decides whether a PDF page's text
layer can be trusted (bot/ingest/plausible.py).

    python -m bench.plausible          # writes bot/data/letter_pairs.json and the section

The Arabic model learns from the real articles in tests/fixtures/real/articles (news
prose), the English one from the prose of README.md and docs/*.md (code blocks out).
Calibration uses texts the model did not learn from: our generated PDF reports'
expected texts, the real PDFs' expected texts, the English locale, and each of those
with its letters mapped to wrong ones the way a broken font encoding does it (a fixed
substitution of the alphabet, every letter or half of them), plus the real text layers
of tests/fixtures/pdfs/*.pdf read by pdf_to_text, and the broken-encoding fixture.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

from bench._report import write_section
from bot.ingest.pdf import pdf_to_text, text_layer
from bot.ingest.plausible import (
    EDGE,
    PLAUSIBLE,
    RARE,
    RARE_SHARE,
    SLACK,
    build_model,
    letter_score,
    plausible,
    words_of,
)

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
OUT = ROOT / "bot" / "data" / "letter_pairs.json"
AR = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإؤئةى"
EN = "abcdefghijklmnopqrstuvwxyz"


def english_prose() -> list[str]:
    texts = []
    docs = [p for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "benchmarks.md"]
    for path in [ROOT / "README.md", *docs]:  # benchmarks.md: figures, and it changes
        text = re.sub(r"```.*?```", " ", path.read_text("utf-8"), flags=re.S)
        texts.append(re.sub(r"`[^`]*`", " ", text))
    return texts


def garble(text: str, alphabet: str, share: float, seed: int) -> str:
    """`text` with a fixed wrong letter for `share` of the alphabet's letters."""
    rnd = random.Random(seed)
    letters = list(alphabet)
    moved = rnd.sample(letters, max(2, int(len(letters) * share)))
    target = moved[1:] + moved[:1]
    table = str.maketrans(dict(zip(moved, target, strict=True)))
    return text.translate(table)


def old_plausible(text: str, model: dict[str, dict[str, float]]) -> bool:
    """The rule before this calibration: every word (repeats too), judged only with 20
    letters and 5 different words, garbled only under -2.85."""
    total, count = 0.0, 0
    found = words_of(text)
    for script, word in found:
        pairs = model[script]
        for a, b in itertools.pairwise(EDGE + word + EDGE):
            total += pairs.get(a + b, pairs["?"])
            count += 1
    if count - len(found) < 20 or len(set(found)) < 5:
        return True
    return total / count >= PLAUSIBLE


def held_out_snippets(model: dict[str, dict[str, float]]) -> str:
    """Short and lightly garbled pages, crafted: random runs of words from Arabic texts
    the model did not learn from (two generated reports' texts and the Arabic locale),
    as they are and garbled; the share of each judged garbled (read by OCR)."""
    texts = [
        (FIX / "pdfs" / "report-ar-shaped.expected.txt").read_text("utf-8"),
        (FIX / "pdfs" / "report-ar-justified-tashkeel.expected.txt").read_text("utf-8"),
        (ROOT / "bot" / "locales" / "ar.toml").read_text("utf-8"),
    ]
    rnd = random.Random(1)
    rows = [
        "| snippets | how many | real judged garbled | 100% garbled caught | 50% caught | 25% caught | 10% caught |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for low, high in ((1, 3), (4, 6), (15, 80)):
        real: list[bool] = []
        caught: dict[float, list[bool]] = {1.0: [], 0.5: [], 0.25: [], 0.1: []}
        old_real: list[bool] = []
        old: dict[float, list[bool]] = {1.0: [], 0.5: [], 0.25: [], 0.1: []}
        for text in texts:
            words = text.split()
            for _ in range(300):
                k = rnd.randint(low, high)
                i = rnd.randrange(0, max(1, len(words) - k))
                snip = " ".join(words[i : i + k])
                if letter_score(snip, model) is None:
                    continue  # too short to judge: trusted
                real.append(not plausible(snip, model))
                old_real.append(not old_plausible(snip, model))
                for share, got in caught.items():
                    bad = garble(snip, AR, share, rnd.randrange(999))
                    got.append(not plausible(bad, model))
                    old[share].append(not old_plausible(bad, model))
        for label, r, c in (("", real, caught), (" (old rule)", old_real, old)):
            cells = " | ".join(f"{sum(v) / len(v):.3f}" for v in c.values())
            rows.append(
                f"| {low}-{high} words{label} | {len(r)} | {sum(r) / len(r):.3f} | {cells} |"
            )
    return (
        "Crafted short and lightly garbled pages, the rule now and the old one (texts "
        "under 20 letters or 5 different words never judged; garbled only under -2.85); "
        "snippets under 8 letter pairs (about two words) are left out, trusted by both:"
        "\n\n" + "\n".join(rows)
    )


def main() -> None:
    arabic = [p.read_text("utf-8") for p in sorted((FIX / "real" / "articles").glob("*.txt"))]
    model = build_model({"ar": arabic, "en": english_prose()})
    OUT.write_text(json.dumps(model, ensure_ascii=False, sort_keys=True) + "\n", "utf-8")
    good: dict[str, str] = {}
    for p in sorted((FIX / "pdfs").glob("*.expected.txt")):
        good[f"pdfs/{p.name}"] = p.read_text("utf-8")
    for p in sorted((FIX / "real" / "pdfs").glob("*.expected.txt")):
        good[f"real/pdfs/{p.name}"] = p.read_text("utf-8")
    good["en.toml"] = (ROOT / "bot" / "locales" / "en.toml").read_text("utf-8")
    for p in sorted((FIX / "pdfs").glob("*.pdf")) + sorted((FIX / "real" / "pdfs").glob("*.pdf")):
        try:
            good[f"text layer of {p.name}"] = pdf_to_text(p.read_bytes())
        except Exception as exc:
            print(p.name, type(exc).__name__)
    bad: dict[str, str] = {}
    for name, text in list(good.items())[:8]:
        alphabet = EN if name == "en.toml" else AR
        for share in (1.0, 0.5, 0.25):
            bad[f"{name}, {share:.0%} of letters wrong"] = garble(text, alphabet, share, 7)
    broken = FIX / "ocr" / "broken-encoding-ar.pdf"
    if broken.exists():
        layer = text_layer(broken.read_bytes())
        bad["text layer of broken-encoding-ar.pdf"] = "\n".join(layer[0].lines)
    rows = ["| text | score | judged |", "| --- | ---: | --- |"]
    worst_good, best_bad = 0.0, -99.0
    for label, texts, want in (("real", good, True), ("garbled", bad, False)):
        for name, text in texts.items():
            score = letter_score(text, model)
            ok = plausible(text, model)
            if score is not None:
                if want:
                    worst_good = min(worst_good, score)
                else:
                    best_bad = max(best_bad, score)
            verdict = "trusted" if ok else "OCR"
            mark = "" if ok == want else " **wrong**"
            shown = "too short" if score is None else f"{score:.2f}"
            rows.append(f"| {label}: {name} | {shown} | {verdict}{mark} |")
    snippets = held_out_snippets(model)
    body = (
        "Letter-pair model for trusting a PDF page's text layer (bot/ingest/plausible.py). "
        f"Threshold `PLAUSIBLE` = {PLAUSIBLE} less `SLACK` / sqrt(letter pairs) with SLACK = "
        f"{SLACK}; more than {RARE_SHARE:.0%} of 10+ words holding a pair under {RARE} is "
        f"garbled too. Lowest real text {worst_good:.2f}, highest garbled text "
        f"{best_bad:.2f}.\n\n" + "\n".join(rows) + "\n\n" + snippets
    )
    print(body)
    write_section("PDF text layer plausibility", body)


if __name__ == "__main__":
    main()
