"""Shards in child processes, all on loopback: the output equals a one-process scan's; a child
killed mid-scan is reported and ``--resume`` completes its shard; Ctrl-C and a killed parent
stop the children and lose nothing; the scan's bounds are shared out, never multiplied."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.peers import PeerSet, outcome_keys, serving
from loopback import free_port
from pacsaudit.engine.options import EngineOptions
from pacsaudit.engine.processes import (
    BatchFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    FrameReader,
    encode_frame,
    share,
    usable_processes,
)
from pacsaudit.model import DicomResult, Finding, Status
from pacsaudit.plan import ScaleOptions, ScanPlan, make_plan
from pacsaudit.probes.dicom.options import DicomOptions
from pacsaudit.run import TARGETS_PER_PROCESS, processes_for
from pacsaudit.usage import UsageError

PACSAUDIT = [sys.executable, "-m", "pacsaudit"]
BLOCK = "127.76.0.0/26"
CLOSED_PORT = free_port("127.76.0.1")


@pytest.fixture(scope="module")
def peers() -> Iterator[PeerSet]:
    addresses = [(f"127.76.0.{3 + 9 * n}", d) for n, d in enumerate([0.2, 0.4, 0.6, 0.8])]
    with serving(addresses) as peer_set:
        yield peer_set


def scan_args(peers: PeerSet, out: Path, *extra: str) -> list[str]:
    ports = [CLOSED_PORT, *(p.port for p in peers.peers)]
    return [
        "scan", BLOCK, "-p", ",".join(map(str, ports)), "--probe", "dicom",
        "--depth", "discover", "--read-timeout", "3", "--host-timeout", "4",
        "--connect-timeout", "1", "--seed", "91", "-q", "-o", str(out), *extra,
    ]  # fmt: skip


def reference(peers: PeerSet, tmp_path: Path) -> list[tuple[Any, ...]]:
    out = tmp_path / "single.jsonl"
    r = subprocess.run(
        [*PACSAUDIT, *scan_args(peers, out, "--processes", "1")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    keys = outcome_keys(out)
    assert len(keys) == 64 * 5
    return keys


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(word) for word in text.split()]


def wait_for_lines(out: Path, proc: subprocess.Popen[str], lines: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # bounded: the first batches come within a second
        if out.exists() and out.read_bytes().count(b"\n") >= lines:
            return
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.02)
    pytest.fail(f"fewer than {lines} findings within 30 s")


def gone(pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:  # bounded by ``within``
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_a_scan_in_processes_equals_a_one_process_scan(tmp_path: Path, peers: PeerSet) -> None:
    expected = reference(peers, tmp_path)
    out = tmp_path / "processes.jsonl"
    r = subprocess.run(
        [*PACSAUDIT, *scan_args(peers, out, "--processes", "2", "--tasks", "3")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert outcome_keys(out) == expected
    state = Path(f"{out}.state")
    r = subprocess.run(
        [*PACSAUDIT, *scan_args(peers, out, "--processes", "2", "--resume")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr  # a complete state: nothing left, nothing written
    assert state.exists()
    assert outcome_keys(out) == expected


def scan_and(peers: PeerSet, out: Path, act: Any, *extra: str) -> tuple[int, str, list[int]]:
    """Start a scan in two processes, wait for its first findings, ``act(parent, children)``;
    the exit code, standard error and the children's pids once it ended."""
    args = scan_args(peers, out, "--processes", "2", "--rate", "100/s", *extra)
    proc = subprocess.Popen(
        [*PACSAUDIT, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_lines(out, proc, 40)
        children = children_of(proc.pid)
        assert len(children) == 2
        act(proc, children)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr, children


def resumed_equals(peers: PeerSet, out: Path, expected: list[tuple[Any, ...]]) -> None:
    r = subprocess.run(
        [*PACSAUDIT, *scan_args(peers, out, "--processes", "2", "--resume")],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert r.returncode == 0, r.stderr
    assert outcome_keys(out) == expected  # nothing lost, nothing twice


def test_a_child_killed_mid_scan_is_reported_and_resume_completes(
    tmp_path: Path, peers: PeerSet
) -> None:
    expected = reference(peers, tmp_path)
    out = tmp_path / "killed.jsonl"

    def kill_a_child(_parent: subprocess.Popen[str], children: list[int]) -> None:
        os.kill(children[0], signal.SIGKILL)

    code, stderr, _ = scan_and(peers, out, kill_a_child, "--tasks", "2")
    assert code == 2, stderr
    assert "killed by signal 9" in stderr
    assert "--resume" in stderr
    written = out.read_bytes().count(b"\n")
    assert 40 <= written < len(expected)  # the other shard finished, the killed one did not
    resumed_equals(peers, out, expected)


@pytest.mark.parametrize("how", ["interrupt", "interrupt-twice", "kill-parent"])
def test_stopping_the_parent_stops_the_children_and_resume_loses_nothing(
    tmp_path: Path, peers: PeerSet, how: str
) -> None:
    """Ctrl-C (SIGINT to the parent alone: children ignore it and are stopped through their
    pipes, their last batches recorded), Ctrl-C twice (the children are killed, their
    unrecorded targets stay pending) and ``kill -9`` of the parent (the children see their
    stop pipes close): the children end within seconds, and ``--resume`` completes the scan."""
    expected = reference(peers, tmp_path)
    out = tmp_path / f"{how}.jsonl"

    def stop(parent: subprocess.Popen[str], _children: list[int]) -> None:
        os.kill(parent.pid, signal.SIGKILL if how == "kill-parent" else signal.SIGINT)
        if how == "interrupt-twice":  # stop waiting for the children's last batches
            time.sleep(0.05)
            os.kill(parent.pid, signal.SIGINT)

    code, stderr, children = scan_and(peers, out, stop)
    assert gone(children, within=10)
    if how != "kill-parent":
        assert code == 130, stderr
        assert "error" not in stderr
    assert out.read_bytes().count(b"\n") < len(expected)
    resumed_equals(peers, out, expected)


# -- the parts --------------------------------------------------------------------------------


def test_each_child_gets_a_share_and_the_shares_never_exceed_the_scan() -> None:
    engine = EngineOptions(concurrency=1001, max_probing=512, rate=300.0, per_network=5)
    for processes in (1, 2, 3, 5):
        part = share(engine, processes)
        assert part.concurrency * processes <= 1001
        assert part.max_probing is not None
        assert part.max_probing * processes <= 512
        assert part.rate is not None
        assert part.rate * processes == pytest.approx(300.0)
        assert part.per_network is not None
        assert part.per_network * processes <= 5
    assert usable_processes(8, engine, jobs=8) == 5  # never more than --per-network
    assert usable_processes(8, EngineOptions(), jobs=3) == 3  # never more than the jobs
    assert usable_processes(2, EngineOptions(), jobs=0) == 1


def finding(n: int) -> Finding:
    """A finding as the summary reads it, with a result (a tagged union in the frame)."""
    return Finding(
        ip=f"192.0.2.{n}",
        port=104,
        protocol="dicom",
        status=Status.DICOM,
        timestamp="2026-12-04T20:00:00.000Z",
        result=DicomResult(accepted_called_ae="ANY-SCP", echo_status=0),
        duration_ms=1.5,
    )


def test_frames_survive_any_cut_of_the_pipe() -> None:
    frames: list[Frame] = [
        BatchFrame(b'{"a":1}\n', 7, [3, 5], 9, False, [finding(1)], {"dicom": 1}),
        EndFrame({"peak_in_flight": 4, "srtt": None}),
        ErrorFrame("RuntimeError: boom"),
        BatchFrame(b"", 9, [], 9, True, [], {}),
    ]
    data = b"".join(encode_frame(f) for f in frames)
    for step in (1, 2, 3, 5, 64, len(data)):
        reader = FrameReader()
        got = []
        for i in range(0, len(data), step):
            got.extend(reader.feed(data[i : i + step]))
        assert got == frames
        assert not reader.partial
    reader = FrameReader()
    assert reader.feed(data[:-1]) == frames[:-1]
    assert reader.partial  # a child that died while sending
    with pytest.raises(msgspec.DecodeError):
        FrameReader().feed(b"\x00\x00\x00\x02\xff\xff")


def test_processes_default_to_the_cores_for_large_runs_only() -> None:
    cores = len(os.sched_getaffinity(0))

    def plan(targets: str, **scale: Any) -> ScanPlan:
        return make_plan(
            targets=[targets],
            input_files=[],
            exclude_files=[],
            ports=(104,),
            engine=EngineOptions(),
            dicom=DicomOptions(),
            output=None,
            scale=ScaleOptions(**scale),
        )

    assert processes_for(plan("127.0.0.0/24")) == 1
    large = plan("127.0.0.0/16")
    assert processes_for(large) == max(1, min(cores, 8, 65536 // TARGETS_PER_PROCESS))
    assert processes_for(plan("127.0.0.0/24", processes=3)) == 3
    assert processes_for(plan("127.0.0.0/31", processes=8)) == 2  # one per target at most
    with pytest.raises(UsageError, match="on a cluster its workers"):
        plan("127.0.0.0/24", processes=2, cluster="local:2")
    with pytest.raises(UsageError, match="--processes must be"):
        ScaleOptions(processes=0).validate()


def test_dry_run_names_the_processes(tmp_path: Path) -> None:
    r = subprocess.run(
        [*PACSAUDIT, "scan", "127.0.0.0/28", "-p", "9", "--dry-run", "--processes", "3"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    assert "processes on this machine: 3" in r.stdout.splitlines()


def test_a_child_sends_the_parent_the_table_rows_the_worst_severities_and_second_pass_input() -> (
    None
):
    """Past the table's rows, a finding reaches the parent only if it raises the worst
    severity or the second pass could use it; the output gets every one regardless."""
    from pacsaudit.model import AePolicy, Severity
    from pacsaudit.run import MAX_TABLE_ROWS, ForParent

    def dicom(n: int, severity: Severity, **fields: Any) -> Finding:
        result = DicomResult(echo_status=0, severity=severity, **fields)
        return msgspec.structs.replace(finding(n % 250), result=result)

    wanted = ForParent()
    rows = [dicom(n, Severity.LOW) for n in range(MAX_TABLE_ROWS)]
    assert all(wanted(f) for f in rows)
    assert not wanted(dicom(1, Severity.LOW))  # past the rows, no worse than what was sent
    assert wanted(dicom(2, Severity.HIGH))  # raises the worst severity
    assert not wanted(dicom(3, Severity.MEDIUM))
    assert wanted(dicom(4, Severity.INFO, ae_policy=AePolicy.CALLED_AE_ENFORCED))  # a refusal
    assert not wanted(msgspec.structs.replace(finding(5), status=Status.CLOSED, result=None))


def test_the_progress_bar_runs_no_thread_while_children_are_forked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rich's refresh thread holding stderr's lock at a fork would leave it held in the
    child; with processes the bar is drawn from the parent's loop instead."""
    import io
    import threading

    from rich.console import Console

    from pacsaudit.engine import processes as processes_module
    from pacsaudit.run import execute
    from pacsaudit.terminal import ProgressBar

    threads_at_fork: list[list[str]] = []
    start = processes_module._start

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads_at_fork.append([type(t).__name__ for t in threading.enumerate()])
        return start(*args, **kwargs)

    monkeypatch.setattr(processes_module, "_start", watched)
    plan = make_plan(
        targets=["127.77.0.0/24"],
        input_files=[],
        exclude_files=[],
        ports=(free_port("127.77.0.1"),),
        engine=EngineOptions(concurrency=64, connect_timeout=1.0),
        dicom=DicomOptions(),
        output=tmp_path / "out.jsonl",
        scale=ScaleOptions(processes=2, tasks=4, state=tmp_path / "out.jsonl.state"),
    )
    screen = io.StringIO()
    outcome = execute(plan, ProgressBar(Console(file=screen, force_terminal=True, width=100)))
    assert outcome.stats.done == 256
    assert len(threads_at_fork) == 4
    assert not any("Refresh" in name for names in threads_at_fork for name in names)
    assert "scanning" in screen.getvalue()


def test_the_rate_is_the_scans_not_each_childs(tmp_path: Path) -> None:
    """``--rate`` over two children: each spends half of it, so the scan as a whole keeps to
    the rate (the same bound as the one-process test in test_engine, two buckets' bursts)."""
    from datetime import datetime

    from pacsaudit.model import decode_finding
    from pacsaudit.net.limits import TokenBucket
    from pacsaudit.run import execute

    rate, count = 400.0, 320
    out = tmp_path / "rate.jsonl"
    plan = make_plan(
        targets=[f"127.78.0.{n}" for n in range(1, 161)],
        input_files=[],
        exclude_files=[],
        ports=(free_port("127.78.0.1"), free_port("127.78.0.2")),
        engine=EngineOptions(concurrency=256, rate=rate, connect_timeout=1.0),
        dicom=DicomOptions(),
        output=out,
        scale=ScaleOptions(processes=2, state=tmp_path / "rate.jsonl.state"),
    )
    started = time.monotonic()
    outcome = execute(plan)
    elapsed = time.monotonic() - started
    findings = [decode_finding(line) for line in out.read_bytes().splitlines()]
    assert outcome.stats.done == len(findings) == count
    assert {f.status for f in findings} == {Status.CLOSED}
    assert elapsed >= (count - 2) / rate * 0.9  # each child's bucket starts with one token
    starts = sorted(
        datetime.fromisoformat(f.timestamp).timestamp() - (f.duration_ms or 0) / 1000
        for f in findings
    )
    burst = TokenBucket(rate / 2).burst
    for i, t in enumerate(starts):  # no 100 ms window holds more than the rate allows
        window = sum(1 for u in starts[i:] if u < t + 0.1)
        assert window <= rate * 0.1 + 2 * burst + 2
