"""Conversations for servers whose chat template refuses their shape.

Every request about an article is [system, user (the article), user (the task), ...]
(`article.py`): two user messages in a row. Chat templates that insist on strict turns
refuse that when the server renders them (Gemma's, and Mistral's and Llama 2's older
ones; llama.cpp with `--jinja`, vLLM, SGLang, LM Studio, TGI); some (Gemma 1 and 2,
Mistral v0.1) refuse a `system` message too. What real servers answer:

* llama.cpp (Gemma 3 template): HTTP 500, `{"error": {"code": 500, "type":
  "server_error", "message": "...Error: Jinja Exception: Conversation roles must
  alternate user/assistant/user/assistant/..."}}`; Devstral's template says "After the
  optional system message, conversation roles must alternate user and assistant roles
  ...".
* vLLM (Gemma 3): HTTP 400, `{"error": {"message": "Conversation roles must alternate
  user/assistant/user/assistant/... (the same again)", "type": "BadRequestError",
  "code": 400}}`; older vLLM (Mistral v0.1): 400 `{"object": "error", "message":
  "Conversation roles must alternate ...", "type": "invalid_request_error"}`, also for
  a system message, which that template counts as a turn.
* vLLM (Gemma 2): 400 `{"object": "error", "message": "System role not supported",
  "type": "BadRequestError", "code": 400}`; Mistral's template says "Only user and
  assistant roles are supported!", LM Studio "... roles are supported, got system".
* Perplexity: 400 "After the (optional) system message(s), user and assistant roles
  should be alternating."

`refusal(exc)` reads which of the two a refused request met; `Shape` says how the
conversation is sent (`merge`: consecutive messages of one role become one, their
contents joined by a blank line; `fold`: the system text goes first in the first user
message) and `Shape.after(refused, messages)` what to try next. Both keep the article
message first, so requests about one article still start with the same bytes and a
server's prefix cache still reads the article once. `shape_for(base_url, model)` is
this process's memory of one model on one server: later requests go adapted at once,
and a restart asks again (one refused request per server and model).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import openai

Refusal = Literal["alternate", "system"]

# a refusal is one of these statuses with one of these texts (anything else is an error)
STATUSES = (400, 422, 500)
_ALTERNATE = re.compile(r"roles must alternate|roles should be alternating", re.I)
_SYSTEM = re.compile(
    r"system role (?:is )?not supported|only user and assistant roles are supported"
    r"|roles are supported, got system",
    re.I,
)
MAX_STEPS = 2  # merge, then fold: the most a conversation is adapted


def refusal(exc: openai.APIStatusError) -> Refusal | None:
    """What the server's chat template refused in this error, or None (another error)."""
    if exc.status_code not in STATUSES:
        return None
    text = f"{exc.message} {json.dumps(exc.body, default=str, ensure_ascii=False)}"
    if _SYSTEM.search(text):
        return "system"
    if _ALTERNATE.search(text):
        return "alternate"
    return None


Message = dict[str, str]


@dataclass(frozen=True)
class Shape:
    """How conversations are sent to one model on one server."""

    merge: bool = False  # consecutive messages of one role sent as one
    fold: bool = False  # the system message sent as the start of the first user message

    def apply(self, messages: list[Message]) -> list[Message]:
        """`messages` as this shape sends them (the same list when nothing changes)."""
        if not (self.merge or self.fold):
            return messages
        out = [dict(m) for m in messages]
        if self.fold:
            out = _folded(out)
        if self.merge:
            out = _merged(out)
        return out

    def after(self, refused: Refusal, messages: list[Message]) -> Shape | None:
        """The shape to try after `messages`, sent in this shape, met `refused`; None
        when nothing is left to change."""
        has_system = any(m["role"] == "system" for m in messages)
        if refused == "system":
            return replace(self, fold=True) if has_system and not self.fold else None
        merged = replace(self, merge=True)
        if not self.merge and merged.apply(messages) != self.apply(messages):
            return merged
        if has_system and not self.fold:
            # the template counts the system message as a turn (Mistral v0.1)
            return Shape(merge=True, fold=True)
        return None

    def describe(self) -> str:
        parts = ["consecutive messages of one role merged"] if self.merge else []
        if self.fold:
            parts.append("the system message folded into the first user message")
        return " and ".join(parts) or "as built"


def _folded(messages: list[Message]) -> list[Message]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [m for m in messages if m["role"] != "system"]
    if not system:
        return rest
    for m in rest:
        if m["role"] == "user":
            m["content"] = f"{system}\n\n{m['content']}"
            return rest
    return [{"role": "user", "content": system}, *rest]


def _merged(messages: list[Message]) -> list[Message]:
    out: list[Message] = []
    for m in messages:
        if out and out[-1]["role"] == m["role"]:
            out[-1]["content"] = f"{out[-1]['content']}\n\n{m['content']}"
        else:
            out.append(m)
    return out


_SHAPES: dict[tuple[str, str], Shape] = {}


def shape_for(base_url: str, model: str) -> Shape:
    """The shape this process learned for `model` at `base_url` (as built: none yet)."""
    return _SHAPES.get((base_url.rstrip("/"), model), Shape())


def learn(base_url: str, model: str, shape: Shape) -> None:
    if len(_SHAPES) > 100:  # tests start many servers; a bot talks to one or two
        _SHAPES.clear()
    _SHAPES[(base_url.rstrip("/"), model)] = shape


def forget(base_url: str) -> None:
    """Drop what was learned about the server at `base_url` (a fake server that stopped)."""
    for key in [k for k in _SHAPES if k[0] == base_url.rstrip("/")]:
        del _SHAPES[key]


def server_name(base_url: str) -> str:
    """`base_url` fit for a log line: host, port and path, never a user, password or query."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path}"
