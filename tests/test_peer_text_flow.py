"""Hostile text through every field a peer controls and out of every sink (issue 15).

Each probe meets a peer on loopback that puts :data:`peer_text.HOSTILE` text where a real
server puts free text — the DICOM A-ASSOCIATE-AC's Implementation Class UID and Version Name
(a fake acceptor: real ones send well-formed identifiers), HTTP ``Server`` headers,
``WWW-Authenticate`` realms, Orthanc ``/system`` and ``/plugins`` JSON values and the AE titles
of a gateway's ``/config/ae`` listing, a real pyftpdlib whose banner is set to it, rsync module
names, TLS certificate subjects, and the AE titles an open dcm4chee-arc ``/aets`` lists
(``HttpResult.ae_titles``). DICOM and listing findings are judged by the classify stage first,
so device class and its evidence ride along. The
finding it makes is then checked against the boundary rule and pushed through the terminal
table, a log line, JSON Lines, the CSV, the HTML report, Markdown notices and the diff
(:func:`peer_text.check_files`). Examples are few and deadlines off where a network round
trip is involved, so the suite stays fast.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

from hostile_servers import PeerServer, accept_for, read_pdu, serve_association
from pacsaudit.measure.classify import classify
from pacsaudit.model import DicomResult, FileShareResult, Finding, HttpResult, Status
from pacsaudit.net.tlsinfo import describe_certificate
from pacsaudit.peertext import printable_text
from pacsaudit.probes.dicom import pdu
from pacsaudit.probes.dicom.probe import DicomProbe
from pacsaudit.probes.fileshare.ftp import FtpProbe
from pacsaudit.probes.fileshare.indicators import shipped_indicators
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.fileshare.rsync import RsyncProbe
from pacsaudit.probes.fileshare.walk import WalkTally
from pacsaudit.probes.http.probe import HttpProbe
from pacsaudit.targets.spec import Target
from peer_text import HOSTILE, PAYLOADS, check_files, check_finding, check_log, check_terminal
from probes.http.peers import Site, json_route, response

from hostile_servers import probe_options  # isort: skip
from probes.http.test_http_probe import options as http_options  # isort: skip

NETWORK = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
WALK = WalkOptions(budget=3.0, read_timeout=0.5, connect_timeout=0.5)


def scan_site(site: Site) -> Finding:
    """The HTTP probe's finding on ``site``, served on loopback."""

    async def main() -> Finding:
        async with PeerServer(site) as peer, asyncio.timeout(10):
            return await HttpProbe(http_options()).scan(Target("127.0.0.1", peer.port))

    return asyncio.run(main())


def run_sinks(finding: Finding, shown: list[str]) -> None:
    check_finding(finding)
    check_terminal([finding], shown)
    for value in shown:
        check_log(value)
    with tempfile.TemporaryDirectory() as folder:
        benign = _benign(finding)
        check_files([finding], [benign], Path(folder))


_PLAIN = re.compile(r"[A-Za-z0-9._:/ -]*")
"""Strings of the model's own vocabulary (statuses, classes, times); anything else is the
peer's."""


def _benign(finding: Finding) -> Finding:
    """The same finding with every peer string replaced: the report's shape without the attack."""

    def clean(value: object) -> object:
        if isinstance(value, str):
            return value if _PLAIN.fullmatch(value) else "x"
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    raw = msgspec.to_builtins(finding)
    return msgspec.convert(clean(raw), type=Finding)


# --- DICOM: the A-ASSOCIATE-AC's identity, sans-IO and over loopback --------------------------


