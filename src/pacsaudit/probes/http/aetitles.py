"""AE titles that an archive's or an AI gateway's REST API lists to anyone.

dcm4chee-arc (``GET /dcm4chee-arc/aets``), NVIDIA's Clara DICOM Adapter, the MONAI Deploy
Informatics Gateway and Dicoogle (``/management/settings/dicom``) answer an anonymous ``GET``
with the DICOM AE titles they accept associations under. A title is not patient data, but it
is the one secret a DICOM server that checks the called AE title keeps from a stranger: with
it, the server's DICOM port answers. So the titles are kept — only those of 1-16 characters of
a conservative alphabet, at most ``max_titles`` — and counted otherwise, with the path and
product they came from.

The endpoints are data (``data/ae_title_lists.json``), each with the source of its format. Only
the listings of the server's *own* titles are asked: these products' source and destination
lists name other hosts and their addresses, and are never requested. dcm4chee-arc's titles
are also where its per-AE DICOMweb roots live (``/dcm4chee-arc/aets/{aet}/rs``), so the QIDO-RS
step reuses this answer instead of asking again.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import httpx
import msgspec

from pacsaudit.model import AeTitleList, WebApp
from pacsaudit.probes.http.pages import json_list, json_object
from pacsaudit.probes.http.survey import Survey
from pacsaudit.probes.http.transport import Fetched, WebSession, printable

_AET = re.compile(r"^[A-Za-z0-9_\-. ]{1,16}$")
"""What an AE title may look like to be kept (PS3.5: at most 16 characters, no backslash or
control character; narrower still, so that no free text ever passes)."""
_JSON_ACCEPT = "application/json"
DCM4CHEE = "dcm4chee-arc"


class AeListSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str
    category: str
    path: str
    key: str
    """The JSON key of the AE title in each element of the answer's array (or in the answer
    itself, for ``shape: object``)."""
    source: str
    shape: str = "array"
    """``array`` (of objects, one per AE) or ``object`` (one AE: the server's own title)."""
    when: str | None = None
    """Ask only a server already identified as this product."""


class _AeLists(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    about: str
    max_titles: int
    lists: list[AeListSpec]


@functools.cache
def ae_lists() -> _AeLists:
    raw = resources.files("pacsaudit.data").joinpath("ae_title_lists.json").read_bytes()
    return msgspec.json.decode(raw, type=_AeLists)


async def survey_ae_titles(session: WebSession, s: Survey, auth: httpx.Auth | None) -> None:
    """Ask each listing once; a listing that answered names its product as an application."""
    data = ae_lists()
    for spec in data.lists:
        if spec.when is not None and spec.when not in s.products:
            continue
        if session.exhausted():
            return
        fetched = await session.get(spec.path, purpose="ae-titles", accept=_JSON_ACCEPT, auth=auth)
        listing = read_titles(spec, fetched, data.max_titles)
        if listing is None:
            continue
        s.ae_titles.append(listing)
        s.add_app(
            WebApp(product=spec.product, category=spec.category, path=spec.path, evidence="api")
        )


def read_titles(spec: AeListSpec, fetched: Fetched, limit: int) -> AeTitleList | None:
    """The titles of an answer that is such a listing: a JSON array of objects, at least one
    of them carrying ``spec.key``. None for anything else (a catch-all page, an error object,
    an array of something else) — and for an empty array, which says nothing of its server."""
    items = _items(spec, fetched)
    if not items or not all(isinstance(i, dict) for i in items[:8]):
        return None
    if not any(isinstance(i, dict) and spec.key in i for i in items):
        return None
    titles: list[str] = []
    unprintable = 0
    truncated = False
    for item in items:
        title = _title(item.get(spec.key) if isinstance(item, dict) else None)
        if title is None:
            unprintable += 1
        elif title not in titles:
            if len(titles) >= limit:
                truncated = True
                continue
            titles.append(title)
    return AeTitleList(
        product=spec.product,
        path=spec.path,
        titles=titles,
        listed=len(items),
        unprintable=unprintable,
        truncated=truncated,
    )


def _items(spec: AeListSpec, fetched: Fetched) -> list[Any] | None:
    if spec.shape == "object":
        doc = json_object(fetched)
        return None if doc is None else [doc]
    return json_list(fetched)


def _title(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    if not _AET.match(stripped):
        return None
    return printable(stripped, 16)


def dcm4chee_titles(s: Survey, first: int, default: str) -> list[str]:
    """dcm4chee-arc's listed titles (the first ``first``), or its default one where it listed
    none: the AE titles its per-AE DICOMweb roots are tried under."""
    for listing in s.ae_titles:
        if listing.product == DCM4CHEE and listing.titles:
            return listing.titles[:first]
    return [default]
