"""The engine at scale, on loopback: the connect-first fast path, shards, rate, per-/24 cap,
dry runs. Every test here bounds its own time (short timeouts, small target sets)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from engine.peers import BANNER
from engine.peers import serving as serving_peers
from hostile_servers import (
    BUDGET,
    BUDGET_SCENARIOS,
    SCENARIOS,
    probe_options,
    serving,
)
from loopback import free_port
from pacsaudit.contract import make_finding
from pacsaudit.engine.options import EngineOptions, ScanStats
from pacsaudit.engine.sweep import Sweep, first_protocol
from pacsaudit.model import Finding, Status, decode_finding, utc_timestamp
from pacsaudit.net.limits import TokenBucket, network_key, parse_rate
from pacsaudit.plan import ScaleOptions, ScanPlan, describe_plan, make_plan
from pacsaudit.probes.catalog import build_probes
from pacsaudit.probes.dicom.probe import DicomOptions, DicomProbe
from pacsaudit.probes.dispatch import Dispatcher
from pacsaudit.run import execute
from pacsaudit.targets.permutation import Shard
from pacsaudit.targets.spec import AddressSpace, Target
from pacsaudit.usage import UsageError

T = TypeVar("T")
PACSAUDIT = [sys.executable, "-m", "pacsaudit"]


def run(coro: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def sweep(
    targets: list[Target],
    probe: Any,
    **options: Any,
) -> tuple[list[Finding], ScanStats]:
    findings: list[Finding] = []

    def on_done(_position: int, _target: Target, found: list[Finding]) -> None:
        findings.extend(found)

    settings: dict[str, Any] = {"concurrency": 64, "host_timeout": BUDGET, **options}
    engine = Sweep(probe, EngineOptions(**settings), on_done)
    stats = run(engine.run(enumerate(targets)))
    return findings, stats


def key(f: Finding) -> tuple[Any, ...]:
    """What must not depend on how the engine ran a target (timing aside)."""
    banner = getattr(f.result, "banner", None)
    return (f.ip, f.port, f.protocol, f.status, f.error.kind if f.error else None, banner)


def dispatcher(**dicom: Any) -> Dispatcher:
    plan = ScanPlan(
        AddressSpace(), (), EngineOptions(), probe_options(tls_ports=frozenset(), **dicom), None
    )
    return Dispatcher(build_probes(plan), forced="dicom")


# --- connect first, then probe -------------------------------------------------------------


def test_connect_first_gives_the_findings_the_probe_gives() -> None:
    """Every hostile peer judged the same with and without the engine's own first dial."""

    async def both() -> tuple[list[Finding], list[Finding]]:
        scenarios = SCENARIOS + BUDGET_SCENARIOS
        async with serving(scenarios) as ports:
            targets = [Target("127.0.0.1", ports[s.name]) for s in scenarios]
            out: list[list[Finding]] = []
            for predial in (False, True):
                found: list[Finding] = []
                engine = Sweep(
                    DicomProbe(probe_options()),
                    EngineOptions(
                        concurrency=16,
                        host_timeout=BUDGET,
                        predial=predial,
                        connect_timeout=0.5,
                    ),
                    lambda _p, _t, f, found=found: found.extend(f),
                )
                await engine.run(enumerate(targets))
                out.append(found)
            return out[0], out[1]

    plain, fast = run(both())
    assert sorted(map(key, plain)) == sorted(map(key, fast))
    assert len(fast) == len(SCENARIOS + BUDGET_SCENARIOS)


def test_a_probe_takes_the_engines_connection_instead_of_opening_another() -> None:
    closed = [free_port() for _ in range(3)]
    with serving_peers([("127.0.0.1", 0.02)] * 3) as peers:
        targets = [Target("127.0.0.1", p) for p in closed] + [
            Target(p.ip, p.port) for p in peers.peers
        ]
        findings, stats = sweep(targets, dispatcher(), predial=True)
        assert [p.accepted for p in peers.peers] == [1, 1, 1]
    statuses = Counter(f.status for f in findings)
    assert statuses == {Status.CLOSED: 3, Status.OPEN_NOT_DICOM: 3}
    banners = {f.result.banner for f in findings if f.status is Status.OPEN_NOT_DICOM}  # type: ignore[union-attr]
    assert banners == {BANNER.decode().replace("\r\n", "\\r\\n")}
    assert stats.done == 6
    assert stats.peak_probing == 3  # only the open ports ever became probe tasks


