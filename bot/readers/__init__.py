"""Readers of untrusted content: one per source type, one dispatch, run in worker
processes under OS limits.

The front door: `Readers` (built by the composition root), `Input`, and the typed
refusals. Adding a source type: see bot/readers/registry.py.
"""

from bot.readers.base import ARTICLE_MAX_CHARS, Input, InputTooLarge, Limits, Reader, TooComplex
from bot.readers.reading import Readers
from bot.readers.registry import UnsupportedDocument, choose

__all__ = [
    "ARTICLE_MAX_CHARS",
    "Input",
    "InputTooLarge",
    "Limits",
    "Reader",
    "Readers",
    "TooComplex",
    "UnsupportedDocument",
    "choose",
]
