"""The built-in lab: real DICOM servers on loopback, loaded with synthetic patients.

Users and tests meet the same peers as in the field — Orthanc, DCMTK's dcmqrscp and storescp,
pynetdicom's qrscp — each started from a generated configuration in the lab's state folder. The
state file records every process as soon as it starts, so ``lab down`` can stop a lab that
failed half-way up. Orthanc and dcmqrscp have no option to bind one address: they listen on
all interfaces, are reached through 127.0.0.1 only, and hold nothing but synthetic data.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from rich.console import Console

from pacsaudit.lab import certs
from pacsaudit.lab import fileshare as fileshare_lab
from pacsaudit.lab.http import dicomweb_config, locked_orthanc_expect, open_orthanc_expect
from pacsaudit.lab.services import (
    LAB_HOST,
    READY_TIMEOUT,
    STATE_FILE,
    LabError,
    LabInfo,
    LabService,
    alive,
    port_free,
    run_tool,
    samba_helpers_of,
    start_service,
)
from pacsaudit.lab.synth import CorpusSpec, Manifest, generate_corpus
from pacsaudit.lab.table import (
    DCMQR_CALLED_AE,
    DCMQR_CALLING_AE,
    LOCKED_KNOWN_CALLER,
    ORTHANC_AE,
    QRSCP_AE,
    TLS_AE,
    default_ports,
    lab_service,
)
from pacsaudit.lab.worklist import start_storescp, start_worklist

STOP_TIMEOUT = 10.0

# Orthanc: wide open, as found on the Internet (../shared/LAB-NOTES.md has the measured keys).
# dcmqrscp: accepts only a known calling AE from a known host, calling a known called AE.
LOCKED_USER = "labadmin"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"pacsaudit-lab-{os.getuid()}"


# -- the servers --------------------------------------------------------------------------


def _counts(manifest: Manifest) -> dict[str, str]:
    """What an exposure scan must count on a server holding the whole corpus."""
    return {
        "patients": str(manifest.patients),
        "studies": str(manifest.studies),
        "images": str(manifest.instances),
    }


def _orthanc_config(root: Path, dicom_port: int, http_port: int, **overrides: object) -> Path:
    (root / "db").mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = {
        "Name": "pacsaudit-lab",
        "StorageDirectory": str(root / "db"),
        "IndexDirectory": str(root / "db"),
        "DicomAet": ORTHANC_AE,
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": True,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "DicomModalities": {},
        "Plugins": [],
        "HttpDescribeErrors": False,
        "StableAge": 1,
        "SaveJobs": False,
    }
    config.update(overrides)
    cfg = root / "orthanc.json"
    cfg.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return cfg


def _orthanc(info: LabInfo, ports: dict[str, int], manifest: Manifest) -> LabService:
    root = info.state_dir / "orthanc"
    http_port = ports["orthanc-http"]
    cfg = _orthanc_config(root, ports["orthanc"], http_port, **dicomweb_config(LAB_HOST, http_port))
    expect = {"status": "dicom", "ae_policy": "any-called-ae", **_counts(manifest)}
    service = lab_service("orthanc", ports, expect)
    info.services.append(service)
    info.services.append(lab_service("orthanc-http", ports, open_orthanc_expect(_counts(manifest))))
    start_service(info, service, ["Orthanc", str(cfg)], root)
    _wait_http(ports["orthanc-http"], "/system")
    return service


def _orthanc_locked(info: LabInfo, ports: dict[str, int], manifest: Manifest) -> LabService:
    """Orthanc as it should be run: login on REST, called AE checked, one known caller."""
    root = info.state_dir / "orthanc-locked"
    password = secrets.token_urlsafe(18)
    cfg = _orthanc_config(
        root,
        ports["orthanc-locked"],
        ports["orthanc-locked-http"],
        AuthenticationEnabled=True,
        RegisteredUsers={LOCKED_USER: password},
        DicomCheckCalledAet=True,
        DicomAlwaysAllowEcho=False,
        DicomAlwaysAllowStore=False,
        DicomAlwaysAllowFind=False,
        DicomAlwaysAllowGet=False,
        DicomAlwaysAllowMove=False,
        DicomModalities={"workstation": [LOCKED_KNOWN_CALLER, LAB_HOST, 104]},
    )
    (root / "credentials").write_text(f"{LOCKED_USER}:{password}\n", encoding="utf-8")
    (root / "credentials").chmod(0o600)
    # Without --guess-ae both our titles are refused as unknown called AE titles.
    expect = {"status": "dicom", "ae_policy": "called-ae-enforced"}
    service = lab_service("orthanc-locked", ports, expect)
    info.services.append(service)
    info.services.append(lab_service("orthanc-locked-http", ports, locked_orthanc_expect()))
    start_service(info, service, ["Orthanc", str(cfg)], root)
    auth = (LOCKED_USER, password)
    _wait_http(ports["orthanc-locked-http"], "/system", auth)
    _load_orthanc(ports["orthanc-locked-http"], manifest, auth)
    return service


def _wait_http(port: int, path: str, auth: tuple[str, str] | None = None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    url = f"http://{LAB_HOST}:{port}{path}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0, auth=auth).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise LabError(f"{url} did not answer within {READY_TIMEOUT:.0f} s")


def _load_orthanc(port: int, manifest: Manifest, auth: tuple[str, str] | None = None) -> None:
    with httpx.Client(base_url=f"http://{LAB_HOST}:{port}", timeout=30.0, auth=auth) as client:
        for path in manifest.files:
            r = client.post("/instances", content=path.read_bytes())
            if r.status_code != 200:
                raise LabError(f"Orthanc refused a synthetic instance (HTTP {r.status_code})")


def _dcmqrscp(info: LabInfo, ports: dict[str, int], manifest: Manifest) -> LabService:
    root = info.state_dir / "dcmqrscp"
    (root / "db").mkdir(parents=True, exist_ok=True)
    # Peers are matched on calling AE *and* host name; 127.0.0.1 resolves to "localhost".
    cfg = root / "dcmqrscp.cfg"
    cfg.write_text(
        f"""NetworkTCPPort  = {ports["dcmqrscp"]}
