"""Tie a DICOM service to the product its own web side names.

Orthanc answers DICOM with DCMTK's identifiers, so the DICOM probe alone can say "Orthanc
(by behaviour), DCMTK 3.6.7 inside". Its REST ``/system``, when readable, names the Orthanc
version *and* the DICOM port it serves: with both findings of one host at hand, the DICOM
service gets Orthanc's version and Orthanc's CVEs. This reads raw JSON records, as the
reporters do, so it never depends on a record decoding into the current model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pacsaudit.intel.identify import cves_for


def orthanc_dicom_port(record: Mapping[str, Any]) -> tuple[str, int, str] | None:
    """(ip, DICOM port, Orthanc version) named by an HTTP finding's ``/system``, if any."""
    result = record.get("result")
    if not isinstance(result, Mapping) or result.get("kind") != "http":
        return None
    orthanc = result.get("orthanc")
    if not isinstance(orthanc, Mapping):
        return None
    port, version, ip = orthanc.get("dicom_port"), orthanc.get("version"), record.get("ip")
    if not (isinstance(port, int) and isinstance(version, str) and isinstance(ip, str)):
        return None
    if not 0 < port < 65536 or len(version) > 32:
        return None
    return ip, port, version


def orthanc_cves(version: str, toolkit_cves: tuple[str, ...]) -> tuple[str, ...]:
    """Orthanc's own CVEs for its version, plus those of the DCMTK it embeds."""
    return tuple(sorted(set(cves_for("Orthanc", version)) | set(toolkit_cves)))
