"""What a scan imports. Start-up is most of a small scan's wall clock, so ``pacsaudit scan``
loads a probe's module — and the libraries behind it (httpx, impacket, aioftp, pydicom,
cryptography) — only when a probe first runs, and only probes the requested ports and
``--probe`` allow; reports are loaded only to print."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostile_servers import Handler, PeerServer, closed_port, good_acceptor
from pacsaudit.engine.options import EngineOptions
from pacsaudit.plan import ScanPlan
from pacsaudit.probes.catalog import (
    PROBE_NAMES,
    PROBE_PORTS,
    PROBE_PROTOCOLS,
    build_probes,
    default_scan_ports,
    probes_needed,
)
from pacsaudit.probes.dicom.probe import DicomOptions
from pacsaudit.targets.spec import AddressSpace
from probes.http.peers import Site, html_route, read_request, response

# Runs the CLI in a fresh interpreter and, at exit, writes the names of every loaded module.
CHILD = """
import atexit, json, sys
out = sys.argv[1]
def dump():
    with open(out, "w") as fh:
        json.dump(sorted(sys.modules), fh)
atexit.register(dump)
sys.argv = ["pacsaudit", *sys.argv[2:]]
from pacsaudit.cli import main
main()
"""

OTHER_PROBES = (
    "httpx",
    "httpcore",
    "impacket",
    "aioftp",
    "cryptography",
    "jinja2",
    "pacsaudit.probes.http.probe",
    "pacsaudit.probes.http.transport",
    "pacsaudit.probes.fileshare.ftp",
    "pacsaudit.probes.fileshare.smb",
    "pacsaudit.probes.fileshare.rsync",
    "pacsaudit.probes.fileshare.walk",
    "pacsaudit.net.tlsinfo",
)
NOT_FOR_DISCOVERY = (
    "pydicom",
    "pacsaudit.probes.dicom.exposure",
    "pacsaudit.probes.dicom.query",
    "pacsaudit.measure.annex_e",
    "pacsaudit.report",
    "pacsaudit.intel.nas",  # NAS firmware CVEs: web findings only
    "rich",  # a quiet scan prints nothing
)


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


async def _run_child(
    tmp_path: Path, port: int, args: tuple[str, ...]
) -> tuple[list[str], list[dict[str, object]]]:
    modules_file = tmp_path / "modules.json"
    output = tmp_path / "findings.jsonl"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(modules_file),
        "scan",
        "127.0.0.1",
        "-p",
        str(port),
        "-q",
        "--no-state",
        "-o",
        str(output),
        "--read-timeout",
        "2",
        *args,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _, stderr = await child.communicate()
    assert child.returncode == 0, stderr.decode()
    findings = [json.loads(line) for line in output.read_text().splitlines()]
    modules: list[str] = json.loads(modules_file.read_text())
    return modules, findings


async def _scan_in_child(
    tmp_path: Path, *args: str, peer: Handler | None = good_acceptor
) -> tuple[list[str], list[dict[str, object]]]:
    """Scan ``peer`` (None: a closed port) with the CLI in a fresh interpreter."""
    if peer is None:
        return await _run_child(tmp_path, closed_port(), args)
    async with PeerServer(peer) as server:
        return await _run_child(tmp_path, server.port, args)


def _fully_checked(finding: dict[str, object]) -> None:
    assert finding["status"] == "dicom"
    result = finding["result"]
    assert isinstance(result, dict)
    assert result["echo_status"] == 0
    assert result["accepted_contexts"]
    (attempt,) = result["attempts"]
    assert attempt["released"] is True


def test_a_dicom_discovery_scan_loads_only_the_dicom_probe(tmp_path: Path) -> None:
    modules, findings = asyncio.run(
        _scan_in_child(tmp_path, "--probe", "dicom", "--depth", "discover")
    )
    (finding,) = findings
    _fully_checked(finding)
    assert "pacsaudit.probes.dicom.probe" in modules
    assert _loaded(modules, OTHER_PROBES) == []
    assert _loaded(modules, NOT_FOR_DISCOVERY) == []


def test_an_unclaimed_port_answering_dicom_loads_no_other_probe(tmp_path: Path) -> None:
    """Without ``--probe`` a port no probe claims is identified by the peer's first answer,
    which may hand it to any probe; a DICOM answer needs no other."""
    modules, findings = asyncio.run(_scan_in_child(tmp_path, "--depth", "discover"))
    (finding,) = findings
    _fully_checked(finding)
    assert finding["protocol"] == "dicom"
    assert _loaded(modules, OTHER_PROBES) == []


async def _web_site(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A web server: our A-ASSOCIATE-RQ draws a 400, a GET the page."""
    site = Site(routes={"/": html_route("Orthanc Explorer 2")})
    if await reader.readexactly(4) != b"GET ":
        writer.write(response(400, reason="Bad Request", headers={"Connection": "close"}))
        await writer.drain()
        return
    rest = await reader.readuntil(b"\r\n\r\n")
    path = rest.split(b" ", 1)[0].decode()
    writer.write(site.routes[path](None) if path in site.routes else response(404))  # type: ignore[arg-type]
    await writer.drain()
    while (req := await read_request(reader)) is not None:
        writer.write(site.routes[req.path](req) if req.path in site.routes else response(404))
        await writer.drain()


def test_an_unclaimed_port_answering_http_loads_the_http_probe_then(tmp_path: Path) -> None:
    modules, findings = asyncio.run(_scan_in_child(tmp_path, "--depth", "discover", peer=_web_site))
    assert [(f["protocol"], f["status"]) for f in findings] == [
        ("dicom", "open-not-dicom"),
        ("http", "http"),
    ]
    assert "httpx" in modules
    assert "pacsaudit.probes.http.probe" in modules
    assert _loaded(modules, ("impacket", "aioftp")) == []


