"""The result model: one envelope per ip/port/protocol, a typed result per protocol.

Over 600 lines on purpose: it is the schema, one namespace that the generated JSON Schema, its
readers and reviewers see whole.

The envelope follows ZGrab2's (``ip``, ``port``, ``protocol``, ``status``, ``timestamp``,
``result``, ``error``) so that tools reading ZGrab2 output read ours with little change. Every
type here is a :class:`msgspec.Struct`: encoding a finding costs microseconds, and
``schemas/finding.schema.json`` is generated from these classes (``tools/gen_schema.py``), so
the schema cannot drift from the code without a test failing.

Privacy: nothing in these types may hold a value read from a patient record. Later probes add
counts and keyed hashes, never identifiers.
"""

from __future__ import annotations

import enum
import inspect
import time

import msgspec

SCHEMA_VERSION = 2
"""2: the DICOM-over-TLS follower's findings name their own protocol, ``dicom-tls`` (as the
HTTPS follower's name ``https``); version 1 named them ``dicom``. Reports read both."""
READABLE_SCHEMA_VERSIONS = (1, 2)
COMPROMISE_PROTOCOL = "compromise"
"""The ``protocol`` of the findings made from a share walk's signs of compromise."""


class Status(enum.StrEnum):
    """What a target turned out to be; a closed vocabulary, one meaning each."""

    CLOSED = "closed"
    """The port refused the connection (TCP RST to our SYN)."""
    FILTERED = "filtered"
    """No answer to the connection attempt within the connect timeout."""
    OPEN_NOT_DICOM = "open-not-dicom"
    """The port accepted a connection but answered with bytes that are not DICOM."""
    DICOM = "dicom"
    """A DICOM Upper Layer peer answered (accepting, rejecting or aborting our association)."""
    ERROR = "error"
    """The port accepted a connection, then something failed; ``error.kind`` says what."""
    FTP = "ftp"
    """An FTP server answered (its greeting, then our anonymous login attempt)."""
    SMB = "smb"
    """An SMB server answered our negotiation."""
    RSYNC = "rsync"
    """An rsync daemon answered with its ``@RSYNCD:`` greeting."""
    HTTP = "http"
    """An HTTP server answered (whatever its status code: 401 and 404 are answers too)."""
    COMPROMISE = "compromise"
    """Signs of compromise (a miner, a ransom note) seen during a share's walk: a finding of
    its own beside the share's, so that it is not lost among exposure counts."""


INTERESTING = frozenset(Status) - {Status.CLOSED, Status.FILTERED}
"""Every status where something answered: DICOM, the other protocols' own statuses, errors."""


class ErrorKind(enum.StrEnum):
    """Why a finding has status ``error`` (or why a DICOM exchange stopped early)."""

    RESET = "reset"
    """The peer reset the connection."""
    EOF = "eof"
    """The peer closed the connection without answering."""
    READ_TIMEOUT = "read-timeout"
    """Connected, but the peer sent nothing in time (a tarpit, or a very slow server)."""
    BUDGET_EXCEEDED = "budget-exceeded"
    """The whole probe of this target ran past its time budget."""
    PROTOCOL_VIOLATION = "protocol-violation"
    """The peer spoke DICOM but broke the standard or one of our limits."""
    TLS_FAILURE = "tls-failure"
    """The TLS handshake failed."""
    PEER_ABORTED = "peer-aborted"
    """The peer ended the association with an A-ABORT (legal, but nothing more was said)."""
    HOST_UNREACHABLE = "host-unreachable"
    NETWORK_UNREACHABLE = "network-unreachable"
    RESOLUTION_FAILED = "resolution-failed"
    OS_ERROR = "os-error"
    """Any other operating-system error; the message carries its errno name."""


class ErrorInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    kind: ErrorKind
    message: str
    detail: str | None = None
    """A short machine-readable code from the protocol layer, e.g. ``oversized-pdu``."""


class Certificate(msgspec.Struct, frozen=True, omit_defaults=True):
    subject: str
    issuer: str
    self_signed: bool
    not_before: str
    not_after: str
    expired: bool
    sha256: str
    serial: str
    key_type: str | None = None
    key_bits: int | None = None
    signature_algorithm: str | None = None
    subject_alt_names: list[str] = msgspec.field(default_factory=list)


class TlsInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    version: str | None
    cipher: str | None
    certificate: Certificate | None = None
    client_certificate_requested: bool | None = None


class ContextOutcome(msgspec.Struct, frozen=True, omit_defaults=True):
    """One proposed presentation context and what the peer answered for it."""

    abstract_syntax: str
    """The SOP class keyword from pydicom's UID dictionary, e.g. ``Verification``."""
    accepted: bool
    result: str
    """``acceptance`` or the rejection reason in words (PS3.8 Table 9-18)."""
    transfer_syntax: str | None = None


