"""A block of terminal lines that is redrawn as it grows (a digest being written).

`LiveTerminal(stream)` writes to a terminal only (`enabled` is False when `stream` is
not a TTY, and then it writes nothing): `show(text)` erases the block it drew last and
draws `text`; `clear()` erases it, before the final reply is printed in its place.
Rows are counted with the terminal's width, so wrapped lines are erased too.
"""

from __future__ import annotations

import shutil
import unicodedata
from typing import TextIO

ERASE_UP = "\x1b[{n}F\x1b[J"  # to the start of the line n rows up, then erase below


def _width(line: str) -> int:
    return sum(
        2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1
        for ch in line
    )


class LiveTerminal:
    """See the module doc."""

    def __init__(self, stream: TextIO, *, enabled: bool | None = None) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self._rows = 0
        self._text = ""

    def _erase(self) -> None:
        if self._rows:
            self.stream.write(ERASE_UP.format(n=self._rows))
            self._rows = 0

    def show(self, text: str) -> None:
        if not self.enabled or text == self._text:
            return
        self._erase()
        columns = max(20, shutil.get_terminal_size((80, 24)).columns)
        self.stream.write(text + "\n")
        self.stream.flush()
        self._rows = sum(max(1, -(-_width(line) // columns)) for line in text.split("\n"))
        self._text = text

    def clear(self) -> None:
        if self.enabled:
            self._erase()
            self.stream.flush()
            self._text = ""
