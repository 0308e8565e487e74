"""Reader workers: what the process pool costs on normal input, and what it does with
the hostile set of issue 18. Writes the `reader workers` section of docs/benchmarks.md.

    python -m bench.readers [--rounds 30]

Measured: the forkserver's first start (imports and warm-up, once per bot process), a
new worker (a fork: what replacing a killed one costs), the per-call overhead of our
supervised pipe worker and of a `ProcessPoolExecutor` on the same forkserver, and a
real Arabic news page's extraction in the bot's process versus through the pool. Then
each hostile input with the default limits: outcome, wall time, the largest lag of
the bot's event loop while it was read, and how much the bot's own memory grew.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench._report import write_section
from bot.errors import DigestBotError
from bot.readers import Input, Readers
from bot.readers.page import read_page
from bot.readers.pool import Worker, context
from tests.fakes import hostile

PAGES = Path(__file__).parents[1] / "tests" / "fixtures" / "real" / "pages"


def _noop(x: int) -> int:
    return x


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.2f} ms (p90 {sorted(values)[int(len(values) * 0.9)] * 1000:.2f})"


async def timed(fn: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - start)
    return out


async def overhead(rounds: int) -> list[str]:
    rows = []
    start = time.perf_counter()
    readers = Readers(workers=2)
    await readers.start()
    rows.append(
        f"| forkserver start with the readers imported and warm, 2 workers | {time.perf_counter() - start:.2f} s |"
    )
    forks = []
    for _ in range(5):
        t = time.perf_counter()
        worker = await asyncio.to_thread(Worker, context())
        forks.append(time.perf_counter() - t)
        worker.kill()
    rows.append(f"| a new worker (fork of the warm forkserver) | {ms(forks)} |")

    tiny = Input(text="x" * 10, origin="paste")
    loop = asyncio.get_running_loop()
    raw = await timed(lambda: readers.pool.call(("text", tiny, 5.0, 256), seconds=5.0), rounds)
    rows.append(f"| pipe worker: one call, tiny input, reply an error (round trip) | {ms(raw)} |")
    with ProcessPoolExecutor(max_workers=2, mp_context=context()) as executor:
        await loop.run_in_executor(executor, _noop, 1)
        ppe = await timed(lambda: loop.run_in_executor(executor, _noop, 1), rounds)
    rows.append(f"| ProcessPoolExecutor: one call, no work (round trip) | {ms(ppe)} |")

    page_files = sorted(PAGES.glob("*.html"))[:5]
    local, pooled, added = [], [], []
    for path in page_files:
        html = path.read_text("utf-8", "replace")
        inp = Input(text=html, url="https://example.com/a", mime_type="text/html", origin="link")
        read_page(inp)  # warm this process too
        for _ in range(rounds // 3 or 1):  # interleaved, so load on the machine hits both
            here = await timed(lambda inp=inp: asyncio.to_thread(read_page, inp), 1)
            there = await timed(lambda inp=inp: readers.read(inp), 1)
            local += here
            pooled += there
            added.append(there[0] - here[0])
    rows.append(
        f"| a real Arabic page ({len(page_files)} pages, ~{sum(p.stat().st_size for p in page_files) // len(page_files) // 1024} KB): extract_html in a thread of the bot | {ms(local)} |"
    )
    rows.append(f"| the same pages through the reader pool | {ms(pooled)} |")
    rows.append(
        f"| added by the pool (median of the paired differences) | {statistics.median(added) * 1000:.2f} ms |"
    )
    await readers.aclose()
    return rows


HOSTILE: list[tuple[str, Callable[[], Input]]] = [
    (
        "PDF: nested form XObjects, fan-out 10, depth 6",
        lambda: Input(data=hostile.nested_forms_pdf(), name="a.pdf"),
    ),
    (
        "PDF: 2 M rectangles in one Flate stream",
        lambda: Input(data=hostile.rectangles_pdf(), name="b.pdf"),
    ),
    (
        ".docx: 49 MB of one-letter paragraphs",
        lambda: Input(data=hostile.tiny_paragraphs_docx(49), name="c.docx"),
    ),
    (
        ".docx: 25 M characters of text",
        lambda: Input(data=hostile.long_docx(4_000_000), name="d.docx"),
    ),
    (
        ".docx: Zip64 end record hiding 20,000 entries",
        lambda: Input(data=hostile.zip64_hidden_entries_docx(20_000), name="e.docx"),
    ),
    (
        "text/plain link: 1.9 MB of `x` lines",
        lambda: Input(text=hostile.x_lines(), mime_type="text/plain", origin="link"),
    ),
]


async def hostile_set() -> list[str]:
    rows = []
    readers = Readers(workers=2)
    await readers.start()
    for label, make in HOSTILE:
        inp = make()
        gaps: list[float] = []
        done = asyncio.Event()

        async def tick(gaps: list[float] = gaps, done: asyncio.Event = done) -> None:
            last = time.monotonic()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last - 0.005)
                last = now

        rss = _rss_mb()
        ticker = asyncio.create_task(tick())
        start = time.perf_counter()
        try:
            article = await readers.read(inp)
            outcome = f"read, {len(article.text):,} characters" + (
                " (cut, said)" if article.partial else ""
            )
        except DigestBotError as exc:
            outcome = f"refused: `{exc.key}`" + (f" ({exc.limit})" if hasattr(exc, "limit") else "")
        wall = time.perf_counter() - start
        done.set()
        await ticker
        rows.append(
            f"| {label} | {len(inp.data) or len(inp.text or ''):,} B | {outcome} | {wall:.1f} s | {max(gaps) * 1000:.0f} ms | {_rss_mb() - rss:+.0f} MB |"
        )
    await readers.aclose()
    return rows


async def main(rounds: int) -> None:
    rows = await overhead(rounds)
    bad = await hostile_set()
    body = "\n".join(
        [
            "Untrusted input is read in worker processes (`bot/readers/`): a forkserver that has",
            "imported and warmed the readers forks each worker; the bot sends a request down a pipe",
            "and waits for the reply in a thread of its own, up to the reader's deadline, then",
            "kills and replaces the worker. Limits: RLIMIT_AS (worker size at start + the reader's",
            "memory, 400 MB at most), RLIMIT_CPU, the deadline (30 s at most).",
            "",
            "Why not `ProcessPoolExecutor`: its round trip costs about the same (below), but killing",
            "one of its workers breaks the whole pool (every call in flight fails), and a read that",
            "outlives its deadline has to be killed.",
            "",
            "Measured on 2 cores shared with other jobs: the p90s are the machine's noise.",
            "",
            "| normal path | time |",
            "| --- | --- |",
            *rows,
            "",
            "A cached digest never reaches the pool (the article cache answers first, for links and",
            "pasted text alike).",
            "",
            "Hostile set (issue 18), default limits, 2 workers. `loop lag` is the longest the bot's",
            "event loop was late while the file was read (what every other user would wait);",
            "`bot memory` is the growth of the bot's own process (the worker's is capped by RLIMIT_AS).",
            "",
            "| input | size | outcome | wall | loop lag | bot memory |",
            "| --- | --- | --- | --- | --- | --- |",
            *bad,
        ]
    )
    write_section("reader workers", body)
    print(body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    asyncio.run(main(parser.parse_args().rounds))
