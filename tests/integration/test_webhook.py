"""Webhook mode end to end: real uvicorn servers on loopback, the real PTB Application,
the fake Bot API, and the test Redis.

Two replicas share one Redis and must process a given update once; a wrong secret
changes nothing; /healthz, /readyz and /metrics answer; a shutdown during a slow
handler finishes the work before returning (also with a real SIGTERM, in a child
process).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, TypeHandler

from bot import metrics
from bot.config import Settings
from bot.errors import ConfigError
from bot.store.keys import Keys
from bot.store.redis import Store, client_for
from bot.telegram.health import HealthServer, count_update
from bot.telegram.lifecycle import UpdateProcessor
from bot.telegram.webhook import ALLOWED_UPDATES, SEEN_TTL_SECONDS, WebhookServer
from tests.conftest import free_port
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import FakeLLM
from tests.integration.telegram_harness import model

SECRET = "wh-secret-0123456789abcdef"
API_KEY = "sk-test-key-webhook-0123456789"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
ROOT = Path(__file__).resolve().parents[2]
_ids = itertools.count(10_000)


@dataclass
class Gate:
    """Lets a test hold the handler (a slow summary) and see that it started."""

    started: asyncio.Event
    release: asyncio.Event

    @classmethod
    def open(cls) -> Gate:
        gate = cls(asyncio.Event(), asyncio.Event())
        gate.release.set()
        return gate


def build_app(
    botapi: BotAPI, gate: Gate, concurrency: int = 4
) -> Application[Any, Any, Any, Any, Any, Any]:
    """A minimal real Application: /summarize replies once the gate opens; at most
    `concurrency` updates run at once (the bot's own update processor)."""

    async def summarize(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        gate.started.set()
        await gate.release.wait()
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"digest for update {update.update_id}")

    app = (
        Application.builder()
        .token(botapi.token)
        .base_url(botapi.base_url)
        .base_file_url(botapi.base_file_url)
        .updater(None)
        .concurrent_updates(UpdateProcessor(concurrency))
        .build()
    )
    app.add_handler(CommandHandler("summarize", summarize))
    return app


METRICS_TOKEN = "metrics-token-for-tests-42"
BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def webhook_settings(store: Store, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "telegram_bot_token": "123456:TEST-token-for-fake-bot-api",
        "redis_prefix": store.keys.prefix,
        "webhook_url": "https://bot.example.com/tg/hook",
        "webhook_secret": SECRET,
        "webhook_listen": "127.0.0.1",
        "webhook_port": free_port(),
        "webhook_max_concurrency": 4,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def replica(
    settings: Settings,
    store: Store,
    app: Application[Any, Any, Any, Any, Any, Any],
    **kwargs: Any,
) -> AsyncIterator[WebhookServer]:
    """Run one webhook replica until the block ends (then stop it gracefully)."""
    server = WebhookServer(settings, store, app, **kwargs)
    ready = asyncio.Event()
    task = asyncio.create_task(server.run(ready=ready, handle_signals=False))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # surface the start-up error
    assert ready.is_set(), "webhook server did not start"
    try:
        yield server
    finally:
        server.request_stop()
        await asyncio.wait_for(task, 30)


def url(settings: Settings, path: str = "/tg/hook") -> str:
    return f"http://127.0.0.1:{settings.webhook_port}{path}"


def command_update(botapi: BotAPI, chat_id: int, text: str = "/summarize x") -> dict[str, Any]:
    update = botapi.command(chat_id, text, queue=False)
    update["update_id"] = next(_ids)
    return update


async def test_same_update_to_two_replicas_is_processed_once(botapi: BotAPI, store: Store) -> None:
    s1, s2 = webhook_settings(store), webhook_settings(store)
    gate = Gate.open()
    async with (
        replica(s1, store, build_app(botapi, gate)),
        replica(s2, store, build_app(botapi, gate)),
        httpx.AsyncClient() as http,
    ):
        update = command_update(botapi, 501)
        # Telegram's retry reaching both replicas at once, then once more later.
        first = await asyncio.gather(
            http.post(url(s1), json=update, headers=HEADERS),
            http.post(url(s2), json=update, headers=HEADERS),
        )
        assert [r.status_code for r in first] == [200, 200]
        await botapi.wait_for(lambda m: m.chat_id == 501)
        again = await http.post(url(s2), json=update, headers=HEADERS)
        assert again.status_code == 200
    # both replicas have stopped (drained): exactly one reply was ever sent
    assert [m.plain for m in botapi.sent_to(501)] == [f"digest for update {update['update_id']}"]
    ttl = await store.redis.ttl(store.keys.update_seen(update["update_id"]))
    assert SEEN_TTL_SECONDS - 60 < ttl <= SEEN_TTL_SECONDS


async def test_webhook_is_registered_with_secret_and_allowed_updates(
    botapi: BotAPI, store: Store
) -> None:
    settings = webhook_settings(store)
    async with replica(settings, store, build_app(botapi, Gate.open())):
        calls = [params for method, params in botapi.calls if method == "setWebhook"]
    assert len(calls) == 1
    assert calls[0]["url"] == "https://bot.example.com/tg/hook"
    assert calls[0]["secret_token"] == SECRET
    assert calls[0]["allowed_updates"] == list(ALLOWED_UPDATES)
    assert calls[0]["drop_pending_updates"] is False
    # shutting one replica down leaves the webhook in place for the others
    assert not [m for m, _ in botapi.calls if m == "deleteWebhook"]


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong-secret"}])
async def test_missing_or_wrong_secret_is_rejected_and_not_processed(
    botapi: BotAPI, store: Store, headers: dict[str, str]
) -> None:
    settings = webhook_settings(store)
    forbidden = metrics.value("digestbot_webhook_requests_total", outcome="forbidden")
    async with (
        replica(settings, store, build_app(botapi, Gate.open())),
        httpx.AsyncClient() as http,
    ):
        update = command_update(botapi, 502)
        resp = await http.post(url(settings), json=update, headers=headers)
        assert resp.status_code == 403
        # the real Telegram retry, with the right secret, is still processed
        ok = await http.post(url(settings), json=update, headers=HEADERS)
        assert ok.status_code == 200
        await botapi.wait_for(lambda m: m.chat_id == 502)
    assert len(botapi.sent_to(502)) == 1
    assert metrics.value("digestbot_webhook_requests_total", outcome="forbidden") == forbidden + 1


async def test_forged_update_with_wrong_secret_leaves_no_trace(
    botapi: BotAPI, store: Store
) -> None:
    settings = webhook_settings(store)
    async with (
        replica(settings, store, build_app(botapi, Gate.open())),
        httpx.AsyncClient() as http,
    ):
        update = command_update(botapi, 503)
        resp = await http.post(
            url(settings), json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]}
        )
        assert resp.status_code == 403
    assert botapi.sent_to(503) == []
    assert await store.redis.exists(store.keys.update_seen(update["update_id"])) == 0