class RejectInfo(msgspec.Struct, frozen=True):
    result: str
    """``rejected-permanent`` or ``rejected-transient``."""
    source: str
    reason: str
    """The reason in words, e.g. ``called-ae-title-not-recognized``."""
    result_code: int
    source_code: int
    reason_code: int


class AbortInfo(msgspec.Struct, frozen=True):
    source: str
    reason: str
    source_code: int
    reason_code: int


class AssociationOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ABORTED = "aborted"
    FAILED = "failed"
    """The exchange broke off (timeout, reset, protocol violation); see ``error``."""


class AssociationAttempt(msgspec.Struct, frozen=True, omit_defaults=True):
    """One A-ASSOCIATE-RQ we sent and everything that followed on that connection."""

    called_ae: str
    calling_ae: str
    outcome: AssociationOutcome
    reject: RejectInfo | None = None
    abort: AbortInfo | None = None
    contexts: list[ContextOutcome] = msgspec.field(default_factory=list)
    max_pdu_length: int | None = None
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    echo_status: int | None = None
    """Status of our C-ECHO (0 = success), when Verification was accepted."""
    released: bool | None = None
    """True when the peer answered our A-RELEASE-RQ with A-RELEASE-RP."""
    error: ErrorInfo | None = None
    elapsed_ms: float | None = None
    answer_ms: float | None = None
    """Milliseconds from our A-ASSOCIATE-RQ to the peer's first answer: a reject that comes
    seconds late is a deliberate delay (dicompot waits ~5 s before rejecting an unknown AE)."""


class AePolicy(enum.StrEnum):
    """How the service decides who may associate, as far as our attempts could tell."""

    ANY_CALLED_AE = "any-called-ae"
    """A random called AE title was accepted: anyone reaching the port can associate."""
    GUESSABLE = "guessable"
    """Random and default titles were refused, a common title from ``--guess-ae``'s list was
    accepted (see ``attempts`` for the pair)."""
    CALLED_AE_KNOWN_DEFAULT = "called-ae-known-default"
    """A random title was refused but a well-known default (``ANY-SCP``) was accepted."""
    CALLED_AE_REVEALED = "called-ae-revealed"
    """Random and default titles were refused; the title another service of this host reveals
    (``called_ae_source``: Orthanc's REST ``/system``) was accepted on a second pass."""
    CALLED_AE_ENFORCED = "called-ae-enforced"
    """Every called AE title we tried was refused as not recognised."""
    CALLING_AE_ENFORCED = "calling-ae-enforced"
    """The called AE title was accepted, our calling AE title was refused."""
    REJECTS_ALL = "rejects-all"
    """Every attempt was rejected for another reason (congestion, no reason given)."""
    UNKNOWN = "unknown"


class AccessTier(enum.StrEnum):
    """How hard it was to be let in, from the AE-title policy (decided in the classify stage)."""

    NONE = "none"
    """Any called AE title was accepted: no access control at the association."""
    WEAK = "weak"
    """Let in only with a default, guessable or revealed title (``ANY-SCP``, ``--guess-ae``'s
    list, the title a web API of the host hands out)."""
    STRONG = "strong"
    """Every title we tried was refused as not recognised (called or calling AE checked)."""
    UNKNOWN = "unknown"
    """Refused for another reason, or too little was seen to tell."""


class DeviceClass(enum.StrEnum):
    """What kind of DICOM node the accepted surface shows; ``unknown`` where it does not tell."""

    ARCHIVE = "archive"
    """Query/Retrieve FIND with MOVE or GET: a PACS or archive."""
    WORKLIST_BROKER = "worklist-broker"
    """Modality Worklist, and neither Query/Retrieve nor storage."""
    PRINT_SERVER = "print-server"
    """Basic Grayscale Print Management, and neither Query/Retrieve nor storage."""
    ROUTER = "router"
    """Storage plus Storage Commitment, no Query/Retrieve: a forwarding gateway."""
    VIEWER = "viewer"
    """A viewer or workstation named by its implementation identifiers."""
    MODALITY = "modality"
    """An Implementation Class UID read from files an acquisition device wrote, no honeypot
    signal beside it, and no archive, worklist, MPPS, UPS or print service accepted."""
    UNKNOWN = "unknown"


class QueryStats(msgspec.Struct, frozen=True, omit_defaults=True):
    """The C-FINDs of one query level: how many, what came back, where they stopped."""

    level: str
    """PATIENT, STUDY, SERIES or IMAGE."""
    model: str
    """``patient-root`` or ``study-root``."""
    queries: int = 0
    records: int = 0
    lower_bound: bool = False
    """A bound (``--max-records``, the time budget) cut the enumeration short: C-CANCEL sent."""
    statuses: dict[str, int] = msgspec.field(default_factory=dict)
    """Final C-FIND status (hex) → how many queries ended with it."""
    error: ErrorInfo | None = None


