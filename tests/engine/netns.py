"""A sealed two-namespace network for end-to-end tests (root; iproute2, nft, /dev/net/tun).

``scan`` and ``target`` namespaces made for one test, joined by a pair of TUN devices, one in
each, with a forwarding process between them (no interface in the host namespace, no default
route anywhere). The forwarder is the link: it delays each packet (answers from chosen
addresses more), because this machine's kernel has no ``netem`` qdisc; ``nft`` in the target
namespace drops chosen packets. The target namespace owns a block of 10.78.0.0/16:
*listeners* (addresses with a listening socket that completes the handshake and never
accepts), *refusers* (local addresses without a listener: RST) and the rest blackholed
(silence, as most of an address space). Commands run in the scan namespace only after checking
that it is the sealed one. Everything is deleted on exit, processes first.
:func:`sealed_veth_lab` joins the same namespaces by a veth pair instead, for the SYN scanners.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, ip_address
from pathlib import Path

import pytest

LAB = IPv4Network("10.78.0.0/16")
SCAN_IP, TARGET_IP = "10.78.0.1", "10.78.0.2"
PORT = 104

_LISTEN = """
import socket, sys
socks = []
for address in sys.argv[2:]:
    s = socket.socket()
    s.bind((address, int(sys.argv[1])))
    s.listen(64)  # the kernel answers SYNs; nothing is ever accepted or sent
    socks.append(s)
print("READY", flush=True)
sys.stdin.read()
"""


_FORWARD = r"""
import ctypes, fcntl, heapq, os, select, struct, sys, time
TUNSETIFF, IFF_TUN, IFF_NO_PI, CLONE_NEWNET = 0x400454CA, 0x0001, 0x1000, 0x40000000
scan_dev, target_dev, target_ns, fast, slow, lifetime = sys.argv[1:7]
slow_sources = {bytes(map(int, a.split("."))) for a in sys.argv[7:]}
fast, slow, lifetime = float(fast), float(slow), float(lifetime)

def tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd

scan_fd = tun(scan_dev)  # in the scan namespace, where this process starts
ns = os.open(f"/run/netns/{target_ns}", os.O_RDONLY)
if ctypes.CDLL("libc.so.6", use_errno=True).setns(ns, CLONE_NEWNET) != 0:
    sys.exit("setns failed")
target_fd = tun(target_dev)
print("READY", flush=True)
other = {scan_fd: target_fd, target_fd: scan_fd}
queue, seq, end = [], 0, time.monotonic() + lifetime
poll = select.poll()
for fd in (scan_fd, target_fd, 0):
    poll.register(fd, select.POLLIN)
while time.monotonic() < end:  # ends: lifetime, or stdin closed
    wait = max(0, min(1.0, queue[0][0] - time.monotonic())) if queue else 1.0
    for fd, _ in poll.poll(wait * 1000):
        if fd == 0:
            sys.exit(0)
        for _ in range(256):
            try:
                packet = os.read(fd, 65536)
            except BlockingIOError:
                break
            delay = slow if fd == target_fd and packet[12:16] in slow_sources else fast
            seq += 1
            heapq.heappush(queue, (time.monotonic() + delay, seq, other[fd], packet))
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, _, fd, packet = heapq.heappop(queue)
        try:
            os.write(fd, packet)
        except OSError:
            pass  # a full queue drops the packet, as a link would
"""


def needs_netns() -> None:
    """Skip only when the capability is truly missing: not root, or no netns support."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: `make test` installs iproute2 and nftables")
    if not Path("/dev/net/tun").exists():
        pytest.skip("no /dev/net/tun: the lab's link is a pair of TUN devices")


def _run(cmd: Sequence[str], limit: float = 30) -> str:
    done = subprocess.run(["timeout", str(limit), *cmd], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)[:200]} exited {done.returncode}: {done.stderr[-400:]}")
    return done.stdout