async def test_a_body_that_is_not_an_update_is_refused(botapi: BotAPI, store: Store) -> None:
    settings = webhook_settings(store)
    async with (
        replica(settings, store, build_app(botapi, Gate.open())),
        httpx.AsyncClient() as http,
    ):
        for body in (b"not json", b"[1, 2]", b'{"message": {}}'):
            resp = await http.post(url(settings), content=body, headers=HEADERS)
            assert resp.status_code == 400
    assert botapi.sent == []


async def test_an_oversized_body_is_refused_before_it_is_read(botapi: BotAPI, store: Store) -> None:
    """A POST announcing 50 MB gets 413 at once (the body was read whole before: the
    replica waited for, then held, all of it); one sent in chunks is cut at 1 MB."""
    settings = webhook_settings(store)
    async with replica(settings, store, build_app(botapi, Gate.open())):
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.webhook_port)
        head = (
            f"POST /tg/hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
        )
        writer.write(head.encode() + b'{"update_id": 1, ')  # and no more
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status.startswith(b"HTTP/1.1 413")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(3):
                yield b" " * (512 * 1024)

        async with httpx.AsyncClient() as http:
            resp = await http.post(url(settings), content=chunks(), headers=HEADERS)
        assert resp.status_code == 413
    assert botapi.sent == []