class Exposure(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a Query/Retrieve SCP let us count. Counts, years, codes and keyed hashes only."""

    patients: int | None = None
    patients_lower_bound: bool = False
    studies: int | None = None
    studies_lower_bound: bool = False
    series: int | None = None
    series_lower_bound: bool = False
    images: int | None = None
    images_lower_bound: bool = False
    images_source: str | None = None
    """``study-related-instances``, ``series-related-instances``, ``image-query`` or
    ``orthanc-statistics`` (Orthanc's REST listing counts no instances: ``/statistics`` does,
    for the whole server)."""
    modalities: dict[str, int] = msgspec.field(default_factory=dict)
    """Modality code → number of studies that hold it."""
    study_years: dict[str, int] = msgspec.field(default_factory=dict)
    phi_attributes: dict[str, int] = msgspec.field(default_factory=dict)
    """PHI attribute keyword → number of returned records with a non-empty value."""
    records_examined: int = 0
    distinct_patients: int = 0
    """Distinct keyed hashes of Patient ID seen."""
    patient_id_hashes: list[str] = msgspec.field(default_factory=list)
    """HMAC-SHA-256 of each Patient ID under the user's secret key, truncated to 64 bits."""
    hash_key_id: str | None = None
    data_markers: dict[str, int] = msgspec.field(default_factory=dict)
    """Marker id of ``data/dicom_fingerprints.json`` → studies matching it (demo data sets,
    honeypot contents)."""
    queries: list[QueryStats] = msgspec.field(default_factory=list)
    non_conforming: int = 0
    """Answers that did not match the unique keys we queried (a series of another study, an
    instance of another series) or lacked the unique key asked for: not counted, so a server
    that ignores query keys cannot inflate the series and image counts (PS3.4 C.4.1.1.3)."""
    unknown: dict[str, str] = msgspec.field(default_factory=dict)
    """Measure (``patients``, ``studies``, ...) → why it is ``null``: the query was refused
    (``refused-XXXX``, the final status) or broke off (``peer-aborted``, ...). A count the
    server never gave is unknown, never 0."""
    error: ErrorInfo | None = None
    """Why the enumeration stopped early; the counts above are what was obtained."""


class MoveCheck(enum.StrEnum):
    DESTINATION_UNKNOWN = "destination-unknown"
    """A801: the server processed our C-MOVE and would send to any destination it knows."""
    ACCEPTED = "accepted"
    """Success or pending for an unknown destination: the server moves without checking."""
    REFUSED = "refused"
    """Refused (not authorised, SOP class not supported, ...)."""
    FAILED = "failed"
    """Any other failure status."""
    NOT_TESTED = "not-tested"


class Retrieval(msgspec.Struct, frozen=True, omit_defaults=True):
    """Whether images could be retrieved, found out without retrieving any."""

    get_accepted: bool = False
    move_accepted: bool = False
    move_check: MoveCheck = MoveCheck.NOT_TESTED
    move_status: int | None = None
    error: ErrorInfo | None = None


class StorageCheck(msgspec.Struct, frozen=True, omit_defaults=True):
    """Which Storage SOP classes and workflow services a stranger's association was granted,
    learnt without storing: the contexts were proposed and answered, and never used. No DIMSE
    message is ever sent on them (no C-STORE, N-CREATE, N-SET, N-ACTION): an accepted Storage
    context is the SCP's promise to take instances of that class from us (PS3.4 B.2)."""

    proposed: int = 0
    """Storage SOP classes proposed, each in its own presentation context."""
    accepted: list[str] = msgspec.field(default_factory=list)
    """Keywords of the Storage SOP classes accepted: what anyone may write."""
    scp_role_accepted: list[str] = msgspec.field(default_factory=list)
    """Storage classes for which the peer also granted us the SCP role (Role Selection,
    PS3.7 D.3.3.4): it would send instances of them to us over C-GET."""
    services_accepted: list[str] = msgspec.field(default_factory=list)
    """MPPS, Storage Commitment, Basic Grayscale Print, UPS: accepted, never used."""
    unanswered: list[str] = msgspec.field(default_factory=list)
    """Classes no association answered (a peer that limits contexts, or refused each try)."""
    associations: int = 0
    """Associations of the check's own (the main association's answer not counted)."""
    shared: bool = False
    """The classes were proposed on the probe's main association and its answer was read:
    the check's own associations asked only what that answer left open."""
    split: bool = False
    """The peer refused or broke a large proposal: it was retried in smaller groups."""
    refused: str | None = None
    """How the first association that gave no answer ended: the rejection reason in words
    (``no-reason-given``, ``local-limit-exceeded``…), ``aborted``, or the error kind."""
    error: ErrorInfo | None = None


class WorklistExposure(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a Modality Worklist C-FIND (PS3.4 K.6) let us count: scheduled procedure steps,
    distinct patients by keyed hash and the PHI attributes present. No value is kept."""

    scheduled_steps: int | None = None
    """Answers to one universal Worklist query, one per scheduled procedure step; ``null``
    when the query was refused or broke off (``unknown_reason``)."""
    scheduled_steps_lower_bound: bool = False
    """A bound (``--max-records``, the time budget) cut the query: C-CANCEL sent."""
    distinct_patients: int | None = None
    patient_id_hashes: list[str] = msgspec.field(default_factory=list)
    hash_key_id: str | None = None
    phi_attributes: dict[str, int] = msgspec.field(default_factory=dict)
    """PHI attribute keyword → answers with a non-empty value (sequence items included)."""
    final_status: str | None = None
    """The final C-FIND status in hex."""
    unknown_reason: str | None = None
    error: ErrorInfo | None = None


class ExposureClass(enum.StrEnum):
    TAMPER_CAPABLE = "tamper-capable"
    """Anyone may store *and* list studies (Q/R): a stranger can learn existing studies and
    write instances into them — the images a diagnosis rests on can be altered."""
    PHI_READABLE = "phi-readable"
    WRITABLE = "writable"
    """Anyone may store: Storage contexts were accepted from a stranger (never used)."""
    RETRIEVABLE = "retrievable"
    OPEN_ASSOCIATION = "open-association"
    AE_ENFORCED = "ae-enforced"
    ANONYMOUS_ACCESS = "anonymous-access"
    """Anonymous or guest access to a file share or service: listings, no patient data seen."""
    AUTH_REQUIRED = "auth-required"
    """The service answered and refused anonymous and guest access."""
    TLS_ONLY = "tls-only"
    CLOSED = "closed"
    COMPROMISED = "compromised"
    """Files matching indicators of compromise sit on the service: someone is already in."""
    MANAGEMENT_EXPOSED = "management-exposed"
    """A storage device's administration page answers (a NAS's login page): not an open door
    to patient data, but the one the NAS ransomware families came through."""


EXPOSED_CLASSES = frozenset(
    {
        ExposureClass.TAMPER_CAPABLE,
        ExposureClass.PHI_READABLE,
        ExposureClass.WRITABLE,
        ExposureClass.RETRIEVABLE,
        ExposureClass.OPEN_ASSOCIATION,
        ExposureClass.ANONYMOUS_ACCESS,
    }
)
"""Classes that mean anyone reaching the port gets in (README: exposure classes)."""

CLASS_ORDER = (
    ExposureClass.TAMPER_CAPABLE,
    ExposureClass.PHI_READABLE,
    ExposureClass.WRITABLE,
    ExposureClass.RETRIEVABLE,
    ExposureClass.OPEN_ASSOCIATION,
    ExposureClass.ANONYMOUS_ACCESS,
    ExposureClass.MANAGEMENT_EXPOSED,
    ExposureClass.AE_ENFORCED,
    ExposureClass.AUTH_REQUIRED,
    ExposureClass.TLS_ONLY,
)
"""The order reports list classes in: most exposed first, then the protected ones."""

NO_SERVICE_STATUSES = frozenset(
    {Status.CLOSED, Status.FILTERED, Status.ERROR, Status.OPEN_NOT_DICOM}
)
"""Statuses that by themselves name no service a report would count (an error or a foreign
answer counts only when a class was still decided)."""


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class FlagKind(enum.StrEnum):
    LIKELY_HONEYPOT = "likely-honeypot"
    DEMO_DATA = "demo-data"
    NON_CONFORMING = "non-conforming"
    """Query answers ignored the keys asked for (PS3.4 C.4.1.1.3); they were left out of the
    counts. Evidence about the server, like ``promiscuous``."""
    HONEYPOT_SIGNAL = "honeypot-signal"
    """One weak honeypot signal (a late reject, a vendor persona on a toolkit's PDU size) with
    nothing to back it: evidence, not a verdict; the numbers still count."""
    PROMISCUOUS = "promiscuous"
    """Accepts any SOP class, a made-up one included, and shows no honeypot tell: a real
    server in promiscuous mode (DCMTK ``storescp -pm``). Its exposure counts as real."""


class Flag(msgspec.Struct, frozen=True):
    """A remark on a service's numbers. ``likely-honeypot`` and ``demo-data`` say they should
    not count as real exposure, and reports keep those services apart; ``promiscuous`` is
    evidence about the server only."""

    kind: FlagKind
    evidence: str
    source: str | None = None
    """The entry of ``data/dicom_fingerprints.json`` that matched, when one did."""


class DicomResult(msgspec.Struct, frozen=True, omit_defaults=True, tag="dicom", tag_field="kind"):
    """What the DICOM probe learned about one ip/port."""

    tls: TlsInfo | None = None
    ae_policy: AePolicy = AePolicy.UNKNOWN
    accepted_called_ae: str | None = None
    accepted_calling_ae: str | None = None
    called_ae_source: str | None = None
    """Set on a second-pass finding: where the called AE title it tried came from, e.g.
    ``orthanc-rest /system on port 8042`` (:mod:`pacsaudit.followup`)."""
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    toolkit: str | None = None
    """The DICOM toolkit named by the implementation identifiers (DCMTK, pynetdicom, ...)."""
    toolkit_version: str | None = None
    product: str | None = None
    """The product, where behaviour tells it apart from the toolkit (e.g. Orthanc vs dcmqrscp)."""
    product_evidence: list[str] = msgspec.field(default_factory=list)
    cves: list[str] = msgspec.field(default_factory=list)
    """CVEs whose affected range holds the reported version — *possibly* affected: builds and
    distributions backport fixes without changing the version they report."""
    cve_basis: str | None = None
    device_class: DeviceClass | None = None
    device_class_evidence: str | None = None
    access_tier: AccessTier | None = None
    accepts_unknown_sop_class: bool | None = None
    """Accepted a context for a SOP class that exists nowhere: accepts anything — a
    promiscuous real server (DCMTK ``storescp -pm``) or a honeypot; ``flags`` says
    ``likely-honeypot`` only where other tells agree."""
    flags: list[Flag] = msgspec.field(default_factory=list)
    accepted_contexts: list[str] = msgspec.field(default_factory=list)
    echo_status: int | None = None
    attempts: list[AssociationAttempt] = msgspec.field(default_factory=list)
    banner: str | None = None
    """For ``open-not-dicom``: a short printable sample of what the peer sent."""
    exposure: Exposure | None = None
    retrieval: Retrieval | None = None
    worklist: WorklistExposure | None = None
    storage: StorageCheck | None = None
    exposure_class: ExposureClass | None = None
    severity: Severity | None = None


class ShareAccess(enum.StrEnum):
    """What an anonymous or guest session could do with one share or module."""

    LISTED = "listed"
    """Its contents were listed."""
    DENIED = "denied"
    """Access was refused (authentication required, or not allowed for guests)."""
    SKIPPED = "skipped"
    """Not tried: a bound (``--max-shares``, the time budget) was reached first."""
    ERROR = "error"
    """The attempt broke off; see ``error``."""


class ShareSummary(msgspec.Struct, frozen=True, omit_defaults=True):
    """One SMB share, rsync module or FTP root: counts only, never a path inside it."""

    name: str
    """The share or module name as the server announces it (printable, at most 64 chars)."""
    access: ShareAccess
    writable: bool | None = None
    """True when our anonymous session may create files in its top folder (SMB maximal access
    of the share root, FTP ``MLSD`` permission facts). None when not tested."""
    files: int = 0
    dicom_files: int = 0
    error: ErrorInfo | None = None


class DicomdirCounts(msgspec.Struct, frozen=True, omit_defaults=True):
    """Directory records of the DICOMDIR files read (PS3.10 media indexes): counts only."""

    files: int = 0
    """DICOMDIR files read."""
    patients: int = 0
    studies: int = 0
    series: int = 0
    images: int = 0
    """IMAGE records plus other instance-level records (SR, presentation states, ...)."""
    lower_bound: bool = False
    """A DICOMDIR was larger than ``--max-dicomdir-bytes`` or cut short: counts are minimums."""
    unreadable: int = 0


class IndicatorHit(msgspec.Struct, frozen=True, omit_defaults=True):
    """A file whose name matched a shipped indicator of compromise (``data/indicators.json``).

    The file's own path is not kept: paths on imaging shares often name patients. The
    indicator's id and the share and depth where it sat are enough to go and look.
    """

    indicator: str
    category: str
    """``crypto-miner``, ``miner-config``, ``ransom-note``, ``ransomware-extension``, ..."""
    description: str
    source: str
    """Where the indicator comes from (a public report or advisory)."""
    share: str | None = None
    depth: int = 0
    count: int = 1
    """Files in this share that matched this indicator."""


class CompromiseResult(
    msgspec.Struct, frozen=True, omit_defaults=True, tag="compromise", tag_field="kind"
):
    """The indicators one share walk matched, as their own finding: ``protocol`` is
    ``compromise`` (one record per ip/port/protocol holds), ``ip`` and ``port`` are the
    share's, ``share_protocol`` says which walk saw them."""

    share_protocol: str
    exposure_class: ExposureClass
    severity: Severity
    indicators: list[IndicatorHit] = msgspec.field(default_factory=list)


class FileShareResult(
    msgspec.Struct, frozen=True, omit_defaults=True, tag="fileshare", tag_field="kind"
):
    """What an FTP, SMB or rsync probe saw through an anonymous or guest session.

    Counts, attribute keywords and share names only: no file name, path or value read from a
    file leaves the probe. Every walk is bounded (``--max-depth``, ``--max-entries``,
    ``--max-reads``, the time budget); a count cut short by a bound is a lower bound, and
    ``bounds_hit`` says which bound cut it.
    """

    server: str | None = None
    """What the server says it is: the FTP greeting's first line, the SMB dialect and OS, the
    rsync protocol version (printable, bounded)."""
    login: str | None = None
    """The anonymous identity that was let in: ``anonymous`` (FTP), ``null-session`` or
    ``guest`` (SMB), ``none`` (rsync modules list without login)."""
    anonymous: bool = False
    """Anonymous or guest access was granted."""
    shares: list[ShareSummary] = msgspec.field(default_factory=list)
    directories: int = 0
    files: int = 0
    bytes: int = 0
    """Total size of the files listed."""
    symlinks: int = 0
    """Symbolic links seen (never followed) and folders skipped as already visited."""
    files_read: int = 0
    """Files whose first bytes were read (a bounded prefix each, never a whole file)."""
    bytes_read: int = 0
    dicom_detection: str | None = None
    """``magic``: ``DICM`` at offset 128 of a bounded prefix read; ``name-and-size``: named
    like a DICOM file and large enough (rsync cannot read part of a file)."""
    dicom_files: int = 0
    dicom_bytes: int = 0
    dicom_lower_bound: bool = False
    not_dicom_named_dicom: int = 0
    """Files named ``*.dcm`` (or ``DICOMDIR``) without the DICOM magic."""
    executable_dicom: int = 0
    """DICOM files whose preamble is a Windows PE or ELF header (CVE-2019-11687): each is also
    an ``executable-dicom`` indicator, so it becomes a sign of compromise."""
    headers_sampled: int = 0
    """DICOM headers parsed (prefix up to Pixel Data, ``--max-samples``)."""
    headers_truncated: int = 0
    """Sampled headers that did not reach Pixel Data within ``--max-header-bytes``."""
    samples_in_named_paths: int = 0
    """Sampled files whose folder or file name is their own patient's name or ID: the share's
    listing alone reveals those patients (no name is kept, only this count)."""
    phi_attributes: dict[str, int] = msgspec.field(default_factory=dict)
    """PS3.15 Annex E keyword → sampled headers with a non-empty value."""
    dicomdir: DicomdirCounts | None = None
    writable_dirs: int = 0
    """Folders where our anonymous session may create files."""
    world_writable_dirs: int = 0
    """Folders whose listed permissions are writable by anyone (``o+w``)."""
    indicators: list[IndicatorHit] = msgspec.field(default_factory=list)
    """Signs of compromise (miners, ransom notes, executable DICOM files) seen during the walk."""
    lower_bound: bool = False
    bounds_hit: list[str] = msgspec.field(default_factory=list)
    """``max-depth``, ``max-entries``, ``max-reads``, ``max-shares``, ``time-budget``."""
    walk_errors: int = 0
    """Listings and reads that failed (permission, vanished file, malformed answer)."""
    error: ErrorInfo | None = None
    """Why the walk stopped early; the counts above are what was obtained."""
    exposure_class: ExposureClass | None = None
    severity: Severity | None = None


class HttpAuth(msgspec.Struct, frozen=True, omit_defaults=True):
    """How an HTTP endpoint refused us: 401 with the challenge it offered, or 403."""

    status_code: int
    scheme: str | None = None
    """The first challenge's scheme: ``Basic``, ``Digest``, ``Bearer``, ``Negotiate``, ..."""
    realm: str | None = None
    """The challenge's realm (printable, at most 64 characters); it often names the product."""


class HttpExchange(msgspec.Struct, frozen=True, omit_defaults=True):
    """One request the HTTP probe sent and what came back. No body content is ever kept."""

    path: str
    """The request target we built (path and query); never a location the peer supplied."""
    purpose: str
    """Why we asked: ``root``, ``app``, ``orthanc-system``, ``qido``, ``wado-uri``, ..."""
    status_code: int | None = None
    content_type: str | None = None
    bytes_read: int = 0
    """Body bytes read (after any content decoding), at most the cap for this purpose."""
    truncated: bool = False
    """The body was longer than the cap: we stopped reading and closed the connection."""
    redirects: int = 0
    """Same-host redirects followed (``--max-redirects`` at most; never to another host)."""
    note: str | None = None
    """A short code for what else happened: ``redirect-off-target``, ``redirect-limit``,
    ``unsupported-encoding``, ``not-json``."""
    credentials: bool = False
    """True when the request carried a shipped default credential (only with
    ``--try-default-credentials``)."""
    error: ErrorInfo | None = None
    elapsed_ms: float | None = None


class WebApp(msgspec.Struct, frozen=True, omit_defaults=True):
    """A medical-imaging web application recognised by a signature in
    ``data/http_signatures.json``."""

    product: str
    category: str
    """``viewer``, ``admin-ui``, ``pacs``, ``ai`` (an AI annotation or inference service) or
    ``api``."""
    path: str
    """Where it was seen (our request path)."""
    evidence: str
    """What matched: ``title``, ``body``, ``server-header``, ``realm`` or ``api``."""
    protected: bool = False
    """The page asked for credentials (recognised from its challenge)."""


class AeTitleList(msgspec.Struct, frozen=True, omit_defaults=True):
    """DICOM AE titles an HTTP API lists to anyone (``data/ae_title_lists.json``): not patient
    data, but what a stranger needs to open a DICOM association with the server."""

    product: str
    """Whose API answered (``dcm4chee-arc``, ``NVIDIA Clara DICOM Adapter``...)."""
    path: str
    """The fixed path we asked (``/dcm4chee-arc/aets``)."""
    titles: list[str] = msgspec.field(default_factory=list)
    """The titles themselves, in the answer's order: only those of 1-16 characters of a
    conservative alphabet (letters, digits, space, ``_ - .``), at most 32."""
    listed: int = 0
    """Entries the answer held, kept or not."""
    unprintable: int = 0
    """Entries whose title was missing or fell outside that alphabet (counted, not kept)."""
    truncated: bool = False
    """More titles than the bound: ``titles`` is a prefix."""


class OrthancStatistics(msgspec.Struct, frozen=True, omit_defaults=True):
    """Orthanc's ``/statistics``: counts kept by the server itself, no patient data at all."""

    patients: int | None = None
    studies: int | None = None
    series: int | None = None
    instances: int | None = None
    disk_size_mb: int | None = None


class OrthancInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """Orthanc's REST API (``/system``, ``/statistics``, ``/plugins``)."""

    auth_required: bool
    """``/system`` answered 401/403 to an anonymous request."""
    name: str | None = None
    """The server's configured name (printable, at most 64 characters)."""
    version: str | None = None
    api_version: int | None = None
    dicom_aet: str | None = None
    dicom_port: int | None = None
    plugins: list[str] = msgspec.field(default_factory=list)
    statistics: OrthancStatistics | None = None


class DicomWebEndpoint(msgspec.Struct, frozen=True, omit_defaults=True):
    """A DICOMweb service found under one root: QIDO-RS or WADO-URI."""

    service: str
    """``qido-rs`` or ``wado-uri``."""
    path: str
    """The root (``/dicom-web``) or, for WADO-URI, the endpoint (``/wado``)."""
    answered: bool = False
    """It answered a request without credentials (or with a shipped default one): QIDO-RS
    with a DICOM JSON array; WADO-URI by telling a malformed request from a missing path."""
    protected: bool = False
    """It asked for credentials (401/403)."""
    status_code: int | None = None
    evidence: str | None = None
    """How a WADO-URI endpoint was recognised: ``status-differs``, ``orthanc-plugin``."""


class CredentialCheck(msgspec.Struct, frozen=True, omit_defaults=True):
    """``--try-default-credentials``: which shipped pairs were tried where, and which worked."""

    path: str
    """The protected path the pairs were tried on."""
    tried: int = 0
    accepted_user: str | None = None
    """User name of the shipped default pair that was accepted (the password is public
    too: it is in ``data/http_credentials.json``)."""


class ManagementInterface(msgspec.Struct, frozen=True, omit_defaults=True):
    """A storage device's administration page (a NAS's), reachable from where we scanned.

    Model and firmware only where a page that needs no login shows them, and only strings of
    a short, conservative alphabet; never a host name (NAS pages often carry one)."""

    product: str
    vendor: str
    path: str
    """The fixed path the page answered on (``/``, ``/cgi-bin/authLogin.cgi``…)."""
    evidence: str
    """``title``, ``body``, ``server-header`` or ``realm``."""
    source: str
    """The public fingerprint the signature's strings come from."""
    model: str | None = None
    firmware: str | None = None
    login_required: bool = False
    """The page itself asked for credentials (401/403)."""
    cves: list[str] = msgspec.field(default_factory=list)
    """Firmware CVEs whose vendor-stated range holds ``firmware`` (``data/nas_cves.json``),
    set by the classify stage: possibly affected, by the version as the page shows it."""
    cve_basis: str | None = None
    """What ``cves`` rests on, and the ransomware families that used them."""
    ransomware: list[str] = msgspec.field(default_factory=list)
    """Ransomware families a vendor advisory ties to one of ``cves``."""
    app_checks: list[str] = msgspec.field(default_factory=list)
    """Flaws of applications the product can run (Photo Station, HBS 3), as ``CVE (app,
    family)``: no page shows an app's version, so these are only advice to check it."""


class HttpResult(msgspec.Struct, frozen=True, omit_defaults=True, tag="http", tag_field="kind"):
    """What the HTTP(S) probe learned about one ip/port: counts, names and codes only."""

    scheme: str = "http"
    tls: TlsInfo | None = None
    status_code: int | None = None
    """Status of ``GET /`` after same-host redirects."""
    server: str | None = None
    """The ``Server`` header (printable, at most 96 characters)."""
    auth: HttpAuth | None = None
    """The first refusal met on an imaging endpoint (or on ``/``)."""
    apps: list[WebApp] = msgspec.field(default_factory=list)
    orthanc: OrthancInfo | None = None
    dicomweb: list[DicomWebEndpoint] = msgspec.field(default_factory=list)
    ae_titles: list[AeTitleList] = msgspec.field(default_factory=list)
    """AE titles an archive's or an AI gateway's REST API listed (dcm4chee-arc ``/aets``,
    Clara DICOM Adapter, MONAI Deploy Informatics Gateway)."""
    exposure: Exposure | None = None
    """What QIDO-RS (or Orthanc's REST listing) let us count: studies, patients (distinct
    keyed hashes), images, PHI attribute counts. ``queries[].model`` says which API."""
    credentials: CredentialCheck | None = None
    listing_format: str | None = None
    """``/`` is a file share: ``webdav`` (``OPTIONS`` announced DAV) or the directory listing's
    generator (``nginx-autoindex``, ``apache-autoindex``, ``python-http-server``…)."""
    management: ManagementInterface | None = None
    """A NAS administration page answered here (``data/nas_signatures.json``)."""
    listing: FileShareResult | None = None
    """The share walk of that listing (at exposure depth): the FTP/SMB walk's counts, bounds
    and signs of compromise; judged with the web service."""
    exchanges: list[HttpExchange] = msgspec.field(default_factory=list)
    banner: str | None = None
    """For a peer that did not speak HTTP: at most 96 printable characters of what it sent."""
    exposure_class: ExposureClass | None = None
    severity: Severity | None = None


Result = DicomResult | FileShareResult | HttpResult | CompromiseResult


class Finding(msgspec.Struct, frozen=True, omit_defaults=False):
    """The envelope written as one JSON line per ip/port/protocol."""

    ip: str
    port: int
    protocol: str
    status: Status
    timestamp: str
    result: Result | None = None
    error: ErrorInfo | None = None
    host: str | None = None
    """The host name the user gave, when the target was named rather than numbered."""
    duration_ms: float | None = None
    schema_version: int = SCHEMA_VERSION


_second_text: tuple[int, str] = (-1, "")
"""The last whole second formatted by :func:`utc_timestamp`, with its text (one tuple, so
that a thread reading it never sees one without the other)."""


def utc_timestamp() -> str:
    """Now in UTC to the millisecond, e.g. ``2026-11-26T12:00:26.324Z``. Findings are made
    thousands per second: the date and time of day are formatted once per second."""
    global _second_text
    now = time.time()
    second = int(now)
    cached, text = _second_text
    if second != cached:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_text = (second, text)
    return f"{text}.{int((now - second) * 1000):03d}Z"


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Finding)


def encode_finding(finding: Finding) -> bytes:
    """One JSON line, newline included."""
    return _encoder.encode(finding) + b"\n"


def decode_finding(line: bytes | str) -> Finding:
    return _decoder.decode(line)


def json_schema(model: type) -> dict[str, object]:
    """msgspec's JSON Schema of ``model``, independent of the msgspec release that made it.

    msgspec copies each class docstring into ``description``; up to 0.22 it kept the source's
    indentation, from 0.23 on it strips it. Every description goes through
    :func:`inspect.cleandoc`, so the committed schemas are the same under every release.
    """
    cleaned = _clean_descriptions(msgspec.json.schema(model))
    assert isinstance(cleaned, dict)
    return cleaned


def _clean_descriptions(node: object) -> object:
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value)
            if key == "description" and isinstance(value, str)
            else _clean_descriptions(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_clean_descriptions(item) for item in node]
    return node


def finding_schema() -> dict[str, object]:
    schema = json_schema(Finding)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://pacsaudit.invalid/schemas/finding.schema.json"
    schema["title"] = "pacsaudit finding (one JSON line)"
    return schema
