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

import json
import random
import re
from pathlib import Path

from bench._report import write_section
from bot.ingest.pdf import pdf_to_text, text_layer
from bot.ingest.plausible import PLAUSIBLE, build_model, letter_score

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
OUT = ROOT / "bot" / "data" / "letter_pairs.json"
AR = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإؤئةى"
EN = "abcdefghijklmnopqrstuvwxyz"


def english_prose() -> list[str]:
    texts = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
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
            ok = score is None or score >= PLAUSIBLE
            if score is not None:
                if want:
                    worst_good = min(worst_good, score)
                else:
                    best_bad = max(best_bad, score)
            verdict = "trusted" if ok else "OCR"
            mark = "" if ok == want else " **wrong**"
            shown = "too short" if score is None else f"{score:.2f}"
            rows.append(f"| {label}: {name} | {shown} | {verdict}{mark} |")
    body = (
        "Letter-pair model for trusting a PDF page's text layer (bot/ingest/plausible.py). "
        f"Threshold `PLAUSIBLE` = {PLAUSIBLE}; lowest real text {worst_good:.2f}, highest "
        f"garbled text {best_bad:.2f}.\n\n" + "\n".join(rows)
    )
    print(body)
    write_section("PDF text layer plausibility", body)


if __name__ == "__main__":
    main()
