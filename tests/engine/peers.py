"""Loopback peers for the engine tests: slow answerers that count what they see.

Each :class:`SlowPeer` listens on one loopback ``ip:port``, waits ``delay`` seconds after
accepting, answers a few non-DICOM bytes and closes: the DICOM probe then reports
``open-not-dicom`` with that banner, one connection per probe. The peers keep score — how many
connections each received, and how many were open at once per /24 — so tests can tell a target
probed twice, or a per-network cap broken, from the server side.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BANNER = b"SLOW-PEER\r\n"


@dataclass
class SlowPeer:
    ip: str
    port: int
    delay: float
    accepted: int = 0


@dataclass
class PeerSet:
    """Peers served by one event loop in a background thread."""

    peers: list[SlowPeer] = field(default_factory=list)
    open_per_net: Counter[str] = field(default_factory=Counter)
    max_open_per_net: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_port(self) -> dict[tuple[str, int], SlowPeer]:
        return {(p.ip, p.port): p for p in self.peers}

    def accepted(self) -> int:
        with self.lock:
            return sum(p.accepted for p in self.peers)


@contextmanager
def serving(addresses: list[tuple[str, float]]) -> Iterator[PeerSet]:
    """Start one slow peer per ``(ip, delay)`` on a free port; stop them all afterwards."""
    peer_set = PeerSet()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    servers: list[asyncio.Server] = []
    failure: list[BaseException] = []

    async def start() -> None:
        for ip, delay in addresses:
            peer = SlowPeer(ip, 0, delay)

            async def handle(
                reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter,
                peer: SlowPeer = peer,
            ) -> None:
                net = peer.ip.rsplit(".", 1)[0]
                with peer_set.lock:
                    peer.accepted += 1
                    peer_set.open_per_net[net] += 1
                    peer_set.max_open_per_net[net] = max(
                        peer_set.max_open_per_net[net], peer_set.open_per_net[net]
                    )
                try:
                    await asyncio.sleep(peer.delay)  # the peer's behaviour, not a wait
                    writer.write(BANNER)
                    await writer.drain()
                except (OSError, asyncio.CancelledError):
                    pass  # stopping: the peer set is being torn down
                finally:
                    with peer_set.lock:
                        peer_set.open_per_net[net] -= 1
                    writer.close()

            server = await asyncio.start_server(handle, ip, 0, backlog=128)
            peer.port = server.sockets[0].getsockname()[1]
            servers.append(server)
            peer_set.peers.append(peer)

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "peers did not start"
    if failure:
        raise failure[0]
    try:
        yield peer_set
    finally:

        async def stop() -> None:
            for server in servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def outcome_keys(path: Path) -> list[tuple[Any, ...]]:
    """What two scans of the same targets must agree on, line order aside: each target's
    status and the banner a slow peer sent."""
    keys = []
    for line in path.read_bytes().splitlines():
        rec = json.loads(line)
        keys.append((rec["ip"], rec["port"], rec["status"], (rec["result"] or {}).get("banner")))
    return sorted(keys)