def with_identity(ac: bytes, class_uid: bytes, version: bytes) -> bytes:
    """``ac`` (made by pynetdicom without identity items) with these bytes as Implementation
    Class UID and Version Name: the last item is User Information, so the new sub-items go at
    its end and two lengths grow."""
    extra = b"".join(
        struct.pack(">BBH", t, 0, len(v)) + v for t, v in ((0x52, class_uid), (0x55, version))
    )
    pos = 6 + 68
    while True:
        item_type, _, length = struct.unpack_from(">BBH", ac, pos)
        if item_type == 0x50:
            break
        pos += 4 + length
    body = bytearray(ac + extra)
    struct.pack_into(">H", body, pos + 2, length + len(extra))
    struct.pack_into(">I", body, 2, len(body) - 6)
    return bytes(body)


_REQUEST = pdu.AssociateRequest(
    called_ae="ANY-SCP",
    calling_ae="PACSAUDIT",
    contexts=(pdu.PresentationContextProposal(1, "1.2.840.10008.1.1", ("1.2.840.10008.1.2",)),),
    max_pdu_length=16384,
    implementation_class_uid="1.2.3",
).encode()
_PLAIN_AC = accept_for(_REQUEST, class_uid=None, version=None)


def peer_bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(HOSTILE.map(lambda t: t.encode("utf-8")[:64]), st.binary(max_size=64))


@settings(max_examples=200)
@given(uid=peer_bytes(), version=peer_bytes())
def test_dicom_identity_is_printable_when_parsed(uid: bytes, version: bytes) -> None:
    ac = with_identity(_PLAIN_AC, uid, version)
    accept = pdu.parse_body(ac[0], ac[6:])
    assert isinstance(accept, pdu.AssociateAccept)
    for field in (accept.implementation_class_uid, accept.implementation_version_name):
        assert field is not None
        assert field.isascii()
        assert field.isprintable()


def hostile_acceptor(uid: bytes, version: bytes) -> object:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pdu_type, request = await read_pdu(reader)
        if pdu_type != pdu.PduType.ASSOCIATE_RQ:
            return
        writer.write(with_identity(accept_for(request, class_uid=None, version=None), uid, version))
        await serve_association(reader, writer)

    return handler


@NETWORK
@given(uid=peer_bytes(), version=peer_bytes())
def test_dicom_identity_through_every_sink(uid: bytes, version: bytes) -> None:
    async def main() -> Finding:
        async with PeerServer(hostile_acceptor(uid, version)) as server:  # type: ignore[arg-type]
            async with asyncio.timeout(5):
                return await DicomProbe(probe_options()).scan(Target("127.0.0.1", server.port))

    # judged as a scan judges it: device class, its evidence and the product's ride along
    finding = classify(asyncio.run(main()))
    assert finding.status is Status.DICOM, finding
    r = finding.result
    assert isinstance(r, DicomResult)
    assert r.device_class is not None
    assert r.device_class_evidence
    shown = [] if r.toolkit else [r.implementation_version_name or r.implementation_class_uid or ""]
    run_sinks(finding, shown)


# --- HTTP: Server header, realm, Orthanc JSON -------------------------------------------------

HEADER_SAFE = st.text(
    alphabet=st.sampled_from([chr(c) for c in (9, *range(0x20, 0x7F), *range(0x80, 0x100))]),
    min_size=1,
    max_size=40,
)
"""What HTTP lets through in a header value (h11 refuses other control characters), C1 and
obs-text included."""
_ON_THE_WIRE = [p.encode("utf-8").decode("latin-1") for p in PAYLOADS]
"""The payloads as UTF-8 bytes on the wire (how a bidi override reaches a header)."""
HEADER_TEXT = st.one_of(
    HEADER_SAFE,
    st.sampled_from([p for p in _ON_THE_WIRE if all(c == "\t" or " " <= c != "\x7f" for c in p)]),
).filter(lambda t: '"' not in t and t.strip())


AE_TITLE = st.one_of(
    HOSTILE,
    st.from_regex(r"\A[A-Za-z0-9_\-. ]{1,16}\Z"),  # what the listing keeps, "-X" and " ." too
    st.sampled_from(["-2+3", "@SUM(A1)", "[bold]X", "A\x1b[2J", "B\u202eC", "=1+1"]),
)
"""AE titles a dcm4chee-arc ``/aets`` answer names (``HttpResult.ae_titles``)."""


