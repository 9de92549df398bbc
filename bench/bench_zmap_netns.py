"""Two-stage scan end to end: ZMap (SYN scan) feeding pacsaudit, inside two network namespaces.

Why: the README's two-stage pipeline (ZMap finds open ports at line rate, pacsaudit speaks DICOM
to those only) was never run for real, because a SYN scanner cannot scan loopback and sends raw
frames on a real interface. Here it runs in a sealed lab, so nothing can leave the machine:

- ``pa-scan`` and ``pa-target`` are namespaces made by this script, joined by one veth pair
  created directly inside them (no end in the host namespace, no default route anywhere);
- ``pa-target`` owns a block of 10.77.0.0/16 and runs ``responders.py``'s DICOM responder on
  one address in ``--every`` of the block; the others are silent (blackholed, like most of the
  Internet) or, with ``--refused``, answer with a RST;
- zmap, pacsaudit and nmap run only in ``pa-scan``, through a guard (``--exec-in-ns``) that
  execs them only after checking, in the process itself, that it is in the namespace this run
  created, whose interfaces are exactly ``lo`` and the veth and which has no default route.

Printed: zmap's wall time and send rate; pacsaudit on zmap's file (stage two); pacsaudit alone
on the whole block; optionally ``nmap -sT``; ratios; and whether each found set equals the set
of responders started. Everything is torn down in ``finally`` (processes, then namespaces).
With ``--masscan``, masscan is timed as stage one too (at ``--masscan-rate``, by default
zmap's), and stage two runs on its ``-oL`` file. Root only; needs ``zmap`` and ``masscan``
(Debian packages; ``make test`` installs both) and ``iproute2``. Usage::

    sudo timeout 600 .venv/bin/python bench/bench_zmap_netns.py [--block 10.77.16.0/20]
        [--every 8] [--rate 100000] [--refused] [--nmap] [--masscan] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Network
from pathlib import Path
from typing import NoReturn

BENCH = Path(__file__).resolve().parent
PACSAUDIT = BENCH.parent / ".venv" / "bin" / "pacsaudit"
VENV_PYTHON = BENCH.parent / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
NS_SCAN, NS_TARGET = "pa-scan", "pa-target"
VETH_SCAN, VETH_TARGET = "pa-veth-s", "pa-veth-t"
SCAN_IP, TARGET_IP, LINK_NET = "10.77.0.1", "10.77.0.2", "10.77.0.0/24"
LAB = IPv4Network("10.77.0.0/16")
PORT = 104
Timed = tuple[float, subprocess.CompletedProcess[str]]


def own_netns() -> int:
    """This process's network namespace (inode); /proc/1 may be unreadable in a sandbox."""
    return os.stat("/proc/self/ns/net").st_ino


def fail(message: str) -> NoReturn:
    raise SystemExit(f"bench_zmap_netns: {message}")


