"""WebDAV ``PROPFIND`` (RFC 4918 §9.1): the request body and the reader of its answer.

We ask for two properties only, ``resourcetype`` (a ``collection`` is a folder) and
``getcontentlength``, at ``Depth: 1``: one folder per request, never ``infinity``, so that the
share walk's bounds stay ours. The answer is a peer's XML: one with a DOCTYPE or an entity
declaration is refused before parsing (entity expansion bombs, external entities), the body is
capped by the caller, and every href goes through the same same-host, direct-child rule as a
listing page's links (:func:`pacsaudit.probes.http.indexes.child_name`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import httpx

from pacsaudit.probes.http.indexes import MAX_LINKS, child_name

if TYPE_CHECKING:
    from pacsaudit.probes.fileshare.walk import Entry

PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<propfind xmlns="DAV:"><prop><resourcetype/><getcontentlength/></prop></propfind>\n'
)
_DAV = "{DAV:}"


def announces_dav(header: str | None) -> bool:
    """RFC 4918 §10.1: the ``DAV`` header lists compliance classes; class 1 is WebDAV."""
    if not header:
        return False
    return any(part.strip() == "1" for part in header[:256].split(","))


class NotMultistatus(ValueError):
    """The answer was not a WebDAV multistatus document we are willing to read."""


def parse_multistatus(body: bytes, base: httpx.URL) -> list[Entry]:
    """The direct children of the folder at ``base`` a ``207 Multi-Status`` answer lists."""
    from pacsaudit.probes.fileshare.walk import Entry, EntryKind

    head = body[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in body.lower():
        raise NotMultistatus("a DTD in a PROPFIND answer")
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError) as exc:
        raise NotMultistatus("not XML") from exc
    if root.tag != f"{_DAV}multistatus":
        raise NotMultistatus("not a multistatus")
    entries: list[Entry] = []
    seen: set[str] = set()
    for response in root.iterfind(f"{_DAV}response"):
        if len(entries) >= MAX_LINKS:
            break
        href = (response.findtext(f"{_DAV}href") or "").strip()
        child = child_name(base, href)
        if child is None or child[0] in seen:
            continue  # the folder itself, its parent, or anything off the tree
        name, slash = child
        seen.add(name)
        prop = _ok_prop(response)
        collection = slash or (
            prop is not None and prop.find(f"{_DAV}resourcetype/{_DAV}collection") is not None
        )
        if collection:
            identity = f"{base.raw_path.decode('ascii', 'replace')}{name}/"
            entries.append(Entry(name, EntryKind.DIR, identity=identity))
            continue
        size_text = prop.findtext(f"{_DAV}getcontentlength") if prop is not None else None
        size = int(size_text) if size_text and size_text.strip().isdigit() else None
        entries.append(
            Entry(name, EntryKind.FILE, size=size if size is None or size < 1 << 62 else None)
        )
    return entries


def _ok_prop(response: ET.Element) -> ET.Element | None:
    """The ``prop`` of the propstat whose status is 200 (RFC 4918 §14.22)."""
    for propstat in response.iterfind(f"{_DAV}propstat"):
        status = propstat.findtext(f"{_DAV}status") or ""
        if " 200 " in f"{status.strip()} ":
            return propstat.find(f"{_DAV}prop")
    return None
