"""Scripted model behaviour for the fake LLM server: what a well-behaved model answers.

`faithful(body)` reads the request the way a model would and answers in the shape asked:

* a digest request (numbered article sentences, or notes): the article's own sentences
  as bullets, each citing its sentence id, as many as the asked range needs (four when
  it allows), and three questions; neutral English sentences when English is asked;
* a map request ("points"): the first sentences as notes;
* a translation request (`<digest>`): one neutral sentence per input bullet and question;
* the extra questions call: questions about sentences the digest does not use.

SMALL_MODEL_MODES (at the end) play a small real model's quirks.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.ingest.arabic import split_sentences

BLOCK = re.compile(r"<(article|notes|passages)>\n(.*)\n</\1>", re.S)
NUMBERED = re.compile(r"^\[(\d+)\] (.+)$", re.M)
RANGE = re.compile(r"(\d+) to (\d+) bullets")
DIGEST_IN = re.compile(r"<digest>\n(.*?)\n</digest>", re.S)
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
    """(id, sentence) of the first numbered block (the article, or a long article's
    passages after its notes), else of the notes (id 0), in order."""
    blocks = [m.group(2) for m in BLOCK.finditer(user_text(body))]
    if not blocks:
        return []
    for data in blocks:
        found = [(int(i), s.strip()) for i, s in NUMBERED.findall(data)]
        if found:
            return found
    lines = [line.removeprefix("- ") for line in blocks[0].split("\n")]
    return [(0, s) for s in split_sentences("\n".join(lines))]


def asked_range(body: dict[str, Any]) -> tuple[int, int]:
    m = RANGE.search(user_text(body))
    return (int(m.group(1)), int(m.group(2))) if m else (3, 5)


def translation(body: dict[str, Any]) -> str:
    found = DIGEST_IN.findall(user_text(body))  # the last request's digest (a retry's)
    source = json.loads(found[-1]) if found else {"bullets": [], "questions": []}
    text = user_text(body)
    english = "English" in text[text.rfind("<target_language>") : text.rfind("</target_language>")]
    n, q = len(source["bullets"]), len(source["questions"])
    if english:
        again = "retried " if "evidence" in source else ""  # a retry's items: new words
        bullets = [f"The article reports its {again}point number {i}." for i in range(1, n + 1)]
        return json.dumps(
            {
                "names": [],
                "headline": "The main point",
                "bullets": bullets,
                "questions": EN_QUESTIONS[:q],
            }
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
    if MORE_QUESTIONS in user_text(body):
        return more_questions(body)
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


# --- a small real model's quirks (Qwen2.5-Coder 0.5B / 1.5B on llama.cpp, measured) ---
#
# Handlers for `FakeLLM.handler`, named in `SMALL_MODEL_MODES`. Each one answers like
# `faithful` except for the quirk it plays.

MORE_QUESTIONS = "more short follow-up questions"
KREMLIN_CUT = "الناطق باسم الكرملين دميتري بيسكوف قال إن"  # a real answer, cut


def more_questions(body: dict[str, Any]) -> str:
    """The extra questions call: questions about article sentences the digest does not
    use (the digest's bullets are the first sentences)."""
    text = user_text(body)
    count = int(m.group(1)) if (m := re.search(r"Write (\d+) more", text)) else 3
    said = text.split("The digest already says:")[-1]
    fresh = [s for _, s in numbered_sentences(body) if len(s.split()) >= 6 and s not in said]
    if english_asked(body):
        pool = ["What did the article say next?", "Who else spoke about it?", "When was it?"]
        return json.dumps({"questions": pool[:count]})
    asked = [f"ماذا عن {' '.join(s.split()[:5])}؟" for s in fresh[-count:]]
    return json.dumps({"questions": asked}, ensure_ascii=False)


def _faithful_or_more(body: dict[str, Any]) -> str:
    return faithful(body)


def _translating_to_english(body: dict[str, Any]) -> bool:
    text = user_text(body)
    wanted = re.findall(r"<target_language>([^<]*)</target_language>", text)
    return "<digest>" in text and any("English" in w for w in wanted)


def invents_english_names(body: dict[str, Any]) -> str:
    """Asked to translate an Arabic digest into English, it brings in a name it knows
    ("Obama" for جو بايدن, in its name list and in every bullet); given a checked name
    list (the corrective retry's <names>) it keeps to it."""
    if _translating_to_english(body) and "<names>" not in user_text(body):
        data = json.loads(translation(body))
        data["names"] = [{"source": "جو بايدن", "target": "Obama"}]
        data["bullets"] = [
            f"President Obama reports point {i}." for i, _ in enumerate(data["bullets"], 1)
        ]
        return json.dumps(data)
    return _faithful_or_more(body)


def invents_a_name_twice(body: dict[str, Any]) -> str:
    """Like `invents_english_names`, but the retry still writes "Obama" in its first
    bullet: only the other bullets can be verified."""
    if _translating_to_english(body) and "<names>" in user_text(body):
        data = json.loads(translation(body))
        data["bullets"][:1] = ["President Obama reports the first point."]
        return json.dumps(data)
    return invents_english_names(body)


def restates_questions(body: dict[str, Any]) -> str:
    """Its suggested questions restate its bullets (the checks drop them all)."""
    if BLOCK.search(user_text(body)) and MORE_QUESTIONS not in user_text(body):
        data = json.loads(faithful(body))
        if "bullets" in data and "points" not in data:
            data["questions"] = [
                (b["text"] if isinstance(b, dict) else b).rstrip(".") + "؟"
                for b in data["bullets"][:3]
            ]
            return json.dumps(data, ensure_ascii=False)
    return _faithful_or_more(body)


def fewer_questions(body: dict[str, Any]) -> str:
    """It writes one suggested question where three are asked for."""
    if BLOCK.search(user_text(body)) and MORE_QUESTIONS not in user_text(body):
        data = json.loads(faithful(body))
        if "questions" in data:
            data["questions"] = data["questions"][:1]
            return json.dumps(data, ensure_ascii=False)
    return _faithful_or_more(body)


def cuts_answers(body: dict[str, Any]) -> str:
    """Its follow-up answers stop mid-sentence («… قال إن»), the retry's too, citing the
    sentence that holds the rest."""
    ids = [i for i, s in numbered_sentences(body) if "بيسكوف" in s]
    return json.dumps({"answer": KREMLIN_CUT, "sources": ids, "found": True}, ensure_ascii=False)


def repeats_one_bullet(body: dict[str, Any]) -> str:
    """Asked for an English translation, it writes its first bullet for every bullet
    (seen on Qwen2.5-Coder-1.5B: one headline-like sentence three times); the retry,
    with the failed bullets beside their sentences, translates each."""
    if _translating_to_english(body) and "<names>" not in user_text(body):
        data = json.loads(translation(body))
        data["bullets"] = [data["bullets"][0]] * len(data["bullets"])
        return json.dumps(data)
    return _faithful_or_more(body)


SMALL_MODEL_MODES = {
    "repeats-one-bullet": repeats_one_bullet,
    "invents-english-names": invents_english_names,
    "invents-a-name-twice": invents_a_name_twice,
    "restates-questions": restates_questions,
    "fewer-questions": fewer_questions,
    "cuts-answers": cuts_answers,
}
