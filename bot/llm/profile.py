"""What one model accepts: learned from the parameters its 400s name, or known from its
name (OpenAI's reasoning models). `bad_param` reads the parameter out of an error, in
every shape real servers use (OpenAI's `param`, Azure's message, Gemini's JSON list)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import openai

# "Unsupported parameter: 'max_tokens'", "Unrecognized request argument supplied: x",
# "'temperature' does not support 0.2", "Unknown name \"max_completion_tokens\"" ...
_QUOTED = re.compile(r"['\"`]([a-z_][a-z0-9_.]*)['\"`]")
_ARGUMENT = re.compile(
    r"(?:argument|parameter|field)s?(?: supplied)?:?\s+([a-z_][a-z0-9_.]*)", re.I
)
_REASONING_MODEL = re.compile(r"^(?:[\w.-]+/)?(?:o\d|gpt-5)", re.I)
REASONING_HEADROOM = 2048  # extra completion tokens for a reasoning model's hidden thoughts

MAX_ADAPTATIONS = 4  # refusals adapted to, per request

JsonMode = Literal["schema", "object", "prompt"]


@dataclass
class ModelProfile:
    """What one model accepts, learned from its 400s (or known from its name)."""

    token_param: str = "max_completion_tokens"
    temperature: bool = True
    reasoning_effort: bool = False
    headroom: int = 0
    json_mode: JsonMode = "schema"
    stream: bool = True  # False once the server refused `stream` (answers come whole)
    stream_usage: bool = True  # False once it refused `stream_options`
    adapted: list[str] = field(default_factory=list)

    @classmethod
    def for_model(cls, model: str) -> ModelProfile:
        if _REASONING_MODEL.match(model):
            return cls(temperature=False, reasoning_effort=True, headroom=REASONING_HEADROOM)
        return cls()

    def adapt(self, param: str, *, sent: dict[str, Any]) -> bool:
        """Change the request so it no longer sends `param`; False if nothing can change."""
        name = param.split(".")[0].lower()
        if name in ("max_tokens", "max_completion_tokens") and name == self.token_param:
            self.token_param = (
                "max_tokens" if name == "max_completion_tokens" else ("max_completion_tokens")
            )
        elif name == "temperature" and self.temperature:
            self.temperature = False
        elif name == "reasoning_effort" and self.reasoning_effort:
            self.reasoning_effort = False
        elif name == "stream_options" and self.stream_usage and name in sent:
            self.stream_usage = False
        elif name == "stream" and self.stream and sent.get("stream"):
            self.stream = False
        elif name in ("response_format", "json_schema", "strict") and "response_format" in sent:
            self.json_mode = "object" if self.json_mode == "schema" else "prompt"
        else:
            return False
        self.adapted.append(name)
        return True


def bad_param(exc: openai.APIStatusError) -> str:
    """The parameter a 400 complains about ('' when it names none)."""
    param = getattr(exc, "param", None)
    if isinstance(param, str) and param:
        return param
    message = str(getattr(exc, "message", "")) + " " + json.dumps(exc.body, default=str)
    for pattern in (_QUOTED, _ARGUMENT):
        for m in pattern.finditer(message):
            name = m.group(1).lower()
            if name in _KNOWN_PARAMS:
                return name
    lowered = message.lower()
    for name in ("response_format", "json_schema", "max_completion_tokens", "max_tokens"):
        if name in lowered:
            return name
    return ""


_KNOWN_PARAMS = {
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "reasoning_effort",
    "response_format",
    "response_format.type",
    "json_schema",
    "strict",
    "stream",
    "stream_options",
    "stream_options.include_usage",
}
