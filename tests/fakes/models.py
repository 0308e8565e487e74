"""Scripted model behaviour for the fake LLM server: what a well-behaved model answers.

`faithful(body)` reads the request the way a model would and answers in the shape asked:

* a digest request (numbered article sentences, or notes): the article's own sentences
  as bullets, each citing its sentence id, as many as the asked range needs (four when
  it allows), and three questions; neutral English sentences when English is asked;
* a map request ("points"): the first sentences as notes;
* a translation request (`<digest>`, one item): a neutral sentence as long as the item;
* the extra questions call: questions about sentences the digest does not use.

SMALL_MODEL_MODES (at the end) play a small real model's quirks.
"""

from __future__ import annotations

import json
import re
import zlib
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


EN_WORDS = [
    "point",
    "matter",
    "report",
    "event",
    "plan",
    "talk",
    "step",
    "view",
    "case",
    "issue",
    "part",
    "fact",
]
AR_WORDS = [
    "النقطة",
    "المسألة",
    "الخبر",
    "الحدث",
    "الخطة",
    "الحديث",
    "الخطوة",
    "الرأي",
    "القضية",
    "الأمر",
    "الجزء",
]
_DIGITS = re.compile(r"[0-9\u0660-\u0669]+(?:[.,][0-9\u0660-\u0669]+)*")


def translated_item(body: dict[str, Any]) -> str:
    """The item a translation request asks for (`bot/summarize/translate.py`: one
    bullet, the headline or one question per request, as JSON between <digest> tags)."""
    found = DIGEST_IN.findall(user_text(body))
    return str(json.loads(found[-1]).get("text", "")) if found else ""


def translation(body: dict[str, Any]) -> str:
    """One item translated: a neutral sentence as long as its source (one word per
    source word, picked by the word), keeping the source's numbers, a question mark on
    a question."""
    item = translated_item(body)
    text = user_text(body)
    english = "English" in text[text.rfind("<target_language>") : text.rfind("</target_language>")]
    words = _DIGITS.sub(" ", item).split()
    pool = EN_WORDS if english else AR_WORDS
    filler = [pool[zlib.crc32(w.encode()) % len(pool)] for w in words]
    numbers = _DIGITS.findall(item)
    start = "The article reports its point number" if english else "يذكر المقال النقطة"
    out = " ".join([start, *filler, *numbers])
    question = item.rstrip().endswith(("?", "؟"))
    end = ("?" if english else "؟") if question else "."
    if question:
        out = ("What does the article say of the" if english else "ماذا يقول المقال عن") + (
            " " + " ".join([*filler[:8], *numbers])
        )
    return json.dumps({"translation": out + end}, ensure_ascii=False)


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


def _resampled(body: dict[str, Any]) -> bool:
    """A fresh sample of an item (translate.py asks again at a higher temperature)."""
    return float(body.get("temperature") or 0) > 0.5


def invents_english_names(body: dict[str, Any]) -> str:
    """Asked to translate an Arabic bullet into English, it brings in a name it knows
    ("President Obama ..." for a bullet on جو بايدن); a fresh sample is faithful."""
    if _translating_to_english(body) and not _resampled(body):
        data = json.loads(translation(body))
        data["translation"] = (
            "President Obama " + data["translation"][0].lower() + data["translation"][1:]
        )
        return json.dumps(data)
    return _faithful_or_more(body)


def invents_a_name_twice(body: dict[str, Any]) -> str:
    """Like `invents_english_names`, but the bullet on "جو بايدن" (the seed's first)
    keeps its invented name in every sample: only the other bullets can be verified."""
    if _translating_to_english(body) and "جو بايدن" in translated_item(body):
        data = json.loads(translation(body))
        data["translation"] = "President Obama reports the first point."
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
    """Asked for an English translation, it writes one headline-like sentence for every
    item (seen on Qwen2.5-Coder-1.5B: "Donald Trump's colorful speech sparks debate."
    three times); a fresh sample translates the item."""
    if _translating_to_english(body) and not _resampled(body):
        return json.dumps({"translation": "The speech sparks a wide debate online today."})
    return _faithful_or_more(body)


def stops_at_a_quote(body: dict[str, Any]) -> str:
    """Asked for English under a pattern without double quotes (as llama.cpp's grammar
    enforces it), it ends its string where the item opens a double quote: "... is"."""
    item = translated_item(body)
    if _translating_to_english(body) and any(q in item for q in '"“”«»'):
        return json.dumps({"translation": "The president said that the country is"})
    return _faithful_or_more(body)


def refuses_to_translate(body: dict[str, Any]) -> str:
    """Asked to translate, it answers with a refusal (seen on Qwen2.5-Coder-1.5B: "I'm
    sorry, but I can't assist with that request."); a fresh sample translates."""
    if _translating_to_english(body) and not _resampled(body):
        return json.dumps({"translation": "I'm sorry, but I can't assist with that request."})
    return _faithful_or_more(body)


SMALL_MODEL_MODES = {
    "repeats-one-bullet": repeats_one_bullet,
    "refuses-to-translate": refuses_to_translate,
    "stops-at-a-quote": stops_at_a_quote,
    "invents-english-names": invents_english_names,
    "invents-a-name-twice": invents_a_name_twice,
    "restates-questions": restates_questions,
    "fewer-questions": fewer_questions,
    "cuts-answers": cuts_answers,
}
