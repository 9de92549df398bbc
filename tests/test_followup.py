"""The second pass's planning (``pacsaudit.followup``): which refusals meet which revealed
titles, the bounds, hostile titles, and what a resumed scan reads back from its output."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from pacsaudit.contract import make_finding
from pacsaudit.followup import MAX_HOSTS, Collector, hints_of
from pacsaudit.model import (
    AePolicy,
    AeTitleList,
    AssociationAttempt,
    AssociationOutcome,
    CredentialCheck,
    DicomResult,
    Finding,
    HttpResult,
    OrthancInfo,
    Status,
)
from pacsaudit.targets.spec import Target


def refused(ip: str, port: int = 4242, source: str | None = None) -> Finding:
    attempts = [
        AssociationAttempt(called_ae=t, calling_ae="PACSAUDIT", outcome=AssociationOutcome.REJECTED)
        for t in ("PA0123456789AB", "ANY-SCP")
    ]
    policy = AePolicy.CALLED_AE_ENFORCED
    result = DicomResult(ae_policy=policy, attempts=attempts, called_ae_source=source)
    return make_finding("dicom", Target(ip, port), None, Status.DICOM, result)


def orthanc(
    ip: str, title: str | None, dicom_port: int | None = 4242, login: bool = False
) -> Finding:
    info = OrthancInfo(auth_required=False, dicom_aet=title, dicom_port=dicom_port)
    creds = CredentialCheck(path="/system", tried=1, accepted_user="orthanc") if login else None
    result = HttpResult(orthanc=info, credentials=creds)
    return make_finding("http", Target(ip, 8042), None, Status.HTTP, result)


def planned(*findings: Finding) -> list[tuple[str, int, str, str]]:
    collector = Collector()
    for f in findings:
        collector.add(f)
    chosen, _ = collector.plan()
    return [(f.finding.ip, f.finding.port, f.called_ae, f.source) for f in chosen]


def test_a_refusal_and_a_revealed_title_on_one_host_make_one_followup() -> None:
    source = "orthanc-rest /system on port 8042"
    assert planned(refused("127.0.0.5"), orthanc("127.0.0.5", "ARCHIVE7")) == [
        ("127.0.0.5", 4242, "ARCHIVE7", source)
    ]
    # the hint may come first; a default login is said
    assert planned(orthanc("127.0.0.5", "ARCHIVE7", login=True), refused("127.0.0.5")) == [
        ("127.0.0.5", 4242, "ARCHIVE7", source + " with a default login")
    ]


@pytest.mark.parametrize(
    "findings",
    [
        (refused("127.0.0.5"), orthanc("127.0.0.6", "ARCHIVE7")),  # another host
        (refused("127.0.0.5", 104), orthanc("127.0.0.5", "ARCHIVE7")),  # another port named
        (refused("127.0.0.5"), orthanc("127.0.0.5", "ANY-SCP")),  # tried already
        (refused("127.0.0.5"), orthanc("127.0.0.5", None)),
        (refused("127.0.0.5"), orthanc("127.0.0.5", "BAD\\TITLE")),  # not an AE title
        (refused("127.0.0.5"), orthanc("127.0.0.5", "X" * 17)),
        (refused("127.0.0.5", source="orthanc-rest"), orthanc("127.0.0.5", "ARCHIVE7")),
    ],
)
def test_no_followup_without_a_matching_valid_untried_title(findings: tuple[Finding, ...]) -> None:
    assert planned(*findings) == []


def test_an_unnamed_dicom_port_matches_any_refusal_of_the_host() -> None:
    got = planned(refused("127.0.0.5", 104), orthanc("127.0.0.5", "ARCHIVE7", dicom_port=None))
    assert [g[:3] for g in got] == [("127.0.0.5", 104, "ARCHIVE7")]


def test_the_latest_record_of_a_service_decides() -> None:
    accepted = make_finding(
        "dicom",
        Target("127.0.0.5", 4242),
        None,
        Status.DICOM,
        DicomResult(ae_policy=AePolicy.ANY_CALLED_AE),
    )
    assert planned(refused("127.0.0.5"), accepted, orthanc("127.0.0.5", "ARCHIVE7")) == []


def test_at_most_a_few_hosts_and_the_rest_counted() -> None:
    collector = Collector()
    for n in range(MAX_HOSTS + 3):
        collector.add(refused(f"127.0.1.{n}"))
        collector.add(orthanc(f"127.0.1.{n}", "ARCHIVE7"))
    chosen, left_out = collector.plan()
    assert len(chosen) == MAX_HOSTS
    assert left_out == 3


def test_a_resumed_scan_reads_its_output_and_skips_what_a_second_pass_did(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    lines = [refused("127.0.0.5"), orthanc("127.0.0.5", "ARCHIVE7"), refused("127.0.0.6")]
    lines += [orthanc("127.0.0.6", "ARCHIVE8")]
    out.write_bytes(msgspec.json.Encoder().encode_lines(lines))
    collector = Collector()
    collector.seed(out)
    assert [f.finding.ip for f in collector.plan()[0]] == ["127.0.0.5", "127.0.0.6"]
    # killed after the second pass recorded one host: only the other is probed again
    done = refused("127.0.0.5", source="orthanc-rest /system on port 8042")
    with out.open("ab") as f:
        f.write(msgspec.json.encode(done) + b"\n")
    collector = Collector()
    collector.seed(out)
    assert [f.finding.ip for f in collector.plan()[0]] == ["127.0.0.6"]


def test_a_hostile_title_is_kept_out() -> None:
    assert hints_of(orthanc("127.0.0.5", "\x1b[31mX")) == []


def test_a_second_pass_finding_replaces_its_first_pass_row_in_the_table() -> None:
    from pacsaudit.engine.options import ScanStats
    from pacsaudit.run import ScanOutcome

    outcome = ScanOutcome(ScanStats())
    outcome.add(refused("127.0.0.5"))
    outcome.add(orthanc("127.0.0.5", "ARCHIVE7"))
    outcome.add(refused("127.0.0.5", source="orthanc-rest /system on port 8042"))
    rows = [(f.protocol, getattr(f.result, "called_ae_source", None)) for f in outcome.interesting]
    assert rows == [("http", None), ("dicom", "orthanc-rest /system on port 8042")]


def test_titles_an_archive_lists_are_tried_on_any_refused_port_of_its_host() -> None:
    """dcm4chee-arc's /aets says no DICOM port: its first titles are tried where refused."""
    listing = AeTitleList(product="dcm4chee-arc", path="/dcm4chee-arc/aets", titles=["DCM4CHEE"])
    web = make_finding(
        "http", Target("127.0.0.7", 8080), None, Status.HTTP, HttpResult(ae_titles=[listing])
    )
    source = "dcm4chee-arc /dcm4chee-arc/aets on port 8080"
    assert planned(web, refused("127.0.0.7", 11112)) == [("127.0.0.7", 11112, "DCM4CHEE", source)]
    assert planned(web, refused("127.0.0.8", 11112)) == []  # another host's refusal