def test_connect_first_over_ipv6() -> None:
    closed = free_port("::1")
    with serving_peers([("::1", 0.01)]) as peers:
        (peer,) = peers.peers
        targets = [Target("::1", closed), Target("::1", peer.port)]
        findings, _ = sweep(targets, dispatcher(), predial=True)
        assert peer.accepted == 1
    assert sorted((f.port, f.status) for f in findings) == sorted(
        [(closed, Status.CLOSED), (peer.port, Status.OPEN_NOT_DICOM)]
    )


def test_filtered_when_the_handshake_never_completes() -> None:
    """A listener whose accept queue is full drops SYNs: the engine's timer, not a task,
    reports the port as filtered, within the connect timeout."""
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):  # fill the queue (backlog 0 still admits one or two)
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                fillers.append(s)
            started = time.monotonic()
            findings, stats = sweep([Target("127.0.0.1", port)], dispatcher(), predial=True,
                                    connect_timeout=0.3)  # fmt: skip
            elapsed = time.monotonic() - started
        finally:
            for s in fillers:
                s.close()
    (finding,) = findings
    assert finding.status is Status.FILTERED
    assert finding.protocol == "dicom"
    assert 0.25 < elapsed < 2.0
    assert stats.peak_probing == 0


def test_the_closed_finding_names_the_protocol_the_port_belongs_to() -> None:
    probes = build_probes(
        ScanPlan(AddressSpace(), (), EngineOptions(), DicomOptions(), output=None)
    )
    auto = Dispatcher(probes)
    assert first_protocol(auto, 8042) == "http"
    assert first_protocol(auto, 104) == "dicom"
    assert first_protocol(auto, 40000) == "dicom"  # unclaimed: identified by the DICOM probe
    assert first_protocol(Dispatcher(probes, forced="smb"), 104) == "smb"
    assert first_protocol(DicomProbe(), 80) == "dicom"


def test_the_one_clock_gives_the_models_format() -> None:
    """The engine's findings take their time from the model's one cached clock."""
    text = make_finding("dicom", Target("127.0.0.1", 9), None, Status.CLOSED).timestamp
    assert len(text) == len(utc_timestamp())
    assert text.endswith("Z")
    assert abs(datetime.fromisoformat(text).timestamp() - time.time()) < 1.0


# --- shards --------------------------------------------------------------------------------


def plan_for(targets: list[str], ports: tuple[int, ...], **scale: Any) -> ScanPlan:
    return make_plan(
        targets=targets,
        input_files=[],
        exclude_files=[],
        ports=ports,
        engine=EngineOptions(concurrency=128, host_timeout=BUDGET),
        dicom=probe_options(tls_ports=frozenset()),
        output=scale.pop("output", None),
        forced_probe="dicom",
        scale=ScaleOptions(**scale),
    )


def scan_to_file(plan: ScanPlan) -> list[Finding]:
    outcome = execute(plan, None)
    assert not outcome.interrupted
    assert plan.output is not None
    return [decode_finding(line) for line in plan.output.read_bytes().splitlines()]


def test_shards_of_a_real_scan_are_disjoint_and_union_to_the_whole(tmp_path: Path) -> None:
    closed = free_port("127.60.0.1")
    with serving_peers([("127.60.0.7", 0.01), ("127.60.0.40", 0.01)]) as peers:
        open_ports = tuple(p.port for p in peers.peers)
        ports = (closed, *open_ports)
        whole = scan_to_file(plan_for(["127.60.0.0/26"], ports, seed=11, output=tmp_path / "w"))
        parts: list[list[Finding]] = []
        for i in range(3):
            plan = plan_for(
                ["127.60.0.0/26"], ports, seed=11, shard=Shard(i, 3), output=tmp_path / f"s{i}"
            )
            parts.append(scan_to_file(plan))
    assert len(whole) == 64 * 3
    union = [key(f) for part in parts for f in part]
    assert len(union) == len(set(union))  # disjoint: no target in two shards
    assert sorted(union) == sorted(map(key, whole))
    assert all(parts)  # each shard got a share
    answered = {(f.ip, f.port) for f in whole if f.status is Status.OPEN_NOT_DICOM}
    assert answered == {("127.60.0.7", open_ports[0]), ("127.60.0.40", open_ports[1])}


