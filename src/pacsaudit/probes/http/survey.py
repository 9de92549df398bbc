"""What one pass of the HTTP probe over a target saw, and how an authenticated pass's view
is merged with the anonymous one's: kept apart from :mod:`pacsaudit.probes.http.probe`, which
drives the requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import msgspec

from pacsaudit.model import (
    AeTitleList,
    DicomWebEndpoint,
    Exposure,
    HttpAuth,
    OrthancInfo,
    WebApp,
)
from pacsaudit.probes.http.transport import Fetched, printable

_REALM = re.compile(r'realm\s*=\s*"([^"]{0,256})"', re.IGNORECASE)


@dataclass
class Survey:
    """What one pass over the target (anonymous, or with an accepted default credential) saw."""

    apps: dict[str, WebApp] = field(default_factory=dict)
    auth: HttpAuth | None = None
    challenge_path: str | None = None
    orthanc: OrthancInfo | None = None
    dicomweb: list[DicomWebEndpoint] = field(default_factory=list)
    ae_titles: list[AeTitleList] = field(default_factory=list)
    exposure: Exposure | None = None
    qido_root: str | None = None
    blanket: bool = False
    """``/`` itself asked for credentials: every path is locked, whatever it is."""

    @property
    def products(self) -> set[str]:
        return {a.product for a in self.apps.values()}

    def add_app(self, app: WebApp) -> None:
        self.apps.setdefault(app.product, app)

    def refused(self, path: str, fetched: Fetched) -> HttpAuth:
        auth = auth_of(fetched)
        if self.auth is None:
            self.auth = auth
            self.challenge_path = path
        return auth


def merge(anon: Survey, authed: Survey) -> Survey:
    """The authenticated pass's data, the anonymous pass's locks."""
    merged = Survey(auth=anon.auth, challenge_path=anon.challenge_path)
    for app in authed.apps.values():
        locked = anon.apps.get(app.product)
        protected = anon.blanket or (locked is not None and locked.protected)
        merged.add_app(msgspec.structs.replace(app, protected=protected))
    for app in anon.apps.values():
        merged.add_app(app)
    if authed.orthanc is not None:
        merged.orthanc = msgspec.structs.replace(
            authed.orthanc, auth_required=anon.orthanc is not None and anon.orthanc.auth_required
        )
    else:
        merged.orthanc = anon.orthanc
    locked_roots = {(d.service, d.path) for d in anon.dicomweb if d.protected}
    merged.dicomweb = [
        msgspec.structs.replace(d, protected=anon.blanket or (d.service, d.path) in locked_roots)
        for d in authed.dicomweb
    ] or anon.dicomweb
    merged.ae_titles = authed.ae_titles or anon.ae_titles
    merged.exposure = authed.exposure or anon.exposure
    merged.qido_root = authed.qido_root or anon.qido_root
    return merged


def auth_of(fetched: Fetched) -> HttpAuth:
    header = fetched.headers.get("www-authenticate")
    scheme = realm = None
    if header:
        scheme = printable(header.strip().split(" ", 1)[0], 24)
        m = _REALM.search(header[:1024])
        realm = printable(m.group(1), 64) if m else None
    return HttpAuth(status_code=fetched.status or 0, scheme=scheme, realm=realm)
