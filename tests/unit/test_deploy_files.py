"""Deployment files, checked without Docker: the compose file parses and wires Redis
with AOF, the polling bot and two webhook replicas behind the proxy; the Dockerfile
is multi-stage, non-root, secret-free, installs the project the way CI does, and
its HEALTHCHECK command really works against the bot's health server.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from telegram.ext import Application

from bot.config import Settings
from bot.store.keys import Keys
from bot.store.redis import Store, client_for
from bot.telegram.health import HealthServer
from bot.telegram.lifecycle import DRAIN_SECONDS
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
README_MISSING = "README.md is not written yet (the Dockerfile COPYs it; pyproject names it)"
SECRETISH = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD", re.IGNORECASE)


# --- Dockerfile parsing ----------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins, args in dockerfile():
        if ins == "FROM":
            result.append([])
        if result:
            result[-1].append((ins, args))
    return result


def env_pairs(args: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(args))


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    froms = [args for ins, args in dockerfile() if ins == "FROM"]
    assert len(froms) >= 2
    assert all("-slim" in f for f in froms)
    assert " AS builder" in froms[0]
    runtime = stages()[-1]
    # the runtime stage takes the built venv from the builder, not a second install
    assert any(ins == "COPY" and "--from=builder" in args for ins, args in runtime)
    assert not any(ins == "RUN" and "pip install" in args for ins, args in runtime)


def test_runtime_runs_as_a_non_root_user() -> None:
    runtime = stages()[-1]
    users = [args for ins, args in runtime if ins == "USER"]
    assert users, "no USER in the runtime stage"
    assert users[-1].split(":")[0] not in {"root", "0"}
    names = [ins for ins, _ in runtime]
    assert names.index("USER") < names.index("CMD")


def test_no_secret_is_baked_into_the_image() -> None:
    for ins, args in dockerfile():
        if ins in {"ENV", "ARG"}:
            for name in env_pairs(args) if "=" in args else {args.split()[0]: ""}:
                assert not SECRETISH.search(name), f"{ins} {name} would bake a secret"
        if ins in {"COPY", "ADD"}:
            assert ".env" not in args.split()
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in (".env", ".env.*", ".git", ".venv"):
        assert needed in ignored


def test_copied_paths_exist_and_are_not_dockerignored() -> None:
    if not (ROOT / "README.md").exists():
        pytest.skip(README_MISSING)
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for ins, args in dockerfile():
        if ins != "COPY" or "--from=" in args:
            continue
        *sources, _dest = args.split()
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: missing from the repo"
            assert src.split("/")[0] not in ignored, f"COPY {src}: excluded by .dockerignore"


def test_install_matches_ci_and_prompts_are_found() -> None:
    runs = [args for ins, args in stages()[0] if ins == "RUN" and "pip install" in args]
    assert len(runs) == 1
    target = shlex.split(runs[0])[-1]
    assert target == "."  # this project, as in CI's `pip install -e ".[dev]"`
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r'pip install .*"\.\[dev\]"', ci)
    readme = ROOT / "README.md"
    if readme.exists():  # the README's fresh-machine commands install the same project
        assert re.search(r'pip install (-e )?(\.|"\.\[dev\]")(\s|$)', readme.read_text("utf-8"))
    # the prompts ship inside the package (bot._prompts): the builder stage copies them
    # into the build context, and the image does not point PROMPTS_DIR elsewhere
    builder_copies = [args.split()[0] for ins, args in stages()[0] if ins == "COPY"]
    assert "prompts" in builder_copies
    env: dict[str, str] = {}
    for ins, args in stages()[-1]:
        if ins == "ENV":
            env.update(env_pairs(args))
    assert "PROMPTS_DIR" not in env
    assert (ROOT / "prompts" / "summarize.md").exists()


def test_entrypoint_runs_the_bot() -> None:
    cmds = {ins: json.loads(args) for ins, args in dockerfile() if ins in {"ENTRYPOINT", "CMD"}}
    assert cmds["ENTRYPOINT"] + cmds["CMD"] == ["python", "-m", "bot", "run"]


def healthcheck_command() -> list[str]:
    (args,) = [args for ins, args in dockerfile() if ins == "HEALTHCHECK"]
    assert "--interval=" in args
    cmd = json.loads(args[args.index("CMD") + 3 :].strip())
    assert isinstance(cmd, list)
    return [str(c) for c in cmd]


async def run_check(cmd: list[str], port: int) -> int:
    argv = [sys.executable if cmd[0] == "python" else cmd[0], *cmd[1:]]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={"WEBHOOK_PORT": str(port), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), 20)


async def test_healthcheck_commands_work_against_the_health_server(redis_url: str) -> None:
    compose_cmd = load_compose()["services"]["bot"]["healthcheck"]["test"]
    assert compose_cmd[0] == "CMD"
    port = free_port()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    store = Store(redis=client_for(redis_url), keys=Keys("deploy-test"), url=redis_url)
    app: Application[Any, Any, Any, Any, Any, Any] = (
        Application.builder().token("1:unused").updater(None).build()
    )
    # nothing listens yet: the check fails
    assert await run_check(healthcheck_command(), port) == 1
    server = HealthServer(settings, store, app)
    ready = asyncio.Event()
    task = asyncio.create_task(server.serve_http(ready=ready, handle_signals=False))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        assert await run_check(healthcheck_command(), port) == 0
        assert await run_check(compose_cmd[1:], port) == 0
    finally:
        server.request_stop()
        await asyncio.wait_for(task, 10)
        await store.redis.aclose()


@pytest.mark.slow
def test_the_builder_stage_context_builds_the_package(tmp_path: Path) -> None:
    """Copy what the builder stage COPYs into a fresh context and build the wheel from
    it, as `pip install .` does in the image: it must hold the locales, data and prompts."""
    if not (ROOT / "README.md").exists():
        pytest.skip(README_MISSING)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for ins, args in stages()[0]:
        if ins == "COPY":
            *sources, _dest = args.split()
            for src in sources:
                path = ROOT / src
                if path.is_dir():
                    subprocess.run(
                        ["cp", "-r", str(path), str(ctx / src)], check=True, capture_output=True
                    )
                else:
                    (ctx / src).write_bytes(path.read_bytes())
    for junk in ctx.rglob("__pycache__"):
        subprocess.run(["rm", "-rf", str(junk)], check=True)
    out = tmp_path / "wheels"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ctx)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob("digestbot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    needed_files = ("bot/__main__.py", "bot/locales/ar.toml", "bot/locales/en.toml")
    for needed in (*needed_files, "bot/_prompts/summarize.md"):
        assert needed in names


# --- docker-compose.yml ------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(s|m)", value)
    assert m, value
    return int(m.group(1)) * (60 if m.group(2) == "m" else 1)


def test_redis_runs_with_aof_everysec_on_a_volume() -> None:
    compose = load_compose()
    redis = compose["services"]["redis"]
    assert str(redis["image"]).startswith("redis:7")
    cmd = " ".join(str(c) for c in redis["command"])
    assert "--appendonly yes" in cmd
    assert "--appendfsync everysec" in cmd
    named = [v.split(":")[0] for v in redis["volumes"] if ":/data" in v]
    assert named and named[0] in compose["volumes"]
    assert "healthcheck" in redis
    assert "ports" not in redis  # never published: reachable on the compose network only
    conf = (ROOT / "deploy" / "redis.conf").read_text().splitlines()
    settings = {line.split()[0]: line.split()[1:] for line in conf if line and line[0] != "#"}
    assert settings["appendonly"] == ["yes"]
    assert settings["appendfsync"] == ["everysec"]
    assert settings["maxmemory-policy"] == ["noeviction"]  # user data is never evicted
    mounted = [v for v in redis["volumes"] if "deploy/redis.conf" in v]
    assert mounted and mounted[0].split(":")[1] in cmd


def bot_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("build") == "." or svc.get("image", "").startswith("digestbot")
    }


def test_polling_bot_by_default_and_two_webhook_replicas_in_a_profile() -> None:
    compose = load_compose()
    bots = bot_services(compose)
    default = [n for n, s in bots.items() if not s.get("profiles")]
    replicas = [n for n, s in bots.items() if "webhook" in s.get("profiles", [])]
    assert default == ["bot"]
    assert len(replicas) == 2
    for name, svc in bots.items():
        assert svc["env_file"] == ".env", name
        assert svc["environment"]["REDIS_URL"].startswith("redis://redis:"), name
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert "/healthz" in " ".join(svc["healthcheck"]["test"]), name
        # docker's default 10 s would kill a draining replica mid-summary
        assert seconds(svc["stop_grace_period"]) > DRAIN_SECONDS, name
        assert not any(SECRETISH.search(k) for k in svc["environment"]), name
    proxy = compose["services"]["proxy"]
    assert proxy["profiles"] == ["webhook"]
    assert set(proxy["depends_on"]) == set(replicas)
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert any("deploy/Caddyfile" in v for v in proxy["volumes"])
    port = bots[replicas[0]]["environment"]["WEBHOOK_PORT"]
    for name in replicas:
        assert f"{name}:{port}" in caddyfile
    assert "health_uri /readyz" in caddyfile
