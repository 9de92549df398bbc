"""A reporter never opens a socket (STYLE.md): every report command runs with sockets disabled."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import report_fixtures as fx

from pacsaudit.report.build import write_diff, write_report
from pacsaudit.report.notify import read_owner_map, write_notices
from pacsaudit.report.records import load_results


class SocketOpened(AssertionError):
    pass


def test_reports_diffs_and_notices_open_no_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = fx.write_old(tmp_path), fx.write_new(tmp_path)
    owners = tmp_path / "owners.csv"
    owners.write_text("cidr,owner\n53.10.0.0/16,Klinikum\n", "utf-8")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise SocketOpened("a reporter tried to open a socket")

    monkeypatch.setattr(socket.socket, "__init__", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(SocketOpened):
        socket.socket()  # the trap works
    write_report([new], tmp_path / "full", baseline=[old])
    write_report([new], tmp_path / "public", public=True)
    write_diff([old], [new], tmp_path / "diff")
    write_notices(load_results([new]), read_owner_map(owners), tmp_path / "notices")
    assert (tmp_path / "full" / "report.html").is_file()
