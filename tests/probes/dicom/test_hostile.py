"""The DICOM probe and the engine against peers that misbehave on purpose (on 127.0.0.1).

Every peer in ``hostile_servers.SCENARIOS`` must give one structured finding (a status and, for
errors, an ``error.kind`` from ``model.ErrorKind``) within the per-target budget, under both
event loops the scanner runs on (asyncio's and uvloop's), and must leave no connection open:
each peer's server sees the scanner hang up. Timeouts are short (0.3 s reads, 1 s budget) so
the file runs in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import msgspec
import pytest
import uvloop

from hostile_servers import (
    BUDGET,
    BUDGET_SCENARIOS,
    BY_NAME,
    DCMTK_UID,
    LOOPBACK,
    READ_TIMEOUT,
    SCENARIOS,
    PeerServer,
    Scenario,
    closed_port,
    closes_on_non_dicom,
    good_acceptor,
    probe_options,
    resets_on_first_bytes,
    scan_with_engine,
    self_signed_certificate,
    tarpit,
)
from pacsaudit.engine.options import EngineOptions, ScanStats
from pacsaudit.engine.runner import run_scan
from pacsaudit.model import (
    AePolicy,
    AssociationOutcome,
    ErrorKind,
    Finding,
    Status,
    decode_finding,
    encode_finding,
)
from pacsaudit.probes.dicom.probe import DicomProbe
from pacsaudit.targets.spec import Target

T = TypeVar("T")
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
Runner = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run a coroutine to completion on a fresh loop of the parametrised kind."""

    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as loop_runner:
            return loop_runner.run(coro)

    return runner


async def probe_one(
    scenario: Scenario, probe: DicomProbe | None = None, host: str = LOOPBACK
) -> Finding:
    """Serve one peer, scan it once within the budget, and check the scanner let go of it."""
    probe = probe or DicomProbe(probe_options())
    async with contextlib.AsyncExitStack() as stack:
        server = None
        if scenario.handler is not None:
            server = await stack.enter_async_context(PeerServer(scenario.handler, host=host))
        port = server.port if server is not None else closed_port()
        async with asyncio.timeout(BUDGET):
            finding = await probe.scan(Target(host, port))
        if server is not None:
            await server.wait_all_finished(timeout=1.0)  # no connection left open
            assert server.accepted >= 1
        return finding


def check(finding: Finding, scenario: Scenario) -> None:
    """The finding has the scenario's status and error, and survives a JSON round trip."""
    assert finding.protocol == "dicom"
    assert finding.status is scenario.status, finding
    if scenario.error_kind is None:
        assert finding.error is None, finding.error
    else:
        assert finding.error is not None
        assert finding.error.kind is scenario.error_kind, finding.error
        assert finding.error.detail == scenario.detail
    if scenario.status is Status.DICOM:
        assert finding.result is not None
        first = finding.result.attempts[0]
        assert (first.error.kind if first.error else None) is scenario.attempt_error_kind
    assert decode_finding(encode_finding(finding)) == finding


# --- the probe alone, one peer at a time ---------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_peer_gives_a_structured_finding(scenario: Scenario, run: Runner[Finding]) -> None:
    started = time.perf_counter()
    finding = run(probe_one(scenario))
    check(finding, scenario)
    assert time.perf_counter() - started < BUDGET
    assert finding.duration_ms is not None
    if ErrorKind.READ_TIMEOUT in (scenario.error_kind, scenario.attempt_error_kind):
        # a silent peer costs one read timeout, not more
        assert READ_TIMEOUT * 1000 * 0.9 <= finding.duration_ms < (READ_TIMEOUT + 0.4) * 1000
    else:
        assert finding.duration_ms < READ_TIMEOUT * 1000  # nothing else waits for a timeout
    if scenario.attempt_error_kind is not None:
        # the exchange broke after the accept: what the accept said is kept
        assert finding.result is not None
        assert finding.result.ae_policy is AePolicy.ANY_CALLED_AE
        assert finding.result.implementation_class_uid == DCMTK_UID
        assert finding.result.echo_status is None


def test_open_door(run: Runner[Finding]) -> None:
    finding = run(probe_one(BY_NAME["good"]))
    result = finding.result
    assert result is not None
    assert result.ae_policy is AePolicy.ANY_CALLED_AE
    assert result.accepted_called_ae is not None
    assert result.accepted_called_ae.startswith("PA")  # the random title was accepted
    assert (result.toolkit, result.toolkit_version) == ("DCMTK", "3.6.7")
    assert result.implementation_class_uid == DCMTK_UID
    assert result.accepted_contexts == ["Verification"]
    assert result.echo_status == 0
    (attempt,) = result.attempts
    assert attempt.outcome is AssociationOutcome.ACCEPTED
    assert attempt.released is True
    assert attempt.max_pdu_length == 16384
    refused = [c for c in attempt.contexts if not c.accepted]
    assert refused
    assert {c.result for c in refused} == {"abstract-syntax-not-supported"}


