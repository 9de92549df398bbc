"""Scale benchmarks: closed-port sweep against nmap, memory as targets grow, tarpits.

Everything runs on loopback (127.0.0.0/8) and every child has a deadline. Three parts, each
printing its ratio or figure against the goal of issue 5:

1. **Closed-port sweep** of a /16 (65,536 addresses, one closed port): the pacsaudit CLI as a
   user runs it (wall clock, and the scan phase from the findings' own timestamps), the engine
   as a library (no start-up, findings encoded as the CLI would), and ``nmap -sT -Pn -n`` —
   in the same run, alternating, median of the rounds. Goal: at least 1.0x nmap.
2. **Memory as targets grow**: peak RSS of the CLI over 2^16, 2^20 and 2^24 addresses of which
   65,536 are scanned (the rest in other shards, or excluded), and a dry run over 2^32.
   Goal: flat, below 300 MB.
3. **Tarpits**: N loopback listeners that complete the handshake and never answer (a separate
   process; its listeners never accept, so the kernel holds each connection in the accept
   queue). The CLI scans them with ``--concurrency N``; ``ss`` samples how many connections are
   established at once, and the total time is compared with ``targets x timeout /
   concurrency``. Goal: at least 8,000 in flight.

Measurement helpers (peak RSS through ``/usr/bin/time``, waiting for a quiet machine, the
machine line) are those of ``bench/bench_dicom_sweep.py``, which covers the fourth benchmark
of the issue: DICOM responders against nmap's dicom-ping and a pynetdicom pool.

Usage::

    .venv/bin/python bench/bench_scale.py             # 3 rounds, 10,000 tarpits
    .venv/bin/python bench/bench_scale.py --quick     # 1 round, a /18, 2,000 tarpits
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import resource
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench_dicom_sweep import (  # type: ignore[import-not-found]
    QUIET_CORES,
    machine_busy_seconds,
    machine_description,
    run_child,
    wait_for_quiet,
)
from pacsaudit.engine.options import EngineOptions, new_event_loop_factory
from pacsaudit.engine.sources import WalkSource
from pacsaudit.engine.sweep import Sweep
from pacsaudit.model import Finding, Status
from pacsaudit.plan import ScanPlan
from pacsaudit.probes.catalog import build_probes
from pacsaudit.probes.dicom.probe import DicomOptions
from pacsaudit.probes.dispatch import Dispatcher
from pacsaudit.targets.permutation import Shard, TargetSpace
from pacsaudit.targets.spec import AddressSpace, IntervalSet, Target

VENV_BIN = Path(sys.executable).parent
PACSAUDIT = str(VENV_BIN / "pacsaudit")
SWEEP_BLOCK = "127.1.0.0/16"
TARPIT_FIRST = "127.80.0.1"
GOAL_VS_NMAP = 1.0
GOAL_RSS_MB = 300.0
GOAL_IN_FLIGHT = 8000


@dataclass
class Run:
    name: str
    targets: int
    wall: float
    ok: int
    cpu: float | None = None
    rss_mb: float | None = None
    scan_phase: float | None = None
    other_load: float | None = None

    @property
    def rate(self) -> float:
        return self.targets / self.wall if self.wall > 0 else 0.0

    def show(self) -> None:
        parts = [f"  {self.name:<40} {self.targets:>9,} targets {self.wall:7.2f} s"]
        parts.append(f"{self.rate:9,.0f}/s")
        if self.scan_phase:
            parts.append(f"(scan phase {self.targets / self.scan_phase:,.0f}/s)")
        if self.cpu is not None:
            parts.append(f"cpu {self.cpu / max(1, self.targets) * 1e6:5.1f} µs/target")
        if self.rss_mb is not None:
            parts.append(f"peak RSS {self.rss_mb:6.1f} MB")
        if self.ok != self.targets:
            parts.append(f"CHECK: {self.ok} as expected")
        if self.other_load is not None and self.other_load >= QUIET_CORES:
            parts.append(f"[others used {self.other_load:.1f} cores]")
        print("  ".join(parts), flush=True)


def measured(fn: object, *args: object, quiet_wait: float) -> Run:
    """Run one measurement when the machine is quiet and note what else was running."""
    wait_for_quiet(quiet_wait)
    busy0 = machine_busy_seconds()
    own0 = time.process_time()
    run: Run = fn(*args)  # type: ignore[operator]
    busy = machine_busy_seconds() - busy0
    own = time.process_time() - own0 + (run.cpu or 0.0)
    run.other_load = max(0.0, busy - own) / run.wall if run.wall > 0 else 0.0
    run.show()
    return run


# --- 1. the closed-port sweep ----------------------------------------------------------------


def findings_of(path: Path) -> tuple[Counter[str], float | None]:
    """Statuses in a JSONL output, and its scan phase: first probe start to last finding."""
    statuses: Counter[str] = Counter()
    first, last = float("inf"), 0.0
    with path.open("rb") as fh:
        for line in fh:
            rec = json.loads(line)
            statuses[rec["status"]] += 1
            end = datetime.fromisoformat(rec["timestamp"]).timestamp()
            first = min(first, end - (rec["duration_ms"] or 0.0) / 1000)
            last = max(last, end)
    return statuses, (last - first if last else None)


def cli_sweep(
    block: str, port: int, out: Path, extra: list[str], name: str = "pacsaudit CLI (wall clock)"
) -> Run:
    out.unlink(missing_ok=True)
    Path(f"{out}.state").unlink(missing_ok=True)
    cmd = [PACSAUDIT, "scan", block, "-p", str(port), "-q", "-o", str(out), *extra]
    child = run_child(cmd)
    if child.returncode != 0:
        raise SystemExit(f"pacsaudit exited with {child.returncode}")
    statuses, phase = findings_of(out)
    n = sum(statuses.values())  # what was scanned (the rest: other shards, or excluded)
    return Run(name, n, child.wall, statuses[Status.CLOSED], child.cpu, child.max_rss_mb, phase)


def library_sweep(block: str, port: int) -> Run:
    """The engine alone: the walk, the connect-first sweep, findings encoded in batches."""
    import msgspec

    net = ipaddress.ip_network(block)
    space = TargetSpace(AddressSpace(IntervalSet([(int(net[0]), int(net[-1]))])), (port,))
    plan = ScanPlan(AddressSpace(), (), EngineOptions(), DicomOptions(), None)
    probe = Dispatcher(build_probes(plan))
    encoder = msgspec.json.Encoder()
    batch: list[Finding] = []
    closed = 0

    def on_done(_p: int, _t: Target, found: list[Finding]) -> None:
        nonlocal closed
        batch.extend(found)
        closed += sum(1 for f in found if f.status is Status.CLOSED)
        if len(batch) >= 16384:
            encoder.encode_lines(batch)
            batch.clear()

    options = EngineOptions(concurrency=512, predial=True)
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        source = WalkSource(space, seed=1, shard=Shard())
        cpu0, t0 = time.process_time(), time.perf_counter()
        runner.run(Sweep(probe, options, on_done).run(source))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return Run("pacsaudit engine (library)", net.num_addresses, wall, closed, cpu)


def nmap_sweep(block: str, port: int, out: Path) -> Run:
    child = run_child(["nmap", "-sT", "-Pn", "-n", "-p", str(port), block, "-oG", str(out)])
    if child.returncode != 0:
        raise SystemExit(f"nmap exited with {child.returncode}")
    closed = out.read_text().count(f"Ports: {port}/closed/")
    n = ipaddress.ip_network(block).num_addresses
    return Run("nmap -sT -Pn -n (wall clock)", n, child.wall, closed, child.cpu, child.max_rss_mb)


def sweep_part(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    print(f"1. closed-port sweep of {args.block}, port {args.port}, {args.rounds} round(s):")
    assert_closed(args.block, args.port)
    runs: dict[str, list[Run]] = {"cli": [], "lib": [], "nmap": []}
    library_sweep("127.1.0.0/24", args.port)  # warm-up, not counted
    for n in range(1, args.rounds + 1):
        print(f"  round {n}:")
        runs["cli"].append(measured(cli_sweep, args.block, args.port, tmp / "sweep.jsonl", [],
                                    quiet_wait=args.quiet_wait))  # fmt: skip
        runs["lib"].append(measured(library_sweep, args.block, args.port,
                                    quiet_wait=args.quiet_wait))  # fmt: skip
        if not args.skip_nmap:
            runs["nmap"].append(measured(nmap_sweep, args.block, args.port, tmp / "n.gnmap",
                                         quiet_wait=args.quiet_wait))  # fmt: skip
    rates = {
        "cli": statistics.median(r.rate for r in runs["cli"]),
        "cli-scan": statistics.median(r.targets / (r.scan_phase or r.wall) for r in runs["cli"]),
        "lib": statistics.median(r.rate for r in runs["lib"]),
    }
    if runs["nmap"]:
        rates["nmap"] = statistics.median(r.rate for r in runs["nmap"])
    labels = {
        "cli": "pacsaudit CLI, wall clock",
        "cli-scan": "pacsaudit CLI, scan phase",
        "lib": "pacsaudit engine, library",
        "nmap": "nmap -sT, wall clock",
    }
    print("  medians:")
    for key, rate in rates.items():
        print(f"    {labels[key]:<28} {rate:9,.0f} closed ports/s")
    if "nmap" in rates:
        for key in ("cli", "cli-scan", "lib"):
            ratio = rates[key] / rates["nmap"]
            verdict = "meets" if ratio >= GOAL_VS_NMAP else "BELOW"
            print(f"    ratio {labels[key]:<28} / nmap: {ratio:5.2f}x ({verdict} the 1.0x goal)")
    startup = statistics.median(r.wall - (r.scan_phase or r.wall) for r in runs["cli"])
    print(f"    CLI time outside the scan phase (start-up, planning, exit): {startup:.2f} s")
    return rates


def assert_closed(block: str, port: int) -> None:
    net = ipaddress.ip_network(block)
    for ip in (net[1], net[net.num_addresses // 2], net[-2]):
        with socket.socket() as s:
            s.settimeout(2)
            if s.connect_ex((str(ip), port)) == 0:
                raise SystemExit(f"{ip}:{port} accepts connections: pick a closed --port")


# --- 2. memory as targets grow ---------------------------------------------------------------


def memory_part(args: argparse.Namespace, tmp: Path) -> list[Run]:
    print("2. memory as targets grow (65,536 targets scanned, the rest in other shards or "
          "excluded; then 2^20 scanned):")  # fmt: skip
    keep = tmp / "exclude-all-but-one-16.txt"
    keep.write_text("127.0.0.0-127.0.255.255\n127.2.0.0-127.255.255.255\n", encoding="ascii")
    cases = [
        ("2^16 addresses, all scanned", "127.1.0.0/16", []),
        ("2^20 addresses, shard 0/16", "127.16.0.0/12", ["--shard", "0/16"]),
        ("2^24 addresses, shard 0/256", "127.0.0.0/8", ["--shard", "0/256"]),
        ("2^24 addresses, all but 2^16 excluded", "127.0.0.0/8", ["--exclude", str(keep)]),
    ]
    if not args.quick:  # and 16 times more targets actually scanned, for the output side
        cases.append(("2^20 addresses, all scanned", "127.16.0.0/12", []))
    runs: list[Run] = []
    for label, block, extra in cases:
        out = tmp / "memory.jsonl"
        run = measured(cli_sweep, block, args.port, out, extra, label, quiet_wait=args.quiet_wait)
        runs.append(run)
    child = run_child([PACSAUDIT, "scan", "0.0.0.0/0", "-p", str(args.port), "--dry-run"])
    dry = Run("2^32 addresses, --dry-run (planning only)", 0, child.wall, 0, child.cpu,
              child.max_rss_mb)  # fmt: skip
    dry.show()
    runs.append(dry)
    worst = max(r.rss_mb or 0.0 for r in runs)
    verdict = "meets" if worst < GOAL_RSS_MB else "ABOVE"
    print(f"  peak RSS at most {worst:.1f} MB ({verdict} the < {GOAL_RSS_MB:.0f} MB goal)")
    return runs


# --- 3. tarpits ------------------------------------------------------------------------------


def tarpit_addresses(count: int) -> list[str]:
    first = int(ipaddress.IPv4Address(TARPIT_FIRST))
    out = []
    n = first
    while len(out) < count:
        if n & 0xFF not in (0, 255):
            out.append(str(ipaddress.IPv4Address(n)))
        n += 1
    return out


def serve_tarpits(address_file: Path, port: int) -> None:
    """Child mode: listen on every address, never accept, exit when stdin closes."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets = []
    for ip in address_file.read_text().split():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        s.listen(8)  # room for one scanner connection each, never accepted
        sockets.append(s)
    print(f"READY {len(sockets)}", flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin


def count_established(prefix: str) -> int:
    """Client-side connections to the tarpits right now, from ``ss``."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", "dst", prefix],
        capture_output=True, text=True, timeout=30, check=False,
    ).stdout  # fmt: skip
    return out.count("\n")


def tarpit_part(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    n = args.tarpits
    addresses = tarpit_addresses(n)
    address_file = tmp / "tarpits.txt"
    address_file.write_text("\n".join(addresses) + "\n", encoding="ascii")
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-tarpits", str(address_file), "--port",
         str(args.tarpit_port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    ready, _, _ = select.select([server.stdout], [], [], 120)
    line = server.stdout.readline() if ready else ""
    if not line.startswith("READY"):
        server.kill()
        raise SystemExit(f"tarpits did not start: {line!r}")
    timeout = args.tarpit_timeout
    concurrency = n
    print(f"3. {n:,} tarpits (accept, never answer), read timeout {timeout:g} s, "
          f"--concurrency {concurrency:,}:")  # fmt: skip
    peak = 0
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.1):
            count = count_established("127.80.0.0/16")
            samples.append(count)
            peak = max(peak, count)

    sampler = threading.Thread(target=sample, daemon=True)
    out = tmp / "tarpits.jsonl"
    cmd = [
        PACSAUDIT, "scan", "-i", str(address_file), "-p", str(args.tarpit_port),
        "--probe", "dicom", "--depth", "discover", "--concurrency", str(concurrency),
        "--connect-timeout", "10", "--read-timeout", str(timeout),
        "--host-timeout", str(timeout + 10), "-q", "-o", str(out),
    ]  # fmt: skip
    try:
        sampler.start()
        child = run_child(cmd)
    finally:
        stop.set()
        sampler.join(5)
        if server.stdin is not None:
            server.stdin.close()
        server.wait(30)
    if child.returncode != 0:
        raise SystemExit(f"pacsaudit exited with {child.returncode}")
    statuses: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for rec in map(json.loads, out.read_bytes().splitlines()):
        statuses[rec["status"]] += 1
        kinds[(rec.get("error") or {}).get("kind", "")] += 1
    bound = n * timeout / concurrency
    print(
        f"  {n:,} targets in {child.wall:.2f} s (bound targets x timeout / concurrency = "
        f"{bound:.2f} s; ratio {child.wall / bound:.2f}); peak RSS {child.max_rss_mb:.1f} MB"
    )
    print(f"  findings: {dict(statuses)}, error kinds: {dict(kinds)}")
    verdict = "meets" if peak >= GOAL_IN_FLIGHT else "BELOW"
    print(f"  connections established at once (ss, every 0.1 s): peak {peak:,} "
          f"({verdict} the {GOAL_IN_FLIGHT:,} goal)")  # fmt: skip
    return {"peak": peak, "wall": child.wall, "bound": bound, "rss": child.max_rss_mb}


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1 round, a /18, 2,000 tarpits")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--block", default=SWEEP_BLOCK, help="loopback block for the sweep")
    parser.add_argument("--port", type=int, default=9, help="a port closed on loopback")
    parser.add_argument("--tarpits", type=int, default=10_000)
    parser.add_argument("--tarpit-port", type=int, default=11119)
    parser.add_argument("--tarpit-timeout", type=float, default=5.0)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait before each run for other processes to go quiet",
    )
    parser.add_argument("--skip-nmap", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-tarpits", action="store_true")
    parser.add_argument("--serve-tarpits", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)  # fmt: skip
    if args.serve_tarpits:
        serve_tarpits(args.serve_tarpits, args.tarpit_port)
        return 0
    if args.quick:
        args.rounds, args.block, args.tarpits = 1, "127.1.0.0/18", min(args.tarpits, 2000)
    if not ipaddress.ip_network(args.block).is_loopback:
        raise SystemExit("the sweep block must be inside 127.0.0.0/8")
    print(f"machine: {machine_description()}")
    with tempfile.TemporaryDirectory(prefix="pacsaudit-bench-scale-") as name:
        tmp = Path(name)
        if not args.skip_sweep:
            sweep_part(args, tmp)
        if not args.skip_memory:
            memory_part(args, tmp)
        if not args.skip_tarpits:
            tarpit_part(args, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
