"""DICOM sweep benchmark: pacsaudit against nmap's dicom-ping and a pynetdicom thread pool.

Starts ``bench/responders.py`` in its own process (N minimal DICOM responders on distinct
loopback addresses, one port), then in the same run measures on the same address list:

- pacsaudit as a library (``run_scan`` + ``DicomProbe`` on a uvloop loop, findings encoded as
  the JSONL writer would): association + C-ECHO + release + full parse, scan phase only;
- pacsaudit's CLI as a subprocess (``pacsaudit scan -i FILE -p PORT -q -o FILE``): wall clock
  including interpreter start-up, and its peak RSS (``wait4`` on that child);
- ``nmap -n -Pn -sT -p PORT --script +dicom-ping -iL FILE`` (association request only);
- a pynetdicom associate / C-ECHO / release ``ThreadPoolExecutor(64)``, on a subset;
- a memory run: the CLI over a /16 (65,536 targets) on a closed loopback port, peak RSS.

Every pacsaudit finding is checked: status ``dicom``, ``echo_status`` 0, ``released`` true.
Traffic goes only to 127.0.0.0/8; every child process has a deadline.

Usage::

    .venv/bin/python bench/bench_dicom_sweep.py            # 4,096 responders, 3 rounds
    .venv/bin/python bench/bench_dicom_sweep.py --quick    # 512 responders, 1 round
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import platform
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from pacsaudit.engine.options import EngineOptions, new_event_loop_factory
from pacsaudit.engine.runner import run_scan
from pacsaudit.model import DicomResult, Finding, Status, decode_finding, encode_finding
from pacsaudit.probes.dicom.probe import DicomProbe
from pacsaudit.targets.spec import Target

BENCH_DIR = Path(__file__).resolve().parent
PACSAUDIT = (sys.executable, "-c", "import sys; from pacsaudit.cli import main; main()")
"""The CLI as a child: the console script's two lines run by this interpreter, so the child
imports the same pacsaudit as this benchmark (PYTHONPATH included). The venv's console script
may belong to another checkout (an editable install), and ``-m`` would add runpy's imports."""
RESPONDER_FIRST = "127.10.0.1"
MEMORY_BLOCK = "127.1.0.0/16"
TIME = Path("/usr/bin/time")
CHILD_DEADLINE = 900.0
"""Seconds after which any child process of the benchmark is killed."""

QUIET_CORES = 0.25
"""Other processes using more CPU than this (in cores) make a measurement suspect."""

GOAL_VS_NMAP = 1.5
GOAL_VS_NMAP_EXPOSURE = 1.2
"""Issue 17's goal for the CLI at the default depth (exposure: counts and the storage check)."""
GOAL_VS_PYNETDICOM = 15.0
GOAL_RSS_MB = 300.0


# --- addresses and children ---------------------------------------------------------------


def responder_addresses(count: int, first: str = RESPONDER_FIRST) -> list[str]:
    """``count`` loopback addresses from ``first`` on, skipping ones ending in .0 and .255."""
    out: list[str] = []
    n = int(ipaddress.IPv4Address(first))
    while len(out) < count:
        addr = ipaddress.IPv4Address(n)
        if not addr.is_loopback:
            raise SystemExit("address block ran out of 127.0.0.0/8")
        if n & 0xFF not in (0, 255):
            out.append(str(addr))
        n += 1
    return out


@dataclass
class ChildRun:
    returncode: int
    wall: float
    cpu: float
    max_rss_mb: float