def test_known_default_title(run: Runner[Finding]) -> None:
    result = run(probe_one(BY_NAME["known-default-only"])).result
    assert result is not None
    assert result.ae_policy is AePolicy.CALLED_AE_KNOWN_DEFAULT
    first, second = result.attempts
    assert first.outcome is AssociationOutcome.REJECTED
    assert first.reject is not None
    assert first.reject.reason == "called-ae-title-not-recognized"
    assert (second.called_ae, second.outcome) == ("ANY-SCP", AssociationOutcome.ACCEPTED)
    assert result.accepted_called_ae == "ANY-SCP"
    assert result.echo_status == 0


def test_calling_title_enforced(run: Runner[Finding]) -> None:
    result = run(probe_one(BY_NAME["calling-ae-enforced"])).result
    assert result is not None
    assert result.ae_policy is AePolicy.CALLING_AE_ENFORCED
    assert [a.outcome for a in result.attempts] == [AssociationOutcome.REJECTED] * 2
    assert result.accepted_called_ae is None
    assert result.toolkit is None


@pytest.mark.parametrize(
    ("name", "banner_start"),
    [("garbage", "\\x9c\\x00\\xfe\\xed"), ("http", "HTTP/1.1 400 Bad Request\\r\\n")],
)
def test_not_dicom_keeps_a_printable_banner(
    name: str, banner_start: str, run: Runner[Finding]
) -> None:
    result = run(probe_one(BY_NAME[name])).result
    assert result is not None
    assert result.banner is not None
    assert result.banner.startswith(banner_start)
    assert result.banner.isprintable()
    assert result.attempts == []


def test_abort_after_accept_keeps_what_was_learnt(run: Runner[Finding]) -> None:
    result = run(probe_one(BY_NAME["accepts-then-aborts"])).result
    assert result is not None
    assert result.ae_policy is AePolicy.ANY_CALLED_AE
    assert result.toolkit == "DCMTK"
    (attempt,) = result.attempts
    assert attempt.outcome is AssociationOutcome.ACCEPTED
    assert attempt.abort is not None
    assert (attempt.abort.source, attempt.abort.source_code) == ("service-provider", 2)
    assert attempt.error is not None
    assert attempt.error.detail == "peer-aborted"
    assert attempt.echo_status is None
    assert attempt.released is None


def test_ipv6_loopback(run: Runner[Finding]) -> None:
    finding = run(probe_one(BY_NAME["good"], host="::1"))
    assert finding.ip == "::1"
    assert finding.status is Status.DICOM


# --- the engine: many peers at once --------------------------------------------------------


def test_engine_keeps_scanning_past_hostile_peers(run: Runner[Any]) -> None:
    good = BY_NAME["good"]
    scenarios = [good, *SCENARIOS, *BUDGET_SCENARIOS, good]
    started = time.perf_counter()
    pairs = run(scan_with_engine(scenarios, concurrency=4))
    elapsed = time.perf_counter() - started
    assert len(pairs) == len(scenarios)
    assert sorted(s.name for s, _ in pairs) == sorted(s.name for s in scenarios)
    for scenario, finding in pairs:
        check(finding, scenario)
    # With 4 workers, the slow peers (two 0.3 s timeouts, one 1 s budget) overlap.
    assert elapsed < 2 * BUDGET + 1


def test_budget_ends_a_drip_feed_and_closes_its_connection(run: Runner[Any]) -> None:
    async def main() -> tuple[list[Finding], ScanStats, PeerServer]:
        drip = BY_NAME["drip-feed"]
        assert drip.handler is not None
        async with PeerServer(drip.handler) as server:
            findings: list[Finding] = []
            stats = await run_scan(
                [Target(LOOPBACK, server.port)],
                DicomProbe(probe_options()),
                EngineOptions(concurrency=2, host_timeout=0.5),
                findings.append,
            )
            await server.wait_all_finished(timeout=1.0)
            return findings, stats, server

    findings, stats, server = run(main())
    (finding,) = findings
    check(finding, BY_NAME["drip-feed"])
    assert stats.done == 1
    assert stats.by_status[Status.ERROR] == 1
    assert server.finished == server.accepted == 1


def test_probe_budget_ends_a_drip_feed_on_its_own(run: Runner[Finding]) -> None:
    """With its own budget the probe stops a drip-feed before the engine has to cut it."""
    probe = DicomProbe(probe_options(budget=BUDGET))
    started = time.perf_counter()
    finding = run(probe_one(BY_NAME["drip-feed"], probe))
    assert time.perf_counter() - started < BUDGET
    assert finding.status is Status.ERROR
    assert finding.error is not None
    assert finding.error.kind is ErrorKind.READ_TIMEOUT


