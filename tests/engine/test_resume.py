"""Crash-safe resume: ``kill -9`` at any moment, then ``--resume``; and the state files that
must be refused. Scans run as subprocesses, as a user runs them, against loopback only."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.peers import PeerSet, serving
from loopback import free_port
from pacsaudit.engine.checkpoint import OutputFile
from pacsaudit.engine.state import ScanState, StateError

PACSAUDIT = [sys.executable, "-m", "pacsaudit"]
BLOCK = "127.70.0.0/26"
PEER_DELAYS = [0.2, 0.3, 0.45, 0.6, 0.8, 1.0]


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PACSAUDIT, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def outcome_key(rec: dict[str, Any]) -> tuple[Any, ...]:
    result = rec.get("result") or {}
    return (rec["ip"], rec["port"], rec["status"], result.get("banner"))


def committed_targets(out: Path) -> set[tuple[str, int]]:
    """Targets whose findings the state had committed when the process died: the output up
    to the journalled batch, plus that batch."""
    conn = sqlite3.connect(f"{out}.state")
    try:
        row = conn.execute("SELECT start, data FROM journal WHERE id = 1").fetchone()
    finally:
        conn.close()
    data = out.read_bytes()
    lines = (data[: row[0]] + bytes(row[1])) if row else data
    return {(r["ip"], r["port"]) for r in map(json.loads, lines.splitlines())}


@pytest.fixture(scope="module")
def peers() -> Iterator[PeerSet]:
    """Slow peers inside the scanned block: each answers after its delay, so some are always
    in flight when the scan is killed, and each counts its connections."""
    addresses = [(f"127.70.0.{4 + 7 * n}", d) for n, d in enumerate(PEER_DELAYS)]
    with serving(addresses) as peer_set:
        yield peer_set


CLOSED_PORT = free_port("127.70.0.1")


def scan_args(peers: PeerSet, out: Path, *extra: str) -> list[str]:
    ports = [CLOSED_PORT, *(p.port for p in peers.peers)]
    return [
        "scan", BLOCK, "-p", ",".join(map(str, ports)), "--probe", "dicom",
        "--depth", "discover", "--read-timeout", "3", "--host-timeout", "4",
        "--connect-timeout", "1", "--seed", "42", "-q", "-o", str(out), *extra,
    ]  # fmt: skip


def start_and_kill(args: list[str], out: Path, after_lines: int) -> set[tuple[str, int]]:
    """Start a scan, SIGKILL it once ``after_lines`` findings are on disk; return what the
    state had committed at that moment."""
    proc = subprocess.Popen(
        [*PACSAUDIT, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bounded poll of a file another process writes
            if out.exists() and out.read_bytes().count(b"\n") >= after_lines:
                break
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.02)
        else:
            pytest.fail(f"fewer than {after_lines} findings within 30 s")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return committed_targets(out)


def test_kill_9_then_resume_loses_nothing_and_repeats_only_what_was_in_flight(
    tmp_path: Path, peers: PeerSet
) -> None:
    total = 64 * (1 + len(PEER_DELAYS))
    reference = tmp_path / "reference.jsonl"
    r = run_cli(*scan_args(peers, reference))
    assert r.returncode == 0, r.stderr
    expected = sorted(map(outcome_key, records(reference)))
    assert len(expected) == total
    assert Counter(k[2] for k in expected)["open-not-dicom"] == len(PEER_DELAYS)

    before = {key: p.accepted for key, p in peers.by_port().items()}
    out = tmp_path / "findings.jsonl"
    slow = scan_args(peers, out, "--rate", "120/s")
    committed = [start_and_kill(slow, out, after_lines=150)]
    assert 0 < len(committed[0]) < total  # the kill landed mid-scan
    committed.append(start_and_kill([*slow, "--resume"], out, after_lines=len(committed[0]) + 150))
    assert len(committed[0]) < len(committed[1]) < total
    r = run_cli(*scan_args(peers, out, "--resume"))
    assert r.returncode == 0, r.stderr

    raw = out.read_bytes()
    assert raw.endswith(b"\n")
    got = sorted(map(outcome_key, records(out)))
    assert len(got) == total  # nothing duplicated...
    assert got == expected  # ...nothing lost, everything judged as in one run
    assert any(key in committed[-1] for key in peers.by_port())  # both branches exercised
    for key, peer in peers.by_port().items():
        probes = peer.accepted - before[key]
        assert probes >= 1
        if probes > 1:  # probed again only if its finding was not committed at a kill
            assert sum(key not in c for c in committed) >= probes - 1, (key, probes)
    state = ScanState.load(Path(f"{out}.state"))
    try:
        assert state.complete
        assert state.output_length == len(raw)
    finally:
        state.close()


def test_resume_of_a_finished_scan_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "f.jsonl"
    port = str(free_port())
    assert run_cli("scan", "127.71.0.0/29", "-p", port, "-q", "-o", str(out)).returncode == 0
    before = out.read_bytes()
    r = run_cli("scan", "127.71.0.0/29", "-p", port, "-q", "-o", str(out), "--resume")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == before


def test_results_file_scans_resume_too(tmp_path: Path) -> None:
    """Open ports from masscan -oL: killed, resumed, each result probed into one line."""
    closed = free_port()
    results = tmp_path / "masscan.txt"
    lines = [f"open tcp {closed} 127.72.{n // 250}.{n % 250 + 1} 1700000000" for n in range(400)]
    results.write_text("#masscan\n" + "\n".join(lines) + "\n# end\n", encoding="ascii")
    out = tmp_path / "f.jsonl"
    # Loopback is scanned only when named: the named block scopes the results.
    args = ["scan", "127.72.0.0/16", "-i", str(results), "--input-format", "masscan", "-q"]
    args += ["-o", str(out)]
    start_and_kill([*args, "--rate", "200/s"], out, after_lines=100)
    r = run_cli(*args, "--resume")
    assert r.returncode == 0, r.stderr
    ips = [rec["ip"] for rec in records(out)]
    assert len(ips) == len(set(ips)) == 400


# --- refusals: each a clear error, exit 2, before any packet, nothing overwritten -------------


def unfinished_state(tmp_path: Path) -> tuple[Path, list[str]]:
    """An interrupted scan (SIGINT), leaving its output and an unfinished state."""
    listener_port = free_port()
    out = tmp_path / "f.jsonl"
    args = ["scan", "127.73.0.0/24", "-p", str(listener_port), "-q", "-o", str(out)]
    start_and_kill([*args, "--seed", "9", "--rate", "100/s"], out, after_lines=10)
    return out, args


def test_unfinished_state_is_not_overwritten_by_a_new_scan(tmp_path: Path) -> None:
    out, args = unfinished_state(tmp_path)
    before = out.read_bytes()
    r = run_cli(*args)
    assert r.returncode == 2
    assert "unfinished scan" in r.stderr
    assert "--resume" in r.stderr
    assert out.read_bytes() == before


def test_state_of_another_target_set_or_seed_is_refused(tmp_path: Path) -> None:
    out, args = unfinished_state(tmp_path)
    before = out.read_bytes()
    other_targets = [a if a != "127.73.0.0/24" else "127.73.0.0/25" for a in args]
    r = run_cli(*other_targets, "--resume")
    assert r.returncode == 2
    assert "belongs to another scan" in r.stderr
    r = run_cli(*args, "--resume", "--seed", "10")
    assert r.returncode == 2
    assert "differs from the seed 9" in r.stderr
    r = run_cli(*args, "--resume", "--shard", "1/2")
    assert r.returncode == 2
    assert "shard" in r.stderr
    assert out.read_bytes() == before
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_corrupt_state_is_refused_and_nothing_is_touched(tmp_path: Path, damage: str) -> None:
    out, args = unfinished_state(tmp_path)
    state = Path(f"{out}.state")
    if damage == "garbage":
        state.write_bytes(os.urandom(4096))
    elif damage == "truncated":
        state.write_bytes(state.read_bytes()[:1000])
        for suffix in ("-wal", "-shm"):
            Path(f"{state}{suffix}").unlink(missing_ok=True)
    else:
        state.unlink()
        conn = sqlite3.connect(state)
        conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        conn.commit()
        conn.close()
    before = out.read_bytes(), state.read_bytes()
    for extra in (["--resume"], []):
        r = run_cli(*args, *extra)
        assert r.returncode == 2, r.stderr
        assert str(state) in r.stderr
        assert "Traceback" not in r.stderr
        assert (out.read_bytes(), state.read_bytes()) == before


def test_resume_without_a_state_is_an_error(tmp_path: Path) -> None:
    r = run_cli("scan", "127.0.0.1", "-p", "9", "-o", str(tmp_path / "f"), "--resume")
    assert r.returncode == 2
    assert "nothing to resume" in r.stderr
    r = run_cli("scan", "127.0.0.1", "-p", "9", "--resume")
    assert r.returncode == 2
    assert "-o FILE" in r.stderr


# --- the output's repair on resume, step by step --------------------------------------------


def journalled(tmp_path: Path, written: bytes, batch: bytes, start: int) -> tuple[Path, ScanState]:
    out = tmp_path / "out.jsonl"
    out.write_bytes(written)
    state = ScanState.create(tmp_path / "s.state", {"fingerprint": "x", "shard": "0/1"})
    state.add_shard("0/1", "f", 10)
    state.commit("0/1", position=1, pending=[], done=1, complete=False, batch=batch,
                 output_start=start)  # fmt: skip
    return out, state


def test_a_replaced_journal_is_not_written_again_as_zeros(tmp_path: Path) -> None:
    """Each batch replaces the last in the journal; the freed pages are not zeroed through the
    WAL (Debian's SQLite does so by default), so a commit writes its batch about once."""
    state = ScanState.create(tmp_path / "s.state", {"fingerprint": "x", "shard": "0/1"})
    state.add_shard("0/1", "f", 10)
    batch = os.urandom(1 << 20)
    for n in range(3):
        state.commit("0/1", position=n, pending=[], done=n, complete=False, batch=batch,
                     output_start=n << 20)  # fmt: skip
    written = (tmp_path / "s.state-wal").stat().st_size
    state.close()
    assert written < 4 << 20  # three batches and their pages' headers (zeroing: over 5 MiB)


FIRST = b'{"ip":"127.0.0.1","port":1}\n'
BATCH = b'{"ip":"127.0.0.2","port":2}\n{"ip":"127.0.0.3","port":3}\n'


@pytest.mark.parametrize("cut", [0, 1, 30, len(BATCH) - 1, len(BATCH)])
def test_a_torn_batch_is_completed_from_the_journal(tmp_path: Path, cut: int) -> None:
    out, state = journalled(tmp_path, FIRST + BATCH[:cut], BATCH, len(FIRST))
    output = OutputFile.resume(out, state)
    output.close()
    state.close()
    assert out.read_bytes() == FIRST + BATCH


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (FIRST[:-3], "shorter"),
        (FIRST + BATCH + FIRST, "does not account"),
        (FIRST + BATCH.replace(b"127.0.0.3", b"127.0.0.9"), "differs"),
        (FIRST[:-1] + b"x" + BATCH, "whole line"),
    ],
)
def test_an_output_changed_behind_the_states_back_is_refused(
    tmp_path: Path, written: bytes, message: str
) -> None:
    out, state = journalled(tmp_path, written, BATCH, len(FIRST))
    with pytest.raises(StateError, match=message):
        OutputFile.resume(out, state)
    state.close()
    assert out.read_bytes() == written


