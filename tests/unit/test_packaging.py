"""pyproject.toml lists the packages explicitly (prompts/ is mapped in as bot._prompts):
the list must name every package under bot/, or the wheel silently lacks it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_under_bot_is_in_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "bot").rglob("__init__.py")
    }
    assert set(setuptools["packages"]) == on_disk | {"bot._prompts"}
    assert setuptools["package-dir"]["bot._prompts"] == "prompts"
    assert (ROOT / "prompts" / "summarize.md").is_file()
