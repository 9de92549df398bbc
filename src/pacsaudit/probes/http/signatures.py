"""The HTTP probe's data: web-application signatures, DICOMweb locations, default credentials.

All three are package data (``data/http_signatures.json``, ``data/dicomweb_paths.json``,
``data/http_credentials.json``), each entry with the source where its string or path can be
checked, so that adding a product is a data change and a review of one line of evidence.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import msgspec

_TITLE = re.compile(rb"<title[^>]*>(.{0,512}?)</title", re.IGNORECASE | re.DOTALL)


class Signature(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str
    category: str
    source: str
    paths: list[str] = msgspec.field(default_factory=list)
    when: str | None = None
    """Fetch ``paths`` only on a server already identified as this product."""
    title: list[str] = msgspec.field(default_factory=list)
    not_title: list[str] = msgspec.field(default_factory=list)
    """Titles that contain a ``title`` string but name another product (Explorer 2)."""
    body: list[str] = msgspec.field(default_factory=list)
    body_all: list[str] = msgspec.field(default_factory=list)
    """Every one of these must occur: a JSON API answer, known by its keys together (one key
    alone, ``"datastore"``, would match too much)."""
    server: list[str] = msgspec.field(default_factory=list)
    realm: list[str] = msgspec.field(default_factory=list)


class _Signatures(msgspec.Struct, frozen=True):
    about: str
    signatures: list[Signature]


class QidoRoot(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    root: str
    source: str


class WadoPath(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str
    source: str


class DicomWebPaths(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    about: str
    qido_roots: list[QidoRoot]
    dcm4chee_default_aet: str
    max_aets: int
    wado_uri: list[WadoPath]


class Credential(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    user: str
    password: str
    products: list[str]
    source: str


class _Credentials(msgspec.Struct, frozen=True):
    about: str
    credentials: list[Credential]


def _read(name: str) -> bytes:
    return resources.files("pacsaudit.data").joinpath(name).read_bytes()


@functools.cache
def signatures() -> tuple[Signature, ...]:
    return tuple(msgspec.json.decode(_read("http_signatures.json"), type=_Signatures).signatures)


@functools.cache
def dicomweb_paths() -> DicomWebPaths:
    return msgspec.json.decode(_read("dicomweb_paths.json"), type=DicomWebPaths)


@functools.cache
def shipped_credentials() -> tuple[Credential, ...]:
    return tuple(msgspec.json.decode(_read("http_credentials.json"), type=_Credentials).credentials)


def page_title(body: bytes) -> bytes | None:
    """The page's ``<title>`` bytes, lowered (looked at for matching, never recorded)."""
    m = _TITLE.search(body[: 64 * 1024])
    return m.group(1).strip().lower() if m else None


def _any_in(needles: list[str], haystack: bytes | str | None) -> bool:
    if not haystack or not needles:
        return False
    if isinstance(haystack, str):
        lowered = haystack.lower()
        return any(n.lower() in lowered for n in needles)
    return any(n.lower().encode() in haystack for n in needles)


def _all_in(needles: list[str], lowered: bytes) -> bool:
    return bool(needles) and all(n.lower().encode() in lowered for n in needles)


def match_page(
    sig: Signature,
    *,
    body: bytes,
    server: str | None,
    realm: str | None,
) -> str | None:
    """What of ``sig`` matched this answer (``title``, ``body``, ``server-header``,
    ``realm``), or None."""
    if _any_in(sig.realm, realm):
        return "realm"
    if _any_in(sig.server, server):
        return "server-header"
    if body:
        title = page_title(body)
        if _any_in(sig.title, title) and not _any_in(sig.not_title, title):
            return "title"
        lowered = body[: 256 * 1024].lower()
        if _any_in(sig.body, lowered) or _all_in(sig.body_all, lowered):
            return "body"
    return None


def credentials_for(products: set[str], limit: int) -> list[Credential]:
    """Shipped pairs, those naming a recognised product first, at most ``limit``."""
    ranked = sorted(
        shipped_credentials(),
        key=lambda c: 0 if products.intersection(c.products) else 1,
    )
    return ranked[:limit]
