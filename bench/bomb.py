"""Decompression-bomb benchmark: peak RSS of one fetch of a bomb, in a fresh process.

    python -m bench.bomb

The parent serves each bomb from a local aiohttp server; a child process (fresh
interpreter, nothing else in it) builds the real Fetcher, notes its RSS, fetches the
bomb and reports how much its peak RSS (`ru_maxrss`) grew. "before" reads the same body
the way the fetcher did before issue 11 (httpx's `aiter_bytes()`, capped only after
each inflated chunk); it is run only on a single-layer 256 MB bomb, because the stacked
1 GiB one took about 2 GB there.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

from aiohttp import web

from bench._report import write_section
from tests.fakes.bombs import bomb

GIB = 1 << 30
CASES: list[tuple[str, str, int, str]] = [
    # (name, Content-Encoding sent, inflated size, reader)
    ("gzip 1 GiB", "gzip", GIB, "bounded"),
    ("gzip, gzip 1 GiB", "gzip, gzip", GIB, "bounded"),
    ("deflate (zlib) 1 GiB", "deflate", GIB, "bounded"),
    ("deflate (raw) 1 GiB", "raw", GIB, "bounded"),
    ("br (not accepted)", "br", 0, "bounded"),
    ("3 x gzip 1 GiB at once", "gzip", GIB, "three"),
    ("gzip 1 GiB as a feed (1 MB cap)", "gzip", GIB, "feed"),
    ("gzip 256 MB, before the fix", "gzip", 256 << 20, "before"),
]

CHILD = r"""
import asyncio, json, resource, sys
import httpx
from bot.ingest.fetch import FEED_TYPES, Fetcher
from bot.errors import DigestBotError

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

async def main(url, mode):
    async with Fetcher(frozenset({"127.0.0.1"})) as f:
        async with httpx.AsyncClient() as plain:
            start = rss_mb()
            outcome = "ok"
            try:
                if mode == "bounded":
                    await f.fetch(url)
                elif mode == "three":
                    got = await asyncio.gather(*(f.fetch(url) for _ in range(3)), return_exceptions=True)
                    errors = [g for g in got if isinstance(g, BaseException)]
                    if errors:
                        raise errors[0]
                elif mode == "feed":
                    await f.fetch(url, accept=FEED_TYPES, max_bytes=1024 * 1024)
                else:
                    size = 0
                    async with plain.stream("GET", url) as r:
                        async for chunk in r.aiter_bytes():
                            size += len(chunk)
                            if size > 5 * 1024 * 1024:
                                raise ValueError("too large (after inflating)")
            except (DigestBotError, ValueError) as exc:
                outcome = type(exc).__name__ + (":" + exc.reason if getattr(exc, "reason", "") else "")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"start_mb": start, "peak_mb": peak, "outcome": outcome}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def _serve(bodies: dict[str, tuple[bytes, str]]) -> tuple[web.AppRunner, int]:
    async def handler(request: web.Request) -> web.StreamResponse:
        body, coding = bodies[request.path]
        label = "deflate" if coding == "raw" else coding
        return web.Response(
            body=body, headers={"Content-Type": "text/html", "Content-Encoding": label}
        )

    app = web.Application()
    app.router.add_get("/{name}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def _child(url: str, mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, url, mode], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


async def run() -> list[dict[str, Any]]:
    bodies: dict[str, tuple[bytes, str]] = {}
    for i, (_name, coding, size, _mode) in enumerate(CASES):
        body = bomb(coding, size) if coding != "br" else b"\x1b\xff\xff" * 1000
        bodies[f"/b{i}"] = (body, coding)
    runner, port = await _serve(bodies)
    rows = []
    try:
        for i, (name, _coding, size, mode) in enumerate(CASES):
            url = f"http://127.0.0.1:{port}/b{i}"
            got = await asyncio.to_thread(_child, url, mode)
            got.update(name=name, sent_kb=len(bodies[f"/b{i}"][0]) / 1024, inflated=size)
            rows.append(got)
            print(name, got, flush=True)
    finally:
        await runner.cleanup()
    return rows


def main() -> None:
    rows = asyncio.run(run())
    lines = [
        "One fetch of a decompression bomb in a fresh process: RSS growth from just before",
        "the fetch to the process's peak (`ru_maxrss`). Target (issue 11): under 50 MB on",
        "any bomb. The body is read raw and inflated with `zlib` `max_length` capped at the",
        "5 MB page limit (bot/ingest/inflate.py); stacked and unknown encodings are refused",
        "before anything is inflated. Brotli and zstd are not installed, so `br` is refused.",
        "",
        "| bomb | sent | outcome | peak RSS growth |",
        "| --- | ---: | --- | ---: |",
    ]
    for r in rows:
        grow = r["peak_mb"] - r["start_mb"]
        lines.append(f"| {r['name']} | {r['sent_kb']:.0f} KB | {r['outcome']} | {grow:.1f} MB |")
    print(write_section("decompression bombs", "\n".join(lines)))


if __name__ == "__main__":
    main()
