"""``--rate`` holds for the SMB probe's own connections: impacket opens them itself (one per
login: a null session, then the guest account), outside pacsaudit's dialer.

Samba and impacket's own server both accept null sessions, so the second login happens only
against servers that refuse them (hardened Windows, some NAS). To make a real Samba refuse
the first login, the test gives it a user Samba does not know (``map to guest = Never``:
STATUS_LOGON_FAILURE) and the null session second: the probe's code path, impacket's two
connections and the server are real. A counting relay in front of Samba, on loopback,
timestamps every connection; without a token per login, two connections would follow each
token the engine spends."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from loopback import free_port
from pacsaudit.engine.options import EngineOptions, new_event_loop_factory
from pacsaudit.engine.sweep import Sweep
from pacsaudit.lab.fileshare import smb_conf
from pacsaudit.probes.dispatch import Dispatcher
from pacsaudit.probes.fileshare import smb
from pacsaudit.probes.fileshare.smb import SmbProbe
from pacsaudit.targets.spec import Target
from samba_servers import running_smbd

RATE = 5.0
TARGETS = 8


@pytest.fixture(scope="module")
def strict_samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """smbd on loopback that refuses unknown users (no mapping to guest); its port."""
    root = tmp_path_factory.mktemp("smb-strict")
    (root / "tree").mkdir()
    port = free_port()
    conf = smb_conf(root / "samba", port, root / "tree")
    text = conf.read_text(encoding="utf-8")
    conf.write_text(text.replace("map to guest = Bad User", "map to guest = Never"))
    with running_smbd(root, conf, port):
        yield port


class CountingRelay:
    """Listens on ``count`` loopback ports, forwards each connection to ``upstream`` and
    records when it was accepted. Threads end when their sockets close (timeouts bound them)."""

    def __init__(self, upstream: int, count: int) -> None:
        self.upstream = upstream
        self.accepted: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listeners = []
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            s.settimeout(0.2)
            self._listeners.append(s)
        self.ports = [s.getsockname()[1] for s in self._listeners]
        self._threads = [threading.Thread(target=self._serve, args=(s,), daemon=True)
                         for s in self._listeners]  # fmt: skip
        for t in self._threads:
            t.start()

    def _serve(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.accepted.append(time.monotonic())
            server = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(10)
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        for s in self._listeners:
            s.close()


@pytest.mark.lab
def test_smb_logins_wait_for_the_rate_limit(
    strict_samba: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused_first = (("unknown-user", "no-such-user-here"), ("null-session", ""))
    monkeypatch.setattr(smb, "_LOGINS", refused_first)
    relay = CountingRelay(strict_samba, TARGETS)
    try:
        targets = [Target("127.0.0.1", port) for port in relay.ports]
        options = EngineOptions(concurrency=TARGETS, host_timeout=20.0, predial=True, rate=RATE)
        # The dispatcher says SMB's probe dials by itself: no pre-dial, no token at the start.
        dispatcher = Dispatcher({"smb": SmbProbe()}, forced="smb")
        assert not dispatcher.predials(relay.ports[0])
        found = []
        sweep = Sweep(dispatcher, options, lambda _p, _t, f: found.extend(f))
        with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
            runner.run(sweep.run(enumerate(targets)))
    finally:
        relay.close()
    assert len(found) == TARGETS, found
    accepted = sorted(relay.accepted)
    assert len(accepted) == 2 * TARGETS, found  # first login refused, then null: two each
    # One token per connection, the bucket holding one: no second holds more than RATE + 1
    # connections (+1 for the jitter of the threads impacket connects in). Without a token per
    # login, 2 x RATE connections came within a second.
    for i, t in enumerate(accepted):
        within = sum(1 for u in accepted[i:] if u < t + 1.0)
        assert within <= RATE + 2, [round(u - accepted[0], 3) for u in accepted]
