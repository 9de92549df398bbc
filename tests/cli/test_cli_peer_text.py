"""``pacsaudit scan`` end to end against a DICOM acceptor whose identity is an attack (issue 15).

The acceptor (a fake on 127.0.0.1: no real server sends this) answers with ``[/bold]``, an
OSC 8 hyperlink and a screen clear as its Implementation Version Name. Before the fix, the
``[/bold]`` raised rich's MarkupError at the end of the scan: traceback, exit 1, no table, and
``--fail-on`` blinded. Now the table shows the text literally and exit 3 still says what was
found — and should drawing the table fail for any other reason, one line says so and the exit
code is still 3.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.test_cli import run_cli
from hostile_servers import PeerServer, accept_for, read_pdu, serve_association
from pacsaudit import cli
from pacsaudit.probes.dicom import pdu
from peer_text import is_subsequence
from test_peer_text_flow import with_identity

VERSION = b"[/bold]\x1b]8;;http://evil.example/\x07x\x1b[2J"


async def _acceptor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    pdu_type, request = await read_pdu(reader)
    if pdu_type != pdu.PduType.ASSOCIATE_RQ:
        return
    ac = accept_for(request, class_uid=None, version=None)
    writer.write(with_identity(ac, b"1.2.3.4\x9b6n", VERSION))
    await serve_association(reader, writer)


@pytest.fixture(scope="module")
def hostile_port() -> Iterator[int]:
    """The acceptor on its own loop in a thread, for a scan in another process."""
    ready = threading.Event()
    stop: asyncio.Event | None = None
    port = 0
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        nonlocal stop, port
        stop = asyncio.Event()
        async with PeerServer(_acceptor) as server:
            port = server.port
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    yield port
    assert stop is not None
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=5)
    loop.close()


def test_hostile_identity_prints_as_text_and_fail_on_still_exits_3(hostile_port: int) -> None:
    r = run_cli("scan", "127.0.0.1", "-p", str(hostile_port), "--fail-on", "medium")
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    assert "\x1b" not in r.stderr  # not a terminal: no escape of ours, none of the peer's
    assert "\x1b" not in r.stdout
    assert "pacsaudit findings" in r.stderr
    assert "failing" in r.stderr
    # the toolkit column folds the name across lines, between the other columns
    assert is_subsequence("[/bold]\\x1b]8;;http://evil.example/\\x07x\\x1b[2J", r.stderr)
    record = json.loads(r.stdout)  # the JSON keeps an escaped, faithful sample
    assert record["result"]["implementation_class_uid"] == "1.2.3.4\\x9b6n"
    assert record["result"]["implementation_version_name"].startswith("[/bold]\\x1b]8;;")


def test_a_table_that_cannot_be_drawn_is_one_line_and_exit_3_survives(
    hostile_port: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pacsaudit.report import table

    def broken(*_args: object) -> object:
        raise RuntimeError("a rendering bug")

    monkeypatch.setattr(table, "findings_table", broken)
    out = tmp_path / "findings.jsonl"
    result = CliRunner().invoke(
        cli.app,
        ["scan", "127.0.0.1", "-p", str(hostile_port), "--fail-on", "medium", "-o", str(out)],
    )
    assert result.exit_code == 3, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "the findings table could not be drawn (RuntimeError)" in result.output
    assert "1 targets, 1 records in" in result.output  # the totals follow all the same
    assert out.read_text().count("\n") == 1
    assert "a finding is medium or worse" in result.output
