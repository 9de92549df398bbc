"""Adaptive connect timing end to end, in sealed network namespaces made for each test.

A /24 of 10.78.0.0/16 with a few listeners (the handshake completes), a few refusers (RST)
and the rest blackholed. The CLI runs with its defaults in the scan namespace only; the lab's
link (a forwarder between two TUN devices: this kernel has no ``netem``) delays packets, and
``nft`` drops SYNs in the target namespace. Nothing leaves the two
namespaces: they have no default route and no interface in the host namespace.

What is checked is behaviour, not speed: every listener found, every refuser closed, every
other address filtered — with a silent address's finding ending well before the fixed 3 s
timeout on a fast network, and at it when ``--connect-timeout`` is given.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.netns import PORT, Lab, findings, needs_netns, sealed_lab

PACSAUDIT = str(Path(sys.executable).parent / "pacsaudit")
BLOCK = "10.78.1.0/24"


@pytest.fixture
def lab() -> Iterator[Lab]:
    needs_netns()
    with sealed_lab(BLOCK, listeners=8, refusers=16) as built:
        yield built


@pytest.fixture
def slow_lab() -> Iterator[Lab]:
    needs_netns()
    with sealed_lab(BLOCK, listeners=8, refusers=16, slow_delay=0.4) as built:
        yield built


def scan(lab: Lab, out: Path, *extra: str) -> dict[str, dict[str, object]]:
    cmd = [PACSAUDIT, "scan", BLOCK, "-p", str(PORT), "--probe", "dicom", "--depth", "discover",
           "--read-timeout", "0.5", "--host-timeout", "3", "-q", "--no-state", "-o", str(out),
           *extra]  # fmt: skip
    done = lab.scan(cmd)
    assert done.returncode == 0, done.stderr[-2000:]
    return findings(out)


def check_found(lab: Lab, found: dict[str, dict[str, object]]) -> list[float]:
    """Every address once; listeners answered, refusers closed, the rest filtered. Returns
    the filtered findings' durations in seconds."""
    assert len(found) == 256
    for address in lab.listeners:
        assert found[address]["status"] not in ("filtered", "closed"), found[address]
    for address in lab.refusers:
        assert found[address]["status"] == "closed", found[address]
    silent = [f for a, f in found.items() if a not in lab.listeners + lab.refusers]
    assert {f["status"] for f in silent} == {"filtered"}
    return [float(str(f["duration_ms"])) / 1000 for f in silent]


def test_silent_addresses_do_not_wait_the_fixed_timeout_on_a_fast_network(
    lab: Lab, tmp_path: Path
) -> None:
    waits = check_found(lab, scan(lab, tmp_path / "adaptive.jsonl"))
    # 0.5 s (the initial timeout) + 1.2 s (the retry) at most for nearly all; a sentinel waits
    # the whole 3 s. The fixed timeout makes every one of them wait 3 s.
    assert statistics.median(waits) < 2.0
    assert max(waits) < 3.5
    fixed = check_found(lab, scan(lab, tmp_path / "fixed.jsonl", "--connect-timeout", "3"))
    assert min(fixed) >= 2.9


def test_a_lost_first_syn_does_not_lose_the_host(lab: Lab, tmp_path: Path) -> None:
    """nft drops the first SYN to every listener: the kernel would resend it after 1 s, past
    the adaptive timeout; the sweep's retry finds every listener anyway."""
    lab.drop_first_syn_to_listeners()
    check_found(lab, scan(lab, tmp_path / "lossy.jsonl"))
    assert lab.dropped() == len(lab.listeners)


def test_a_slow_path_among_fast_ones_is_not_lost(slow_lab: Lab, tmp_path: Path) -> None:
    """The refusers answer in 2 ms, so the timeout shrinks to its 100 ms floor; the listeners
    answer only after 400 ms. Paced by ``--rate`` so that most listeners are dialed after the
    timeout has shrunk: the retry (and the sentinels' late answers) must still find them."""
    found = scan(slow_lab, tmp_path / "slow.jsonl", "--rate", "300/s")
    check_found(slow_lab, found)
