"""Every regular expression in bot/ and the hostile inputs that make a regex backtrack.

Python's `re` holds the GIL while it matches, so one pattern that is quadratic on a long
input freezes the event loop and every thread. `collect()` finds the patterns (compiled
module attributes, literal patterns passed to `re.*` anywhere in the source, and the
boilerplate rules of bot/data/boilerplate.toml); `hostile_inputs()` builds, for one
pattern, runs of the characters and literal pieces it is made of (plus letters, Arabic
letters, digits, spaces); `growth()` times a full scan (`finditer`, what `sub`, `findall`
and a failing `search` do) at n and 4n characters. A linear pattern takes about 4x as long
at 4n, a quadratic one about 16x. Used by tests/unit/test_regex_linear.py and bench/regex.py.
"""

from __future__ import annotations

import ast
import importlib
import re
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BOT = Path(__file__).resolve().parents[1] / "bot"
_RE_FUNCS = {
    "compile",
    "search",
    "match",
    "fullmatch",
    "findall",
    "finditer",
    "sub",
    "subn",
    "split",
}
# letters, Arabic letters, digits, spaces and the punctuation that patterns are built from
MAX_LETTERS = 4  # letters taken from one pattern
MAX_RUNS = 8  # literal runs taken from one pattern (the shortest)
GENERIC = ("a", "A", "ب", "1", "١", " ", "\n", ".", ",", "،", "-", "@", "<", ">", "&", "/", ":")


@dataclass(frozen=True)
class Found:
    where: str  # module:name or file:line
    pattern: re.Pattern[str]


def _modules() -> Iterator[str]:
    for path in sorted(BOT.rglob("*.py")):
        parts = list(path.relative_to(BOT.parent).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts)