def test_budget_shorter_than_read_timeout_releases_the_socket(run: Runner[Any]) -> None:
    """A probe cut off by the budget mid-read must not leave its socket open."""

    async def main() -> list[Finding]:
        async with PeerServer(tarpit) as server:
            findings: list[Finding] = []
            await run_scan(
                [Target(LOOPBACK, server.port)] * 5,
                DicomProbe(probe_options(read_timeout=30.0)),
                EngineOptions(concurrency=5, host_timeout=0.3),
                findings.append,
            )
            await server.wait_all_finished(timeout=1.0)
            assert server.accepted == 5
            return findings

    findings = run(main())
    assert [f.error.kind for f in findings if f.error] == [ErrorKind.BUDGET_EXCEEDED] * 5


class _Exploding:
    """A probe with a bug: it raises for one port and answers for the others."""

    name: ClassVar[str] = "dicom"
    description: ClassVar[str] = "test double"
    default_ports: ClassVar[tuple[int, ...]] = (104,)

    def __init__(self, bad_port: int) -> None:
        self.bad_port = bad_port

    async def scan(self, target: Target) -> Finding:
        if target.port == self.bad_port:
            raise KeyError("a bug in the probe")
        return Finding(target.ip, target.port, "dicom", Status.CLOSED, "2026-01-01T00:00:00Z")


def test_a_probe_bug_becomes_an_error_finding(run: Runner[Any]) -> None:
    findings: list[Finding] = []
    targets = [Target("192.0.2.1", p) for p in (1, 2, 3)]  # never connected: the probe is fake
    stats = run(run_scan(targets, _Exploding(2), EngineOptions(concurrency=1), findings.append))
    assert [f.status for f in findings] == [Status.CLOSED, Status.ERROR, Status.CLOSED]
    error = findings[1].error
    assert error is not None
    assert error.kind is ErrorKind.OS_ERROR
    assert "KeyError" in error.message
    assert "bug" not in error.message  # exception text never reaches the output
    assert stats.done == 3


# --- TLS -----------------------------------------------------------------------------------


def tls_server_context(tmp_path: Path) -> tuple[ssl.SSLContext, bytes]:
    cert_path, key_path = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    return context, der


async def probe_tls(handler: Any, tls: ssl.SSLContext | None) -> Finding:
    async with PeerServer(handler, tls=tls) as server:
        probe = DicomProbe(probe_options(tls_ports=frozenset({server.port})))
        async with asyncio.timeout(BUDGET):
            finding = await probe.scan(Target(LOOPBACK, server.port))
        await server.wait_all_finished(timeout=1.0)
        return finding


def test_dicom_over_tls(tmp_path: Path, run: Runner[Finding]) -> None:
    context, der = tls_server_context(tmp_path)
    finding = run(probe_tls(good_acceptor, context))
    assert finding.status is Status.DICOM
    assert finding.result is not None
    assert finding.result.echo_status == 0
    tls = finding.result.tls
    assert tls is not None
    assert tls.version in {"TLSv1.2", "TLSv1.3"}
    assert tls.cipher
    cert = tls.certificate
    assert cert is not None
    assert cert.self_signed is True
    assert cert.expired is False
    assert cert.subject == "O=pacsaudit tests,CN=pacs.hostile.test"
    assert cert.issuer == cert.subject
    assert cert.sha256 == hashlib.sha256(der).hexdigest()
    assert cert.key_type == "EC-secp256r1"
    assert cert.subject_alt_names == ["pacs.hostile.test"]
    assert finding.result.attempts[0].released is True
    as_json = msgspec.json.decode(encode_finding(finding))
    assert as_json["result"]["tls"]["certificate"]["self_signed"] is True


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (good_acceptor, "closed-during-handshake"),  # a DICOM acceptor hangs up on a ClientHello
        (closes_on_non_dicom, "closed-during-handshake"),
        (resets_on_first_bytes, "reset-during-handshake"),  # FIN and RST told apart
        (tarpit, "handshake-timeout"),
    ],
    ids=["dicom-acceptor", "fin", "rst", "tarpit"],
)
def test_plain_peer_on_a_tls_port(handler: Any, reason: str, run: Runner[Finding]) -> None:
    finding = run(probe_tls(handler, None))
    assert finding.status is Status.ERROR
    assert finding.error is not None
    assert finding.error.kind is ErrorKind.TLS_FAILURE
    assert finding.error.detail == reason
    assert finding.result is None