def test_the_walk_spreads_targets_over_networks(tmp_path: Path) -> None:
    """Numeric order would send a /24's 256 probes in a row; the seeded walk does not."""
    port = free_port()
    plan = plan_for(["127.61.0.0/22"], (port,), seed=3, output=tmp_path / "f")
    findings = scan_to_file(plan)
    nets = [f.ip.rsplit(".", 1)[0] for f in findings]
    assert len(nets) == 1024
    worst = max(Counter(nets[i : i + 64]).most_common(1)[0][1] for i in range(0, 1024 - 64))
    assert worst < 40  # 4 networks: about 16 of 64 each, never a burst of one


# --- politeness ----------------------------------------------------------------------------


@pytest.mark.parametrize("predial", [True, False])
def test_rate_limit_is_honoured(predial: bool) -> None:
    rate = 400.0
    port = free_port()
    targets = [Target(f"127.62.0.{n}", port) for n in range(1, 161)]
    started = time.monotonic()
    findings, _ = sweep(targets, dispatcher(), predial=predial, rate=rate, concurrency=256)
    elapsed = time.monotonic() - started
    assert {f.status for f in findings} == {Status.CLOSED}
    expected = (len(targets) - 1) / rate  # the bucket starts with one token
    assert expected * 0.9 <= elapsed <= expected * 1.5 + 0.3
    starts = sorted(
        datetime.fromisoformat(f.timestamp).timestamp() - (f.duration_ms or 0) / 1000
        for f in findings
    )
    burst = TokenBucket(rate).burst
    for i, t in enumerate(starts):  # no 100 ms window holds more than the rate allows
        window = sum(1 for u in starts[i:] if u < t + 0.1)
        assert window <= rate * 0.1 + burst + 2


def test_a_probes_own_connections_wait_for_the_rate_limit() -> None:
    """The limiter is global: a probe's further dials (here: a second association attempt
    after a rejection) take tokens too."""

    async def main() -> tuple[float, int]:
        from hostile_servers import PeerServer, known_default_only

        async with PeerServer(known_default_only) as server:
            targets = [Target("127.0.0.1", server.port)] * 6
            engine = Sweep(
                DicomProbe(probe_options()),
                EngineOptions(concurrency=6, host_timeout=5.0, predial=True, rate=20.0),
                lambda _p, _t, _f: None,
            )
            started = time.monotonic()
            await engine.run(enumerate(targets))
            return time.monotonic() - started, server.accepted

    elapsed, accepted = run(main())
    # random called AE refused, then the default (the storage classes answered on it): two
    assert accepted == 12
    assert elapsed >= (accepted - 1) / 20 * 0.9


def test_per_network_cap_is_honoured() -> None:
    net_a = [(f"127.63.1.{n}", 0.15) for n in range(1, 7)]
    net_b = [(f"127.63.2.{n}", 0.15) for n in range(1, 7)]
    with serving_peers(net_a + net_b) as peers:
        targets = [Target(p.ip, p.port) for p in peers.peers]
        findings, stats = sweep(targets, dispatcher(), predial=True, per_network=2, concurrency=64)
        assert peers.max_open_per_net == {"127.63.1": 2, "127.63.2": 2}
        assert [p.accepted for p in peers.peers] == [1] * 12
    assert Counter(f.status for f in findings) == {Status.OPEN_NOT_DICOM: 12}
    assert stats.peak_in_flight <= 4