def run_child(cmd: Sequence[str], deadline: float = CHILD_DEADLINE) -> ChildRun:
    """Run one command to completion and report its wall time, CPU time and peak RSS.

    Peak RSS comes from ``/usr/bin/time``: Linux carries ``ru_maxrss`` across ``execve`` and
    Python starts children with ``vfork``, so ``wait4`` on a direct child of this (large)
    process reports at least this process's own RSS. ``/usr/bin/time`` is small and forks the
    command itself, so the figure it prints is the command's own.
    """
    if not TIME.exists():
        raise SystemExit(f"{TIME} is needed to measure peak RSS (Debian package 'time')")
    with tempfile.NamedTemporaryFile(prefix="rusage-", suffix=".txt") as report:
        full = [str(TIME), "-f", "%M %U %S", "-o", report.name, *cmd]
        started = time.perf_counter()
        proc = subprocess.Popen(
            full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        # A blocking wait, bounded by a timer that kills: Popen.wait(timeout=...) polls with
        # sleeps of up to 50 ms, which rounded every wall time up by as much. The timer kills
        # the whole group: /usr/bin/time and the command it runs.
        killer = threading.Timer(deadline, os.killpg, (proc.pid, signal.SIGKILL))
        killer.start()
        try:
            returncode = proc.wait()
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        if returncode == -signal.SIGKILL and wall >= deadline:
            raise SystemExit(f"{cmd[0]} ran longer than {deadline:.0f} s; killed")
        # A failing command adds a "Command exited with non-zero status" line first.
        rss_kb, user, system = Path(report.name).read_text().split("\n")[-2].split()
    return ChildRun(returncode, wall, float(user) + float(system), int(rss_kb) / 1024)


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (``/proc/stat``, steal excluded)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(max_wait: float, threshold: float = QUIET_CORES) -> float:
    """Wait (at most ``max_wait`` s) until other processes use under ``threshold`` cores.

    The machine may be shared; a measurement taken while something else runs is marked in the
    output rather than silently trusted. Returns the load seen in the last half second.
    """
    load = 0.0
    for _ in range(max(1, int(max_wait / 0.5))):
        before = machine_busy_seconds()
        time.sleep(0.5)
        load = (machine_busy_seconds() - before) / 0.5
        if load < threshold:
            break
    return load


class Responders:
    """The responder process: started, waited on until READY, stopped by closing its stdin."""

    def __init__(self, address_file: Path, count: int, port: int, lifetime: float) -> None:
        cmd = [
            sys.executable,
            str(BENCH_DIR / "responders.py"),
            "--addresses-file",
            str(address_file),
            "--port",
            str(port),
            "--lifetime",
            str(lifetime),
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = b""
        deadline = time.monotonic() + 60
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not ready:
                self.stop()
                raise SystemExit("responders did not become ready within 60 s")
            chunk = os.read(self.proc.stdout.fileno(), 256)
            if not chunk:
                self.stop()
                raise SystemExit("responders exited before becoming ready")
            line += chunk
        words = line.split()
        if words[:1] != [b"READY"] or int(words[1]) != count:
            self.stop()
            raise SystemExit(f"unexpected responder output: {line!r}")
        self._ticks = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(self) -> float:
        """User + system CPU the responder process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._ticks

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()  # the responder exits on EOF
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=10)


# --- checking findings --------------------------------------------------------------------


@dataclass
class Check:
    """Counts findings that did association + C-ECHO (status 0) + release, and the rest."""

    ok: int = 0
    bad: Counter[str] = field(default_factory=Counter)

    def add(self, finding: Finding) -> None:
        result = finding.result
        if finding.status is not Status.DICOM or not isinstance(result, DicomResult):
            kind = finding.error.kind if finding.error else ""
            self.bad[f"status {finding.status} {kind}".strip()] += 1
        elif result.echo_status != 0:
            self.bad[f"echo_status {result.echo_status}"] += 1
        elif not result.attempts or result.attempts[-1].released is not True:
            self.bad["not released"] += 1
        else:
            self.ok += 1

    def summary(self) -> str:
        if not self.bad:
            return f"{self.ok} ok"
        return f"{self.ok} ok, FAILED: " + ", ".join(f"{k}: {v}" for k, v in self.bad.items())


# --- the contenders -----------------------------------------------------------------------


@dataclass
class Measurement:
    name: str
    hosts: int
    seconds: float
    ok: int
    note: str = ""
    cpu: float | None = None
    responder_cpu: float | None = None
    max_rss_mb: float | None = None
    other_load: float | None = None
    """Cores used by processes other than the scanner and the responders during the run."""
    child: bool = False
    """``cpu`` was spent by a child process (else by this one)."""
    scan_phase: float | None = None
    """CLI only: first probe start to last finding, from the findings' own timestamps."""

    @property
    def rate(self) -> float:
        return self.hosts / self.seconds if self.seconds > 0 else 0.0


def pacsaudit_library(addresses: list[str], port: int, concurrency: int) -> Measurement:
    targets = [Target(ip, port) for ip in addresses]
    probe = DicomProbe()
    check = Check()
    written = 0

    def on_finding(finding: Finding) -> None:
        nonlocal written
        written += len(encode_finding(finding))  # what the JSONL writer would do
        check.add(finding)

    options = EngineOptions(concurrency=concurrency or 512, host_timeout=30.0)
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        stats = runner.run(run_scan(targets, probe, options, on_finding))
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    assert stats.done == len(targets)
    return Measurement(
        "pacsaudit library", len(targets), seconds, check.ok, check.summary(), cpu=cpu
    )


def cli_depth_args(depth: str, tmp: Path) -> list[str]:
    """``--depth`` (and the key file exposure depth needs) and ``--probe dicom``, when this
    pacsaudit has these options."""
    help_text = subprocess.run(
        [*PACSAUDIT, "scan", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    if "--depth" not in help_text:
        if depth != "discover":
            raise SystemExit("this pacsaudit has no --depth option")
        return []
    args = ["--depth", depth]
    if depth == "exposure":  # keep the scan's hashing key out of the user's home
        args += ["--key-file", str(tmp / "bench.key")]
    if "--probe" in help_text:  # the DICOM probe on every port, as nmap's "+dicom-ping"
        args += ["--probe", "dicom"]
    return args


def run_cli_scan(
    targets: Sequence[str], port: int, concurrency: int, out: Path, extra: Sequence[str]
) -> ChildRun:
    """``pacsaudit scan`` as a child process; every round writes the same output file."""
    cmd = [
        *PACSAUDIT,
        "scan",
        *targets,
        "-p",
        str(port),
        "-q",
        "-o",
        str(out),
        "--overwrite",
        *(["--concurrency", str(concurrency)] if concurrency else []),  # 0: the CLI's default
        *extra,
    ]
    run = run_child(cmd)
    if run.returncode != 0:
        raise SystemExit(f"pacsaudit CLI exited with {run.returncode}")
    return run


def pacsaudit_cli(
    address_file: Path, port: int, concurrency: int, out: Path, extra: Sequence[str] = ()
) -> Measurement:
    """The CLI as a user runs it: interpreter start-up, imports, scan, JSONL output."""
    run = run_cli_scan(["-i", str(address_file)], port, concurrency, out, extra)
    check = Check()
    starts: list[float] = []
    ends: list[float] = []
    hosts = 0
    with out.open("rb") as fh:
        for line in fh:
            finding = decode_finding(line)
            hosts += 1
            check.add(finding)
            end = datetime.fromisoformat(finding.timestamp).timestamp()
            ends.append(end)
            starts.append(end - (finding.duration_ms or 0.0) / 1000)
    return Measurement(
        "pacsaudit CLI (wall)",
        hosts,
        run.wall,
        check.ok,
        check.summary(),
        cpu=run.cpu,
        max_rss_mb=run.max_rss_mb,
        child=True,
        scan_phase=max(ends) - min(starts) if ends else None,
    )


def nmap_dicom_ping(address_file: Path, port: int, xml_out: Path, hosts: int) -> Measurement:
    cmd = [
        "nmap",
        "-n",
        "-Pn",
        "-sT",
        "-p",
        str(port),
        "--script",
        "+dicom-ping",
        "-iL",
        str(address_file),
        "-oX",
        str(xml_out),
    ]
    run = run_child(cmd)
    if run.returncode != 0:
        raise SystemExit(f"nmap exited with {run.returncode}")
    found = 0
    for host in ET.parse(xml_out).getroot().iter("host"):
        for script in host.iter("script"):
            if script.get("id") == "dicom-ping" and "DICOM Service Provider" in (
                script.get("output") or ""
            ):
                found += 1
    return Measurement(
        "nmap dicom-ping",
        hosts,
        run.wall,
        found,
        f"{found} reported as DICOM",
        cpu=run.cpu,
        max_rss_mb=run.max_rss_mb,
        child=True,
    )


def pynetdicom_pool(addresses: list[str], port: int, workers: int) -> Measurement:
    import logging

    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(Verification)
    ae.acse_timeout = 10
    ae.dimse_timeout = 10
    ae.network_timeout = 10

    def one(ip: str) -> str:
        assoc = ae.associate(ip, port)
        if not assoc.is_established:
            return "not established"
        status = assoc.send_c_echo()
        assoc.release()
        if not status or status.Status != 0:
            return "echo failed"
        return "ok" if assoc.is_released else "not released"

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = Counter(pool.map(one, addresses))
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    note = ", ".join(f"{k}: {v}" for k, v in outcomes.items())
    name = f"pynetdicom pool({workers})"
    return Measurement(name, len(addresses), seconds, outcomes["ok"], note, cpu=cpu)


def memory_run(
    block: str, port: int, concurrency: int, out: Path, extra: Sequence[str] = ()
) -> Measurement:
    net = ipaddress.IPv4Network(block)
    for probe_ip in (net[1], net[-2]):
        assert_closed(str(probe_ip), port)
    run = run_cli_scan([block], port, concurrency, out, extra)
    statuses: Counter[str] = Counter()
    with out.open("rb") as fh:
        for line in fh:
            statuses[decode_finding(line).status] += 1
    note = ", ".join(f"{k}: {v}" for k, v in statuses.items())
    return Measurement(
        f"pacsaudit CLI, {block} closed port {port}",
        net.num_addresses,
        run.wall,
        statuses[Status.CLOSED],
        note,
        cpu=run.cpu,
        max_rss_mb=run.max_rss_mb,
        child=True,
    )


def assert_closed(ip: str, port: int) -> None:
    with socket.socket() as s:
        s.settimeout(2)
        err = s.connect_ex((ip, port))
    if err == 0:
        raise SystemExit(f"{ip}:{port} accepts connections; pick a closed port (--closed-port)")


# --- reporting ----------------------------------------------------------------------------


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nmap_version = subprocess.run(
        ["nmap", "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.split("\n", 1)[0]
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("uvloop", "pynetdicom", "pydicom")
    )
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} x {cpu}; "
        f"Linux {platform.release()}; Python {platform.python_version()}; {versions}; "
        f"{nmap_version}; open-file limit {soft}; load average {os.getloadavg()[0]:.2f}"
    )


def pacsaudit_source() -> str:
    """Where the measured pacsaudit comes from, with its git commit when it has one."""
    import pacsaudit

    where = Path(pacsaudit.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return f"{where} ({commit or 'not a git checkout'})"


def show(m: Measurement) -> None:
    parts = [f"  {m.name:<34} {m.hosts:>6} hosts {m.seconds:7.3f} s {m.rate:9,.0f} hosts/s"]
    if m.cpu is not None:
        parts.append(f"cpu {m.cpu / m.hosts * 1e6:5.0f} µs/host")
    if m.responder_cpu is not None:
        parts.append(f"responders {m.responder_cpu / m.seconds:4.0%} cpu")
    if m.max_rss_mb is not None:
        parts.append(f"peak RSS {m.max_rss_mb:.1f} MB")
    if m.other_load is not None and m.other_load >= QUIET_CORES:
        parts.append(f"[other processes used {m.other_load:.1f} cores: suspect]")
    print("  ".join(parts))
    if m.scan_phase:
        print(
            f"  {'':<34} scan phase (finding timestamps) {m.scan_phase:.3f} s = "
            f"{m.hosts / m.scan_phase:,.0f} hosts/s"
        )
    if m.note:
        print(f"  {'':<34} {m.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=4096, help="responders to start and scan")
    parser.add_argument("--quick", action="store_true", help="512 hosts, one round, small runs")
    parser.add_argument("--port", type=int, default=11113, help="the responders' port")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="pacsaudit --concurrency (0, the default: the CLI runs with its own defaults, as "
        "a user would; the library then uses 512)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of library/CLI/nmap runs")
    parser.add_argument("--pynetdicom-hosts", type=int, default=1024)
    parser.add_argument("--pynetdicom-workers", type=int, default=64)
    parser.add_argument("--memory-block", default=MEMORY_BLOCK, help="CIDR for the memory run")
    parser.add_argument("--closed-port", type=int, default=9, help="a port nothing listens on")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="seconds to wait before each measurement for other processes to go quiet",
    )
    parser.add_argument(
        "--cli-depth",
        choices=("discover", "exposure"),
        default="discover",
        help="the CLI's --depth; discover = association + C-ECHO + release, like the library "
        "run; exposure adds C-FIND counts and the C-MOVE check (the responders hold no data)",
    )
    parser.add_argument(
        "--cli-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for every pacsaudit CLI run (repeatable), e.g. --cli-arg=--no-state",
    )
    parser.add_argument("--skip-nmap", action="store_true")
    parser.add_argument("--skip-pynetdicom", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.hosts = min(args.hosts, 512)
        args.rounds = 1
        args.pynetdicom_hosts = min(args.pynetdicom_hosts, 256)
        args.memory_block = "127.1.0.0/20"

    print(f"machine: {machine_description()}")
    print(f"pacsaudit: {pacsaudit_source()}")
    addresses = responder_addresses(args.hosts)
    with tempfile.TemporaryDirectory(prefix="pacsaudit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        address_file = tmp / "hosts.txt"
        address_file.write_text("\n".join(addresses) + "\n", encoding="ascii")
        cli_args = cli_depth_args(args.cli_depth, tmp) + args.cli_arg
        t0 = time.perf_counter()
        responders = Responders(address_file, len(addresses), args.port, CHILD_DEADLINE * 2)
        print(f"pacsaudit CLI arguments added: {' '.join(cli_args) or '(none)'}")
        print(
            f"responders: {len(addresses)} on {addresses[0]}..{addresses[-1]} port {args.port}, "
            f"ready in {time.perf_counter() - t0:.1f} s (pid {responders.proc.pid})"
        )
        try:
            results = sweep(args, addresses, address_file, tmp, responders, cli_args)
        finally:
            responders.stop()
        memory = None
        memory_failed = False
        if not args.skip_memory:
            print(f"memory run, {args.memory_block} on closed port {args.closed_port}:")
            try:
                memory = measure(
                    None,
                    args.quiet_wait,
                    memory_run,
                    args.memory_block,
                    args.closed_port,
                    args.concurrency,
                    tmp / "memory.jsonl",
                    cli_args,
                )
            except SystemExit as exc:  # keep the sweep's results: print them anyway
                print(f"  memory run FAILED: {exc}")
                memory_failed = True
    return max(report(args, results, memory), int(memory_failed))


def measure(
    responders: Responders | None,
    quiet_wait: float,
    fn: Callable[..., Measurement],
    *fn_args: object,
) -> Measurement:
    """Run one measurement when the machine is quiet; note how busy everything else was."""
    wait_for_quiet(quiet_wait)
    busy0 = machine_busy_seconds()
    own0 = time.process_time()
    responder0 = responders.cpu_seconds() if responders else 0.0
    m = fn(*fn_args)
    busy = machine_busy_seconds() - busy0
    own = time.process_time() - own0
    if responders is not None:
        m.responder_cpu = responders.cpu_seconds() - responder0
        own += m.responder_cpu
    if m.child and m.cpu is not None:
        own += m.cpu
    m.other_load = max(0.0, busy - own) / m.seconds if m.seconds > 0 else 0.0
    show(m)
    return m


def sweep(
    args: argparse.Namespace,
    addresses: list[str],
    address_file: Path,
    tmp: Path,
    responders: Responders,
    cli_args: list[str],
) -> dict[str, list[Measurement]]:
    results: dict[str, list[Measurement]] = {key: [] for key in LABELS}

    def timed(key: str, fn: Callable[..., Measurement], *fn_args: object) -> None:
        results[key].append(measure(responders, args.quiet_wait, fn, *fn_args))

    out = tmp / "findings.jsonl"
    subset = addresses[: args.pynetdicom_hosts]
    if not args.skip_pynetdicom and len(subset) < len(addresses):
        print(f"(the pynetdicom pool runs on the first {len(subset)} hosts only: it is slow)")
    pacsaudit_library(addresses[:256], args.port, args.concurrency)  # warm-up, not counted
    for n in range(1, args.rounds + 1):
        print(f"round {n}/{args.rounds}:")
        timed("lib", pacsaudit_library, addresses, args.port, args.concurrency)
        timed("cli", pacsaudit_cli, address_file, args.port, args.concurrency, out, cli_args)
        if not args.skip_nmap:
            timed("nmap", nmap_dicom_ping, address_file, args.port, tmp / "n.xml", len(addresses))
        if not args.skip_pynetdicom:
            timed("pynetdicom", pynetdicom_pool, subset, args.port, args.pynetdicom_workers)
    return results


LABELS = {
    "lib": "pacsaudit library (scan phase)",
    "cli": "pacsaudit CLI (wall clock)",
    "nmap": "nmap dicom-ping (wall clock)",
    "pynetdicom": "pynetdicom pool (subset)",
}


def clean_median(runs: list[Measurement], rate: Callable[[Measurement], float]) -> float:
    """Median over runs no other process disturbed; over all runs when none was quiet."""
    quiet = [r for r in runs if (r.other_load or 0.0) < QUIET_CORES] or runs
    return statistics.median(rate(r) for r in quiet)


def report(
    args: argparse.Namespace, results: dict[str, list[Measurement]], memory: Measurement | None
) -> int:
    print()
    print(f"summary ({args.hosts} hosts; median of the undisturbed runs of {args.rounds} rounds):")
    rates = {key: clean_median(runs, lambda m: m.rate) for key, runs in results.items() if runs}
    if results["cli"]:
        rates["cli-scan"] = clean_median(
            results["cli"], lambda m: m.hosts / m.scan_phase if m.scan_phase else 0.0
        )
    labels = dict(LABELS, **{"cli-scan": "pacsaudit CLI (scan phase)"})
    if results["pynetdicom"]:
        m = results["pynetdicom"][0]
        labels["pynetdicom"] = f"pynetdicom pool({args.pynetdicom_workers}), {m.hosts} hosts"
    for key, rate in rates.items():
        print(f"  {labels[key]:<44} {rate:9,.0f} hosts/s")
    for key in ("lib", "cli", "cli-scan"):
        vs_nmap = GOAL_VS_NMAP
        if key != "lib" and args.cli_depth == "exposure":
            vs_nmap = GOAL_VS_NMAP_EXPOSURE
        for peer, goal in (("nmap", vs_nmap), ("pynetdicom", GOAL_VS_PYNETDICOM)):
            if key in rates and rates.get(peer):
                ratio = rates[key] / rates[peer]
                verdict = "meets" if ratio >= goal else "BELOW"
                print(
                    f"  ratio {labels[key]:<31} / {peer:<10} {ratio:6.2f}x  "
                    f"({verdict} the {goal:g}x goal)"
                )
    if results["cli"]:
        rss = max(m.max_rss_mb or 0.0 for m in results["cli"])
        print(f"  pacsaudit CLI peak RSS with {args.hosts} DICOM hosts: {rss:.1f} MB")
    if memory is not None:
        rss = memory.max_rss_mb or 0.0
        verdict = "meets" if rss < GOAL_RSS_MB else "ABOVE"
        print(
            f"  pacsaudit CLI peak RSS with {memory.hosts} closed targets: {rss:.1f} MB "
            f"({verdict} the < {GOAL_RSS_MB:.0f} MB goal)"
        )
    suspect = [m for runs in results.values() for m in runs if (m.other_load or 0) >= QUIET_CORES]
    if suspect:
        print(f"  {len(suspect)} run(s) disturbed by other processes; see the [suspect] marks")
    failed = [m for key in ("lib", "cli") for m in results[key] if m.ok != m.hosts]
    if memory is not None and memory.ok != memory.hosts:
        failed.append(memory)
    for m in failed:
        print(f"  CHECK FAILED in {m.name}: {m.note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