async def test_metrics_on_the_public_webhook_port_need_the_token(
    botapi: BotAPI, store: Store
) -> None:
    closed = webhook_settings(store)  # no METRICS_TOKEN: closed on the public port
    async with (
        replica(closed, store, build_app(botapi, Gate.open())),
        httpx.AsyncClient() as http,
    ):
        shut = await http.get(url(closed, "/metrics"))
        assert shut.status_code == 403 and "METRICS_TOKEN" in shut.text
        assert "digestbot_" not in shut.text
        assert (await http.get(url(closed, "/healthz"))).status_code == 200
    settings = webhook_settings(store, metrics_token=METRICS_TOKEN)
    async with (
        replica(settings, store, build_app(botapi, Gate.open())),
        httpx.AsyncClient() as http,
    ):
        for headers in ({}, {"Authorization": "Bearer wrong-token"}):
            denied = await http.get(url(settings, "/metrics"), headers=headers)
            assert denied.status_code == 401 and "digestbot_" not in denied.text
        by_query = await http.get(url(settings, f"/metrics?token={METRICS_TOKEN}"))
        by_header = await http.get(url(settings, "/metrics"), headers=BEARER)
    assert by_query.status_code == by_header.status_code == 200
    assert "digestbot_updates_total" in by_header.text


async def test_health_ready_and_metrics_count_a_processed_update(
    botapi: BotAPI, store: Store
) -> None:
    settings = webhook_settings(store, metrics_token=METRICS_TOKEN)
    before = metrics.value("digestbot_updates_total", type="message")
    async with (
        replica(settings, store, build_app(botapi, Gate.open())),
        httpx.AsyncClient() as http,
    ):
        assert (await http.get(url(settings, "/healthz"))).status_code == 200
        ready = await http.get(url(settings, "/readyz"))
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "bot": True, "redis": True}
        await http.post(url(settings), json=command_update(botapi, 504), headers=HEADERS)
        await botapi.wait_for(lambda m: m.chat_id == 504)
        page = await http.get(url(settings, "/metrics"), headers=BEARER)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    assert 'digestbot_updates_total{type="message"}' in page.text
    assert "digestbot_webhook_ack_seconds_bucket" in page.text
    assert "digestbot_llm_latency_seconds_bucket" in page.text
    assert metrics.value("digestbot_updates_total", type="message") == before + 1


async def test_redis_down_answers_503_so_telegram_retries(botapi: BotAPI, store: Store) -> None:
    dead = Store(
        redis=client_for(f"redis://127.0.0.1:{free_port()}/0"),
        keys=Keys(store.keys.prefix),
        url="dead",
    )
    settings = webhook_settings(store)
    try:
        async with (
            replica(settings, dead, build_app(botapi, Gate.open())),
            httpx.AsyncClient() as http,
        ):
            ready = await http.get(url(settings, "/readyz"))
            assert ready.status_code == 503
            assert ready.json()["redis"] is False
            resp = await http.post(url(settings), json=command_update(botapi, 505), headers=HEADERS)
            assert resp.status_code == 503
    finally:
        await dead.redis.aclose()
    assert botapi.sent_to(505) == []


async def test_webhook_updates_run_through_ptb_update_processor(
    botapi: BotAPI, store: Store
) -> None:
    """The route feeds the Application's update_queue, so `concurrent_updates` bounds
    webhook updates as it bounds polling ones: with 2, the third waits for a slot."""
    settings = webhook_settings(store)
    two_running, release = asyncio.Event(), asyncio.Event()
    running, peak = 0, 0

    async def slow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 2:
            two_running.set()
        await release.wait()
        running -= 1
        assert update.effective_message is not None
        await update.effective_message.reply_text("done")

    app = build_app(botapi, Gate.open(), 2)
    app.add_handler(CommandHandler("slow", slow), group=1)
    async with replica(settings, store, app) as server, httpx.AsyncClient() as http:
        for chat in (540, 541, 542):
            update = command_update(botapi, chat, "/slow")
            assert (await http.post(url(settings), json=update, headers=HEADERS)).status_code == 200
        await asyncio.wait_for(two_running.wait(), 10)
        assert app.update_processor.current_concurrent_updates == 2
        assert server.pending == 3
        release.set()
        await server.wait_idle()
    assert peak == 2
    assert all(len(botapi.sent_to(chat)) == 1 for chat in (540, 541, 542))