def test_called_ae_source_holds_no_peer_text() -> None:
    """Why ``called_ae_source`` is not among the peer-text flow's generated inputs: it is built
    from our own words (``orthanc-rest /system``, the listing's product and path, which
    ``probes/http/aetitles.read_titles`` copies from ``data/ae_title_lists.json``, ``with a
    default login``) and the port we scanned. Every field a peer sets here holds hostile text
    (the titles only where they are still sendable); none of it reaches a source."""
    from pacsaudit.probes.http.aetitles import ae_lists
    from peer_text import PAYLOADS

    hostile = "".join(PAYLOADS)
    info = OrthancInfo(
        auth_required=False,
        name=hostile,
        version=hostile,
        dicom_aet="EVIL[red]AE",  # printable, sendable, markup-like
        dicom_port=4242,
        plugins=[hostile],
    )
    specs = ae_lists().lists
    listings = [
        AeTitleList(product=s.product, path=s.path, titles=[hostile, "=EVIL[b]"]) for s in specs
    ]
    result = HttpResult(
        orthanc=info,
        ae_titles=listings,
        server=hostile,
        credentials=CredentialCheck(path="/system", tried=1, accepted_user=hostile),
    )
    finding = make_finding("http", Target("127.0.0.5", 8042), None, Status.HTTP, result)
    hints = hints_of(finding)
    ours = {"orthanc-rest /system"} | {f"{s.product} {s.path}" for s in specs}
    allowed = {f"{w} on port 8042 with a default login" for w in ours}
    assert {h.called_ae for h in hints} == {"EVIL[red]AE", "=EVIL[b]"}
    assert hints
    for h in hints:
        assert h.source in allowed, h.source
        assert not any(p in h.source for p in PAYLOADS)
        assert "EVIL" not in h.source
