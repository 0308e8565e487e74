"""Write one benchmark's section into docs/benchmarks.md, stamped with date and machine.

    from bench._report import write_section
    write_section("summarize", markdown_body)

Each benchmark owns one `## <name>` section; re-running replaces only that section.
"""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nWritten by the scripts in `bench/`; each section is replaced when its script reruns.\n"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.node()} · {os.cpu_count()} cores · {cpu} · Python {platform.python_version()}"
    )


def write_section(name: str, body: str) -> Path:
    """Replace (or add) the `## name` section of docs/benchmarks.md and return its path."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text("utf-8") if DOC.exists() else HEADER
    stamp = f"_Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}._\n\n"
    section = f"## {name}\n\n{stamp}{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text.rstrip("\n") + "\n", "utf-8")
    return DOC
