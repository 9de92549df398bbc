"""The lab's web side: Orthanc's DICOMweb plugin on the open Orthanc, and what a scan must find.

Both Orthancs of the lab serve HTTP already; this module adds Debian's ``orthanc-dicomweb``
plugin to the open one (QIDO-RS, WADO-RS and WADO-URI without a login, as found in the field)
and states the ground truth of both HTTP ports for ``lab demo`` and the tests. The locked
Orthanc keeps its random password (``orthanc-locked/credentials``): no shipped default
credential can open it.
"""

from __future__ import annotations

from pathlib import Path

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
DICOMWEB_ROOT = "/dicom-web/"


def dicomweb_config(host: str, http_port: int) -> dict[str, object]:
    """Orthanc configuration keys that enable DICOMweb (``Host`` makes RetrieveURL right)."""
    return {
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": DICOMWEB_ROOT, "Host": f"{host}:{http_port}"},
    }


def open_orthanc_expect(counts: dict[str, str]) -> dict[str, str]:
    """The open Orthanc's HTTP port: its QIDO-RS lists every study, PHI attributes included."""
    return {"status": "http", "exposure_class": "phi-readable", **counts}


def locked_orthanc_expect() -> dict[str, str]:
    """The locked Orthanc's HTTP port: every request answered with a Basic challenge."""
    return {"status": "http", "exposure_class": "auth-required"}
