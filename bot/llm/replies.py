"""What comes back from a model, made usable: reasoning blocks stripped, the JSON object
found (in fences, amid chatter) or, on the prompt-only path, repaired with json-repair."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from bot import metrics
from bot.errors import LLMError

log = logging.getLogger(__name__)

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.S)
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.I)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.I)


class LLMOutputError(LLMError):
    """The model answered, but not with the JSON object that was asked for."""


class LLMTruncated(LLMOutputError):
    """The reply was cut (`finish_reason: "length"`), even with more room."""


def strip_think(text: str) -> str:
    """Return `text` without reasoning blocks: `<think>…</think>` anywhere, an unclosed
    `<think>` at the start (the reply was cut while thinking: nothing is left), or
    reasoning that ends with a bare `</think>` (the template opened the block)."""
    out = _THINK.sub("", text)
    if _THINK_CLOSE.search(out):
        out = _THINK_CLOSE.split(out)[-1]
    opened = _THINK_OPEN.search(out)
    if opened:
        out = out[: opened.start()]
    return out.strip()


def parse_json_object(text: str, *, repair: bool = False) -> dict[str, Any]:
    """Return the JSON object in `text` (bare, or in a ```json fence, or with chatter
    around the outermost braces). With `repair`, broken JSON (unescaped quotes, missing
    braces) is mended with json-repair. Raise LLMOutputError when there is no object."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    candidates = [body]
    start, end = body.find("{"), body.rfind("}")
    if start != -1 and end > start:
        candidates.append(body[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    if repair and start != -1:
        import json_repair

        value = json_repair.loads(body[start:])
        if isinstance(value, dict) and value:
            metrics.LLM_REPAIRS.labels(kind="json_repaired").inc()
            log.info("repaired broken JSON from the model")
            return value
    raise LLMOutputError("the model's reply is not a JSON object")