@NETWORK
@given(server=HEADER_TEXT, realm=HEADER_TEXT, name=HOSTILE, version=HOSTILE, plugin=HOSTILE)
def test_http_text_through_every_sink(
    server: str, realm: str, name: str, version: str, plugin: str
) -> None:
    def root(_req: object) -> bytes:
        challenge = {"WWW-Authenticate": f'Basic realm="{realm}"', "Server": server}
        return response(401, headers=challenge)

    site = Site(
        routes={
            "/": root,  # type: ignore[dict-item]
            "/system": json_route(
                {"Name": name, "Version": version, "DicomAet": name[:16], "ApiVersion": 5}
            ),
            "/plugins": json_route([plugin, "dicom-web"]),
        }
    )

    finding = scan_site(site)
    r = finding.result
    assert isinstance(r, HttpResult), finding
    assert r.auth is not None, r
    assert r.auth.realm is not None, r
    shown = [r.auth.realm]
    if r.orthanc is not None and r.orthanc.version:
        shown.append(r.orthanc.version)
    run_sinks(finding, shown)


GATEWAY_AE_TITLE = st.one_of(
    st.from_regex(r"[-=+@ ]?[A-Za-z0-9_\-. ]{1,15}", fullmatch=True),  # what the probe keeps
    st.sampled_from(PAYLOADS),
    HOSTILE,
)
"""Titles an AE listing might hold: plausible ones (some starting ``-``, which an AE title may,
or another formula prefix) and hostile text."""


@NETWORK
@given(titles=st.lists(GATEWAY_AE_TITLE, min_size=1, max_size=4))
def test_gateway_ae_titles_through_every_sink(titles: list[str]) -> None:
    site = Site(routes={"/config/ae": json_route([{"aeTitle": t} for t in titles])})

    finding = scan_site(site)
    r = finding.result
    assert isinstance(r, HttpResult), finding
    [listing] = r.ae_titles
    assert listing.listed == len(titles)
    run_sinks(finding, listing.titles[:4])


@NETWORK
@given(titles=st.lists(AE_TITLE, min_size=1, max_size=4), server=HEADER_TEXT)
def test_listed_ae_titles_through_every_sink(titles: list[str], server: str) -> None:
    """An open dcm4chee-arc ``/aets`` naming hostile titles: only titles of the narrow
    alphabet are kept (``HttpResult.ae_titles``), the rest counted as unprintable."""
    site = Site(
        routes={
            "/": lambda _req: response(200, b"<html>archive</html>", headers={"Server": server}),
            "/dcm4chee-arc/aets": json_route([{"dicomAETitle": t} for t in titles]),
        }
    )

    finding = classify(scan_site(site))
    r = finding.result
    assert isinstance(r, HttpResult), finding
    listing = next(a for a in r.ae_titles if a.path == "/dcm4chee-arc/aets")
    assert listing.listed == len(titles)
    for title in listing.titles:
        assert re.fullmatch(r"[A-Za-z0-9_\-. ]{1,16}", title), title
    run_sinks(finding, [])


# --- FTP: a real pyftpdlib, its banner set by the test ---------------------------------------


class _Ftp:
    def __init__(self, root: Path) -> None:
        authorizer = DummyAuthorizer()
        authorizer.add_anonymous(str(root))
        self.handler = type("HostileBanner", (FTPHandler,), {"authorizer": authorizer})
        self.server = FTPServer(("127.0.0.1", 0), self.handler)
        self.port: int = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"timeout": 0.1}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.close_all()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def ftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Ftp]:
    root = tmp_path_factory.mktemp("ftp-root")
    (root / "IM0001.dcm").write_bytes(b"\0" * 128 + b"DICM")
    server = _Ftp(root)
    yield server
    server.close()