async def test_saturated_replica_refuses_before_claiming(botapi: BotAPI, store: Store) -> None:
    settings = webhook_settings(store, webhook_max_concurrency=1)
    gate = Gate(asyncio.Event(), asyncio.Event())
    async with (
        replica(settings, store, build_app(botapi, gate, 1), max_pending=1) as server,
        httpx.AsyncClient() as http,
    ):
        held = command_update(botapi, 506)
        assert (await http.post(url(settings), json=held, headers=HEADERS)).status_code == 200
        await gate.started.wait()
        extra = command_update(botapi, 507)
        refused = await http.post(url(settings), json=extra, headers=HEADERS)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        # not claimed: Telegram's retry is processed once there is room
        assert await store.redis.exists(store.keys.update_seen(extra["update_id"])) == 0
        gate.release.set()
        await botapi.wait_for(lambda m: m.chat_id == 506)
        await server.wait_idle()
        assert (await http.post(url(settings), json=extra, headers=HEADERS)).status_code == 200
        await botapi.wait_for(lambda m: m.chat_id == 507)


async def test_shutdown_during_slow_handler_finishes_it(botapi: BotAPI, store: Store) -> None:
    settings = webhook_settings(store)
    gate = Gate(asyncio.Event(), asyncio.Event())
    server = WebhookServer(settings, store, build_app(botapi, gate))
    ready = asyncio.Event()
    task = asyncio.create_task(server.run(ready=ready, handle_signals=False))
    await asyncio.wait_for(ready.wait(), 10)
    async with httpx.AsyncClient() as http:
        update = command_update(botapi, 508)
        assert (await http.post(url(settings), json=update, headers=HEADERS)).status_code == 200
        await gate.started.wait()
        server.request_stop()  # what SIGTERM does
        # draining: no new updates, not ready, still alive
        late = await http.post(url(settings), json=command_update(botapi, 509), headers=HEADERS)
        assert late.status_code == 503
        assert (await http.get(url(settings, "/readyz"))).status_code == 503
        assert (await http.get(url(settings, "/healthz"))).status_code == 200
        assert not task.done()
        gate.release.set()
    await asyncio.wait_for(task, 30)
    assert [m.plain for m in botapi.sent_to(508)] == [f"digest for update {update['update_id']}"]
    assert botapi.sent_to(509) == []


async def test_drain_is_bounded(botapi: BotAPI, store: Store) -> None:
    settings = webhook_settings(store)
    gate = Gate(asyncio.Event(), asyncio.Event())  # never released
    async with (
        replica(settings, store, build_app(botapi, gate), drain_seconds=0.2) as server,
        httpx.AsyncClient() as http,
    ):
        await http.post(url(settings), json=command_update(botapi, 510), headers=HEADERS)
        await gate.started.wait()
        assert server.pending == 1
    # the block's exit returned within the bound; the stuck update was cancelled
    assert server.pending == 0
    assert botapi.sent_to(510) == []


async def test_a_busy_port_is_a_clear_config_error(botapi: BotAPI, store: Store) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = webhook_settings(store, webhook_port=port)
        server = WebhookServer(settings, store, build_app(botapi, Gate.open()))
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await asyncio.wait_for(server.run(handle_signals=False), 20)


async def test_webhook_is_set_only_once_listening_and_a_refusal_stops_the_replica(
    botapi: BotAPI, store: Store
) -> None:
    settings = webhook_settings(store)
    listening_when_set: list[bool] = []
    app = build_app(botapi, Gate.open())

    async def probe() -> None:
        async with httpx.AsyncClient() as http:
            ok = (await http.get(url(settings, "/healthz"))).status_code == 200
        listening_when_set.append(ok)

    server = WebhookServer(settings, store, app)
    ready = asyncio.Event()
    task = asyncio.create_task(
        server.serve_http(ready=ready, handle_signals=False, on_listening=probe)
    )
    await asyncio.wait_for(ready.wait(), 10)
    assert listening_when_set == [True]
    server.request_stop()
    await asyncio.wait_for(task, 10)

    # Telegram refuses the webhook (say, a bad URL): the replica closes its port and fails
    botapi.fail(0, 400, description="Bad Request: bad webhook", method="setWebhook")
    failing = WebhookServer(webhook_settings(store), store, build_app(botapi, Gate.open()))
    with pytest.raises(TelegramError, match=r"(?i)bad webhook"):
        await asyncio.wait_for(failing.run(handle_signals=False), 20)
    with socket.socket() as probe_sock:
        probe_sock.bind(("127.0.0.1", failing.settings.webhook_port))  # the port is free again