@dataclass
class Lab:
    name: str
    block: IPv4Network
    listeners: list[str]
    refusers: list[str]
    delay: float = 0.002
    """Seconds every packet spends on the link, each way."""
    slow_delay: float = 0.002
    """Seconds the answers of ``slow`` addresses spend on the link instead."""
    slow: list[str] = field(default_factory=list)
    scan_ns: str = field(init=False)
    target_ns: str = field(init=False)
    tun_scan: str = field(init=False)
    tun_target: str = field(init=False)

    def __post_init__(self) -> None:
        self.scan_ns, self.target_ns = f"{self.name}-s", f"{self.name}-t"
        self.tun_scan, self.tun_target = f"{self.name}s", f"{self.name}t"

    def target(self, *cmd: str) -> str:
        return _run(["ip", "netns", "exec", self.target_ns, *cmd])

    def check_sealed(self) -> None:
        """The scan namespace holds lo and our veth only, and no default route."""
        links = json.loads(_run(["ip", "-n", self.scan_ns, "-j", "link", "show"]))
        names = sorted(link["ifname"] for link in links)
        if names != sorted(["lo", self.tun_scan]):
            raise RuntimeError(f"{self.scan_ns} has unexpected interfaces {names}")
        if _run(["ip", "-n", self.scan_ns, "route", "show", "default"]).strip():
            raise RuntimeError(f"{self.scan_ns} has a default route")

    def scan(self, cmd: Sequence[str], limit: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` in the sealed scan namespace (checked first), bounded by ``limit``."""
        self.check_sealed()
        full = ["timeout", str(limit), "ip", "netns", "exec", self.scan_ns, *cmd]
        return subprocess.run(full, capture_output=True, text=True, check=False)

    def drop_first_syn_to_listeners(self) -> None:
        """nft in the target namespace: the first SYN to each listener is dropped, as a lossy
        link would; the next one (a retry, or the kernel's resend) passes."""
        elements = ", ".join(self.listeners)
        rules = f"""table inet pa_loss {{
  set listeners {{ type ipv4_addr; elements = {{ {elements} }} }}
  set seen {{ type ipv4_addr; flags dynamic; }}
  chain input {{
    type filter hook input priority 0; policy accept;
    tcp flags & (syn | ack) == syn ip daddr @listeners ip daddr != @seen add @seen {{ ip daddr }} counter drop
  }}
}}
"""  # noqa: E501
        with tempfile.NamedTemporaryFile("w", suffix=".nft") as fh:
            fh.write(rules)
            fh.flush()
            self.target("nft", "-f", fh.name)

    def dropped(self) -> int:
        """How many SYNs the nft rule dropped."""
        text = self.target("nft", "-j", "list", "table", "inet", "pa_loss")
        for item in json.loads(text)["nftables"]:
            rule = item.get("rule")
            if rule:
                for expr in rule["expr"]:
                    if "counter" in expr:
                        return int(expr["counter"]["packets"])
        return 0


def _build(lab: Lab) -> subprocess.Popen[str]:
    """The namespaces, the forwarder between their TUN devices, addresses and routes."""
    for ns in (lab.scan_ns, lab.target_ns):
        _run(["ip", "netns", "add", ns])
    cmd = ["timeout", "300", "ip", "netns", "exec", lab.scan_ns, sys.executable, "-c", _FORWARD,
           lab.tun_scan, lab.tun_target, lab.target_ns, str(lab.delay), str(lab.slow_delay),
           "290", *lab.slow]  # fmt: skip
    forwarder = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert forwarder.stdout is not None
    if forwarder.stdout.readline().strip() != "READY":
        _stop(forwarder)
        raise RuntimeError("the lab's forwarder did not start")
    _address(lab, f"route add {lab.block} dev {lab.tun_scan}")
    return forwarder


def _address(lab: Lab, scan_route: str) -> None:
    """Addresses and routes: the scan side reaches the block by ``scan_route`` only; on the
    target side listeners and refusers are local addresses, the rest of the block a
    blackhole."""
    scan = ["link set lo up", f"addr add {SCAN_IP}/24 dev {lab.tun_scan}",
            f"link set {lab.tun_scan} up", scan_route]  # fmt: skip
    target = ["link set lo up", f"addr add {TARGET_IP}/24 dev {lab.tun_target}",
              f"link set {lab.tun_target} up"]  # fmt: skip
    target += [f"route add local {a}/32 dev lo table local" for a in lab.listeners + lab.refusers]
    target.append(f"route add blackhole {lab.block}")
    for ns, lines in ((lab.scan_ns, scan), (lab.target_ns, target)):
        with tempfile.NamedTemporaryFile("w", suffix=".batch") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            _run(["ip", "-n", ns, "-batch", fh.name])


def _listen(lab: Lab) -> subprocess.Popen[str]:
    """The listeners' process in the target namespace, once it is ready."""
    cmd = ["timeout", "300", "ip", "netns", "exec", lab.target_ns, sys.executable, "-c",
           _LISTEN, str(PORT), *lab.listeners]  # fmt: skip
    server = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    if server.stdout.readline().strip() != "READY":
        _stop(server)
        raise RuntimeError("the lab's listeners did not start")
    return server


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def sealed_lab(
    block: str,
    listeners: int,
    refusers: int,
    *,
    delay: float = 0.002,
    slow_delay: float | None = None,
) -> Iterator[Lab]:
    """The lab with ``listeners`` and ``refusers`` spread over ``block`` (inside 10.78/16);
    with ``slow_delay``, the listeners' answers take that long on the link."""
    net = IPv4Network(block)
    if not net.subnet_of(LAB) or ip_address(SCAN_IP) in net:
        raise ValueError(f"the lab's blocks lie in {LAB}, off its link")
    hosts = [str(h) for h in net.hosts() if h.packed[-1] not in (0, 255)]
    step = len(hosts) // (listeners + refusers)
    chosen = hosts[::step][: listeners + refusers]
    lab = Lab(f"pa{os.getpid() % 100000}", net, chosen[::2][:listeners], [], delay)
    lab.refusers = [a for a in chosen if a not in lab.listeners][:refusers]
    if slow_delay is not None:
        lab.slow, lab.slow_delay = list(lab.listeners), slow_delay
    procs: list[subprocess.Popen[str]] = []
    try:
        procs.append(_build(lab))
        procs.append(_listen(lab))
        yield lab
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for ns in (lab.scan_ns, lab.target_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@contextlib.contextmanager
def sealed_veth_lab(block: str, listeners: int) -> Iterator[Lab]:
    """The same two namespaces joined by a veth pair instead of the forwarder: an Ethernet
    link, for the SYN scanners (masscan and zmap write frames with libpcap or a packet socket
    and need a MAC address to send to). Both ends are created inside the namespaces, never in
    the host's; the listeners complete handshakes, every other address is blackholed. No
    delay or loss on this link."""
    net = IPv4Network(block)
    if not net.subnet_of(LAB) or ip_address(SCAN_IP) in net:
        raise ValueError(f"the lab's blocks lie in {LAB}, off its link")
    hosts = [str(h) for h in net.hosts() if h.packed[-1] not in (0, 255)]
    chosen = hosts[:: len(hosts) // listeners][:listeners]
    lab = Lab(f"pv{os.getpid() % 100000}", net, chosen, [])
    server: subprocess.Popen[str] | None = None
    try:
        for ns in (lab.scan_ns, lab.target_ns):
            _run(["ip", "netns", "add", ns])
        _run(["ip", "link", "add", lab.tun_scan, "netns", lab.scan_ns, "type", "veth",
              "peer", "name", lab.tun_target, "netns", lab.target_ns])  # fmt: skip
        if {lab.tun_scan, lab.tun_target} & {name for _, name in socket.if_nameindex()}:
            raise RuntimeError("an end of the lab's link appeared in the host namespace")
        _address(lab, f"route add {net} via {TARGET_IP}")
        server = _listen(lab)
        yield lab
    finally:
        if server is not None:
            _stop(server)
        for ns in (lab.scan_ns, lab.target_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def target_mac(lab: Lab) -> str:
    """The MAC address of the target namespace's end of the link: the scanners' next hop."""
    links = json.loads(_run(["ip", "-n", lab.target_ns, "-j", "link", "show", lab.tun_target]))
    return str(links[0]["address"])


def findings(path: Path) -> dict[str, dict[str, object]]:
    return {rec["ip"]: rec for rec in map(json.loads, path.read_text().splitlines())}