def test_a_wide_dial_window_keeps_probes_within_max_probing() -> None:
    """Many dials, few probes: connected targets wait for a probe slot, none is lost, and
    with closed ports mixed in the dials run ahead of the probes."""
    slow = [(f"127.65.1.{n}", 0.15) for n in range(1, 9)]
    with serving_peers(slow) as peers:
        closed = free_port()
        targets = [Target(p.ip, p.port) for p in peers.peers]
        targets += [Target(f"127.65.2.{n}", closed) for n in range(1, 41)]
        findings, stats = sweep(targets, dispatcher(), predial=True, concurrency=64, max_probing=2)
        assert [p.accepted for p in peers.peers] == [1] * 8
    assert Counter(f.status for f in findings) == {Status.OPEN_NOT_DICOM: 8, Status.CLOSED: 40}
    assert stats.peak_probing == 2


def test_per_network_waiting_queue_is_bounded_and_drains() -> None:
    """One /24, cap 1, many targets: the queue of waiting targets stays bounded while the
    source keeps a trickle going, and every target is reported once."""
    port = free_port()
    targets = [Target(f"127.64.0.{n}", port) for n in range(1, 255)] * 8
    findings, stats = sweep(targets, dispatcher(), predial=True, per_network=1, concurrency=512)
    assert len(findings) == len(targets)
    assert stats.peak_in_flight == 1


