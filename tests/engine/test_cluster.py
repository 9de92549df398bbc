"""Shards on a Dask cluster, all on loopback: a worker killed mid-scan loses nothing, the
merged output equals a single-process scan, an unreachable cluster fails before any probe."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.peers import PeerSet, outcome_keys, serving
from hostile_servers import probe_options
from loopback import free_port
from pacsaudit.engine import cluster as cluster_module
from pacsaudit.engine.options import EngineOptions
from pacsaudit.plan import ScaleOptions, make_plan
from pacsaudit.run import execute
from pacsaudit.usage import UsageError

distributed = pytest.importorskip("distributed")

PACSAUDIT = [sys.executable, "-m", "pacsaudit"]
BLOCK = "127.74.0.0/26"


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    """An existing cluster, as a user would have: a scheduler and two worker processes."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def peers() -> Iterator[PeerSet]:
    addresses = [(f"127.74.0.{3 + 9 * n}", d) for n, d in enumerate([0.3, 0.5, 0.8, 1.0])]
    with serving(addresses) as peer_set:
        yield peer_set


CLOSED_PORT = free_port("127.74.0.1")


def scan_args(peers: PeerSet, out: Path, *extra: str) -> list[str]:
    ports = [CLOSED_PORT, *(p.port for p in peers.peers)]
    return [
        "scan", BLOCK, "-p", ",".join(map(str, ports)), "--probe", "dicom",
        "--depth", "discover", "--read-timeout", "3", "--host-timeout", "4",
        "--connect-timeout", "1", "--seed", "77", "-q", "-o", str(out), *extra,
    ]  # fmt: skip


def busy_worker_pid(scheduler: str, cluster: Any) -> int:
    """The process of a worker that is running one of our shard tasks right now."""
    with distributed.Client(scheduler, timeout=10) as client:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # bounded: tasks start within a second or two
            busy = [addr for addr, keys in client.processing().items() if keys]
            if busy:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no worker picked up a shard task")
    (nanny,) = [n for n in cluster.workers.values() if n.worker_address == busy[0]]
    pid: int = nanny.process.pid
    return pid


