"""The reader worker process: reads one input at a time under OS limits.

Started by bot/readers/pool.py from the forkserver, which has imported the readers
and their libraries (bot/readers/preload.py: trafilatura, lxml, pdfminer, Pillow) once, so a
new worker is a fork, ready at once. `serve` loops: receive `(reader name, Input, seconds, memory_mb)`, set the limits,
read, send the reply and whether the worker retires after it:

- `("ok", Article)`;
- `("refused", key, module, class name, detail, reason, params)`: a typed refusal
  (too short, scanned PDF ...), rebuilt as the same error in the bot;
- `("limit", "memory")`: the read ran out of its memory (RLIMIT_AS); the worker
  retires (exits after replying), and is replaced; `("limit", "deadline")` the same
  when the part of a read before OCR outlived its own deadline (`base.deadline`);
- `("failed", type name)`: a bug in a reader (logged here).

Limits: RLIMIT_AS = the worker's size at start + `memory_mb` (an allocation past it
fails with MemoryError); RLIMIT_CPU (soft) = the CPU time used so far + the seconds
allowed + 1 (SIGXCPU kills the worker; the bot sees it exit); no core files. The
wall-clock deadline is the bot's: it kills the worker when no reply came in time.
A worker that grew by more than RECYCLE_MB while reading retires too.

Children: a worker leads its own process group, which the pool kills whole, and the
tesseract it starts for OCR is killed by the kernel when the worker dies however it
dies (PR_SET_PDEATHSIG, bot/ingest/ocr.py), so no OCR outlives its read.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import resource
from multiprocessing.connection import Connection
from typing import Any

from bot.errors import DigestBotError
from bot.readers.base import OverDeadline, cap_article, out_of_memory
from bot.readers.registry import get

log = logging.getLogger(__name__)

RECYCLE_MB = 128
_MB = 1024 * 1024


def vm_bytes() -> int:
    """This process's virtual memory size (what RLIMIT_AS limits)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _limit(base: int, memory_mb: int, seconds: float) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (base + memory_mb * _MB, resource.RLIM_INFINITY))
    cpu = math.ceil(cpu_seconds() + seconds + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))


def _unlimit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def handle(request: tuple[str, Any, float, int], base: int) -> tuple[Any, ...]:
    """Read one request under its limits; the reply to send."""
    name, inp, seconds, memory_mb = request
    _limit(base, memory_mb, seconds)
    try:
        reader = get(name)
        return ("ok", cap_article(reader.read(inp), reader.limits.chars))
    except MemoryError:
        _unlimit()
        return ("limit", "memory")
    except OverDeadline:  # the part of the read before OCR outlived its own deadline
        return ("limit", "deadline")
    except DigestBotError as exc:
        if out_of_memory(exc):  # a reader that wraps what failed (pdfminer's errors)
            _unlimit()
            return ("limit", "memory")
        kind = type(exc)
        where = (kind.__module__, kind.__qualname__)
        return ("refused", exc.key, *where, exc.detail, exc.reason, exc.params)
    except Exception as exc:
        _unlimit()
        log.exception("reader %s failed", name)
        return ("failed", type(exc).__name__)
    finally:
        _unlimit()


def serve(conn: Connection) -> None:
    """The worker's loop, until the bot closes the pipe, a read runs out of memory or
    the worker grew too much."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(OSError):  # its own group: the pool kills it with its children
        os.setpgid(0, 0)
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    base = vm_bytes()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        reply = handle(request, base)
        retire = reply[0] == "limit" or vm_bytes() > base + RECYCLE_MB * _MB
        try:
            conn.send((reply, retire))
        except (OSError, ValueError):
            return
        if retire:
            return