def _literal_calls() -> Iterator[Found]:
    """Patterns written as string literals in `re.<func>(...)` calls, wherever they are."""
    for path in sorted(BOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr in _RE_FUNCS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                continue
            flags = 0
            for arg in [*node.args[1:], *(k.value for k in node.keywords if k.arg == "flags")]:
                for name in ast.walk(arg):
                    if isinstance(name, ast.Attribute) and name.attr in ("I", "S", "M", "X"):
                        flags |= getattr(re, name.attr)
            where = f"{path.relative_to(BOT.parent)}:{node.lineno}"
            yield Found(where, re.compile(node.args[0].value, flags))


def _module_patterns() -> Iterator[Found]:
    """Compiled patterns held by a module (covers f-string patterns the AST cannot read)."""
    for name in _modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                yield Found(f"{name}:{attr}", value)


def _boilerplate() -> Iterator[Found]:
    data = tomllib.loads((BOT / "data" / "boilerplate.toml").read_text("utf-8"))
    rules = [*data["drop"]["regex"], data["author_box"]["regex"], *data["inline"]["regex"]]
    for i, rule in enumerate(rules):
        yield Found(f"boilerplate.toml#{i}", re.compile(rule, re.I))


def collect() -> list[Found]:
    """Every distinct pattern in bot/ (first place it was seen)."""
    seen: dict[tuple[str, int], Found] = {}
    for found in [*_module_patterns(), *_literal_calls(), *_boilerplate()]:
        seen.setdefault((found.pattern.pattern, found.pattern.flags), found)
    return list(seen.values())


def _walk(parsed: object, chars: set[str], runs: list[str]) -> None:
    """Collect single characters and literal runs from a parsed pattern."""
    import re._constants as c
    import re._parser as p

    run = ""
    items = parsed.data if isinstance(parsed, p.SubPattern) else parsed  # type: ignore[attr-defined]
    for op, av in items:  # type: ignore[union-attr]
        if op is c.LITERAL:
            run += chr(av)
            chars.add(chr(av))
            continue
        if run:
            runs.append(run)
            run = ""
        if op is c.IN:
            for sub_op, sub_av in av:
                if sub_op is c.LITERAL:
                    chars.add(chr(sub_av))
                elif sub_op is c.RANGE:
                    chars.update((chr(sub_av[0]), chr(sub_av[1])))
        elif op is c.SUBPATTERN or op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            _walk(av[-1], chars, runs)
        elif op is c.BRANCH:
            for branch in av[1]:
                _walk(branch, chars, runs)
        elif op in (c.ASSERT, c.ASSERT_NOT):
            _walk(av[1], chars, runs)
        elif op is c.ATOMIC_GROUP:
            _walk(av, chars, runs)
    if run:
        runs.append(run)


def pieces(pattern: re.Pattern[str]) -> tuple[list[str], list[str]]:
    """(single characters, literal runs) the pattern is made of, plus the generic ones."""
    import re._parser as p

    chars: set[str] = set(GENERIC)
    runs: list[str] = []
    _walk(p.parse(pattern.pattern, pattern.flags), chars, runs)
    chars = {ch for ch in chars if ch.isprintable() or ch in " \n"}
    # letters of long alternations (month names) add time, not new shapes: keep a few
    letters = sorted(ch for ch in chars - set(GENERIC) if ch.isalpha())
    chars = (chars - set(letters)) | set(letters[:MAX_LETTERS])
    kept = sorted({r for r in runs if r.strip()}, key=lambda r: (len(r), r))[:MAX_RUNS]
    return sorted(chars), kept


@dataclass(frozen=True)
class Hostile:
    """prefix + unit repeated + suffix, about n characters long."""

    prefix: str
    unit: str
    suffix: str = ""

    def build(self, n: int) -> str:
        return (
            self.prefix + self.unit * max(1, (n - len(self.prefix)) // len(self.unit)) + self.suffix
        )

    def __str__(self) -> str:
        return "".join(
            [f"{self.prefix!r} + " if self.prefix else "", f"{self.unit!r} * n"]
            + ([f" + {self.suffix!r}"] if self.suffix else [])
        )


def hostile_inputs(pattern: re.Pattern[str], *, full: bool = True) -> Iterator[Hostile]:
    """Inputs made of the pattern's own pieces that make a backtracking regex work hard
    (`full=False`: only runs of one character or one literal piece, the quick set)."""
    chars, runs = pieces(pattern)
    units = [*chars, *runs]
    for unit in units:
        yield Hostile("", unit)
    for r in runs:
        yield Hostile(r, r[-1], "\x01")
    if not full:
        return
    for a in chars:
        yield Hostile("", a + "a")
        yield Hostile("", a + " ")
    for r in runs:
        for unit in units:
            yield Hostile(r, unit)
        for unit in (" ", "a", "1", ".", r[-1]):
            yield Hostile(
                r, unit, "\x01"
            )  # a run that is rescanned when the match fails at its end
        yield Hostile("", r + " ")
        yield Hostile("", r + "a")


def scan(pattern: re.Pattern[str], text: str) -> float:
    """Seconds for a full scan of `text` (every match, as sub/findall/a failing search do)."""
    start = time.perf_counter()
    for _ in pattern.finditer(text):
        pass
    return time.perf_counter() - start


def best(pattern: re.Pattern[str], text: str, repeat: int = 3) -> float:
    return min(scan(pattern, text) for _ in range(repeat))


def growth(pattern: re.Pattern[str], hostile: Hostile, n: int) -> tuple[float, float]:
    """(seconds at n characters, seconds at 4n), best of a few runs each."""
    return best(pattern, hostile.build(n)), best(pattern, hostile.build(4 * n))


def worst_inputs(
    pattern: re.Pattern[str], n: int = 600, floor: float = 1e-4, *, full: bool = True
) -> list[tuple[float, Hostile]]:
    """Hostile inputs on which `pattern` grows faster than linearly, worst first.

    A quick screen at n and 4n characters; an input counts when the larger run takes at
    least `floor` seconds (shorter times are noise) and more than 8x the smaller one.
    """
    flagged = []
    for hostile in hostile_inputs(pattern, full=full):
        if scan(pattern, hostile.build(4 * n)) < floor:
            continue
        small, big = growth(pattern, hostile, n)
        if big > 8 * max(small, 1e-6):
            flagged.append((big / max(small, 1e-6), hostile))
    return sorted(flagged, key=lambda f: -f[0])