def test_token_bucket_with_a_fake_clock() -> None:
    now = [100.0]
    bucket = TokenBucket(10.0, burst=3, clock=lambda: now[0])
    assert bucket.take()
    assert not bucket.take()
    assert bucket.delay() == pytest.approx(0.1)
    now[0] += 1.0  # ten tokens' worth, capped at the burst of three
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.05
    assert not bucket.take()
    assert bucket.delay() == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("text", "rate"), [("500", 500.0), ("500/s", 500.0), ("30/m", 0.5), ("36/h", 0.01)]
)
def test_parse_rate(text: str, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("text", ["", "0", "-5", "fast", "5/d", "1e12"])
def test_bad_rates_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_rate(text)


def test_network_keys() -> None:
    assert network_key("10.1.2.3") == network_key("10.1.2.250")
    assert network_key("10.1.2.3") != network_key("10.1.3.3")
    assert network_key("2001:db8::1") == network_key("2001:db8::ffff")
    assert network_key("2001:db8::1") != network_key("2001:db8:0:1::1")
    assert network_key("0.0.0.1") != network_key("::1")


# --- dry run -------------------------------------------------------------------------------


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PACSAUDIT, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_dry_run_sends_nothing_and_counts_targets_and_shards(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        out = tmp_path / "f.jsonl"
        r = run_cli(
            "scan", "127.0.0.0/28", "-p", f"{port},{port + 1}", "--shard", "1/4",
            "--seed", "7", "--dry-run", "-o", str(out),
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # a connection would wait in the accept queue
            listener.accept()
    assert not out.exists()
    assert not Path(f"{out}.state").exists()
    lines = r.stdout.splitlines()
    assert "targets: 32 (16 addresses x 2 port(s))" in lines
    assert "seed: 7" in lines
    assert any(line.startswith("shards: 4 in all; this run: shard 1/4") for line in lines)
    (count,) = [line for line in lines if line.strip().startswith("shard 1/4:")]
    assert int(count.split(":")[1].split()[0]) in range(6, 11)


def test_dry_run_of_the_whole_ipv4_space_is_quick_and_small() -> None:
    r = run_cli("scan", "0.0.0.0/0", "-p", "104", "--dry-run", "--shard", "0/1000")
    assert r.returncode == 0, r.stderr
    total = int(r.stdout.split("targets: ")[1].split()[0].replace(",", ""))
    assert 3_500_000_000 < total < 2**32  # the blocklist removed the special-purpose blocks
    assert "shard 0/1000:" in r.stdout


def test_describe_plan_counts_every_shard_exactly() -> None:
    plan = plan_for(["127.65.0.0/24"], (104, 4242), seed=5)
    lines = describe_plan(plan, tasks=4)
    counts = [int(line.split(":")[1].split()[0]) for line in lines if "/4:" in line]
    assert sum(counts) == 512


def test_results_of_json_lines_are_the_engines(tmp_path: Path) -> None:
    """What the engine writes is what the model decodes: whole lines, nothing else."""
    port = free_port()
    findings = scan_to_file(plan_for(["127.66.0.0/29"], (port,), seed=1, output=tmp_path / "o"))
    raw = (tmp_path / "o").read_bytes()
    assert raw.endswith(b"\n")
    assert [json.loads(line)["status"] for line in raw.splitlines()] == ["closed"] * 8
    assert len(findings) == 8


# --- identifying the scan ------------------------------------------------------------------


def test_contact_goes_into_the_http_user_agent(tmp_path: Path) -> None:
    """Operators see who scans them: ``--contact`` in every HTTP request's User-Agent."""
    agents: list[str] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        server.settimeout(0.2)
        port = server.getsockname()[1]
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.settimeout(2)
                    request = b""
                    while b"\r\n\r\n" not in request and len(request) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    for line in request.decode("latin-1").split("\r\n"):
                        if line.lower().startswith("user-agent:"):
                            agents.append(line.split(":", 1)[1].strip())
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            r = run_cli(
                "scan", "127.0.0.1", "-p", str(port), "--probe", "http", "--depth", "discover",
                "--contact", "https://scan.example/why", "-q", "-o", str(tmp_path / "f"),
            )  # fmt: skip
        finally:
            stop.set()
            thread.join(5)
    assert r.returncode == 0, r.stderr
    assert agents
    assert all(a.startswith("pacsaudit/") and "+https://scan.example/why" in a for a in agents)


def test_a_bad_contact_is_a_usage_error() -> None:
    r = run_cli("scan", "127.0.0.1", "-p", "9", "--contact", "a\tb", "--dry-run")
    assert r.returncode == 2
    assert "contact" in r.stderr


# --- the second stage: ZMap and masscan results as targets ------------------------------------


def test_zmap_and_masscan_results_become_targets(tmp_path: Path) -> None:
    closed = free_port()
    zmap = tmp_path / "zmap.csv"
    zmap.write_text(
        "saddr,sport,success\n"
        f"127.76.0.1,{closed},1\n127.76.0.2,{closed},0\n127.76.0.3,{closed},1\n"
        f"10.1.2.3,{closed},1\n",  # outside the named scope: never probed
        encoding="ascii",
    )
    masscan = tmp_path / "masscan.json"
    record = {"ip": "127.76.0.4", "timestamp": "1", "ports": [
        {"port": closed, "proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 64}
    ]}  # fmt: skip
    masscan.write_text(f"[\n{json.dumps(record)}\n]\n", encoding="ascii")
    out = tmp_path / "f.jsonl"
    r = run_cli(
        "scan", "127.76.0.0/24", "-i", str(zmap), "-i", str(masscan), "--input-format", "auto",
        "-o", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    got = sorted((rec["ip"], rec["port"], rec["status"]) for rec in map(json.loads, out.open()))
    assert got == [(f"127.76.0.{n}", closed, "closed") for n in (1, 3, 4)]
    assert "outside the targets or blocklisted" in r.stderr


def test_a_malformed_result_line_stops_the_scan_unless_skipped(tmp_path: Path) -> None:
    results = tmp_path / "zmap.txt"
    results.write_text("127.76.1.1\nnot-an-address\n127.76.1.2\n", encoding="ascii")
    args = ["scan", "127.76.1.0/24", "-i", str(results), "--input-format", "zmap", "-p", "9"]
    r = run_cli(*args, "--dry-run")
    assert r.returncode == 2
    assert f"{results}:2" in r.stderr
    r = run_cli(*args, "--dry-run", "--skip-malformed")
    assert r.returncode == 0, r.stderr
    assert "result-file targets: 2 " in r.stdout
    assert "skipped 1 malformed line(s)" in r.stdout


def test_results_without_named_targets_skip_private_and_loopback(tmp_path: Path) -> None:
    results = tmp_path / "zmap.txt"
    results.write_text("127.0.0.1\n10.0.0.1\n", encoding="ascii")
    r = run_cli("scan", "-i", str(results), "--input-format", "zmap", "-p", "9", "--dry-run")
    assert r.returncode == 2
    assert "out of scope" in r.stderr
    assert "probed only when named as targets" in r.stderr
