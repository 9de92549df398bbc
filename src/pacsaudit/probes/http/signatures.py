"""The HTTP probe's data: web-application signatures, DICOMweb locations, default credentials.

All three are package data (``data/http_signatures.json``, ``data/dicomweb_paths.json``,
``data/http_credentials.json``), each entry with the source where its string or path can be
checked, so that adding a product is a data change and a review of one line of evidence.
"""

from __future__ import annotations

import functools
import hashlib
import re
from importlib import resources
from typing import Annotated

import msgspec

_TITLE = re.compile(rb"<title[^>]*>(.{0,512}?)</title", re.IGNORECASE | re.DOTALL)
_Md5 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{32}$")]


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
    body_md5: list[_Md5] = msgspec.field(default_factory=list)
    """The MD5 (lowercase hex) of one of the product's own files, an icon or an image, served
    whole with status 200: a closed product known by a public fingerprint of its static files
    rather than by a string."""
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


def body_md5(status: int | None, body: bytes, *, truncated: bool, note: str | None) -> str | None:
    """The MD5 of a body known to be whole: status 200, not cut at the body cap, not broken
    off by a bad encoding (``note``), not empty. None otherwise, so that the digest of a
    capped prefix, a partial answer or an error page never matches."""
    if status != 200 or truncated or note is not None or not body:
        return None
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


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
    digest: str | None = None,
) -> str | None:
    """What of ``sig`` matched this answer (``title``, ``body``, ``server-header``,
    ``realm``), or None. ``digest`` is :func:`body_md5` of the answer; a ``body_md5`` match
    is reported as ``body`` (the whole body matched)."""
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
    if digest is not None and digest in sig.body_md5:
        return "body"
    return None


def credentials_for(products: set[str], limit: int) -> list[Credential]:
    """Shipped pairs, those naming a recognised product first, at most ``limit``."""
    ranked = sorted(
        shipped_credentials(),
        key=lambda c: 0 if products.intersection(c.products) else 1,
    )
    return ranked[:limit]
