"""Scripted model behaviour for the fake LLM server: what a well-behaved model answers.

`faithful(body)` reads the request the way a model would and answers in the shape asked:

* a digest request (numbered article sentences, or notes): the article's own sentences
  as bullets, each citing its sentence id, as many as the asked range needs (four when
  it allows), and three questions; neutral English sentences when English is asked;
* a map request ("points"): the first sentences as notes;
* a translation request (`<digest>`): one neutral sentence per input bullet and question.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.ingest.arabic import split_sentences

BLOCK = re.compile(r"<(article|notes)>\n(.*)\n</\1>", re.S)
NUMBERED = re.compile(r"^\[(\d+)\] (.+)$", re.M)
RANGE = re.compile(r"(\d+) to (\d+) bullets")
DIGEST_IN = re.compile(r"<digest>\n(.*)\n</digest>", re.S)
EN_QUESTIONS = ["Who took part in the call?", "What happens next?", "Why does it matter?"]
AR_QUESTIONS = ["من شارك في الاتصال؟", "ما الخطوة التالية؟", "لماذا يهم هذا؟"]


def user_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body["messages"] if m["role"] == "user")


def system_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body["messages"] if m["role"] == "system")


def english_asked(body: dict[str, Any]) -> bool:
    text = user_text(body)
    return "in English" in text or "in English" in system_text(body)


def numbered_sentences(body: dict[str, Any]) -> list[tuple[int, str]]:
    """(id, sentence) of a numbered article block, or of the notes (id 0), in order."""
    m = BLOCK.search(user_text(body))
    if not m:
        return []
    data = m.group(2)
    found = [(int(i), s.strip()) for i, s in NUMBERED.findall(data)]
    if found:
        return found
    lines = [line.removeprefix("- ") for line in data.split("\n")]
    return [(0, s) for s in split_sentences("\n".join(lines))]


def asked_range(body: dict[str, Any]) -> tuple[int, int]:
    m = RANGE.search(user_text(body))
    return (int(m.group(1)), int(m.group(2))) if m else (3, 5)


def translation(body: dict[str, Any]) -> str:
    m = DIGEST_IN.search(user_text(body))
    source = json.loads(m.group(1)) if m else {"bullets": [], "questions": []}
    text = user_text(body)
    english = "English" in text[text.rfind("<target_language>") : text.rfind("</target_language>")]
    n, q = len(source["bullets"]), len(source["questions"])
    if english:
        bullets = [f"The article reports its point number {i}." for i in range(1, n + 1)]
        return json.dumps(
            {"headline": "The main point", "bullets": bullets, "questions": EN_QUESTIONS[:q]}
        )
    bullets = [f"يذكر المقال النقطة رقم {i} بوضوح تام." for i in range(1, n + 1)]
    return json.dumps(
        {"headline": "النقطة الرئيسية", "bullets": bullets, "questions": AR_QUESTIONS[:q]},
        ensure_ascii=False,
    )


def faithful(body: dict[str, Any]) -> str:
    """A well-behaved model's reply to any request the summarizer makes."""
    if "<digest>" in user_text(body):
        return translation(body)
    sentences = [(i, s) for i, s in numbered_sentences(body) if len(s.split()) >= 5]
    if '"points"' in user_text(body) + system_text(body):
        return json.dumps({"points": [s for _, s in sentences[:3]]}, ensure_ascii=False)
    lo, hi = asked_range(body)
    picked = sentences[: max(lo, min(4, hi))]
    english = english_asked(body)
    bullets = [
        {
            "text": f"The article reports its point number {n}." if english else text,
            "sources": [i] if i else [],
        }
        for n, (i, text) in enumerate(picked, 1)
    ]
    headline = "The main point of the article" if english else picked[0][1][:90]
    return json.dumps(
        {
            "headline": headline,
            "bullets": bullets,
            "questions": EN_QUESTIONS if english else AR_QUESTIONS,
        },
        ensure_ascii=False,
    )
