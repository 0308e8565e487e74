"""`python -m bot summarize` as a subprocess: exit codes, one-line errors, every format.

The subprocesses talk to the fixtures' Redis, fake LLM and page server, which keep
serving because the test awaits them with asyncio.create_subprocess_exec.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from bot.store.redis import Store
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.test_summarize import smart

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "bot" / "samples" / "sample-article-ar.txt"
_OURS = ("OPENAI_", "REDIS_", "LLM_", "BOT_", "FETCH_", "TELEGRAM_", "TEST_REDIS", "LOG_")


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update({"BOT_DATA_DIR": str(tmp / "data"), "LLM_MAX_RETRIES": "0"})
    env.update(extra)
    return env


async def summarize(
    *args: str, env: dict[str, str], cwd: Path, stdin: bytes = b""
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "summarize",
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_every_bad_input_is_one_clear_line_and_exit_2(
    tmp_path: Path, redis_url: str, store: Store, pages: PageServer
) -> None:
    binary = tmp_path / "photo.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 50)
    image = pages.add("/photo", b"\x89PNG\r\n\x1a\n" * 20, content_type="image/png")
    env = cli_env(tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=store.keys.prefix)
    local = {**env, "FETCH_ALLOW_HOSTS": "127.0.0.1"}
    cases: list[tuple[list[str], dict[str, str], bytes, str]] = [
        (["ftp://example.com/file"], env, b"", "ftp"),
        (["javascript:alert(1)"], env, b"", "javascript"),
        (["http://"], env, b"", "host"),
        (["-"], env, b"   \n", "empty"),
        (["-"], env, "خبر قصير جدا".encode(), "too short"),
        ([str(tmp_path / "missing.txt")], env, b"", "file not found"),
        (["nosuchfile.txt"], env, b"", "file not found: nosuchfile.txt"),
        (["notes/draft"], env, b"", "file not found: notes/draft"),
        ([str(binary)], env, b"", "not a text file"),
        (["http://10.1.2.3/news"], env, b"", "not allowed"),
        ([image], local, b"", "can't open this picture"),  # image links are read by OCR
        ([pages.url("/nothing-here")], local, b"", "404"),
        ([str(SAMPLE)], {**env, "REDIS_URL": "ftp://nowhere"}, b"", "REDIS_URL is not a redis"),
        ([str(SAMPLE)], {**env, "LLM_TIMEOUT_SECONDS": "soon"}, b"", "LLM_TIMEOUT_SECONDS"),
    ]
    results = await asyncio.gather(
        *(summarize(*args, env=e, cwd=tmp_path, stdin=data) for args, e, data, _ in cases)
    )
    for (args, _, _, expected), (code, out, err) in zip(cases, results, strict=True):
        assert code == 2, (args, err)
        assert out == "", args
        line = err.strip()
        assert "\n" not in line and "Traceback" not in line, (args, err)
        assert line.startswith("error: ") and expected.lower() in line.lower(), (args, line)


async def test_sample_with_no_api_key_and_no_redis_server(tmp_path: Path) -> None:
    """The README's first command: a fresh machine, embedded Valkey, offline summary."""
    code, out, err = await summarize(str(SAMPLE), env=cli_env(tmp_path), cwd=tmp_path)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("مكالمة هاتفية بين بايدن وبوتين")
    assert sum(line.startswith("• ") for line in lines) >= 3
    assert "2021" in out  # the article's date
    assert (tmp_path / "data" / "valkey").is_dir()  # data kept under BOT_DATA_DIR
    # again, from stdin, as JSON: the embedded server kept the digest
    code, out, err = await summarize(
        "-", "--format", "json", env=cli_env(tmp_path), cwd=tmp_path, stdin=SAMPLE.read_bytes()
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["path"] == "extractive" and data["cache"] == "hit"
    assert data["source"] == {"kind": "stdin", "value": None}


async def test_url_end_to_end_through_the_fake_llm(
    tmp_path: Path, redis_url: str, store: Store, fake_llm: FakeLLM, pages: PageServer
) -> None:
    fake_llm.handler = smart
    paras = [p for p in SAMPLE.read_text("utf-8").split("\n\n") if len(p) > 150][:5]
    html = (
        "<html><head><title>مكالمة هاتفية بين بايدن وبوتين</title>"
        '<meta property="article:published_time" content="2021-12-31T09:00:00Z">'
        '<meta property="og:site_name" content="أخبار اليوم"></head><body><article>'
        "<h1>مكالمة هاتفية بين بايدن وبوتين</h1>"
        + "".join(f"<p>{p}</p>" for p in paras)
        + "</article></body></html>"
    )
    url = pages.add("/world/call", html)
    env = cli_env(
        tmp_path,
        REDIS_URL=redis_url,
        REDIS_PREFIX=store.keys.prefix,
        OPENAI_API_KEY="sk-test-cli-123456",
        OPENAI_BASE_URL=fake_llm.base_url,
        LLM_MODEL="fake-model",
        FETCH_ALLOW_HOSTS="127.0.0.1",
    )
    code, out, err = await summarize(url, "--format", "json", env=env, cwd=tmp_path)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    assert data["path"] == "llm" and data["cache"] == "miss" and data["lang"] == "ar"
    assert data["source"] == {"kind": "url", "value": url}
    assert data["date"] == "2021-12-31" and data["old"] is True
    assert 3 <= len(data["bullets"]) <= 5 and len(data["questions"]) == 3
    assert data["site_name"] == "أخبار اليوم" and data["llm_calls"] == 1
    assert err == ""  # stderr is not a terminal: no progress line, and no log noise
    code, out, err = await summarize(url, "--format", "html", "--lang", "ar", env=env, cwd=tmp_path)
    assert code == 0, err
    assert out.startswith("<b>") and "أخبار اليوم" in out and "• " in out
    assert fake_llm.calls == 1 and pages.hits["/world/call"] == 1  # both caches hit


async def test_progress_is_shown_when_stderr_is_a_terminal(tmp_path: Path) -> None:
    import pty

    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "summarize",
        str(SAMPLE),
        "--lang",
        "en",
        env=cli_env(tmp_path),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    shown = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert "Reading the article" in shown and "Summarizing" in shown
    assert "Reading" not in out.decode()  # progress never reaches stdout


async def test_unreachable_redis_names_the_server_without_its_password(tmp_path: Path) -> None:
    from tests.conftest import free_port

    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    code, out, err = await summarize(
        str(SAMPLE), env=cli_env(tmp_path, REDIS_URL=url), cwd=tmp_path
    )
    assert code == 1 and out == ""
    line = err.strip()
    assert "\n" not in line and line.startswith(
        "error: Redis is not reachable at redis://***@127.0.0.1:"
    )
    assert "hunter2" not in err


async def test_a_password_in_the_query_string_is_redacted_too(tmp_path: Path) -> None:
    from tests.conftest import free_port

    url = f"redis://127.0.0.1:{free_port()}/0?password=query-secret-77"
    code, _out, err = await summarize(
        str(SAMPLE), env=cli_env(tmp_path, REDIS_URL=url), cwd=tmp_path
    )
    assert code == 1 and err.startswith("error: Redis is not reachable at redis://127.0.0.1:")
    assert "query-secret-77" not in err and "password=***" in err


async def test_an_unreachable_cluster_gets_the_same_clear_line(tmp_path: Path) -> None:
    from tests.conftest import free_port

    url = f"redis+cluster://:cluster-secret-9@127.0.0.1:{free_port()}"
    code, out, err = await summarize(
        str(SAMPLE), env=cli_env(tmp_path, REDIS_URL=url), cwd=tmp_path
    )
    line = err.strip()
    assert code == 1 and out == "" and "\n" not in line
    assert line.startswith("error: Redis is not reachable at redis+cluster://***@127.0.0.1:")
    assert "cluster-secret-9" not in err and "internal error" not in err.lower()


async def _run_on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run `python -m bot summarize ARGS` with stdout on a pseudo-terminal; return the
    exit code and everything the terminal received."""
    import pty

    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "summarize",
        *args,
        env=env,
        cwd=cwd,
        stdout=slave,
        stderr=asyncio.subprocess.PIPE,
    )
    os.close(slave)

    def read_all() -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    reader = asyncio.create_task(asyncio.to_thread(read_all))
    await asyncio.wait_for(proc.wait(), timeout=60)
    shown = await asyncio.wait_for(reader, timeout=10)
    os.close(master)
    return proc.returncode or 0, shown.decode()


async def test_the_digest_is_drawn_as_it_is_written_when_stdout_is_a_terminal(
    tmp_path: Path, redis_url: str, store: Store, fake_llm: FakeLLM, seed_text: str
) -> None:
    from bot.chat.terminal import ERASE_UP

    fake_llm.handler = smart
    fake_llm.stream_rate = 3000  # real pacing, so the CLI sees the reply arrive in pieces
    article = tmp_path / "article.txt"
    article.write_text(seed_text, "utf-8")
    env = cli_env(
        tmp_path,
        REDIS_URL=redis_url,
        REDIS_PREFIX=store.keys.prefix,
        OPENAI_API_KEY="sk-test-cli-123456",
        OPENAI_BASE_URL=fake_llm.base_url,
        LLM_MODEL="fake-model",
    )
    code, shown = await _run_on_a_terminal([str(article)], env, tmp_path)
    assert code == 0
    erase = ERASE_UP.split("{")[0]
    assert shown.count(erase) >= 2  # drawn, redrawn as it grew, then replaced
    assert "✍️" not in shown  # the CLI draws no "writing" line
    final = shown.rsplit("\x1b[J", 1)[1]
    assert final.startswith(seed_text.split("\n")[0][:20]) and final.count("• ") >= 3
    assert [bool(r.get("stream")) for r in fake_llm.requests] == [True]
    # JSON on a terminal stays exactly JSON: nothing drawn, no escape codes
    other = tmp_path / "other.txt"
    other.write_text(seed_text.replace("بايدن", "الرئيس", 1), "utf-8")
    code, shown = await _run_on_a_terminal([str(other), "--format", "json"], env, tmp_path)
    assert code == 0 and "\x1b" not in shown
    data = json.loads(shown)
    assert data["path"] == "llm" and len(data["bullets"]) >= 3


async def test_a_page_that_is_not_prose_is_refused_before_any_model_call(
    tmp_path: Path, redis_url: str, store: Store, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """Issue 18: a text/plain link of 'x' lines was summarized as 8 parts of junk, and an
    80 KB one-word file stalled the reader for 10 s. Both are refused at once, in the
    user's language, and the model never sees them."""
    fake_llm.handler = smart
    lines = pages.add("/junk.txt", b"x\n" * 200_000, content_type="text/plain; charset=utf-8")
    digits = pages.add(
        "/table.txt",
        "\n".join(f"{i} | {i * 7} | {i % 13}" for i in range(5000)),
        content_type="text/plain",
    )
    word = tmp_path / "word.txt"
    word.write_text("a" * 80_000, "utf-8")
    env = cli_env(
        tmp_path,
        REDIS_URL=redis_url,
        REDIS_PREFIX=store.keys.prefix,
        OPENAI_API_KEY="sk-test-cli-123456",
        OPENAI_BASE_URL=fake_llm.base_url,
        LLM_MODEL="fake-model",
        FETCH_ALLOW_HOSTS="127.0.0.1",
    )
    for source, lang, expected in [
        (lines, "en", "doesn't read like an article"),
        (digits, "en", "doesn't read like an article"),
        (str(word), "ar", "هذا لا يبدو مقالًا"),
    ]:
        start = asyncio.get_running_loop().time()
        code, out, err = await summarize(source, "--lang", lang, env=env, cwd=tmp_path)
        assert code == 2 and out == "", (source, err)
        assert expected in err and "Traceback" not in err, (source, err)
        assert asyncio.get_running_loop().time() - start < 20, source  # 10 s+ of regex before
    assert fake_llm.calls == 0
    # a real article still goes through
    code, out, err = await summarize(str(SAMPLE), env=env, cwd=tmp_path)
    assert code == 0, err
    assert fake_llm.calls == 1
