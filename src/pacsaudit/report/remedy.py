"""What to fix, per finding: the concrete remediation behind each kind of exposure.

A report that only says "critical" gets filed; one that names the lock that is missing gets
acted on. Each :class:`Advice` is one kind of fix, written once and shared by the HTML report,
the CSV and the owner notices; :func:`advice_for` picks the ones a finding's evidence calls for,
each with the reason in that finding's own terms (counts and protocol facts only).
"""

from __future__ import annotations

from dataclasses import dataclass

from pacsaudit.model import AePolicy, ExposureClass, MoveCheck
from pacsaudit.report.geo import LOCAL
from pacsaudit.report.service import NAMES_IN_PATHS, Service


@dataclass(frozen=True, slots=True)
class Advice:
    id: str
    title: str
    text: str


ACCESS_CONTROL = Advice(
    "access-control",
    "Require authentication and an allow-list of peers",
    "Anyone who can reach this port is served. Configure the archive to answer only the "
    "modalities and viewers it knows (by address and AE title), disable query/retrieve for "
    "unknown peers, and restrict C-MOVE destinations to registered AE titles. If the service "
    "is not needed, switch it off.",
)
AE_TITLE = Advice(
    "ae-title",
    "Enforce called and calling AE titles",
    "The service accepts an AE title it should not (any title, a well-known default such as "
    "ANY-SCP, or a guessable one). Turn on AE-title checking for both the called and the "
    "calling title and list every legitimate peer. AE titles are not secrets: do this together "
    "with network restrictions, never instead of them.",
)
TLS = Advice(
    "tls",
    "Encrypt with TLS and authenticate peers by certificate",
    "Patient data crosses the network in clear, or over TLS with a certificate a client cannot "
    "verify. Offer the service over TLS only — DICOM TLS (PS3.15 Annex B, port 2762), HTTPS, "
    "FTPS or SFTP, SMB encryption — with a certificate from a CA the peers trust, require "
    "client certificates where the protocol allows, and close the plaintext port once peers "
    "moved.",
)
SEGMENTATION = Advice(
    "segmentation",
    "Segment the network: keep the archive off reachable networks",
    "The service is reachable from where we scanned. Place imaging systems in their own "
    "network segment, reachable only from modalities and reading stations (firewall rules or a "
    "VPN for remote reading); an archive must never be reachable from the Internet.",
)
ANONYMOUS = Advice(
    "anonymous-access",
    "Remove anonymous and guest access",
    "Files or a web interface are served without a login. Disable anonymous FTP, guest SMB "
    "shares and unauthenticated web or DICOMweb access; give each user an account and audit "
    "access.",
)
PATCH = Advice(
    "patch",
    "Patch known vulnerabilities",
    "The version the service reports lies in the affected range of published vulnerabilities "
    "(CVE ids listed). It is possibly affected: distributions backport fixes without changing "
    "the version. Check with the vendor, upgrade to a fixed release, and until then restrict "
    "network access to it.",
)
BREACH = Advice(
    "breach-review",
    "Review access logs: patient data may already have been read",
    "Records with patient identifiers were returned to an unauthenticated query. Check the "
    "archive's logs for queries and retrievals from unknown peers and involve your data "
    "protection officer: this may be a notifiable breach.",
)

STORE = Advice(
    "restrict-store",
    "Accept images only from known modalities",
    "The archive accepts C-STORE from any peer: anyone who reaches the port can add images "
    "and reports to its patients' records (and, where studies can be listed, slip forged "
    'instances into existing studies). Orthanc: set "DicomAlwaysAllowStore": false, list '
    'every sending modality in "DicomModalities" (AE title, host, port) and set '
    '"DicomCheckModalityHost": true so a title is accepted only from its own address. DCMTK '
    "dcmqrscp: give each AETable entry a peer list (HostTable) instead of ANY, and mark "
    "read-only storage areas R rather than RW. DCMTK storescp accepts any caller: run it only "
    "behind a firewall that admits the modalities, or replace it with an SCP that checks "
    "calling AE titles and addresses. Never run storescp -pm (promiscuous) on a reachable "
    "network.",
)
NAMED_PATHS = Advice(
    "rename-folders",
    "Stop naming folders after patients",
    "Folders or files on the share carry the names or IDs of the patients whose images they "
    "hold: anyone who can list the share reads them without opening a file, and every copy, "
    "backup and export repeats them. Name folders by accession number or a pseudonym, and "
    "de-identify exports with pseudonymous paths (pacsaudit deid --pseudonymise-paths).",
)
INCIDENT = Advice(
    "incident-response",
    "Treat the host as compromised: isolate it and start incident response",
    "Files on the share match known signs of compromise (a ransom note, a crypto-miner or its "
    "configuration). Someone else has already written to this system. Take it off the network "
    "without switching it off, preserve its disks and logs, involve your security team or "
    "CERT and your data protection officer, rebuild from known-good media, and only then "
    "restore the images from a backup taken before the intrusion.",
)

MANAGEMENT = Advice(
    "management-interface",
    "Take the storage device's administration page off reachable networks",
    "The administration page of a NAS answers from where we scanned. Internet-exposed NAS "
    "login pages are how the ransomware families that encrypted imaging archives on NAS boxes "
    "got in (eCh0raix, Qlocker, DeadBolt). Reach the page only from a management network or a "
    "VPN, switch off UPnP port forwarding and the vendor's relay services (QuickConnect, "
    "myQNAPcloud and the like) unless needed, install the vendor's current firmware, enable "
    "two-factor login for administrators and disable the default admin account.",
)