def test_missing_secret_or_clashing_path_is_refused(store: Store) -> None:
    app = Application.builder().token("1:x").updater(None).build()
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        WebhookServer(webhook_settings(store, webhook_secret=""), store, app)
    with pytest.raises(ConfigError, match="clashes"):
        WebhookServer(
            webhook_settings(store, webhook_url="https://bot.example.com/healthz"), store, app
        )


async def test_polling_mode_serves_health_ready_and_metrics_only(
    botapi: BotAPI, store: Store
) -> None:
    settings = webhook_settings(store, webhook_url=None, webhook_secret="")
    app = build_app(botapi, Gate.open())
    async with app:
        await app.start()
        server = HealthServer(settings, store, app)
        ready = asyncio.Event()
        task = asyncio.create_task(server.serve_http(ready=ready, handle_signals=False))
        await asyncio.wait_for(ready.wait(), 10)
        async with httpx.AsyncClient() as http:
            assert (await http.get(url(settings, "/healthz"))).status_code == 200
            assert (await http.get(url(settings, "/readyz"))).status_code == 200
            assert (await http.get(url(settings, "/metrics"))).status_code == 200
            # no update route: nothing can be injected over HTTP in polling mode
            update = command_update(botapi, 520)
            assert (
                await http.post(url(settings, "/"), json=update, headers=HEADERS)
            ).status_code in {404, 405}
            await app.stop()
            assert (await http.get(url(settings, "/readyz"))).status_code == 503
        server.request_stop()
        await asyncio.wait_for(task, 10)
    assert botapi.sent_to(520) == []


async def test_polling_mode_counts_updates_by_type(botapi: BotAPI) -> None:
    app = build_app(botapi, Gate.open())
    app.add_handler(TypeHandler(Update, count_update), group=-100)
    before = metrics.value("digestbot_updates_total", type="message")
    async with app:
        update = command_update(botapi, 530)
        await app.process_update(Update.de_json(update, app.bot))
    assert metrics.value("digestbot_updates_total", type="message") == before + 1
    assert len(botapi.sent_to(530)) == 1  # the command handler still ran


# --- `python -m bot run` replicas: the real bot, real processes, real SIGTERM ------------


def bot_env(
    botapi: BotAPI, store: Store, redis_url: str, fake_llm: FakeLLM, tmp: Path, port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "REDIS_"))}
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": botapi.token,
            "TELEGRAM_BASE_URL": botapi.url,
            "OPENAI_API_KEY": API_KEY,
            "OPENAI_BASE_URL": fake_llm.base_url,
            "LLM_MODEL": "fake-model",
            "LLM_MAX_RETRIES": "0",
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": store.keys.prefix,
            "BOT_DATA_DIR": str(tmp),
            "WEBHOOK_URL": "https://bot.example.com/tg/hook",
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_LISTEN": "127.0.0.1",
            "WEBHOOK_PORT": str(port),
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "METRICS_TOKEN": METRICS_TOKEN,
        }
    )
    return env


async def start_bot(env: dict[str, str]) -> asyncio.subprocess.Process:
    """`python -m bot run` in webhook mode; returns once /readyz answers 200."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    ready = f"http://127.0.0.1:{env['WEBHOOK_PORT']}/readyz"
    async with httpx.AsyncClient() as http:
        # the child imports PTB, openai, trafilatura and starts its reader workers (which
        # warm up the readers once): seconds on a quiet machine, far more on a busy one
        for _ in range(2400):
            if proc.returncode is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(ready)).status_code == 200:
                    return proc
            await asyncio.sleep(0.05)
    proc.kill()
    _, err = await proc.communicate()
    raise AssertionError(f"bot did not become ready: {err.decode()[-3000:]}")


async def stop_bot(proc: asyncio.subprocess.Process) -> str:
    """SIGTERM; return stderr (the logs) once it exited 0."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 40)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-3000:]
    return err.decode()


