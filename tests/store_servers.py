"""Real DCMTK and Orthanc servers for the storage and worklist tests, each on free loopback ports.

Started the way ``lab up`` starts its servers (:func:`pacsaudit.lab.services.start_service`:
a log per server, a bounded wait for the port), each in a folder of its own under the test's
temporary directory, and stopped with its process group when the ``with`` block ends:

- ``storescp`` as shipped (any called AE, every standard Storage SOP class) and with ``-pm``
  (promiscuous: any SOP class, made-up ones included), writing into ``incoming/``;
- Orthanc from Debian's own ``/etc/orthanc/orthanc.json`` with only ports, storage folders and
  plugins changed (LAB-NOTES: it accepts any AE, aborts C-FIND from unknown modalities and
  accepts C-STORE from anyone), optionally with the Modality Worklists plugin on a folder;
- ``wlmscpfs`` on a worklist database folder (one sub-folder per called AE title);
- ``dcmprscp``, DCMTK's Basic Grayscale Print SCP, from Debian's ``/etc/dcmtk/dcmpstat.cfg``
  with only the printer's port and the log, spool and database folders changed;
- a pynetdicom AE serving the SOP classes a test names (in this process, on a thread of
  pynetdicom's), optionally under another implementation's identifiers and max PDU, with the
  test's event handlers bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from loopback import free_port
from pacsaudit.engine.options import new_event_loop_factory
from pacsaudit.lab.services import LabInfo, LabService, alive, start_service
from pacsaudit.lab.worklist import write_worklist as lab_worklist
from pacsaudit.measure.classify import classify
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.model import DicomResult, Status
from pacsaudit.probes.dicom.probe import Depth, DicomOptions, DicomProbe
from pacsaudit.targets.spec import Target

DEBIAN_ORTHANC = Path("/etc/orthanc/orthanc.json")
WORKLIST_PLUGIN = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")
STOP_TIMEOUT = 10.0
HASHER = KeyedHasher(bytes(range(32)))


@dataclass(frozen=True, slots=True)
class Running:
    port: int
    folder: Path
    """Where the server keeps what it receives: ``incoming/`` (storescp), ``storage/``
    (Orthanc), the worklist database (wlmscpfs)."""
    http_port: int | None = None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)
    assert not alive(proc.pid)


@contextlib.contextmanager
def _serving(root: Path, name: str, software: str, argv: list[str], port: int) -> Iterator[None]:
    info = LabInfo(state_dir=root)
    service = LabService(name, software, "dicom", port, name)
    proc = start_service(info, service, argv, root)
    try:
        yield
    finally:
        _stop(proc)


@contextlib.contextmanager
def storescp(root: Path, *, promiscuous: bool = False) -> Iterator[Running]:
    root.mkdir(parents=True, exist_ok=True)
    incoming = root / "incoming"
    incoming.mkdir(exist_ok=True)
    port = free_port()
    argv = ["storescp", *(["-pm"] if promiscuous else []), "-aet", "STORESCP"]
    argv += ["-od", str(incoming), str(port)]
    with _serving(root, "storescp", "DCMTK storescp", argv, port):
        yield Running(port, incoming)


def debian_orthanc_config(text: str, **values: object) -> str:
    """Debian's orthanc.json (JSON with comments, which Orthanc reads) with top-level keys
    replaced in place; the comments and every other setting stay as shipped."""
    for key, value in values.items():
        pattern = re.compile(rf'^(\s*"{key}"\s*:\s*)(\[[^\]]*\]|[^,\n]*)(,?)', re.MULTILINE)
        encoded = json.dumps(value)
        text, n = pattern.subn(lambda m, v=encoded: m.group(1) + v + m.group(3), text)
        assert n == 1, f"{key} not found once in Debian's orthanc.json"
    return text


@contextlib.contextmanager
def debian_orthanc(
    root: Path,
    *,
    worklists: Path | None = None,
    added: dict[str, object] | None = None,
    **changes: object,
) -> Iterator[Running]:
    """Orthanc as Debian ships it. With ``worklists``, the sample Worklists plugin serves that
    folder; ``changes`` replace more of the shipped settings (``DicomAlwaysAllowFindWorklist``
    is false as shipped); ``added`` are settings the shipped file lacks (``RegisteredUsers``)."""
    root.mkdir(parents=True, exist_ok=True)
    storage = root / "storage"  # instances only: the index lives apart, so that an empty
    storage.mkdir(exist_ok=True)  # folder proves nothing was stored
    port, http_port = free_port(), free_port()
    text = debian_orthanc_config(
        DEBIAN_ORTHANC.read_text(encoding="utf-8"),
        StorageDirectory=str(storage),
        IndexDirectory=str(root / "index"),
        DicomPort=port,
        HttpPort=http_port,
        Plugins=[str(WORKLIST_PLUGIN)] if worklists else [],
        **changes,
    )
    more = dict(added or {})
    if worklists is not None:
        more["Worklists"] = {"Enable": True, "Database": str(worklists)}
    for key, value in more.items():
        text = (
            text.rstrip().removesuffix("}") + f",\n  {json.dumps(key)}: {json.dumps(value)}\n}}\n"
        )
    config = root / "orthanc.json"
    config.write_text(text, encoding="utf-8")
    with _serving(root, "orthanc", "Orthanc", ["Orthanc", str(config)], port):
        yield Running(port, storage, http_port)


@contextlib.contextmanager
def wlmscpfs(root: Path, database: Path) -> Iterator[Running]:
    """DCMTK's worklist SCP on ``database`` (folders named by called AE title, ``.wl`` files)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = ["wlmscpfs", "-dfp", str(database), str(port)]
    with _serving(root, "wlmscpfs", "DCMTK wlmscpfs", argv, port):
        yield Running(port, database)


