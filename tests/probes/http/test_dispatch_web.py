"""The dispatcher hands web ports to the HTTP probe: by port, by the peer's first answer, and
through TLS (DICOM inside TLS drawing an HTTP 400 means HTTPS)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from hostile_servers import PeerServer
from pacsaudit.engine.options import EngineOptions, new_event_loop_factory
from pacsaudit.lab.certs import write_self_signed
from pacsaudit.model import DicomResult, Finding, HttpResult, Status
from pacsaudit.plan import ScanPlan
from pacsaudit.probes.catalog import PROBE_NAMES, build_probes, default_scan_ports
from pacsaudit.probes.dicom.probe import DicomOptions
from pacsaudit.probes.dispatch import Dispatcher
from pacsaudit.probes.http.options import HTTP_PORTS, HttpOptions
from pacsaudit.targets.spec import AddressSpace, Target
from probes.http.peers import Site, html_route, read_request, response


def dispatcher() -> Dispatcher:
    plan = ScanPlan(
        AddressSpace(),
        (),
        EngineOptions(),
        DicomOptions(tls_ports=frozenset(), read_timeout=1.0),
        output=None,
        http=HttpOptions(read_timeout=1.0),
    )
    return Dispatcher(build_probes(plan))


def test_web_ports_belong_to_the_http_probe() -> None:
    d = dispatcher()
    assert {"http", "https"} <= set(PROBE_NAMES)
    assert set(HTTP_PORTS) <= set(default_scan_ports())
    for port in HTTP_PORTS:
        assert d.claimants(port) == ["http"]


async def _https_or_400(
    site: Site, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Like nginx or Orthanc with TLS: a request that is not HTTP draws a 400, then close."""
    first = await reader.readexactly(4)
    if first != b"GET ":
        writer.write(response(400, reason="Bad Request", headers={"Connection": "close"}))
        await writer.drain()
        return
    rest = await reader.readuntil(b"\r\n\r\n")
    path = rest.split(b" ", 1)[0].decode()
    writer.write(site.routes[path](None) if path in site.routes else response(404))  # type: ignore[arg-type]
    await writer.drain()
    while (req := await read_request(reader)) is not None:
        writer.write(site.routes[req.path](req) if req.path in site.routes else response(404))
        await writer.drain()


def test_tls_port_speaking_http_gets_the_https_probe(tmp_path: Path) -> None:
    key, cert = write_self_signed(tmp_path, common_name="web-behind-tls")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    site = Site(routes={"/": html_route("Orthanc Explorer 2")})

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _https_or_400(site, reader, writer)

    async def main() -> list[Finding]:
        async with PeerServer(handler, tls=ctx) as server:
            return await dispatcher().scan_all(Target("127.0.0.1", server.port))

    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        findings = runner.run(main())
    # The cleartext sniff (the TLS server hung up), DICOM inside TLS (an HTTP 400), HTTPS.
    assert [f.status for f in findings] == [Status.ERROR, Status.OPEN_NOT_DICOM, Status.HTTP]
    assert findings[-1].protocol == "https"
    inside = findings[-2]
    assert inside.status is Status.OPEN_NOT_DICOM
    assert isinstance(inside.result, DicomResult)
    assert (inside.result.banner or "").startswith("HTTP/1.1 400")
    web = findings[-1]
    assert web.status is Status.HTTP
    assert isinstance(web.result, HttpResult)
    assert web.result.scheme == "https"
    assert web.result.tls is not None
    assert [a.product for a in web.result.apps] == ["Orthanc Explorer 2"]