def sample(page: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in page.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.slow
async def test_two_bot_processes_dedupe_drain_on_sigterm_and_fail_over(
    botapi: BotAPI,
    store: Store,
    redis_url: str,
    fake_llm: FakeLLM,
    tmp_path: Path,
    seed_text: str,
) -> None:
    """Two `python -m bot run` replicas on one Redis, as behind the compose proxy:
    the same update posted to both is processed once; SIGTERM to one during a summary
    lets that summary finish (exit 0) while the other takes the new updates."""
    fake_llm.handler = model
    fake_llm.latency = 1.5  # the summary is in flight when SIGTERM arrives
    ports = [free_port(), free_port()]
    envs = [bot_env(botapi, store, redis_url, fake_llm, tmp_path, p) for p in ports]
    a, b = await asyncio.gather(*(start_bot(env) for env in envs))
    hook = [f"http://127.0.0.1:{p}/tg/hook" for p in ports]
    logs = ""
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            # 1. Telegram's retry lands on both replicas at once: one reply
            update = command_update(botapi, 601, "/start")
            answers = await asyncio.gather(
                *(http.post(u, json=update, headers=HEADERS) for u in hook)
            )
            assert [r.status_code for r in answers] == [200, 200]
            await botapi.wait_for(lambda m: m.chat_id == 601, timeout=20)

            # 2. a summary on replica A, then SIGTERM to A while the LLM is working
            summary = command_update(botapi, 602, f"/summarize {seed_text}")
            assert (await http.post(hook[0], json=summary, headers=HEADERS)).status_code == 200
            for _ in range(500):
                if fake_llm.calls:
                    break
                await asyncio.sleep(0.02)
            assert fake_llm.calls >= 1
            a.send_signal(signal.SIGTERM)
            for _ in range(250):  # A says it is not ready any more, but stays alive
                if (await http.get(f"http://127.0.0.1:{ports[0]}/readyz")).status_code == 503:
                    break
                await asyncio.sleep(0.02)
            assert (await http.get(f"http://127.0.0.1:{ports[0]}/healthz")).status_code == 200

            # 3. a new update: A refuses it unclaimed, the proxy's retry on B is processed
            late = command_update(botapi, 603, "/start")
            assert (await http.post(hook[0], json=late, headers=HEADERS)).status_code == 503
            assert (await http.post(hook[1], json=late, headers=HEADERS)).status_code == 200
            await botapi.wait_for(lambda m: m.chat_id == 603, timeout=20)
            pages = [
                (await http.get(f"http://127.0.0.1:{p}/metrics", headers=BEARER)).text
                for p in ports
            ]
        logs += await stop_bot(a)  # returns once A finished the summary and exited 0
        final = botapi.visible(602)
        assert len(final) == 1  # the placeholder became the digest, nothing left behind
        assert "⏳" not in final[0]["text"] and len(final[0]["text"]) > 100
    finally:
        for proc in (a, b):
            if proc.returncode is None:
                logs += await stop_bot(proc)
    assert "finishing 1 in flight" in logs
    assert len([m for m in botapi.sent_to(601) if m.method == "sendMessage"]) == 1
    assert len([m for m in botapi.sent_to(603) if m.method == "sendMessage"]) == 1
    # across the replicas: three updates processed once each, one duplicate refused
    assert sum(sample(p, "digestbot_updates_total", type="message") for p in pages) == 3
    dupes = sum(sample(p, "digestbot_webhook_requests_total", outcome="duplicate") for p in pages)
    assert dupes == 1
    webhook = [params for method, params in botapi.calls if method == "setWebhook"]
    assert len(webhook) == 2 and all(w["secret_token"] == SECRET for w in webhook)
    for secret in (SECRET, botapi.token, API_KEY):
        assert secret not in logs
