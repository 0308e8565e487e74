"""The import rules of docs/architecture.md, checked on the source (AST, so imports
inside functions and under TYPE_CHECKING count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).parents[2] / "bot"

# Services and infrastructure: they know nothing of chats, Telegram or the wiring.
CORE = (
    "bot.summarize",
    "bot.followups",
    "bot.briefings",
    "bot.grounding",
    "bot.ingest",
    "bot.readers",
    "bot.llm",
    "bot.store",
)
INFRASTRUCTURE = ("bot.ingest", "bot.readers", "bot.llm", "bot.store")
SERVICES = ("bot.summarize", "bot.followups", "bot.briefings")
WIRING = (
    "bot.app",
    "bot.services",
    "bot.cli",
    "bot.__main__",
)
CHAT = ("bot.chat",)
TELEGRAM = ("bot.telegram", "telegram")

# package -> what it may not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    **{core: (*CHAT, *TELEGRAM, *WIRING) for core in SERVICES},
    **{infra: (*SERVICES, *CHAT, *TELEGRAM, *WIRING) for infra in INFRASTRUCTURE},
    # below both features that check what a model wrote
    "bot.grounding": (*SERVICES, *CHAT, *TELEGRAM, *WIRING),
    "bot.messages": (*CORE, *CHAT, *TELEGRAM, *WIRING),
    # the chat layer reaches Redis only through services (issue 19)
    "bot.chat": (*TELEGRAM, "bot.cli", "redis"),
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
        # a module's own packages are imported before it anyway (Python imports a
        # package's __init__ first), so `from bot.x import y` inside bot.x is no cycle
        graph[module] = {t for t in targets if t and not _inside(module, t)}
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


def test_followups_use_no_summarize_internals() -> None:
    """Answers are checked with bot.grounding, the same checks digests use (issue 19.4)."""
    bad = [
        f"{module} imports {name}"
        for module, path in sorted(MODULES.items())
        if _inside(module, "bot.followups")
        for name in sorted(_imports(path))
        if _inside(name, "bot.summarize")
    ]
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


# Feature packages with a front door: code outside them imports only the package
# itself (what its __init__ exports), never one of its modules.
FRONT_DOORS = ("bot.briefings", "bot.followups")


@pytest.mark.parametrize("package", FRONT_DOORS)
def test_features_are_used_only_through_their_front_door(package: str) -> None:
    bad = []
    for module, path in sorted(MODULES.items()):
        if _inside(module, package):
            continue
        for name in sorted(_imports(path)):
            target = _own(name)
            if target is not None and target != package and _inside(target, package):
                bad.append(f"{module} imports {target}")
    assert not bad, "\n".join(bad)


def test_entry_points_live_in_one_package() -> None:
    """Every `async def run(args, settings)` style entry point is in bot/cli/, found by
    argparse's set_defaults, never by a "module:function" string."""
    outside = []
    for module, path in sorted(MODULES.items()):
        if _inside(module, "bot.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                names = [a.arg for a in node.args.args]
                if names[:2] == ["args", "settings"]:
                    outside.append(f"{module}.{node.name}")
    assert not outside, outside
    source = (BOT / "cli" / "__init__.py").read_text("utf-8")
    assert "importlib" not in source
