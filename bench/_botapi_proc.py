"""The fake Bot API in its own process, so a benchmark measures the bot's CPU alone.

    python -m bench._botapi_proc [PER_SECOND]

Prints its base URL on the first line, then answers commands on stdin, one per line:
`stats` prints one JSON line {"chats": [chat ids sent to, in order], "rejected": n,
"cpu": CPU seconds this process used so far};
`groups` prints one JSON line about the messages to groups and channels (negative chat
ids): {"messages": n, "distinct": distinct (chat, text) pairs, "chats": chats reached,
"most_per_minute": the most one chat got in any 60 seconds, "all_messages": messages to
any chat, "all_chats": chats reached};
`quit` (or end of input) stops it. PER_SECOND > 0 refuses sendMessage calls above that
many in any one-second window with 429 and retry_after=1, like Telegram's flood limit.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time

from aiohttp import web

from tests.fakes.botapi import BotAPI, _error


class PacedBotAPI(BotAPI):
    """The fake Bot API, refusing more than `per_second` sendMessage calls in any second."""

    def __init__(self, per_second: int = 0) -> None:
        super().__init__()
        self.per_second = per_second
        self.window: collections.deque[float] = collections.deque()
        self.rejected = 0

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if self.per_second and request.match_info.get("method") == "sendMessage":
            now = time.monotonic()
            while self.window and now - self.window[0] >= 1.0:
                self.window.popleft()
            if len(self.window) >= self.per_second:
                self.rejected += 1
                return _error(429, "Too Many Requests: retry after 1", 1)
            self.window.append(now)
        return await super()._dispatch(request)


def groups(fake: BotAPI) -> dict[str, int]:
    every = [s for s in fake.sent if s.method == "sendMessage"]
    sent = [s for s in every if s.chat_id < 0]
    most = fake.per_minute_counts()
    return {
        "all_messages": len(every),
        "all_chats": len({s.chat_id for s in every}),
        "messages": len(sent),
        "distinct": len({(s.chat_id, s.text) for s in sent}),
        "chats": len({s.chat_id for s in sent}),
        "most_per_minute": max((v for c, v in most.items() if c < 0), default=0),
    }


async def main(per_second: int) -> None:
    fake = PacedBotAPI(per_second)
    await fake.start()
    print(fake.url, flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "stats":
            chats = [s.chat_id for s in fake.sent]
            body = {"chats": chats, "rejected": fake.rejected, "cpu": time.process_time()}
            print(json.dumps(body), flush=True)
        elif line == "groups":
            print(json.dumps(groups(fake)), flush=True)
        elif line in ("quit", ""):
            break
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
