"""NAS administration pages (Synology DSM, QNAP QTS, WD My Cloud, TerraMaster TOS, ASUSTOR
ADM, Buffalo LinkStation/TeraStation, Netgear ReadyNAS), with model and firmware where a page
that needs no login shows them.

Imaging departments keep studies on such boxes, and their administration pages, reachable from
the Internet, are how the NAS ransomware families got in (eCh0raix, Qlocker, DeadBolt): the
page itself is the finding, whether or not it asks for a password. The signatures are data
(``data/nas_signatures.json``), each with the public fingerprint its strings come from. Only
``GET``; a model or firmware string is kept only when it fits a short, conservative alphabet
(a host name or any free text never does).
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import msgspec

from pacsaudit.model import ManagementInterface
from pacsaudit.probes.http.signatures import page_title
from pacsaudit.probes.http.survey import auth_of
from pacsaudit.probes.http.transport import Fetched, WebSession

_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+/\- ]{0,31}$")
"""What a model or firmware string may look like to be kept (``TS-453D``, ``4.5.4``)."""
_SCAN_BYTES = 64 * 1024


class NasSignature(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str
    vendor: str
    source: str
    paths: list[str]
    title: list[str] = msgspec.field(default_factory=list)
    body: list[str] = msgspec.field(default_factory=list)
    body_all: list[str] = msgspec.field(default_factory=list)
    """Every one of these must occur (one common word alone would match too much)."""
    server_prefix: list[str] = msgspec.field(default_factory=list)
    """The ``Server`` header is this product token, alone or followed by ``/`` or a space."""
    realm: list[str] = msgspec.field(default_factory=list)
    model: str | None = None
    firmware: str | None = None
    build: str | None = None


class _NasSignatures(msgspec.Struct, frozen=True):
    about: str
    interfaces: list[NasSignature]


@functools.cache
def nas_signatures() -> tuple[NasSignature, ...]:
    raw = resources.files("pacsaudit.data").joinpath("nas_signatures.json").read_bytes()
    return tuple(msgspec.json.decode(raw, type=_NasSignatures).interfaces)


async def survey_nas(
    session: WebSession, root: Fetched, *, blanket: bool
) -> ManagementInterface | None:
    """The first NAS administration page among the signatures' paths, or None. ``blanket``:
    ``/`` asked for credentials, so every other path would too: only ``/`` is looked at."""
    pages: dict[str, Fetched] = {"/": root}
    for sig in nas_signatures():
        for path in sig.paths:
            if path not in pages:
                if blanket or session.exhausted():
                    continue
                pages[path] = await session.get(path, purpose="nas-admin")
            found = _match(sig, path, pages[path])
            if found is not None:
                return found
    return None


def _match(sig: NasSignature, path: str, page: Fetched) -> ManagementInterface | None:
    if page.status is None:
        return None
    evidence = _evidence(sig, page)
    if evidence is None:
        return None
    text = page.body[:_SCAN_BYTES].decode("latin-1") if page.ok else ""
    firmware = _extract(sig.firmware, text)
    build = _extract(sig.build, text)
    if firmware and build:
        firmware = f"{firmware} build {build}"
    return ManagementInterface(
        product=sig.product,
        vendor=sig.vendor,
        path=path,
        evidence=evidence,
        model=_extract(sig.model, text),
        firmware=firmware,
        login_required=page.refused,
        source=sig.source,
    )


def _evidence(sig: NasSignature, page: Fetched) -> str | None:
    """Which of the signature's marks this answer carries, or None."""
    if page.refused and sig.realm:
        realm = (auth_of(page).realm or "").lower()
        if any(r.lower() in realm for r in sig.realm):
            return "realm"
    server = page.headers.get("server", "")[:128]
    if any(server == p or server.startswith((f"{p}/", f"{p} ")) for p in sig.server_prefix):
        return "server-header"
    if not page.ok or not page.body:
        return None
    title = page_title(page.body) or b""
    if any(t.lower().encode() in title for t in sig.title):
        return "title"
    body = page.body[:_SCAN_BYTES].lower()
    if any(b.lower().encode() in body for b in sig.body):
        return "body"
    if sig.body_all and all(b.lower().encode() in body for b in sig.body_all):
        return "body"
    return None


def _extract(pattern: str | None, text: str) -> str | None:
    if pattern is None or not text:
        return None
    m = re.search(pattern, text)
    if m is None:
        return None
    value = m.group(1).strip()
    return value if _VALUE.match(value) else None