CATALOGUE: tuple[Advice, ...] = (
    INCIDENT,
    BREACH,
    ACCESS_CONTROL,
    STORE,
    AE_TITLE,
    ANONYMOUS,
    NAMED_PATHS,
    MANAGEMENT,
    TLS,
    SEGMENTATION,
    PATCH,
)
"""In the order :func:`advice_for` lists them: most urgent first."""
BY_ID = {a.id: a for a in CATALOGUE}

_OPEN_BECAUSE: dict[str, str] = {
    ExposureClass.TAMPER_CAPABLE: "studies listed and images accepted from an unknown peer",
    ExposureClass.PHI_READABLE: "patient records listed without authentication",
    ExposureClass.WRITABLE: "images accepted from an unknown peer",
    ExposureClass.RETRIEVABLE: "images can be retrieved or sent to an unknown destination",
    ExposureClass.OPEN_ASSOCIATION: "an association was accepted without authentication",
    ExposureClass.ANONYMOUS_ACCESS: "an anonymous or guest session was let in",
}
_LOOSE_AE: dict[str, str] = {
    AePolicy.ANY_CALLED_AE: "accepts any called AE title",
    AePolicy.CALLED_AE_KNOWN_DEFAULT: "accepts the default AE title ANY-SCP",
    AePolicy.GUESSABLE: "accepts a common, guessable AE title",
    AePolicy.CALLED_AE_REVEALED: "accepts the AE title its own web API hands out",
}
_FILE_AND_WEB = frozenset({"ftp", "smb", "rsync", "http", "https", "dicomweb", "webdav", "nfs"})
_ANONYMOUS_FLAGS = ("anonymous", "guest", "no-auth", "unauthenticated")


def advice_for(s: Service) -> list[tuple[Advice, str]]:
    """The fixes a finding calls for, each with why, most urgent first."""
    if not s.is_service:
        return []
    if s.is_compromise:
        seen = ", ".join(s.indicators) or "indicators"
        return [(INCIDENT, f"{seen} found on the share behind port {s.port}")]
    if s.exposure_class == ExposureClass.MANAGEMENT_EXPOSED:
        where = (
            "a local network address" if s.country == LOCAL else f"a public address ({s.country})"
        )
        page = f"{s.product_label} administration page reachable"
        if s.app_checks:
            page += "; check the installed versions of applications with published flaws: "
            page += ", ".join(s.app_checks)
        fixes = [(MANAGEMENT, page), (SEGMENTATION, f"reachable on {where}")]
        if s.cves:
            fixes.append((PATCH, f"{s.product_version_label}: {_shown(s.cves)}"))
        return fixes
    out: list[tuple[Advice, str]] = []
    if s.exposure_class == ExposureClass.PHI_READABLE:
        out.append((BREACH, f"{len(s.phi_exposed)} PHI attributes returned without login"))
    if s.exposed:
        why = _OPEN_BECAUSE.get(s.exposure_class or "", "served without authentication")
        if s.move_check in (MoveCheck.DESTINATION_UNKNOWN, MoveCheck.ACCEPTED):
            why += "; C-MOVE processed for an unknown destination"
        out.append((ACCESS_CONTROL, why))
    if s.storage_classes:
        out.append((STORE, f"{len(s.storage_classes)} Storage SOP classes accepted"))
    if s.ae_policy in _LOOSE_AE:
        out.append((AE_TITLE, _LOOSE_AE[s.ae_policy]))
    anonymous_flag = (
        s.anonymous
        or s.exposure_class == ExposureClass.ANONYMOUS_ACCESS
        or any(f.startswith(_ANONYMOUS_FLAGS) for f in s.flags)
    )
    if anonymous_flag or (s.exposed and s.protocol in _FILE_AND_WEB):
        out.append((ANONYMOUS, f"{s.protocol} content served without a login"))
    if NAMES_IN_PATHS in s.flags:
        out.append((NAMED_PATHS, "sampled files sit in folders named after their patients"))
    tls_why = _tls_problem(s)
    if tls_why:
        out.append((TLS, tls_why))
    if s.exposed:
        where = (
            "reachable on a local network address"
            if s.country == LOCAL
            else f"reachable on a public address ({s.country})"
        )
        out.append((SEGMENTATION, where))
    if s.cves:
        out.append((PATCH, f"{s.product_version_label}: {_shown(s.cves)}"))
    return out


def _shown(cves: tuple[str, ...]) -> str:
    return ", ".join(cves[:5]) + (f" and {len(cves) - 5} more" if len(cves) > 5 else "")


def _tls_problem(s: Service) -> str | None:
    if s.exposure_class in ("tls-only", "closed"):
        return None
    if s.tls is None:
        return "plaintext protocol" if s.exposed or s.protocol == "dicom" else None
    problems = []
    if s.tls.self_signed:
        problems.append("self-signed certificate")
    if s.tls.expired:
        problems.append("expired certificate")
    if s.exposed and s.tls.client_certificate_requested is not True:
        problems.append("no client certificate required")
    return ", ".join(problems) or None
