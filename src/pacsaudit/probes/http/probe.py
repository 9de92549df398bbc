"""The HTTP(S) probe: imaging web APIs and applications, how open they are, what they expose.

Per target, all requests bounded (``transport.WebSession``):

1. ``GET /`` (same-host redirects followed): status, ``Server``, any challenge, page signatures.
2. Orthanc's REST API: ``/system`` (name, version, DICOM AE title and port — or 401),
   ``/statistics`` (patients, studies, series, instances, disk size: counts kept by the server,
   no patient data), ``/plugins``.
3. Application pages of ``data/http_signatures.json`` (Orthanc Explorer 1 and 2, Orthanc's Web
   Viewer, WSI and Stone plugins, OHIF, dcm4chee's UI, Oviyam, PacsOne, MONAI Label, ...; the
   static files known only by their MD5, Carestream Vue Motion's, after step 5), and
   the AE-title listings of ``data/ae_title_lists.json`` (dcm4chee-arc ``/aets``, Clara DICOM
   Adapter, MONAI Deploy Informatics Gateway: :mod:`~pacsaudit.probes.http.aetitles`).
4. DICOMweb: QIDO-RS under the roots of ``data/dicomweb_paths.json``; at exposure depth the
   first root that answers is enumerated (``limit``/``offset`` pages, ``--max-records``), each
   study reduced by :mod:`pacsaudit.measure.dicom_json` to PHI attribute counts, keyed Patient ID
   hashes, years and modality codes. WADO-URI is recognised without fetching any instance.
5. Orthanc without DICOMweb: the same counting over its REST listing ``/studies?expand``.
6. ``--try-default-credentials`` only: the shipped pairs on a Basic challenge of an imaging
   endpoint; if one works, steps 2-5 again with it. Without the flag no request carries an
   ``Authorization`` header (a test proves it).

Why counts from two sources: ``/statistics`` is the server's own tally and costs one request;
QIDO-RS shows what an anonymous client can actually list, and which PHI attributes it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import time
from typing import Any, ClassVar

import httpx
import msgspec

from pacsaudit.contract import make_finding
from pacsaudit.errors import printable_sample
from pacsaudit.measure.dicom_json import JsonTally, tag_list
from pacsaudit.model import (
    CredentialCheck,
    DicomWebEndpoint,
    ErrorInfo,
    Exposure,
    FileShareResult,
    Finding,
    HttpResult,
    OrthancInfo,
    OrthancStatistics,
    Status,
    WebApp,
)
from pacsaudit.net.stream import scanner_tls_context
from pacsaudit.probes.fileshare.indicators import shipped_indicators
from pacsaudit.probes.http import HTTP, HTTPS, listings
from pacsaudit.probes.http import signatures as sig
from pacsaudit.probes.http.aetitles import dcm4chee_titles, survey_ae_titles
from pacsaudit.probes.http.nas import survey_nas
from pacsaudit.probes.http.options import HttpOptions
from pacsaudit.probes.http.pages import (
    dicom_json_page,
    is_json,
    json_list,
    json_object,
    page_error,
    paginate,
)
from pacsaudit.probes.http.survey import Survey, auth_of, merge
from pacsaudit.probes.http.transport import Fetched, WebSession, make_session, printable
from pacsaudit.targets.spec import Target

_MARGIN = 0.5
"""Seconds of the budget kept back so that the probe ends on its own, before the engine's cut."""
_JSON_ACCEPT = "application/json"
_DICOM_JSON_ACCEPT = "application/dicom+json, application/json;q=0.9"


