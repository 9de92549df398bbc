"""The first stage for real: masscan, ZMap and nmap scan a sealed lab, pacsaudit reads their files.

The readers' unit tests use files written in the scanners' layouts; this one has the scanners
write them. masscan and ZMap send raw frames, so they run only in the scan namespace of a lab
made for this test (``engine.netns.sealed_veth_lab``: two namespaces joined by one veth pair,
no interface in the host namespace, no default route, checked before every command). The
target namespace holds a /24 of 10.78.0.0/16 with a few listeners; every other address is
blackholed. Every output format each scanner has for open ports is written and read back,
and pacsaudit's second stage runs on two of them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.netns import PORT, SCAN_IP, Lab, findings, needs_netns, sealed_veth_lab, target_mac
from pacsaudit.targets.readers import ReadStats, ResultsError, read_open_ports

BLOCK = "10.78.2.0/24"
PACSAUDIT = str(Path(sys.executable).parent / "pacsaudit")
TICK = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(1200):  # at most 60 s; the test ends it sooner
    s.sendto(b"tick", (sys.argv[1], 9))
    time.sleep(0.05)
"""
"""A packet on the link every 50 ms while masscan runs. masscan's receive thread waits in
libpcap for the next frame and only then sees that the scan is over: on a silent link it
finished after 2.9 s or after 49-60 s (seen here, 2026-12-05); killed by a timeout, it had
written nothing to its ``-oL`` file."""


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    needs_netns()
    for tool in ("masscan", "zmap", "nmap"):
        if tool_path(tool) is None:
            pytest.fail(f"{tool} is not installed: `make test` installs it")
    with sealed_veth_lab(BLOCK, listeners=6) as built:
        yield built


def tool_path(name: str) -> str | None:
    """zmap installs in /usr/sbin, which a non-login PATH may lack."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def run(lab: Lab, cmd: list[str], limit: float = 60) -> subprocess.CompletedProcess[str]:
    done = lab.scan([tool_path(cmd[0]) or cmd[0], *cmd[1:]], limit)
    assert done.returncode == 0, f"{cmd[0]}: {done.stderr[-1500:]}"
    return done


@pytest.fixture(scope="module")
def masscan_scan(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One masscan run, its binary output converted to each text format by ``--readscan``
    (the same writers as a live scan's, without scanning again)."""
    out = tmp_path_factory.mktemp("masscan")
    lab.check_sealed()
    tick = ["timeout", "70", "ip", "netns", "exec", lab.scan_ns, sys.executable, "-c", TICK,
            "10.78.0.2"]  # fmt: skip
    ticker = subprocess.Popen(tick, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run(lab, ["masscan", BLOCK, f"-p{PORT}", "--adapter", lab.tun_scan, "--adapter-ip",
                  SCAN_IP, "--router-mac", target_mac(lab), "--rate", "2000", "--wait", "1",
                  "-oB", str(out / "scan.bin")])  # fmt: skip
    finally:
        ticker.kill()
        ticker.wait()
    for flag in ("L", "J", "D", "G", "X"):
        run(lab, ["masscan", "--readscan", str(out / "scan.bin"), f"-o{flag}", str(out / flag)])
    return out


@pytest.fixture(scope="module")
def zmap_scan(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zmap")
    (out / "block.conf").write_text("10.78.0.0/24  # the lab's own link\n")
    base = ["zmap", "-i", lab.tun_scan, "-S", SCAN_IP, "-G", target_mac(lab), "-M",
            "tcp_synscan", "-p", str(PORT), "-b", str(out / "block.conf"), "-r", "5000", "-c",
            "1", "-T", "1", "-q", BLOCK]  # fmt: skip
    run(lab, [*base, "-O", "csv", "-f", "saddr,sport,classification,success", "-o",
              str(out / "all.csv")])  # fmt: skip
    run(lab, [*base, "-o", str(out / "plain.txt")])
    return out


@pytest.fixture(scope="module")
def nmap_scan(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nmap")
    run(lab, ["nmap", "-n", "-Pn", "-sT", "-T4", "-p", f"{PORT},11112", "-oG",
              str(out / "G"), "-oX", str(out / "X"), BLOCK], limit=120)  # fmt: skip
    return out


def read(path: Path) -> tuple[set[str], ReadStats]:
    stats = ReadStats(str(path))
    found = list(read_open_ports(path, stats=stats))
    assert {p.port for p in found} == {PORT}
    return {p.ip for p in found}, stats


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("L", "masscan-list"),
        ("J", "masscan-json"),
        ("D", "masscan-json"),
        ("G", "masscan-grepable"),
        ("X", "masscan-xml"),
    ],
)
def test_every_masscan_format_is_read(
    masscan_scan: Path, lab: Lab, name: str, variant: str
) -> None:
    found, stats = read(masscan_scan / name)
    assert found == set(lab.listeners)
    assert stats.variant == variant
    assert not stats.truncated
    assert stats.malformed == 0


def test_masscan_binary_output_is_refused_with_the_formats_to_use(masscan_scan: Path) -> None:
    with pytest.raises(ResultsError, match=r"scan\.bin:1: binary data \(masscan -oB\?\)"):
        read(masscan_scan / "scan.bin")


def test_zmap_outputs_are_read(zmap_scan: Path, lab: Lab) -> None:
    found, stats = read(zmap_scan / "all.csv")
    assert found == set(lab.listeners)
    assert stats.variant == "zmap-csv"
    plain = list(read_open_ports(zmap_scan / "plain.txt"))
    assert {p.ip for p in plain} == set(lab.listeners)
    assert {p.port for p in plain} == {None}  # a plain list: the user's ports apply


@pytest.mark.parametrize(("name", "variant"), [("G", "nmap-grepable"), ("X", "nmap-xml")])
def test_nmap_outputs_are_read(nmap_scan: Path, lab: Lab, name: str, variant: str) -> None:
    found, stats = read(nmap_scan / name)
    assert found == set(lab.listeners)
    assert stats.variant == variant
    # -Pn lists every address: 104 filtered on the silent ones, 11112 closed or filtered
    assert stats.records == len(lab.listeners)
    assert stats.not_open == 2 * 256 - len(lab.listeners)
    assert not stats.truncated


@pytest.mark.parametrize("scan", ["masscan", "nmap"])
def test_the_second_stage_probes_what_the_first_found(
    scan: str, request: pytest.FixtureRequest, lab: Lab, tmp_path: Path
) -> None:
    results = request.getfixturevalue(f"{scan}_scan") / "X"
    out = tmp_path / "stage2.jsonl"
    run(lab, [PACSAUDIT, "scan", BLOCK, "-i", str(results), "--input-format", "auto",
              "--probe", "dicom", "--depth", "discover", "--read-timeout", "0.5",
              "--host-timeout", "3", "-q", "--no-state", "-o", str(out)], limit=120)  # fmt: skip
    found = findings(out)
    assert set(found) == set(lab.listeners)  # only what the first stage found open
    for record in found.values():
        assert record["status"] not in ("filtered", "closed"), record
