"""Prompt files: `prompts/<name>.md`, versioned by their content hash.

They are edited in the project's top-level `prompts/` folder and ship inside the
package as `bot/_prompts/` (pyproject.toml maps one onto the other), so an installed
wheel finds them without a checkout. `PROMPTS_DIR` overrides both.

`load_prompt("summarize")` returns the text and `version` (first 12 hex digits of the
sha256 of the file). `Prompt.render(**params)` replaces only `{name}` placeholders whose
name is given, so braces elsewhere (JSON examples) are left alone. Article text is never
rendered into a template: callers append it as delimited data to the user message.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from bot.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


CHECKOUT_PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


def prompts_dir() -> Traversable:
    """The prompts folder: $PROMPTS_DIR; else the copy inside the installed package
    (`bot/_prompts`); else `prompts/` of the checkout this code runs from."""
    env = os.environ.get("PROMPTS_DIR")
    if env:
        return Path(env)
    packaged = resources.files("bot").joinpath("_prompts")
    return packaged if packaged.is_dir() else CHECKOUT_PROMPTS


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str
    version: str

    def render(self, **params: object) -> str:
        """Return the text with each given `{name}` replaced by str(value), once, safely."""

        def sub(m: re.Match[str]) -> str:
            key = m.group(1)
            return str(params[key]) if key in params else m.group(0)

        return _PLACEHOLDER.sub(sub, self.text).strip()


@functools.cache
def load_prompt(name: str) -> Prompt:
    """Read `prompts/<name>.md`; raise ConfigError (one clear line) if it is missing."""
    path = prompts_dir().joinpath(f"{name}.md")
    try:
        raw = path.read_bytes()
    except OSError:
        raise ConfigError(
            f"prompt file {path} not found: reinstall the package or set PROMPTS_DIR"
        ) from None
    return Prompt(name=name, text=raw.decode("utf-8"), version=hashlib.sha256(raw).hexdigest()[:12])


def combined_version(*names: str) -> str:
    """One version for a set of prompts (changes when any of them changes)."""
    joined = "|".join(load_prompt(n).version for n in names)
    return hashlib.sha256(joined.encode()).hexdigest()[:12]
