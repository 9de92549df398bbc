"""The lab's services as data, and the processes behind them: what ``lab up`` starts, saves
and ``lab down`` stops.

Apart from :mod:`pacsaudit.lab.manager` (which servers, configured how) so that the server
families in other modules (:mod:`pacsaudit.lab.fileshare`) start their processes the same
way without importing the manager.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pacsaudit.peertext import visible

LAB_HOST = "127.0.0.1"
STATE_FILE = "lab.json"
READY_TIMEOUT = 30.0


class LabError(Exception):
    """The lab could not start or stop; the message says what to do."""


@dataclass
class LabService:
    name: str
    software: str
    protocol: str
    port: int
    description: str
    called_ae: str | None = None
    calling_ae: str | None = None
    """The calling AE title the server knows, where it only accepts known callers."""
    tls: bool = False
    pid: int | None = None
    expect: dict[str, str] = field(default_factory=dict)
    """What a scan must find here (status, AE policy): the lab's own ground truth."""


@dataclass
class LabInfo:
    state_dir: Path
    host: str = LAB_HOST
    services: list[LabService] = field(default_factory=list)
    corpus: dict[str, object] = field(default_factory=dict)

    def service(self, name: str) -> LabService:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.services]

    def save(self) -> None:
        data = {
            "host": self.host,
            "services": [asdict(s) for s in self.services],
            "corpus": self.corpus,
        }
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(self.state_dir / STATE_FILE)

    @classmethod
    def load(cls, state_dir: Path) -> LabInfo:
        raw = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
        return cls(
            state_dir=state_dir,
            host=raw["host"],
            services=[LabService(**s) for s in raw["services"]],
            corpus=raw.get("corpus", {}),
        )

    def print(self, console: Console) -> None:
        # the state file can be edited and the folder named anything: cells are data
        table = Table(title=Text(f"pacsaudit lab on {self.host} (state: {self.state_dir})"))
        for col in ("service", "software", "port", "protocol", "set up as"):
            table.add_column(col)
        for s in self.services:
            cells = (s.name, s.software, str(s.port), s.protocol, s.description)
            table.add_row(*(Text(visible(c)) for c in cells))
        console.print(table)
        if self.corpus:
            c = self.corpus
            console.print(
                f"synthetic corpus: {c.get('patients')} patients, {c.get('studies')} studies, "
                f"{c.get('instances')} instances (fake PHI only)",
                markup=False,
                highlight=False,
            )


# -- process handling ---------------------------------------------------------------------


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _wait_port(port: int, pid: int, what: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if not alive(pid):
            raise LabError(f"{what} exited during start-up; its log ends:\n{_log_tail(log)}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((LAB_HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise LabError(f"{what} did not open port {port} within {READY_TIMEOUT:.0f} s; see {log}")


def find_program(name: str) -> str:
    """The first executable called ``name`` on PATH that is a native program, not a script.

    pynetdicom installs console scripts named like DCMTK's tools (``storescp``, ``findscu``,
    ``echoscu`` …) into the venv's ``bin``; with the venv activated they come first on PATH and
    take other options, so ``lab up`` would start pynetdicom where it means DCMTK. Scripts
    (``#!``) are skipped; pynetdicom's apps are started as ``python -m pynetdicom`` instead.
    """
    if os.path.isabs(name):
        return name
    scripts: list[str] = []
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        exe = shutil.which(name, path=folder or os.curdir)
        if exe is None:
            continue
        if _is_script(exe):
            scripts.append(exe)
            continue
        return exe
    hint = f" (only scripts of that name: {', '.join(scripts)})" if scripts else ""
    raise LabError(f"{name} not found{hint}: install the Debian packages (make demo does)")


def _is_script(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def samba_helpers_of(folder: Path) -> list[int]:
    """Samba processes still running on a configuration inside ``folder``.

    ``smbd`` starts ``samba-dcerpcd`` on demand in a session of its own, so stopping smbd's
    process group leaves it (and its ``rpcd_*`` workers) running after ``lab down``. They are
    told apart by ``--configfile=`` naming a file in the lab's folder: a shell or an editor
    that merely mentions the folder is never matched. Reads ``/proc`` once.
    """
    needle = f"--configfile={folder}{os.sep}".encode()
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def _log_tail(log: Path, lines: int = 8) -> str:
    """The end of a server's log, quoted in the error: a failed ``lab up`` removes its state
    folder, log included, so a path to it would point at nothing."""
    try:
        text = log.read_bytes()[-4096:].decode("utf-8", "replace")
    except OSError:
        return "  (no log)"
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    printable = ("".join(c if c.isprintable() else "?" for c in line) for line in tail)
    return "\n".join(f"  {line}" for line in printable) or "  (empty log)"


def start_service(
    info: LabInfo, service: LabService, argv: list[str], cwd: Path
) -> subprocess.Popen[bytes]:
    exe = argv[0] if argv[0] == sys.executable else find_program(argv[0])
    log = info.state_dir / "logs" / f"{service.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [exe, *argv[1:]],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service.pid = proc.pid
    info.save()
    _wait_port(service.port, proc.pid, service.name, log)
    return proc


def run_tool(argv: list[str], what: str, timeout: float = 120.0) -> None:
    argv = [find_program(argv[0]), *argv[1:]]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} not found: install the Debian packages") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{what} took longer than {timeout:.0f} s") from None
    if done.returncode != 0:
        # DCMTK's messages name files and AE titles, never dataset values.
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise LabError(f"{what} failed ({done.returncode}): {' / '.join(tail)}")