@NETWORK
@given(banner=HOSTILE.filter(lambda t: t.strip() and "\r" not in t and "\n" not in t))
def test_ftp_banner_through_every_sink(ftp: _Ftp, banner: str) -> None:
    ftp.handler.banner = banner  # pyftpdlib sends it as it is, in UTF-8

    async def main() -> Finding:
        async with asyncio.timeout(10):
            return await FtpProbe(WALK).scan(Target("127.0.0.1", ftp.port))

    finding = asyncio.run(main())
    r = finding.result
    assert isinstance(r, FileShareResult), finding
    assert r.server is not None
    run_sinks(finding, [r.server])


# --- rsync: module names ----------------------------------------------------------------------


def rsync_daemon(modules: list[str]) -> object:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"@RSYNCD: 31.0\n")
        await reader.readline()  # the client's version
        wanted = (await reader.readline()).strip()
        if wanted:
            writer.write(b"@ERROR: access denied to this module\n")
        else:
            for name in modules:
                writer.write(name.encode("utf-8") + b"\tan archive\n")
            writer.write(b"@RSYNCD: EXIT\n")
        await writer.drain()

    return handler


def usable(name: str) -> bool:
    """What the rsync probe lists of a module line (it drops paths and option-like names)."""
    name = name.rstrip()
    return bool(name) and name.isprintable() and "/" not in name and name[0] not in "-#@"


MODULE_NAME = st.one_of(
    st.sampled_from(["[bold red]", "[link=mailto:x@evil.example]y", ":skull:", "=cmd|'calc'!A0"]),
    HOSTILE,
).filter(lambda t: "\n" not in t and "\t" not in t and "\r" not in t)


@NETWORK
@given(modules=st.lists(MODULE_NAME, min_size=1, max_size=3))
def test_rsync_module_names_through_every_sink(modules: list[str]) -> None:
    async def main() -> Finding:
        handler = rsync_daemon(modules)
        async with PeerServer(handler) as peer, asyncio.timeout(10):  # type: ignore[arg-type]
            return await RsyncProbe(WALK).scan(Target("127.0.0.1", peer.port))

    finding = asyncio.run(main())
    assert finding.status is Status.RSYNC, finding
    r = finding.result
    assert isinstance(r, FileShareResult)
    assert len(r.shares) == sum(1 for m in modules if usable(m))
    run_sinks(finding, [s.name for s in r.shares[:6]])


# --- TLS: certificate subject and issuer -----------------------------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())


@settings(max_examples=60, deadline=None)
@given(
    org=HOSTILE.filter(lambda t: 0 < len(t) <= 64), unit=HOSTILE.filter(lambda t: 0 < len(t) <= 64)
)
def test_certificate_subject_is_printable(org: str, unit: str) -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(_KEY, hashes.SHA256())
    )
    facts = describe_certificate(cert.public_bytes(Encoding.DER))
    assert facts is not None
    for text in (facts.subject, facts.issuer):
        assert text.isprintable(), text


# --- SMB: share names and the server string, as impacket hands them to the walk -------------


@settings(max_examples=60, deadline=None)
@given(names=st.lists(HOSTILE, min_size=1, max_size=4), server=HOSTILE)
def test_smb_share_names_through_every_sink(names: list[str], server: str) -> None:
    tally = WalkTally(WALK, shipped_indicators(), time.monotonic() + 3.0)
    for name in names:
        tally.share(name)
    result = tally.result(server=printable_text(server, 96), login="guest", anonymous=True)
    finding = Finding(
        ip="127.0.0.1",
        port=4445,
        protocol="smb",
        status=Status.SMB,
        timestamp="2026-12-02T10:00:00.000Z",
        result=result,
    )
    assert isinstance(finding.result, FileShareResult)
    shown = [s.name for s in finding.result.shares[:6]]
    assert finding.result.server is not None
    run_sinks(finding, [*shown, finding.result.server])