MaxPDUSize      = 16384
MaxAssociations = 64

HostTable BEGIN
labclient = ({DCMQR_CALLING_AE}, localhost, 0)
HostTable END

VendorTable BEGIN
"pacsaudit lab client" = labclient
VendorTable END

AETable BEGIN
{DCMQR_CALLED_AE}  {root / "db"}  RW  (1000, 1024mb)  labclient
AETable END
""",
        encoding="utf-8",
    )
    service = lab_service("dcmqrscp", ports, {"status": "dicom", "ae_policy": "called-ae-enforced"})
    info.services.append(service)
    # dcmqridx registers files in the database in place: a C-STORE per file costs dcmqrscp
    # about 60 ms, indexing all of them about 0.1 s.
    run_tool(["dcmqridx", str(root / "db"), *map(str, manifest.files)], "indexing dcmqrscp's data")
    start_service(info, service, ["dcmqrscp", "-c", str(cfg)], root)
    return service


def _qrscp(info: LabInfo, ports: dict[str, int], manifest: Manifest) -> LabService:
    root = info.state_dir / "qrscp"
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "qrscp.ini"
    cfg.write_text(
        f"""[DEFAULT]
ae_title: {QRSCP_AE}
port: {ports["qrscp"]}
max_pdu: 16382
acse_timeout: 30
dimse_timeout: 30
network_timeout: 30
bind_address: {LAB_HOST}
instance_location: {root / "instances"}
database_location: {root / "instances.sqlite"}
log_identifier: False
""",
        encoding="utf-8",
    )
    expect = {"status": "dicom", "ae_policy": "any-called-ae", **_counts(manifest)}
    service = lab_service("qrscp", ports, expect)
    info.services.append(service)
    _index_qrscp(root / "instances.sqlite", manifest)
    start_service(
        info, service, [sys.executable, "-m", "pynetdicom", "qrscp", "-c", str(cfg)], root
    )
    return service


def _index_qrscp(database: Path, manifest: Manifest) -> None:
    """Fill qrscp's database with its own app module, as its C-STORE handler would (one file at
    a time over the network costs it about 50 ms)."""
    from pydicom import dcmread
    from pynetdicom.apps.qrscp import db
    from sqlalchemy.orm import sessionmaker

    engine = db.create(f"sqlite:///{database}")
    session = sessionmaker(bind=engine)()
    try:
        for path in manifest.files:
            db.add_instance(dcmread(path, stop_before_pixels=True), session, str(path))
    finally:
        session.close()
        engine.dispose()


def _tls_scp(info: LabInfo, ports: dict[str, int]) -> LabService:
    root = info.state_dir / "storescp-tls"
    (root / "incoming").mkdir(parents=True, exist_ok=True)
    key, cert = certs.write_self_signed(root, common_name="pacsaudit-lab-dicom-tls")
    service = lab_service("dicom-tls", ports, {"status": "dicom", "ae_policy": "any-called-ae"})
    info.services.append(service)
    argv = [
        "storescp",
        "--enable-tls",
        str(key),
        str(cert),
        "--null-passwd",
        "--ignore-peer-cert",
        "--profile-bcp195",
        "--aetitle",
        TLS_AE,
        "--output-directory",
        str(root / "incoming"),
        str(ports["dicom-tls"]),
    ]
    start_service(info, service, argv, root)
    return service


def _closed(info: LabInfo, ports: dict[str, int]) -> LabService:
    service = lab_service("closed", ports, {"status": "closed"})
    info.services.append(service)
    return service


# -- up, down, demo -----------------------------------------------------------------------


def lab_up(
    state_dir: Path,
    *,
    port_base: int = 0,
    console: Console | None = None,
    spec: CorpusSpec | None = None,
) -> LabInfo:
    def say(message: str) -> None:
        if console is not None:
            console.print(message, markup=False, highlight=False)

    if (state_dir / STATE_FILE).exists():
        old = LabInfo.load(state_dir)
        if any(s.pid and alive(s.pid) for s in old.services):
            raise LabError(f"a lab is already running from {state_dir}: run `pacsaudit lab down`")
        _remove_state(state_dir)
    ports = default_ports(port_base)
    busy = [f"{n} {p}" for n, p in ports.items() if not port_free(p)]
    if busy:
        raise LabError("ports in use: " + ", ".join(busy) + " (choose another --port-base)")
    state_dir.mkdir(parents=True, exist_ok=True)
    info = LabInfo(state_dir=state_dir)
    info.save()
    try:
        say("generating synthetic patients")
        manifest = generate_corpus(state_dir / "corpus", spec)
        info.corpus = manifest.to_json()
        (state_dir / "manifest.json").write_text(json.dumps(info.corpus, indent=2), "utf-8")
        say("starting Orthanc (open, locked), dcmqrscp, qrscp, storescp (TLS, plain), wlmscpfs")
        _orthanc(info, ports, manifest)
        _dcmqrscp(info, ports, manifest)
        _qrscp(info, ports, manifest)
        _tls_scp(info, ports)
        _closed(info, ports)
        _orthanc_locked(info, ports, manifest)
        fileshare_lab.start(info, ports)  # FTP, SMB and rsync on one synthetic tree
        start_worklist(info, ports)
        start_storescp(info, ports)
        say(f"loading {manifest.instances} synthetic instances into Orthanc")
        _load_orthanc(ports["orthanc-http"], manifest)
        info.save()
    except BaseException:
        lab_down(state_dir)
        raise
    return info


def load_info(state_dir: Path) -> LabInfo:
    if not (state_dir / STATE_FILE).exists():
        raise LabError(f"no lab at {state_dir}: run `pacsaudit lab up`")
    return LabInfo.load(state_dir)


def _stop_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _remove_state(state_dir: Path) -> None:
    shutil.rmtree(state_dir, ignore_errors=True)


def lab_down(state_dir: Path, *, console: Console | None = None) -> None:
    if not (state_dir / STATE_FILE).exists():
        if console:
            console.print(f"no lab at {state_dir}", markup=False, highlight=False)
        return
    info = LabInfo.load(state_dir)
    _stop_pids([s.pid for s in info.services if s.pid])
    _stop_pids(samba_helpers_of(state_dir))  # samba-dcerpcd: a session of its own
    _remove_state(state_dir)
    if console:
        console.print(f"lab stopped; {state_dir} removed", markup=False, highlight=False)


@contextlib.contextmanager
def running_lab(
    state_dir: Path, *, port_base: int = 0, spec: CorpusSpec | None = None
) -> Iterator[LabInfo]:
    """The lab for the duration of a ``with`` block (tests, demo)."""
    info = lab_up(state_dir, port_base=port_base, spec=spec)
    try:
        yield info
    finally:
        lab_down(state_dir)