def test_the_split_into_tasks_is_saved_and_kept(tmp_path: Path) -> None:
    from pacsaudit.engine.jobs import split_tasks

    state = ScanState.create(tmp_path / "s.state", {"fingerprint": "x", "shard": "0/1"})
    try:
        assert split_tasks(state, None, 6) == 6  # the first run decides, and saves it
        assert split_tasks(state, None, 2) == 6  # a resume keeps it, whatever the cluster
        assert split_tasks(state, 6, 2) == 6
        with pytest.raises(StateError, match="--tasks 4 differs"):
            split_tasks(state, 4, 2)
    finally:
        state.close()


def test_a_new_state_has_large_pages_and_an_old_one_still_loads(tmp_path: Path) -> None:
    """A batch of megabytes is journalled in 16 KiB pages; a state made with SQLite's 4 KiB
    default (before 2026-12-04) resumes as before."""
    import sqlite3

    from pacsaudit.engine.state import PAGE_SIZE

    out, state = journalled(tmp_path, FIRST, BATCH * 2000, len(FIRST))
    state.close()
    with sqlite3.connect(tmp_path / "s.state") as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16384
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA page_size=4096")
        conn.execute("VACUUM")  # the file now as an older pacsaudit wrote it
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    old = ScanState.load(tmp_path / "s.state")
    output = OutputFile.resume(out, old)
    output.close()
    old.close()
    assert out.read_bytes() == FIRST + BATCH * 2000