DCMPSTAT_CFG = Path("/etc/dcmtk/dcmpstat.cfg")
PRINTER = "IHEFULL"
"""The print SCP section of Debian's dcmpstat.cfg (AE title ``IHEFULL``, port 10005 as
shipped)."""


def dcmpstat_config(text: str, port: int, root: Path) -> str:
    """Debian's dcmpstat.cfg with the ``IHEFULL`` printer on ``port`` and the log, spool and
    database folders under ``root``; every other setting as shipped."""
    section = re.compile(rf"(^\[{PRINTER}\]$.*?^Port\s*=\s*)\d+", re.MULTILINE | re.DOTALL)
    text, n = section.subn(lambda m: m.group(1) + str(port), text, count=1)
    assert n == 1, "no IHEFULL printer port in Debian's dcmpstat.cfg"
    for key, value in (("LogDirectory", "log"), ("Directory", "spool"), ("Directory", "database")):
        folder = root / value
        folder.mkdir(exist_ok=True)
        pattern = re.compile(rf"^({key}\s*=\s*){value}$", re.MULTILINE)
        text, n = pattern.subn(lambda m, f=str(folder): m.group(1) + f, text, count=1)
        assert n == 1, f"{key} = {value} not found once in Debian's dcmpstat.cfg"
    return text


@contextlib.contextmanager
def dcmprscp(root: Path) -> Iterator[Running]:
    """DCMTK's Basic Grayscale Print SCP as Debian ships its configuration (``man dcmprscp``):
    the ``IHEFULL`` printer of /etc/dcmtk/dcmpstat.cfg on a free port. It spools what it is
    sent under ``spool/``."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = root / "dcmpstat.cfg"
    config.write_text(dcmpstat_config(DCMPSTAT_CFG.read_text("latin-1"), port, root), "latin-1")
    argv = ["dcmprscp", "-c", str(config), "-p", PRINTER]
    with _serving(root, "dcmprscp", "DCMTK dcmprscp", argv, port):
        yield Running(port, root / "spool")


@contextlib.contextmanager
def pynetdicom_scp(
    sop_classes: Sequence[str],
    *,
    class_uid: str | None = None,
    version_name: str | None = None,
    max_pdu: int | None = None,
    handlers: Sequence[tuple[object, Callable[..., object]]] = (),
) -> Iterator[int]:
    """A real pynetdicom SCP for ``sop_classes`` (UIDs) on a free loopback port; yields it."""
    from pynetdicom import AE

    ae = AE(ae_title="LABSCP")
    if class_uid is not None:
        ae.implementation_class_uid = class_uid
    if version_name is not None:
        ae.implementation_version_name = version_name
    if max_pdu is not None:
        ae.maximum_pdu_size = max_pdu
    for uid in sop_classes:
        ae.add_supported_context(uid)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=list(handlers))
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder`` (an SCP that stored anything would have made one)."""
    return [p for p in folder.rglob("*") if p.is_file()]


def write_worklist(
    folder: Path, steps: int, patients: int, patient_ids: Sequence[str] = ()
) -> list[str]:
    """The lab's synthetic ``.wl`` files under the tests' own prefix; the fake values written,
    for the tests to search every output for. ``patient_ids``: synthetic IDs of an archive's
    corpus for the first patients (scheduled patients who also have studies)."""
    return sorted(lab_worklist(folder, steps, patients, prefix="Canary", patient_ids=patient_ids))


def scan(port: int, **options: object) -> DicomResult:
    """One exposure-depth scan of 127.0.0.1:``port``, judged by the classify stage."""
    probe = DicomProbe(
        DicomOptions(
            depth=Depth.EXPOSURE,
            hasher=HASHER,
            budget=30.0,
            tls_ports=frozenset(),
            **options,  # type: ignore[arg-type]
        )
    )
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        finding = classify(runner.run(probe.scan(Target("127.0.0.1", port))))
    assert finding.status is Status.DICOM
    assert isinstance(finding.result, DicomResult)
    return finding.result