def test_a_closed_port_loads_no_probe(tmp_path: Path) -> None:
    modules, findings = asyncio.run(_scan_in_child(tmp_path, peer=None))
    assert [(f["protocol"], f["status"]) for f in findings] == [("dicom", "closed")]
    assert _loaded(modules, ("pacsaudit.probes.dicom.probe", *OTHER_PROBES)) == []


@pytest.mark.parametrize(
    ("ports", "forced", "needed"),
    [
        ((104, 11112), None, ("dicom",)),
        ((104, 2762), None, ("dicom",)),
        ((104, 8042), None, ("dicom", "http")),
        ((21, 445, 873), None, ("ftp", "smb", "rsync")),
        ((104, 40000), None, PROBE_NAMES),
        ((40000,), "dicom", ("dicom",)),
        ((8042,), "dicom", ("dicom",)),
        ((), None, ()),
    ],
)
def test_probes_needed(ports: tuple[int, ...], forced: str | None, needed: tuple[str, ...]) -> None:
    assert probes_needed(ports, forced) == needed


def test_probe_ports_match_the_probes() -> None:
    probes = build_probes(ScanPlan(AddressSpace(), (), EngineOptions(), DicomOptions(), None))
    assert tuple(probes) == PROBE_NAMES
    for name, probe in probes.items():
        assert probe.default_ports == PROBE_PORTS[name]
        assert probe.name == PROBE_PROTOCOLS[name]
    assert default_scan_ports() == tuple(sorted({p for q in PROBE_PORTS.values() for p in q}))


def test_build_probes_builds_only_the_named_ones_in_registry_order() -> None:
    plan = ScanPlan(AddressSpace(), (), EngineOptions(), DicomOptions(), None)
    assert tuple(build_probes(plan, ["https", "dicom"])) == ("dicom", "https")


def _collector_after_import(before: str) -> list[object]:
    code = (
        f"import gc, json; {before}; import pacsaudit.cli; "
        "print(json.dumps([gc.isenabled(), gc.get_threshold(), gc.get_freeze_count() > 0]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    answer: list[object] = json.loads(done.stdout)
    return answer


def test_importing_the_cli_leaves_the_collector_on_and_its_modules_frozen() -> None:
    """The imports run with the collector paused; it is on again after them (a test or a
    script importing the CLI keeps collecting), with the thresholds it had."""
    enabled, thresholds, frozen = _collector_after_import("pass")
    assert enabled is True
    assert thresholds == list(gc.get_threshold())
    assert frozen is True
    assert _collector_after_import("gc.disable()")[0] is False


@pytest.mark.parametrize(
    "args",
    [
        ("scan", "--help"),
        ("scan", "--no-such-option"),
        ("scan",),
        ("version",),
        ("report", "--help"),
        ("--help",),
        ("sacn",),
        ("lab", "--help"),
    ],
)
def test_the_console_script_answers_as_the_whole_app_does(args: tuple[str, ...]) -> None:
    """``main`` builds only the command the first argument names (typer would build all of
    them): its help, errors and exit codes are the whole app's, word for word."""

    def run(code: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "COLUMNS": "100", "TERM": "dumb"},
        )
        return done.returncode, done.stdout, done.stderr

    single = run("from pacsaudit.cli import main; main()")
    whole = run("from pacsaudit.cli import app; app()")
    assert single == whole
    assert single[1] or single[2]


def test_app_for_holds_the_named_command_only() -> None:
    from pacsaudit.cli import COMMANDS, app, app_for

    assert app_for([]) is app
    assert app_for(["lab", "up"]) is app
    assert app_for(["--help"]) is app
    for name in COMMANDS:
        single = app_for([name, "--help"])
        assert [c.name for c in single.registered_commands] == [name]
    assert sorted(COMMANDS) == sorted(
        c.name or c.callback.__name__ for c in app.registered_commands if c.callback
    )


SCANNER = (
    "pacsaudit.cli.scan",
    "pacsaudit.cli.scan_options",
    "pacsaudit.cli.lab",
    "pacsaudit.cli.reports",
    "pacsaudit.probes",
    "pacsaudit.engine",
    "pacsaudit.targets",
    "pacsaudit.net",
    "pacsaudit.plan",
    "pacsaudit.run",
    "pacsaudit.config",
    "pacsaudit.report",
    "pacsaudit.lab",
    "pacsaudit.errors",  # the scanner's error mapping (ssl, socket, the finding model)
    "pacsaudit.model",
    "asyncio",
)


def _modules_of(tmp_path: Path, *args: str) -> list[str]:
    """The modules a CLI call loaded, run in a fresh interpreter (which must exit 0)."""
    modules_file = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(modules_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(modules_file.read_text())
    return modules


def test_deid_loads_none_of_the_scanner(tmp_path: Path) -> None:
    """Nor, quiet and in one process, the terminal (rich) or a process pool."""
    (tmp_path / "in").mkdir()
    key = tmp_path / "deid.key"
    out = tmp_path / "out"
    args = ("deid", str(tmp_path / "in"), str(out), "-q", "-j", "1", "--key-file", str(key))
    modules = _modules_of(tmp_path, *args)
    assert "pacsaudit.deid.command" in modules
    assert out.is_dir()
    assert _loaded(modules, SCANNER) == []
    assert _loaded(modules, ("rich", "multiprocessing", "concurrent.futures.process")) == []