def run(cmd: list[str], limit: float = 30, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One command under ``timeout``; its output captured."""
    done = subprocess.run(["timeout", str(limit), *cmd], capture_output=True, text=True)
    if check and done.returncode != 0:
        fail(f"{' '.join(cmd)[:200]} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done


def exec_in_namespace(inode: int, host: int, command: list[str]) -> NoReturn:
    """The guard (runs under ``ip netns exec pa-scan``): exec ``command`` only inside the
    namespace this run created, sealed: interfaces lo and the veth only, no default route."""
    mine = own_netns()
    if mine != inode or mine == host:
        fail(f"refusing {command[0]}: network namespace {mine} is not {NS_SCAN} ({inode})")
    links = sorted(name for _, name in socket.if_nameindex())
    if links != sorted(["lo", VETH_SCAN]):
        fail(f"refusing {command[0]}: unexpected interfaces {links}")
    routes = Path("/proc/self/net/route").read_text().splitlines()[1:]
    if any(line.split()[1] == "00000000" for line in routes):
        fail(f"refusing {command[0]}: {NS_SCAN} has a default route")
    os.execvp(command[0], command)


def serve(address_file: Path, lifetime: float, host: int) -> None:
    """The responders (runs under ``ip netns exec pa-target``): ``responders.py``'s DICOM
    acceptor on each listed lab address; it stops on stdin EOF, SIGTERM or ``lifetime``."""
    if own_netns() == host:
        fail("responders must run inside pa-target, not the host namespace")
    addresses = address_file.read_text().split()
    if not all(ipaddress.ip_address(a) in LAB for a in addresses):
        fail(f"responders listen only inside {LAB}")
    sys.path.insert(0, str(BENCH))
    import responders  # the benchmark responders; their own CLI accepts loopback only

    responders.raise_fd_limit(len(addresses) + 1024)
    asyncio.run(responders.serve(addresses, PORT, lifetime))


def build_lab(block: IPv4Network, listeners: list[str], refused: bool, tmp: Path) -> int:
    """Both namespaces, the veth pair, routes; returns pa-scan's namespace inode."""
    for ns in (NS_SCAN, NS_TARGET):
        run(["ip", "netns", "add", ns])
    run(f"ip link add {VETH_SCAN} netns {NS_SCAN} type veth "
        f"peer name {VETH_TARGET} netns {NS_TARGET}".split())  # fmt: skip
    if {VETH_SCAN, VETH_TARGET} & {name for _, name in socket.if_nameindex()}:
        fail("a veth end appeared in the host namespace")
    for ns, dev, ip in ((NS_SCAN, VETH_SCAN, SCAN_IP), (NS_TARGET, VETH_TARGET, TARGET_IP)):
        lines = ["link set lo up", f"addr add {ip}/24 dev {dev}", f"link set {dev} up"]
        if ns == NS_SCAN:
            lines.append(f"route add {block} via {TARGET_IP}")  # the only route off the link
        elif refused:  # the whole block is local: addresses without a listener answer RST
            lines.append(f"route add local {block} dev lo table local")
        else:  # only the listeners' addresses are local; the rest is silently dropped
            lines += [f"route add local {a}/32 dev lo table local" for a in listeners]
            lines.append(f"route add blackhole {block}")
        (tmp / f"{ns}.batch").write_text("\n".join(lines) + "\n")
        run(["ip", "-n", ns, "-batch", str(tmp / f"{ns}.batch")])
    inode = os.stat(f"/run/netns/{NS_SCAN}").st_ino
    if inode == own_netns():
        fail("pa-scan is the host namespace")
    return inode


def start_responders(listeners: list[str], tmp: Path, lifetime: float) -> subprocess.Popen[str]:
    """responders.py's acceptor in pa-target (a separate process); waits for READY."""
    (tmp / "listeners.txt").write_text("\n".join(listeners) + "\n")
    cmd = ["timeout", str(lifetime + 15), "ip", "netns", "exec", NS_TARGET, PYTHON, __file__,
           "--serve", str(tmp / "listeners.txt"), "--lifetime", str(lifetime),
           "--host-netns", str(own_netns())]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith(f"READY {len(listeners)} "):
        stop(proc)
        fail(f"responders not ready within 60 s ({line.strip()!r})")
    return proc


def in_scan_ns(inode: int, command: list[str], limit: float, check: bool = True) -> Timed:
    """Run a scanner in pa-scan through the guard; (wall seconds, its result)."""
    guard = ["ip", "netns", "exec", NS_SCAN, PYTHON, __file__, "--exec-in-ns", str(inode),
             str(own_netns()), "--", *command]  # fmt: skip
    start = time.perf_counter()
    done = run(guard, limit, check)
    return time.perf_counter() - start, done


TICK = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(6000):  # at most 300 s; stopped sooner
    s.sendto(b"tick", (sys.argv[1], 9))
    time.sleep(0.05)
"""


def start_in_scan_ns(inode: int, command: list[str], limit: float) -> subprocess.Popen[str]:
    """A background process in pa-scan through the guard, bounded by ``limit``."""
    guard = ["timeout", str(limit), "ip", "netns", "exec", NS_SCAN, PYTHON, __file__,
             "--exec-in-ns", str(inode), str(own_netns()), "--", *command]  # fmt: skip
    return subprocess.Popen(guard, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)


def dicom_hosts(path: Path) -> set[str]:
    """Addresses with a DICOM finding (status ``dicom``) in a JSONL output."""
    with path.open() as stream:
        records = [json.loads(line) for line in stream]
    return {r["ip"] for r in records if r.get("status") == "dicom"}


def bench(args: argparse.Namespace, tmp: Path) -> bool:
    block = IPv4Network(args.block)
    hosts = [str(h) for h in block.hosts() if h.packed[-1] not in (0, 255)]
    listeners = sorted(random.Random(args.seed).sample(hosts, len(hosts) // args.every))
    inode = build_lab(block, listeners, args.refused, tmp)
    link = json.loads(run(["ip", "-n", NS_TARGET, "-j", "link", "show", VETH_TARGET]).stdout)
    responders = start_responders(listeners, tmp, args.lifetime)
    try:
        return measure(args, tmp, block, inode, link[0]["address"], set(listeners))
    finally:
        stop(responders)


def measure(args: argparse.Namespace, tmp: Path, block: IPv4Network, inode: int, mac: str,
            started: set[str]) -> bool:  # fmt: skip
    mode = "RST" if args.refused else "silence (blackholed)"
    print(f"lab: {block} ({block.num_addresses:,} addresses), {len(started):,} DICOM "
          f"responders on port {PORT}, the other addresses answer with {mode}")  # fmt: skip
    (tmp / "allow.txt").write_text(f"{block}\n")
    (tmp / "block.txt").write_text(f"{LINK_NET}  # the lab's own link: never a target\n")
    csv = tmp / "zmap.csv"
    zmap = [*(f"zmap -i {VETH_SCAN} -S {SCAN_IP} -G {mac} -M tcp_synscan -p {PORT} "
              f"-w {tmp}/allow.txt -b {tmp}/block.txt -r {args.rate} -n {block.num_addresses} "
              f"-t 60 -c {args.cooldown} -T 1 -O csv -f saddr,sport,success,repeat,"
              f"classification -o {csv} --output-filter").split(), "repeat = 0"]  # fmt: skip
    s0, done = in_scan_ns(inode, zmap, 120)
    sent = re.findall(r"send: \d+ done \(([\d.]+) ?([KMG]?)p/s avg\)", done.stderr)
    rows = [row.split(",") for row in csv.read_text().splitlines()[1:]]
    zmap_open = {row[0] for row in rows if row[2] == "1"}
    rate = f"send {sent[-1][0]} {sent[-1][1]}p/s avg, " if sent else ""
    print(f"zmap -r {args.rate}:  {s0:6.2f} s wall ({rate}{block.num_addresses / s0:,.0f} "
          f"targets/s wall incl. {args.cooldown} s cooldown); {len(rows):,} rows kept, "
          f"{len(zmap_open):,} SYN-ACK")  # fmt: skip
    scan = f"{PACSAUDIT} scan --depth discover -q --no-state -p {PORT}".split()
    _, refused = in_scan_ns(inode, [*scan, "-i", str(csv), "--input-format", "zmap",
                                    "-o", str(tmp / "none.jsonl")], 60, check=False)  # fmt: skip
    why = refused.stderr.strip().splitlines()[-1][:100] if refused.stderr.strip() else ""
    print(f"stage two with no target named: exit {refused.returncode} ({why})")
    stage2, alone = tmp / "stage2.jsonl", tmp / "alone.jsonl"
    s2, _ = in_scan_ns(inode, [*scan, str(block), "-i", str(csv), "--input-format", "zmap",
                               "-o", str(stage2)], 300)  # fmt: skip
    s1, _ = in_scan_ns(inode, [*scan, str(block), "-o", str(alone)], 600)
    tuned = tmp / "tuned.jsonl"
    wide = ["--concurrency", "4096", "--connect-timeout", "1"]
    s1t, _ = in_scan_ns(inode, [*scan, *wide, str(block), "-o", str(tuned)], 600)
    old_defaults = ["--concurrency", "512", "--connect-timeout", "3"]  # before adaptive timing
    s1o, _ = in_scan_ns(inode, [*scan, *old_defaults, str(block), "-o", str(tmp / "old.jsonl")],
                        600)  # fmt: skip
    found2, found1 = dicom_hosts(stage2), dicom_hosts(alone)
    found_tuned = dicom_hosts(tuned)
    print(f"pacsaudit stage two ({block} -i zmap.csv): {s2:6.2f} s, {len(found2):,} DICOM")
    print(f"zmap + stage two:                {s0 + s2:6.2f} s")
    print(f"pacsaudit alone, defaults ({block}):  {s1:6.2f} s, {len(found1):,} DICOM; "
          f"alone / two-stage = {s1 / (s0 + s2):.2f}x")  # fmt: skip
    print(f"pacsaudit alone, {' '.join(wide)}: {s1t:6.2f} s, {len(found_tuned):,} DICOM")
    print(f"pacsaudit alone, {' '.join(old_defaults)} (the old defaults): {s1o:6.2f} s")
    if args.nmap:
        gnmap = tmp / "nmap.gnmap"
        cmd = f"nmap -n -Pn -sT -T4 -p {PORT} --open -oG {gnmap} {block}".split()
        s3, _ = in_scan_ns(inode, cmd, 600)
        nmap_open = set(re.findall(rf"Host: (\S+) .*?{PORT}/open", gnmap.read_text()))
        print(f"nmap -sT -T4 (ports only):       {s3:6.2f} s, {len(nmap_open):,} open, "
              f"== started: {nmap_open == started}")  # fmt: skip
        ratio = s3 / s1
        verdict = "meets" if ratio >= 1.5 and found1 == started else "BELOW"
        print(
            f"pacsaudit defaults vs nmap -sT -T4: {ratio:.2f}x ({verdict} the 1.5x goal, "
            f"every responder found: {found1 == started}); old defaults {s3 / s1o:.2f}x"
        )
    same = [zmap_open == started, found2 == started, found1 == started, found_tuned == started]
    print(f"found == started ({len(started):,}): zmap {same[0]}, stage two {same[1]}, "
          f"pacsaudit alone {same[2]}, tuned {same[3]}")  # fmt: skip
    if args.masscan:
        same.append(measure_masscan(args, tmp, block, inode, mac, started, s1))
    return all(same)


def measure_masscan(args: argparse.Namespace, tmp: Path, block: IPv4Network, inode: int,
                    mac: str, started: set[str], alone: float) -> bool:  # fmt: skip
    """masscan as the first stage, at zmap's rate, with pacsaudit's second stage on its
    ``-oL`` file. A ticker sends a packet on the link every 50 ms meanwhile: masscan's receive
    thread waits in libpcap for a frame before it sees the scan is over (on a quiet link it
    ended after 2.9 s or after 49-60 s)."""
    listing = tmp / "masscan.txt"
    rate = args.masscan_rate or args.rate
    masscan = (f"masscan {block} -p{PORT} --adapter {VETH_SCAN} --adapter-ip {SCAN_IP} "
                 f"--router-mac {mac} --rate {rate} --wait {args.cooldown} "
                 f"--excludefile {tmp}/block.txt -oL {listing}").split()  # fmt: skip
    ticker = start_in_scan_ns(inode, [PYTHON, "-c", TICK, TARGET_IP], 300)
    try:
        s0, _ = in_scan_ns(inode, masscan, 120)
    finally:
        stop(ticker)
    opened = {line.split()[3] for line in listing.read_text().splitlines()
              if line.startswith("open ")}  # fmt: skip
    print(f"masscan --rate {rate}: {s0:6.2f} s wall ({block.num_addresses / s0:,.0f} "
          f"targets/s wall incl. --wait {args.cooldown}); {len(opened):,} open")  # fmt: skip
    stage2 = tmp / "masscan-stage2.jsonl"
    scan = f"{PACSAUDIT} scan --depth discover -q --no-state -p {PORT}".split()
    s2, _ = in_scan_ns(inode, [*scan, str(block), "-i", str(listing), "--input-format",
                               "masscan", "-o", str(stage2)], 300)  # fmt: skip
    found = dicom_hosts(stage2)
    print(f"pacsaudit stage two ({block} -i masscan.txt): {s2:6.2f} s, {len(found):,} DICOM")
    print(f"masscan + stage two:             {s0 + s2:6.2f} s; pacsaudit alone / two-stage = "
          f"{alone / (s0 + s2):.2f}x")  # fmt: skip
    print(f"found == started ({len(started):,}): masscan {opened == started}, "
          f"stage two {found == started}")  # fmt: skip
    return opened == started and found == started


def stop(proc: subprocess.Popen[str]) -> None:
    """End a child started here: close its stdin, SIGTERM, then SIGKILL, each bounded."""
    if proc.stdin is not None:
        proc.stdin.close()
    for ending in (None, proc.terminate, proc.kill):
        if ending is not None:
            ending()
        try:
            proc.wait(5)
            return
        except subprocess.TimeoutExpired:
            continue


def teardown() -> None:
    """Kill what still runs in our namespaces (this run's children only), delete them."""
    for ns in (NS_SCAN, NS_TARGET):
        if not Path(f"/run/netns/{ns}").exists():
            continue
        for pid in run(["ip", "netns", "pids", ns], 10, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        run(["ip", "netns", "del", ns], 10, check=False)
    left = [ns for ns in (NS_SCAN, NS_TARGET) if Path(f"/run/netns/{ns}").exists()]
    print("teardown: " + (f"LEFT {left}" if left else "namespaces deleted"), file=sys.stderr)


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["--exec-in-ns"] and len(argv) > 4 and argv[3] == "--":
        exec_in_namespace(int(argv[1]), int(argv[2]), argv[4:])  # the guard, in pa-scan
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--block", default="10.77.16.0/20", help="target block inside 10.77/16")
    parser.add_argument("--every", type=int, default=8, help="one responder per N addresses")
    parser.add_argument("--rate", type=int, default=100_000, help="zmap packets/s")
    parser.add_argument("--cooldown", type=int, default=1, help="zmap --cooldown-time (s)")
    parser.add_argument("--refused", action="store_true", help="closed addresses send RST")
    parser.add_argument("--nmap", action="store_true", help="also time nmap -sT")
    parser.add_argument("--masscan", action="store_true", help="also masscan as stage one")
    parser.add_argument("--masscan-rate", type=int, default=0, help="masscan's (default --rate)")
    parser.add_argument("--seed", type=int, default=1, help="which addresses get a responder")
    parser.add_argument("--lifetime", type=float, default=900.0, help="responders' deadline")
    parser.add_argument("--keep", type=Path, help="keep the work files in this directory")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--host-netns", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        return serve(args.serve, args.lifetime, args.host_netns)
    if os.geteuid() != 0:
        fail("needs root (network namespaces, raw sockets)")
    block = IPv4Network(args.block)
    if not block.subnet_of(LAB) or block.overlaps(IPv4Network(LINK_NET)):
        fail(f"--block must lie inside {LAB} and outside {LINK_NET}")
    if not 2 <= args.every <= block.num_addresses // 4 or block.num_addresses > 65536:
        fail("--every must be 2 to a quarter of the block, --block at most a /16")
    for ns in (NS_SCAN, NS_TARGET):
        if Path(f"/run/netns/{ns}").exists():
            fail(f"namespace {ns} exists already: not this run's, remove it (ip netns del {ns})")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="pa-zmap-"))
    if " " in str(tmp):
        fail(f"temporary directory {tmp} has a space")
    ok = False
    try:
        ok = bench(args, tmp)
    finally:
        teardown()
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
        for path in tmp.iterdir():
            if args.keep is not None:
                shutil.copy2(path, args.keep / path.name)
            path.unlink()
        tmp.rmdir()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
