"""Honeypot signals from behaviour and personas (issue 13, part 5).

dicompot (Go, not installed here) waits ~5 s, then rejects an unknown called AE title with
RJ 1/2/2 ("protocol version not supported"): a fake server does the same, since no real
server misbehaves so. The persona is a real pynetdicom SCP given GE's identifiers, as
DICOMHawk's ``vendor_personas`` are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from hostile_servers import LOOPBACK, PeerServer, drain_until_eof, probe_options, read_pdu
from pacsaudit.engine.options import new_event_loop_factory
from pacsaudit.measure.classify import classify
from pacsaudit.model import DicomResult, FlagKind, Status
from pacsaudit.probes.dicom import pdu
from pacsaudit.probes.dicom.probe import DicomOptions, DicomProbe
from pacsaudit.targets.spec import Target

DELAY = 5.0


def rejecting(delay: float):  # type: ignore[no-untyped-def]
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_pdu(reader)
        await asyncio.sleep(delay)
        writer.write(pdu.encode_associate_rj(1, 2, 2))
        await writer.drain()
        await drain_until_eof(reader)

    return handler


def probe_fake(delay: float) -> DicomResult:
    async def main() -> DicomResult:
        async with PeerServer(rejecting(delay)) as server:
            # a read timeout shorter than the delay: the answer is still waited for
            options = probe_options(
                read_timeout=2.0,
                budget=20.0,
                associate_wait=DicomOptions().associate_wait,  # the default the CLI uses
                tls_ports=frozenset(),
            )
            finding = classify(await DicomProbe(options).scan(Target(LOOPBACK, server.port)))
        assert finding.status is Status.DICOM, finding
        assert isinstance(finding.result, DicomResult)
        return finding.result

    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        return runner.run(main())


def test_a_reject_delayed_five_seconds_is_read_and_is_honeypot_evidence() -> None:
    r = probe_fake(DELAY)
    assert all(a.reject is not None for a in r.attempts)
    assert all(a.answer_ms is not None and a.answer_ms >= DELAY * 1000 for a in r.attempts)
    honeypot = [f.evidence for f in r.flags if f.kind is FlagKind.LIKELY_HONEYPOT]
    assert any("deliberate delay" in e for e in honeypot)
    assert any("RJ 1/2/2" in e for e in honeypot)


def test_a_prompt_odd_reject_alone_is_a_signal_not_a_verdict() -> None:
    r = probe_fake(0.0)
    kinds = {f.kind for f in r.flags}
    assert FlagKind.LIKELY_HONEYPOT not in kinds
    assert [f.evidence for f in r.flags if f.kind is FlagKind.HONEYPOT_SIGNAL] == [
        "a called AE title rejected as 'protocol version not supported' (RJ 1/2/2, "
        "dicompot -enforce; servers say reason 7)"
    ]


@contextlib.contextmanager
def pynetdicom_persona(class_uid: str, version_name: str) -> Iterator[int]:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = AE(ae_title="GEREVCT01")
    ae.implementation_class_uid = class_uid
    ae.implementation_version_name = version_name
    ae.add_supported_context(Verification)
    server = ae.start_server((LOOPBACK, 0), block=False)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def probe_real(port: int) -> DicomResult:
    options = probe_options(budget=10.0, tls_ports=frozenset())
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        finding = classify(runner.run(DicomProbe(options).scan(Target(LOOPBACK, port))))
    assert isinstance(finding.result, DicomResult)
    return finding.result


def test_a_pynetdicom_scp_wearing_ges_persona_is_a_likely_honeypot() -> None:
    with pynetdicom_persona("1.2.840.113619.6.96", "GE_PACS_REV_24") as port:
        r = probe_real(port)
    assert r.implementation_class_uid == "1.2.840.113619.6.96"
    honeypot = [f.evidence for f in r.flags if f.kind is FlagKind.LIKELY_HONEYPOT]
    assert honeypot == [
        "identifiers 1.2.840.113619.6.96 / GE_PACS_REV_24 are exactly DICOMHawk's ge_ct persona",
        "GE implementation class UID with pynetdicom's default max PDU 16382",
    ]


def test_a_ge_uid_on_pynetdicoms_pdu_size_alone_is_only_a_signal() -> None:
    with pynetdicom_persona("1.2.840.113619.6.5", "OTHER_NAME") as port:
        r = probe_real(port)
    assert {f.kind for f in r.flags} == {FlagKind.HONEYPOT_SIGNAL}
