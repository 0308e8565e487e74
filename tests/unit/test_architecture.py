"""The import rules of docs/architecture.md, checked on the source (AST, so imports
inside functions and under TYPE_CHECKING count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).parents[2] / "bot"

# Services and infrastructure: they know nothing of chats, Telegram or the wiring.
CORE = ("bot.summarize", "bot.followups", "bot.briefings", "bot.ingest", "bot.llm", "bot.store")
INFRASTRUCTURE = ("bot.ingest", "bot.llm", "bot.store")
SERVICES = ("bot.summarize", "bot.followups", "bot.briefings")
WIRING = (
    "bot.app",
    "bot.services",
    "bot.cli",
    "bot.briefing_cli",
    "bot.summarize_cli",
    "bot.__main__",
)
CHAT = ("bot.chat",)
TELEGRAM = ("bot.telegram", "telegram")

# package -> what it may not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    **{core: (*CHAT, *TELEGRAM, *WIRING) for core in SERVICES},
    **{infra: (*SERVICES, *CHAT, *TELEGRAM, *WIRING) for infra in INFRASTRUCTURE},
    "bot.messages": (*CORE, *CHAT, *TELEGRAM, *WIRING),
    "bot.chat": (*TELEGRAM, "bot.cli", "bot.briefing_cli"),
    "bot.services": (*CHAT, *TELEGRAM),
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in BOT.rglob("*.py"):
        parts = list(path.relative_to(BOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every module name `path` imports (absolute; `from a import b` gives a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: use absolute imports"
            assert node.module is not None
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _own(name: str) -> str | None:
    """The bot module `name` refers to (a name imported from a module: that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets = {_own(n) for n in _imports(path) if _inside(n, "bot")}
        graph[module] = {t for t in targets if t and t != module and t != "bot"}
    return graph


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_the_layers_allow(package: str) -> None:
    bad = []
    for module, path in sorted(MODULES.items()):
        if not _inside(module, package):
            continue
        for name in sorted(_imports(path)):
            if any(_inside(name, f) for f in FORBIDDEN[package]):
                bad.append(f"{module} imports {name}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    """No module reaches itself through imports (module level or in functions)."""
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "\n".join(cycles)


def test_the_rules_see_the_whole_package() -> None:
    """A guard for the test itself: the walk found the packages the rules name."""
    for package in (*CORE, *CHAT, "bot.telegram", "bot.app", "bot.messages"):
        assert any(_inside(m, package) for m in MODULES), package