def test_a_worker_killed_mid_scan_loses_nothing(
    tmp_path: Path, dask_cluster: Any, peers: PeerSet
) -> None:
    reference = tmp_path / "single.jsonl"
    r = subprocess.run(
        [*PACSAUDIT, *scan_args(peers, reference)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    expected = outcome_keys(reference)
    assert len(expected) == 64 * 5

    out = tmp_path / "cluster.jsonl"
    scheduler = dask_cluster.scheduler_address
    proc = subprocess.Popen(
        [*PACSAUDIT, *scan_args(peers, out, "--cluster", scheduler, "--tasks", "4",
                                "--rate", "100/s", "--log-level", "INFO")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait for the first batches to be recorded
            if out.exists() and out.read_bytes().count(b"\n") >= 40:
                break
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.02)
        else:
            pytest.fail("no findings from the cluster within 30 s")
        victim = busy_worker_pid(scheduler, dask_cluster)
        written_at_kill = out.read_bytes().count(b"\n")
        os.kill(victim, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert written_at_kill < len(expected)  # the kill landed mid-scan
    starts = Counter[str]()
    resumed = []
    for match in re.finditer(r"shard (\S+): attempt \w+ starts at position (\d+)", stderr):
        starts[match[1]] += 1
        if starts[match[1]] > 1:
            resumed.append(int(match[2]))
    assert len(starts) == 4
    assert resumed  # a shard of the killed worker ran again...
    assert all(position > 0 for position in resumed)  # ...from its checkpoint, not from zero
    assert outcome_keys(out) == expected  # nothing lost, nothing twice, same verdicts
    for peer in peers.peers:
        assert peer.accepted >= 2  # the reference scan and the cluster each probed it


def test_the_client_killed_mid_scan_resumes_on_the_cluster(
    tmp_path: Path, dask_cluster: Any, peers: PeerSet
) -> None:
    """``kill -9`` of the process holding the output and the state, then ``--resume`` on the
    same cluster: the merged output equals a single-process scan."""
    reference = tmp_path / "single.jsonl"
    r = subprocess.run(
        [*PACSAUDIT, *scan_args(peers, reference)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    out = tmp_path / "cluster.jsonl"
    scheduler = dask_cluster.scheduler_address
    args = scan_args(peers, out, "--cluster", scheduler, "--tasks", "3", "--rate", "100/s")
    proc = subprocess.Popen(
        [*PACSAUDIT, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait for some batches to be recorded
            if out.exists() and out.read_bytes().count(b"\n") >= 60:
                break
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.02)
        else:
            pytest.fail("no findings from the cluster within 30 s")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    written_at_kill = out.read_bytes().count(b"\n")
    r = subprocess.run(
        [*PACSAUDIT, *scan_args(peers, out, "--cluster", scheduler, "--resume")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    expected = outcome_keys(reference)
    assert written_at_kill < len(expected)
    assert outcome_keys(out) == expected


def test_local_cluster_scan_equals_a_single_process_scan(tmp_path: Path) -> None:
    port = str(free_port())
    single, local = tmp_path / "single.jsonl", tmp_path / "local.jsonl"
    base = ["scan", "127.75.0.0/24", "-p", port, "--seed", "5", "-q"]
    r = subprocess.run([*PACSAUDIT, *base, "-o", str(single)], capture_output=True, timeout=60)
    assert r.returncode == 0
    r = subprocess.run(
        [*PACSAUDIT, *base, "-o", str(local), "--cluster", "local:2"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert r.returncode == 0, r.stderr
    assert outcome_keys(local) == outcome_keys(single)
    assert "INFO" not in r.stderr  # the in-process scheduler's chatter stays quiet
    assert "queue_get" not in r.stderr  # no timed-out queue polls (dask/distributed#2855)
    assert "Traceback" not in r.stderr


def test_unreachable_cluster_fails_before_any_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", 1.0)
    out = tmp_path / "f.jsonl"
    out.write_bytes(b'{"kept": true}\n')  # a previous scan's output must survive
    with socket.socket() as target:
        target.bind(("127.0.0.1", 0))
        target.listen(8)
        plan = make_plan(
            targets=["127.0.0.1"],
            input_files=[],
            exclude_files=[],
            ports=(target.getsockname()[1],),
            engine=EngineOptions(),
            dicom=probe_options(),
            output=out,
            scale=ScaleOptions(cluster=f"tcp://127.0.0.1:{free_port()}"),
        )
        with pytest.raises(UsageError, match="cannot reach the Dask scheduler"):
            execute(plan, None)
        target.setblocking(False)
        with pytest.raises(BlockingIOError):
            target.accept()
    assert out.read_bytes() == b'{"kept": true}\n'


def test_bad_local_cluster_spec_is_a_usage_error() -> None:
    r = subprocess.run(
        [*PACSAUDIT, "scan", "127.0.0.1", "-p", "9", "--cluster", "local:x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "local:N" in r.stderr


def test_a_cluster_scan_sums_its_tasks_timing(tmp_path: Path) -> None:
    """The round trips each task measured come back with its last batch: the scan's stats
    count them all, as a single-process scan's would."""
    port = free_port()
    plan = make_plan(
        targets=["127.76.0.0/26"],
        input_files=[],
        exclude_files=[],
        ports=(port,),
        engine=EngineOptions(adaptive_timeout=True, connect_timeout=1.0),
        dicom=probe_options(),
        output=tmp_path / "out.jsonl",
        scale=ScaleOptions(cluster="local:2", tasks=4, seed=3, state=tmp_path / "s.state"),
    )
    outcome = execute(plan, None)
    assert outcome.stats.done == 64
    assert outcome.stats.rtt_samples == 64  # every closed port answered with a reset
    assert outcome.stats.srtt is not None
    assert 0 < outcome.stats.srtt < 1.0
    assert outcome.stats.peak_in_flight >= 1
    assert outcome.stats.connect_timeout is not None
