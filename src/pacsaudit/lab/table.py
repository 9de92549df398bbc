"""The lab's services in one table: name, software, protocol, default port, how each is set up.

``lab up`` starts them, ``lab status`` prints them, the demo checks a scan against them and the
port plan (``--port-base``) numbers them in this order. Adding a server to the lab is one row
here plus the function that starts it; nothing else repeats its name, port or description.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pacsaudit.lab.services import LabError, LabService

ORTHANC_AE = "ORTHANC"
DCMQR_CALLED_AE = "DCMQR"
DCMQR_CALLING_AE = "LABCLIENT"
QRSCP_AE = "QRSCP"
LOCKED_KNOWN_CALLER = "STORESCU"
TLS_AE = "TLSSCP"
WORKLIST_AE = "ANY-SCP"
STORESCP_AE = "STORESCP"
SHARE = "images"
PRIVATE_SHARE = "radiology-private"
RSYNC_MODULE = "archive"
RSYNC_LOCKED_MODULE = "backup"


@dataclass(frozen=True, slots=True)
class Row:
    software: str
    protocol: str
    port: int
    """The port without ``--port-base``."""
    description: str
    called_ae: str | None = None
    calling_ae: str | None = None
    tls: bool = False
    unprivileged_port: int | None = None
    """The port instead of ``port`` when that one needs root (DICOM's 104)."""


SERVICES: dict[str, Row] = {
    "orthanc": Row(
        "Orthanc", "dicom", 4242, "wide open: any AE title, FIND/MOVE/GET allowed", ORTHANC_AE
    ),
    "orthanc-http": Row(
        "Orthanc REST",
        "http",
        8042,
        "Orthanc's HTTP port, no login, DICOMweb (QIDO-RS, WADO-RS/URI)",
    ),
    "dcmqrscp": Row(
        "DCMTK dcmqrscp",
        "dicom",
        11112,
        f"only {DCMQR_CALLING_AE} -> {DCMQR_CALLED_AE} accepted",
        DCMQR_CALLED_AE,
        DCMQR_CALLING_AE,
    ),
    "qrscp": Row(
        "pynetdicom qrscp",
        "dicom",
        104,
        "open: any called and calling AE title",
        QRSCP_AE,
        unprivileged_port=1104,
    ),
    "dicom-tls": Row(
        "DCMTK storescp (TLS)",
        "dicom-tls",
        2762,
        "DICOM over TLS, self-signed certificate",
        TLS_AE,
        tls=True,
    ),
    "closed": Row("(nothing)", "tcp", 2761, "a port nothing listens on"),
    "orthanc-locked": Row(
        "Orthanc",
        "dicom",
        4243,
        f"called AE {ORTHANC_AE} checked, only {LOCKED_KNOWN_CALLER} may call",
        ORTHANC_AE,
        LOCKED_KNOWN_CALLER,
    ),
    "orthanc-locked-http": Row(
        "Orthanc REST", "http", 8043, "Orthanc's HTTP port, login required (random password)"
    ),
    "ftp": Row(
        "pyftpdlib",
        "ftp",
        2121,
        "anonymous read-only FTP: DICOM tree, DICOMDIR, ransom-note stand-in",
    ),
    "smb": Row(
        "Samba smbd",
        "smb",
        4445,
        f"guest share '{SHARE}' (same tree), '{PRIVATE_SHARE}' closed to guests",
    ),
    "rsync": Row(
        "rsync daemon",
        "rsync",
        8873,
        f"module '{RSYNC_MODULE}' anonymous, '{RSYNC_LOCKED_MODULE}' with password",
    ),
    "web-listing": Row("nginx autoindex", "http", 8080, "open directory listing of the share tree"),
    "webdav": Row(
        "nginx WebDAV", "http", 8081, "read-only WebDAV (PROPFIND) of the share tree, no login"
    ),
    "worklist": Row(
        "DCMTK wlmscpfs",
        "dicom",
        11113,
        f"Modality Worklist of synthetic steps under the default title {WORKLIST_AE}",
        WORKLIST_AE,
    ),
    "storescp": Row(
        "DCMTK storescp",
        "dicom",
        11114,
        "storage only: any AE title, every standard Storage SOP class",
        STORESCP_AE,
    ),
}
"""In port-plan order: with ``--port-base B`` the n-th row listens on B + n."""


def default_ports(port_base: int) -> dict[str, int]:
    """Each service's port: consecutive from ``port_base``, or the usual ones when it is 0."""
    if port_base:
        top = 65535 - len(SERVICES)
        if not 1024 <= port_base <= top:
            raise LabError(f"port base {port_base} out of range 1024-{top}")
        return {name: port_base + i for i, name in enumerate(SERVICES)}
    root = os.geteuid() == 0
    return {
        name: row.port if root or row.unprivileged_port is None else row.unprivileged_port
        for name, row in SERVICES.items()
    }


def lab_service(name: str, ports: dict[str, int], expect: dict[str, str]) -> LabService:
    """The row ``name`` as the running service on its planned port, with what a scan of it
    must find."""
    row = SERVICES[name]
    return LabService(
        name=name,
        software=row.software,
        protocol=row.protocol,
        port=ports[name],
        description=row.description,
        called_ae=row.called_ae,
        calling_ae=row.calling_ae,
        tls=row.tls,
        expect=expect,
    )
