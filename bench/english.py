"""English from a small REAL model: the translation step alone, on every real article.

    ../shared/tools/real-llm/serve.sh          # Qwen2.5-Coder-1.5B on 127.0.0.1:8092
    python -m bench.english                    # all articles
    python -m bench.english --model qwen05 --base-url http://127.0.0.1:8091/v1 --limit 3

The English digest of an Arabic article is a translation of its checked Arabic digest
(bot/summarize/translate.py). Here the Arabic digest is the article's own best
sentences (what the real model's Arabic digests are: it copies whole sentences, see
the `real-model quality` section), each citing itself, so only the translation's cost
and faults are measured, in minutes instead of the hour a full digest run takes on 2
cores. Reported per article and in total: an English digest delivered or not, bullets
kept, names refused from the model's list, and, judged independently on what the user
receives, bullets, headline and questions with a name or number the article lacks
(target 0). Writes the `real-model English` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from dataclasses import dataclass, field

from bench._report import write_section
from bench.quality import load_articles
from bot.config import Settings
from bot.domain import Article
from bot.errors import LLMError
from bot.grounding import evidence
from bot.grounding.guards import all_unsupported, source_number_keys
from bot.llm.client import LLMClient
from bot.summarize import shape
from bot.summarize.extractive import summarize_extractive
from bot.summarize.pipeline import BULLET_RANGE, LLMSummarizer
from bot.summarize.translate import translate_draft
from bot.summarize.writer import LLMDraft


@dataclass
class Row:
    name: str
    delivered: bool = False
    bullets: int = 0
    source_bullets: int = 0
    questions: int = 0
    unsupported: int = 0
    calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    note: str = ""
    shown: list[str] = field(default_factory=list)


def arabic_draft(article: Article) -> LLMDraft:
    """The article's best sentences as its checked Arabic digest, each citing itself."""
    sentences = evidence.number_sentences(article.text)
    headline, bullets = summarize_extractive(article, length="short")
    ids = [evidence.anchor(b, sentences, same_language=True) for b in bullets]
    kept = [(b, i) for b, i in zip(bullets, ids, strict=True) if i]
    lo, hi = BULLET_RANGE["short"]
    want = shape.bullet_range(lo, hi, len(sentences))
    return LLMDraft(
        headline=article.title or headline,
        bullets=[b for b, _ in kept][: want.hi],
        questions=[],
        sources=[i for _, i in kept][: want.hi],
        min_bullets=want.lo,
    )


def judge(row: Row, article: Article, draft: LLMDraft) -> None:
    """Names and numbers the user would receive that the article lacks."""
    sentences = evidence.number_sentences(article.text)
    keys = source_number_keys(article.text + "\n" + (article.title or ""))
    whole = " ".join(s.text for s in sentences) + " " + (article.title or "")
    for i, bullet in enumerate(draft.bullets):
        cited = evidence.cited_parts(draft.sources[i], sentences)
        ok = evidence.check_claim(bullet, cited, same_language=False).ok
        row.unsupported += not ok or bool(all_unsupported([bullet], keys))
    for item in [draft.headline, *draft.questions]:
        ok = evidence.check_claim(item, whole, same_language=False).ok
        row.unsupported += not ok or bool(all_unsupported([item], keys))


async def run(args: argparse.Namespace) -> list[Row]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key=args.api_key,
        openai_base_url=args.base_url,
        llm_model=args.model,
        llm_timeout_seconds=args.timeout,
        llm_max_retries=0,
        llm_translate_with_article=args.with_article,
    )
    llm = LLMClient(settings)
    # the translation starts with the article's messages, as in the bot (one prefix per
    # article: bot/llm/article.py); None for an article too long for one request
    summarizer = LLMSummarizer(llm, max_input_tokens=settings.llm_max_input_tokens)
    rows: list[Row] = []
    try:
        for name, article in load_articles(args.limit):
            source = arabic_draft(article)
            row = Row(name, source_bullets=len(source.bullets))
            started = time.perf_counter()
            try:
                draft = await translate_draft(
                    llm,
                    source,
                    target="en",
                    article_lang="ar",
                    sentences=evidence.number_sentences(article.text),
                    prefix=summarizer.prefix(article),
                )
            except LLMError as exc:
                row.note = exc.detail[:160]
                if exc.usage is not None:
                    row.calls, row.tokens = exc.usage.calls, exc.usage.tokens
            else:
                row.delivered = True
                row.bullets, row.questions = len(draft.bullets), len(draft.questions)
                row.calls, row.tokens = draft.usage.calls, draft.usage.tokens
                row.shown = [draft.headline, *draft.bullets]
                judge(row, article, draft)
            row.seconds = time.perf_counter() - started
            rows.append(row)
            print(
                f"{name:28} {'EN' if row.delivered else '--'} {row.bullets}/{row.source_bullets}"
                f" bullets, {row.unsupported} unsupported, {row.calls} calls,"
                f" {row.seconds:.0f} s {row.note}",
                flush=True,
            )
            for line in row.shown:
                print("   ", line, flush=True)
    finally:
        await llm.aclose()
    return rows


def report(args: argparse.Namespace, rows: list[Row]) -> str:
    lines = [
        "| article | English delivered | bullets kept | unsupported names/numbers shown "
        "| calls | tokens | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {'yes' if r.delivered else 'no: ' + r.note[:60]} "
            f"| {r.bullets}/{r.source_bullets} | {r.unsupported} | {r.calls} | {r.tokens:,} "
            f"| {r.seconds:.0f} |"
        )
    delivered = sum(r.delivered for r in rows)
    return (
        f"Model `{args.model}` at `{args.base_url}`; the translation step alone "
        "(`python -m bench.english`: the Arabic digest is the article's own best "
        "sentences, each citing itself), "
        + (
            "each item after the article's messages (LLM_TRANSLATE_WITH_ARTICLE on)"
            if args.with_article
            else "each item alone, as the bot sends it by default"
        )
        + ".\n\n"
        f"**English digests delivered: {delivered} of {len(rows)}**; unsupported names "
        f"or numbers shown: {sum(r.unsupported for r in rows)}; bullets kept "
        f"{sum(r.bullets for r in rows)} of {sum(r.source_bullets for r in rows)}; "
        f"{sum(r.calls for r in rows)} calls, {sum(r.tokens for r in rows):,} tokens, "
        f"{sum(r.seconds for r in rows):.0f} s in all.\n\n" + "\n".join(lines) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8092/v1")
    parser.add_argument("--model", default="qwen15")
    parser.add_argument("--api-key", default="local")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--limit", type=int, default=None, help="first N articles only")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--section", default="real-model English")
    parser.add_argument(
        "--with-article",
        action="store_true",
        help="each item after the article's messages (LLM_TRANSLATE_WITH_ARTICLE on)",
    )
    parser.add_argument("--log", action="store_true", help="log the checks' verdicts")
    args = parser.parse_args()
    if args.log:
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger("bot.summarize.translate").setLevel(logging.INFO)
    rows = asyncio.run(run(args))
    body = report(args, rows)
    print(body)
    if not args.no_write:
        print("wrote", write_section(args.section, body))


if __name__ == "__main__":
    main()
