"""The ``pacsaudit scan`` command end to end, as a user runs it: bad input, exclusions,
output on stdout and in files, Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacsaudit.engine.options import EngineOptions
from pacsaudit.plan import make_plan
from pacsaudit.probes.dicom.probe import DicomOptions
from pacsaudit.usage import UsageError

PACSAUDIT = [sys.executable, "-m", "pacsaudit"]


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PACSAUDIT, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def closed_port() -> int:
    """A port with nothing listening: bind, read the number, close."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class CountingListener:
    """Accepts connections on 127.0.0.1 and counts them; optionally never answers (tarpit)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for c in self.held:
            c.close()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    lst = CountingListener()
    yield lst
    lst.close()


def test_malformed_target_fails_before_scanning(tmp_path: Path) -> None:
    out = tmp_path / "f.jsonl"
    r = run_cli("scan", "127.0.0.1", "300.1.2.3", "-p", "104", "-o", str(out))
    assert r.returncode == 2
    assert "argument 2" in r.stderr
    assert "300.1.2.3" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_target_in_file_is_named_with_line(tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("# lab\n127.0.0.1\n127.0.0.1/33\n", encoding="utf-8")
    r = run_cli("scan", "-i", str(targets), "-p", "104")
    assert r.returncode == 2
    assert f"{targets}:3" in r.stderr


def test_unreadable_target_file(tmp_path: Path) -> None:
    r = run_cli("scan", "-i", str(tmp_path / "missing.txt"), "-p", "104")
    assert r.returncode == 2
    assert "cannot read target file" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("ports", ["0", "70000", "10-5", "ab", ""])
def test_bad_ports(ports: str) -> None:
    r = run_cli("scan", "127.0.0.1", "-p", ports)
    assert r.returncode == 2
    assert "port" in r.stderr


def test_unknown_host_name_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolution failure, simulated in-process so that no DNS query leaves the machine."""

    def fail(*_args: object, **_kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(UsageError, match=r"argument 1: cannot resolve host name 'pacs\.example'"):
        make_plan(
            targets=["pacs.example"],
            input_files=[],
            exclude_files=[],
            ports=(104,),
            engine=EngineOptions(),
            dicom=DicomOptions(),
            output=None,
        )


def test_localhost_resolves_and_is_labelled() -> None:
    port = closed_port()
    r = run_cli("scan", "localhost", "-p", str(port), "-q")
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert records
    assert {rec["host"] for rec in records} == {"localhost"}
    assert {rec["status"] for rec in records} == {"closed"}


def test_stdout_holds_only_json_lines() -> None:
    port = closed_port()
    r = run_cli("scan", "127.0.0.1", "-p", str(port))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["ip"] == "127.0.0.1"
    assert rec["port"] == port
    assert rec["protocol"] == "dicom"
    assert rec["status"] == "closed"
    assert rec["timestamp"].endswith("Z")
    assert "pacsaudit findings" in r.stderr  # the table goes to stderr


def test_targets_from_stdin(tmp_path: Path) -> None:
    port = closed_port()
    out = tmp_path / "f.jsonl"
    r = subprocess.run(
        [*PACSAUDIT, "scan", "-", "-p", str(port), "-q", "-o", str(out)],
        input="127.0.0.1\n127.0.0.2-3 # a range\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    ips = sorted(json.loads(line)["ip"] for line in out.read_text().splitlines())
    assert ips == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


def test_exclusions_are_honoured_before_any_packet(
    tmp_path: Path, listener: CountingListener
) -> None:
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("127.0.0.1  # our listener\n", encoding="utf-8")
    out = tmp_path / "f.jsonl"
    r = run_cli(
        "scan", "127.0.0.0/30", "-p", str(listener.port), "-x", str(exclude), "-o", str(out)
    )
    assert r.returncode == 0, r.stderr
    ips = {json.loads(line)["ip"] for line in out.read_text().splitlines()}
    assert ips == {"127.0.0.0", "127.0.0.2", "127.0.0.3"}
    assert listener.accepted == 0
    assert "1 addresses excluded" in r.stderr


def test_everything_excluded_is_an_error(tmp_path: Path) -> None:
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("127.0.0.0/8\n", encoding="utf-8")
    r = run_cli("scan", "127.0.0.1", "-p", "104", "-x", str(exclude))
    assert r.returncode == 2
    assert "no targets left after exclusions" in r.stderr
    assert f"excluded by {exclude}" in r.stderr  # which rule removed it
    shipped = run_cli("scan", "224.0.0.1", "-p", "104", "--dry-run")  # never a packet
    assert shipped.returncode == 2
    assert "224.0.0.0/4 (RFC5771: Multicast)" in shipped.stderr


def test_ctrl_c_keeps_complete_lines(tmp_path: Path, listener: CountingListener) -> None:
    """Closed ports are done at once, the tarpit holds the scan open; SIGINT then stops it."""
    closed = sorted({closed_port() for _ in range(5)})
    out = tmp_path / "f.jsonl"
    proc = subprocess.Popen(
        [
            *PACSAUDIT, "scan", "127.0.0.1", "-p", ",".join(map(str, [*closed, listener.port])),
            "--read-timeout", "60", "--host-timeout", "120", "-o", str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if out.exists() and len(out.read_bytes().splitlines()) >= len(closed):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("closed ports were not written within 20 s")
        assert listener.accepted >= 1  # the tarpit holds a connection
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    raw = out.read_bytes()
    assert raw.endswith(b"\n")
    records = [json.loads(line) for line in raw.splitlines()]
    assert {r["port"] for r in records if r["status"] == "closed"} == set(closed)


def test_help_lists_commands() -> None:
    r = run_cli("--help")
    assert r.returncode == 0
    for word in ("scan", "lab"):
        assert word in r.stdout


# -- outputs and options that would lose work or never end ----------------------------------


def test_existing_results_are_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "findings.jsonl"
    port = str(closed_port())
    first = run_cli("scan", "127.0.0.1", "-p", port, "-q", "--no-state", "-o", str(out))
    assert first.returncode == 0, first.stderr
    before = out.read_bytes()
    again = run_cli("scan", "127.0.0.1", "-p", port, "-q", "--no-state", "-o", str(out))
    assert again.returncode == 2
    assert "exists and holds results" in again.stderr
    assert "--overwrite" in again.stderr
    assert out.read_bytes() == before
    forced = run_cli(
        "scan", "127.0.0.1", "-p", port, "-q", "--no-state", "--overwrite", "-o", str(out)
    )
    assert forced.returncode == 0, forced.stderr
    assert len(out.read_bytes().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--log-level", "LOUD"], "--log-level 'LOUD' is not one of"),
        (["--host-timeout", "nan"], "--host-timeout must be a finite number"),
        (["--read-timeout", "inf"], "--read-timeout must be a finite number"),
        (["--connect-timeout", "0"], "--connect-timeout must be a finite number"),
        (["--guess-interval", "-1"], "--guess-interval must be a finite number"),
        (["--max-body", "-1"], "--max-body"),
        (["--concurrency", "0"], "--concurrency"),
    ],
)
def test_bad_option_values_are_one_clear_error(args: list[str], message: str) -> None:
    r = run_cli("scan", "127.0.0.1", "-p", str(closed_port()), "-q", *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_unwritable_paths_are_one_clear_error(tmp_path: Path) -> None:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x\n")
    port = str(closed_port())
    cases = [
        (["-o", str(tmp_path)], "is a folder"),
        (["-o", str(a_file / "out.jsonl")], f"{a_file} is not a folder"),
        (["--key-file", str(a_file / "k")], f"{a_file} is not a folder"),
        (
            ["-o", str(tmp_path / "s.jsonl"), "--state", str(tmp_path / "s.jsonl")],
            "name the same file",
        ),
    ]
    for args, message in cases:
        r = run_cli("scan", "127.0.0.1", "-p", port, "-q", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "s.jsonl").exists()  # refused before anything was written


def test_a_full_disk_leaves_no_torn_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch is written whole or not at all: a write that fails half-way (ENOSPC) is cut
    back, so the output still ends with a complete line."""
    import errno
    import os

    from pacsaudit.engine import checkpoint

    out = checkpoint.OutputFile(tmp_path / "f.jsonl")
    out.append(b'{"a":1}\n')
    real_write = os.write
    calls = 0

    def half_then_full(fd: int, data: bytes | memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data)[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        out.append(b'{"b":2}\n{"c":3}\n')
    monkeypatch.setattr(checkpoint.os, "write", real_write)
    out.close()
    assert (tmp_path / "f.jsonl").read_bytes() == b'{"a":1}\n'
