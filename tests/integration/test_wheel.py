"""The built wheel works on its own: prompts, catalogs and samples ship inside it.

Builds the wheel, installs it (without dependencies) into a fresh virtual environment
whose only other import path is this environment's site-packages (for the
dependencies; its .pth files, such as the editable install of this checkout, are not
run), and summarizes the bundled Arabic sample from a directory outside the checkout
with no PROMPTS_DIR.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from bot.ingest.arabic import arabic_ratio
from bot.store.redis import Store
from tests.integration.test_cli_summarize import cli_env

ROOT = Path(__file__).resolve().parents[2]


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_installed_wheel_summarizes_without_the_checkout(
    tmp_path: Path, redis_url: str, store: Store
) -> None:
    src = tmp_path / "src"  # a clean copy: no build/ left over from an earlier build
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("bot", "prompts"):
        shutil.copytree(ROOT / name, src / name, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, src, cwd=tmp_path)
    (wheel,) = dist.glob("digestbot-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
        ).strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        wheel,
        cwd=tmp_path,
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = cli_env(tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=store.keys.prefix)
    env.pop("PROMPTS_DIR", None)
    env.pop("PYTHONPATH", None)
    where = _run(python, "-c", "import bot; print(bot.__file__)", cwd=elsewhere, env=env)
    assert Path(where.strip()).is_relative_to(site)  # the wheel's copy, not the checkout

    sample = _run(
        python,
        "-c",
        "from importlib.resources import files; "
        "print(files('bot') / 'samples' / 'sample-article-ar.txt')",
        cwd=elsewhere,
        env=env,
    ).strip()
    out = _run(python, "-m", "bot", "summarize", sample, cwd=elsewhere, env=env)
    assert arabic_ratio(out) > 0.5, out
    assert len(out.strip().splitlines()) >= 3, out