class HttpProbe:
    name: ClassVar[str] = HTTP.key
    description: ClassVar[str] = HTTP.description
    default_ports: ClassVar[tuple[int, ...]] = HTTP.ports

    def __init__(self, options: HttpOptions | None = None) -> None:
        self.options = options or HttpOptions()
        self.options.validate()
        self._tls_context: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        if self._tls_context is None:
            self._tls_context = scanner_tls_context()
        return self._tls_context

    async def scan(self, target: Target) -> Finding:
        started = time.perf_counter()
        opts = self.options
        tls = self._context() if opts.always_tls or target.port in opts.https_ports else None
        session = make_session(
            target,
            tls=tls,
            context=self._context(),
            dial=opts.dial,
            read_timeout=opts.read_timeout,
            deadline=time.monotonic() + opts.budget - _MARGIN,
            limits=opts.limits,
            max_requests=opts.max_requests,
            contact=opts.contact,
        )
        try:
            return await self._scan(target, session, started)
        finally:
            await _close(session)

    async def _scan(self, target: Target, session: WebSession, started: float) -> Finding:
        root = await session.get("/", purpose="root")
        if root.error is not None:
            status = root.error.status
            if status in (Status.CLOSED, Status.FILTERED):
                return self._finding(target, started, status, None, None)
            sample = session.backend.first_bytes
            result = HttpResult(
                scheme=session.scheme,
                tls=session.backend.tls_info,
                exchanges=session.exchanges,
                banner=printable_sample(sample, 96) if sample else None,
            )
            return self._finding(target, started, Status.ERROR, result, root.error.error)
        anon = Survey()
        await self._survey(session, anon, root, auth=None)
        survey, credentials = anon, None
        if self.options.try_default_credentials and self.options.max_credentials > 0:
            credentials, auth = await self._try_credentials(session, anon)
            if auth is not None:
                with_auth = Survey()
                await self._survey(session, with_auth, None, auth=auth)
                survey = merge(anon, with_auth)
        listing = await self._listing(session, root)
        management = await survey_nas(session, root, blanket=anon.blanket)
        result = HttpResult(
            scheme=session.scheme,
            tls=session.backend.tls_info,
            status_code=root.status,
            server=printable(root.headers.get("server"), 96),
            auth=anon.auth,
            apps=list(survey.apps.values()),
            orthanc=survey.orthanc,
            dicomweb=survey.dicomweb,
            ae_titles=survey.ae_titles,
            exposure=survey.exposure,
            credentials=credentials,
            management=management,
            listing_format=listing[0] if listing else None,
            listing=listing[1] if listing else None,
            exchanges=session.exchanges,
        )
        return self._finding(target, started, Status.HTTP, result, None)

    async def _listing(
        self, session: WebSession, root: Fetched
    ) -> tuple[str, FileShareResult | None] | None:
        """``/`` as a file share (WebDAV, a directory listing), walked at exposure depth. Asked
        even where ``GET /`` was refused: a WebDAV server may forbid a folder's GET and still
        answer ``PROPFIND`` to anyone."""
        if root.status is None:
            return None
        fmt, index = await listings.detect(session, root)
        if fmt is None or not self.options.enumerate:
            return (fmt, None) if fmt else None
        from pacsaudit.probes.http.webshare import walk_listing  # imports pydicom

        walk, indicators = self.options.walk, shipped_indicators()
        return await walk_listing(session, root, fmt, walk, indicators, index_format=index)

    # -- one pass ----------------------------------------------------------------------------

    async def _survey(
        self, session: WebSession, s: Survey, root: Fetched | None, *, auth: httpx.Auth | None
    ) -> None:
        """Everything but credentials; ``root`` is reused on the anonymous pass."""
        if root is None:
            root = await session.get("/", purpose="root", auth=auth)
        blanket = s.blanket = root.refused and auth is None
        if root.refused:
            s.refused("/", root)
        self._recognise(s, "/", root)
        if blanket and not s.products:
            return  # 401 everywhere and nothing imaging recognised: nothing to learn here
        await self._orthanc(session, s, auth)
        if blanket:
            return  # every path would answer the same 401: no false "protected" roots or pages
        await self._app_pages(session, s, auth, by_digest=False)
        await survey_ae_titles(session, s, auth)
        await self._dicomweb(session, s, auth)
        await self._wado_uri(session, s, auth)
        if s.exposure is None and self.options.enumerate:
            await self._orthanc_listing(session, s, auth)
        # Last: a static file's digest only names a product; under a tight request budget
        # these GETs never push out a DICOMweb query or a count.
        await self._app_pages(session, s, auth, by_digest=True)

    def _recognise(self, s: Survey, path: str, fetched: Fetched) -> None:
        if fetched.status is None:
            return
        realm = auth_of(fetched).realm if fetched.refused else None
        digest = sig.body_md5(
            fetched.status, fetched.body, truncated=fetched.truncated, note=fetched.exchange.note
        )
        for signature in sig.signatures():
            evidence = sig.match_page(
                signature,
                body=fetched.body if fetched.ok else b"",
                server=fetched.headers.get("server"),
                realm=realm,
                digest=digest,
            )
            if evidence is not None:
                s.add_app(
                    WebApp(
                        product=signature.product,
                        category=signature.category,
                        path=path,
                        evidence=evidence,
                        protected=fetched.refused,
                    )
                )

    async def _orthanc(self, session: WebSession, s: Survey, auth: httpx.Auth | None) -> None:
        if session.exhausted():
            return
        system = await session.get(
            "/system", purpose="orthanc-system", accept=_JSON_ACCEPT, auth=auth
        )
        if system.refused:
            if "Orthanc" in s.products:
                s.refused("/system", system)
                s.orthanc = OrthancInfo(auth_required=True)
            return
        doc = json_object(system)
        if doc is None or not ("ApiVersion" in doc or ("DicomAet" in doc and "Version" in doc)):
            return
        s.add_app(WebApp(product="Orthanc", category="pacs", path="/system", evidence="api"))
        info = OrthancInfo(
            auth_required=False,
            name=_text(doc.get("Name"), 64),
            version=_text(doc.get("Version"), 32),
            api_version=_int(doc.get("ApiVersion")),
            dicom_aet=_text(doc.get("DicomAet"), 16),
            dicom_port=_int(doc.get("DicomPort")),
        )
        stats = await session.get(
            "/statistics", purpose="orthanc-statistics", accept=_JSON_ACCEPT, auth=auth
        )
        counts = json_object(stats)
        if counts is not None:
            info = msgspec.structs.replace(
                info,
                statistics=OrthancStatistics(
                    patients=_int(counts.get("CountPatients")),
                    studies=_int(counts.get("CountStudies")),
                    series=_int(counts.get("CountSeries")),
                    instances=_int(counts.get("CountInstances")),
                    disk_size_mb=_int(counts.get("TotalDiskSizeMB")),
                ),
            )
        if not session.exhausted():
            plugins = await session.get(
                "/plugins", purpose="orthanc-plugins", accept=_JSON_ACCEPT, auth=auth
            )
            names = json_list(plugins)
            if names is not None:
                info = msgspec.structs.replace(
                    info,
                    plugins=[t for n in names[:32] if (t := _text(n, 48)) is not None],
                )
        s.orthanc = info

    async def _app_pages(
        self, session: WebSession, s: Survey, auth: httpx.Auth | None, *, by_digest: bool
    ) -> None:
        """The ``paths`` of the signatures known by strings, or (``by_digest``) of those known
        by a static file's MD5, until one names its product."""
        fetched_paths: set[str] = {"/"}
        for signature in sig.signatures():
            if bool(signature.body_md5) != by_digest:
                continue
            if signature.when is not None and signature.when not in s.products:
                continue
            if signature.product in s.apps and not s.apps[signature.product].protected:
                continue
            for path in signature.paths:
                if path in fetched_paths or session.exhausted():
                    continue
                fetched_paths.add(path)
                page = await session.get(path, purpose="app", auth=auth)
                self._recognise(s, path, page)
                if signature.product in s.apps:
                    break

    async def _dicomweb(self, session: WebSession, s: Survey, auth: httpx.Auth | None) -> None:
        paths = sig.dicomweb_paths()
        includes = ",".join(tag_list())
        first_page = self.options.page_size if self.options.enumerate else 1
        for entry in paths.qido_roots:
            roots: list[str] = [entry.root]
            if "{aet}" in entry.root:
                aets = dcm4chee_titles(s, paths.max_aets, paths.dcm4chee_default_aet)
                roots = [entry.root.replace("{aet}", a) for a in aets]
            for root in roots:
                if session.exhausted():
                    return
                query = f"{root}/studies?limit={first_page}&offset=0"
                if self.options.enumerate:
                    query += f"&includefield={includes}"
                page = await session.get(
                    query,
                    purpose="qido",
                    accept=_DICOM_JSON_ACCEPT,
                    cap=self.options.limits.json_bytes,
                    auth=auth,
                )
                if page.refused:
                    s.refused(query, page)
                    s.dicomweb.append(
                        DicomWebEndpoint(
                            service="qido-rs", path=root, protected=True, status_code=page.status
                        )
                    )
                    continue
                records = dicom_json_page(page)
                too_big = records is None and page.ok and page.truncated and is_json(page)
                if records is None and not too_big:
                    continue
                s.dicomweb.append(
                    DicomWebEndpoint(
                        service="qido-rs", path=root, answered=True, status_code=page.status
                    )
                )
                s.qido_root = root
                if records is None:
                    # A JSON answer larger than --max-body (a server that ignores ``limit``):
                    # it answered, but nothing could be counted.
                    s.exposure = Exposure(studies_lower_bound=True, error=page_error(page))
                elif self.options.enumerate:
                    s.exposure = await self._enumerate_qido(session, root, page, records, auth)
                return

    async def _enumerate_qido(
        self,
        session: WebSession,
        root: str,
        first: Fetched,
        records: list[Any],
        auth: httpx.Auth | None,
    ) -> Exposure:
        """Page through ``root/studies`` until a page adds no study, or a bound is hit."""
        opts = self.options
        includes = ",".join(tag_list())
        tally = JsonTally(hasher=opts.hasher)

        async def request(offset: int) -> Fetched:
            return await session.get(
                f"{root}/studies?limit={opts.page_size}&offset={offset}&includefield={includes}",
                purpose="qido",
                accept=_DICOM_JSON_ACCEPT,
                cap=opts.limits.json_bytes,
                auth=auth,
            )

        exposure = await paginate(
            session,
            max_records=opts.max_records,
            model="qido-rs",
            request=request,
            parse=dicom_json_page,
            tally=tally,
            add=tally.add_dicom_json,
            first=(first, records),
        )
        assert exposure is not None  # a first page was given
        return exposure

    async def _orthanc_listing(
        self, session: WebSession, s: Survey, auth: httpx.Auth | None
    ) -> None:
        """Orthanc's REST listing where no QIDO-RS answered: the same counts, by keyword."""
        o = s.orthanc
        if o is None or (o.auth_required and auth is None):
            return
        opts = self.options
        tally = JsonTally(hasher=opts.hasher)

        async def request(since: int) -> Fetched:
            return await session.get(
                f"/studies?expand&limit={opts.page_size}&since={since}",
                purpose="orthanc-studies",
                accept=_JSON_ACCEPT,
                cap=opts.limits.json_bytes,
                auth=auth,
            )

        # None: no listing at all (an old or restricted Orthanc), nothing to add.
        exposure = await paginate(
            session,
            max_records=opts.max_records,
            model="orthanc-rest",
            request=request,
            parse=json_list,
            tally=tally,
            add=tally.add_orthanc_study,
        )
        stats = o.statistics
        if exposure is not None and exposure.images is None and stats and stats.instances:
            # The listing names no instance count; /statistics is the server's own total.
            exposure = msgspec.structs.replace(
                exposure, images=stats.instances, images_source="orthanc-statistics"
            )
        s.exposure = exposure

    async def _wado_uri(self, session: WebSession, s: Survey, auth: httpx.Auth | None) -> None:
        """WADO-URI without fetching an instance: a request without object UIDs must draw a
        different answer (400, 406, 200 with an error page...) than a path that does not
        exist. Orthanc answers 404 to both, so there its DICOMweb plugin is the evidence."""
        orthanc_plugin = s.orthanc is not None and "dicom-web" in s.orthanc.plugins
        control: Fetched | None = None
        paths_data = sig.dicomweb_paths()
        for entry in paths_data.wado_uri:
            paths = [entry.path]
            if "{aet}" in entry.path:
                if "dcm4chee-arc UI" not in s.products:
                    continue
                aets = dcm4chee_titles(s, 1, paths_data.dcm4chee_default_aet)
                paths = [entry.path.replace("{aet}", a) for a in aets]
            for path in paths:
                if orthanc_plugin and path == "/wado":
                    s.dicomweb.append(
                        DicomWebEndpoint(
                            service="wado-uri", path=path, answered=True, evidence="orthanc-plugin"
                        )
                    )
                    continue
                if session.exhausted():
                    return
                probe = await session.get(
                    f"{path}?requestType=WADO", purpose="wado-uri", accept="*/*", auth=auth
                )
                if probe.status is None:
                    continue
                if probe.refused:
                    s.dicomweb.append(
                        DicomWebEndpoint(
                            service="wado-uri",
                            path=path,
                            protected=True,
                            status_code=probe.status,
                        )
                    )
                    continue
                if probe.status == 404:
                    continue
                if control is None:
                    control = await session.get(
                        f"/{secrets.token_hex(8)}?requestType=WADO",
                        purpose="wado-uri-control",
                        accept="*/*",
                        auth=auth,
                    )
                if control.status is not None and control.status != probe.status:
                    s.dicomweb.append(
                        DicomWebEndpoint(
                            service="wado-uri",
                            path=path,
                            answered=True,
                            status_code=probe.status,
                            evidence="status-differs",
                        )
                    )

    # -- default credentials -------------------------------------------------------------------

    async def _try_credentials(
        self, session: WebSession, s: Survey
    ) -> tuple[CredentialCheck | None, httpx.Auth | None]:
        """Shipped pairs on the first challenged imaging path; only Basic and Digest."""
        if s.auth is None or s.challenge_path is None or (not s.products and not s.dicomweb):
            return None, None
        scheme = (s.auth.scheme or "").lower()
        if scheme not in ("basic", "digest"):
            return None, None
        path = "/system" if s.orthanc is not None else s.challenge_path
        tried = 0
        for n, cred in enumerate(sig.credentials_for(s.products, self.options.max_credentials)):
            if session.exhausted():
                break
            if n:
                await asyncio.sleep(self.options.credential_interval)
            auth: httpx.Auth = (
                httpx.BasicAuth(cred.user, cred.password)
                if scheme == "basic"
                else httpx.DigestAuth(cred.user, cred.password)
            )
            tried += 1
            answer = await session.get(path, purpose="credentials", accept="*/*", auth=auth)
            if answer.ok:
                return CredentialCheck(path=path, tried=tried, accepted_user=cred.user), auth
            if answer.status is None:
                break  # the server stopped answering: no point in going on
        return CredentialCheck(path=path, tried=tried), None

    # -- results -------------------------------------------------------------------------------

    def _finding(
        self,
        target: Target,
        started: float,
        status: Status,
        result: HttpResult | None,
        error: ErrorInfo | None,
    ) -> Finding:
        return make_finding(self.name, target, started, status, result, error)


class HttpsProbe(HttpProbe):
    """HTTP over TLS on any port: what the dispatcher runs where a port answered with a TLS
    alert. It claims no port itself (443 and 8443 are the HTTP probe's, in TLS)."""

    name: ClassVar[str] = HTTPS.key
    description: ClassVar[str] = HTTPS.description
    default_ports: ClassVar[tuple[int, ...]] = HTTPS.ports

    def __init__(self, options: HttpOptions | None = None) -> None:
        super().__init__(msgspec.structs.replace(options or HttpOptions(), always_tls=True))


# -- helpers ------------------------------------------------------------------------------------


async def _close(session: WebSession) -> None:
    with contextlib.suppress(Exception):  # closing a half-broken pool must not hide the finding
        await session.client.aclose()


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return printable(value, limit)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value < 1 << 62:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None
