"""Reading results for the reporters: bad lines named and counted, valid records kept, the model
allowed to grow (unknown protocols, new fields) without breaking a report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import report_fixtures as fx

from pacsaudit.report.geo import LOCAL, UNKNOWN, country_of
from pacsaudit.report.records import ReportInputError, load_results


def test_fixture_loads_every_record(tmp_path: Path) -> None:
    loaded = load_results([fx.write_new(tmp_path)])
    assert loaded.records == len(fx.NEW)
    assert loaded.bad_lines == []
    assert loaded.warnings == []
    by_ip = {s.ip: s for s in loaded.services}
    assert by_ip["17.1.0.1"].cves == ("CVE-2022-2121", "CVE-2022-43272")
    assert by_ip["12.0.0.9"].flags == ("likely-honeypot",)
    assert by_ip["53.10.0.1"].patients.value == 10
    assert by_ip["17.1.0.1"].patients.lower_bound
    assert by_ip["53.10.0.5"].tls is not None
    assert by_ip["53.10.0.5"].tls.self_signed


def test_truncated_last_line_is_named_and_the_rest_reported(tmp_path: Path) -> None:
    lines = fx.lines(fx.NEW)
    path = tmp_path / "cut.jsonl"
    path.write_bytes(b"\n".join(lines[:-1]) + b"\n" + lines[-1][: len(lines[-1]) // 2])
    loaded = load_results([path])
    assert loaded.records == len(fx.NEW) - 1
    assert [str(b) for b in loaded.bad_lines] == [
        f"{path}:{len(lines)}: truncated record at end of file (was the scan interrupted?)"
    ]
    assert any("1 bad line skipped" in w and f"{path}:{len(lines)}" in w for w in loaded.warnings)


def test_bad_lines_in_the_middle_each_get_a_reason(tmp_path: Path) -> None:
    good = fx.lines(fx.NEW[:3])
    v2 = json.loads(good[0])
    v2["schema_version"] = 3
    v2["port"] = 9999
    no_ip = json.loads(good[1])
    del no_ip["ip"]
    content = [
        good[0],
        b"{not json",
        json.dumps(v2).encode(),
        b"[1, 2, 3]",
        json.dumps(no_ip).encode(),
        b'{"ip": "not-an-ip", "port": 1, "protocol": "dicom", "status": "closed", '
        b'"schema_version": 1}',
        b"",
        good[2],
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(content) + b"\n")
    loaded = load_results([path])
    assert loaded.records == 2
    assert {s.ip for s in loaded.services} == {fx.NEW[0].ip, fx.NEW[2].ip}
    assert [str(b) for b in loaded.bad_lines] == [
        f"{path}:2: not valid JSON",
        f"{path}:3: schema_version 3; this pacsaudit reads versions 1 and 2",
        f"{path}:4: not a JSON object",
        f"{path}:5: no ip",
        f"{path}:6: ip is not an IP address",
    ]
    assert any(
        "mix schema versions 1 (1 line), 2 (3 lines), 3 (1 line)" in w for w in loaded.warnings
    )


def test_messages_never_quote_the_line(tmp_path: Path) -> None:
    """A line may hold anything a peer sent: the reason is ours, never its content."""
    path = tmp_path / "leak.jsonl"
    path.write_bytes(b'{"ip": "127.0.0.1", "port": 104, "CANARY-NAME^SMITH\n')
    with pytest.raises(ReportInputError) as info:
        load_results([path])
    assert "CANARY" not in str(info.value)
    assert f"{path}:1" in str(info.value)


def test_empty_and_missing_inputs_are_clear(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(ReportInputError, match=r"no valid findings in .*empty\.jsonl: the inputs"):
        load_results([empty])
    with pytest.raises(ReportInputError, match=r"no such results file: .*nope\.jsonl"):
        load_results([tmp_path / "nope.jsonl"])
    with pytest.raises(ReportInputError, match="no results given"):
        load_results([])
    loaded = load_results([empty, fx.write_new(tmp_path)])
    assert loaded.records == len(fx.NEW)
    assert f"{empty} holds no valid findings" in loaded.warnings


def test_all_bad_lines_fail_with_the_lines_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"garbage\n" * 8)
    with pytest.raises(ReportInputError) as info:
        load_results([path])
    message = str(info.value)
    assert "8 bad lines" in message
    assert f"{path}:1: not valid JSON" in message
    assert "and 3 more" in message


def test_the_same_service_in_two_inputs_keeps_the_latest(tmp_path: Path) -> None:
    old = fx.write_old(tmp_path)
    new = fx.write_new(tmp_path)
    loaded = load_results([new, old])  # order of the files must not matter
    by_key = {s.key: s for s in loaded.services}
    assert by_key[("53.10.0.1", 104, "dicom")].patients.value == 10
    assert loaded.duplicates == 4
    assert any("4 records repeat" in w for w in loaded.warnings)


def test_different_hash_keys_are_reported_as_different_scans(tmp_path: Path) -> None:
    other = [
        fx.Svc("53.20.0.1", 104, "phi-readable", 2, 2, 2, phi={"PatientID": 2},
               hashes=fx.hs(0, 2), key=fx.OTHER_KEY)
    ]  # fmt: skip
    loaded = load_results([fx.write_new(tmp_path), fx.write(tmp_path / "other.jsonl", other)])
    assert sorted(loaded.hash_keys) == sorted([fx.KEY, fx.OTHER_KEY])
    assert any("different scans" in w and "not comparable" in w for w in loaded.warnings)


def test_dicom_over_tls_reads_alike_in_schema_versions_1_and_2(tmp_path: Path) -> None:
    """Version 1 named the TLS follower's findings ``dicom``; version 2 names them
    ``dicom-tls``. Both are DICOM services, and a REST service naming the port ties to either."""

    def tls_service(ip: str, protocol: str, version: int) -> dict[str, object]:
        return {
            "ip": ip, "port": 2762, "protocol": protocol, "status": "dicom",
            "timestamp": fx.TS_NEW, "schema_version": version, "error": None,
            "result": {
                "kind": "dicom", "ae_policy": "any-called-ae",
                "exposure_class": "open-association", "severity": "medium",
                "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"},
            },
        }  # fmt: skip

    path = tmp_path / "both.jsonl"
    lines = [tls_service("192.0.2.1", "dicom", 1), tls_service("192.0.2.2", "dicom-tls", 2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    loaded = load_results([path])
    assert loaded.bad_lines == []
    services = sorted(loaded.services, key=lambda s: s.ip)
    assert [(s.protocol, s.exposure_class) for s in services] == [
        ("dicom", "open-association"),
        ("dicom-tls", "open-association"),
    ]


def test_unknown_protocols_and_odd_fields_do_not_break_reading(tmp_path: Path) -> None:
    records = [
        {
            "ip": "53.10.0.9", "port": 8042, "protocol": "dicomweb", "status": "http",
            "timestamp": fx.TS_NEW, "schema_version": 1, "error": None,
            "result": {
                "kind": "http", "exposure_class": "phi-readable", "severity": "critical",
                "product": "Orthanc", "product_version": "1.12.1",
                "cves": [{"id": "CVE-2023-33466"}],
                "flags": {"anonymous-access": "no login asked"},
                "exposure": {"studies": 4, "images": 12, "bytes": 123456,
                             "patients": "many", "phi_attributes": {"PatientName": 4,
                                                                    "Bogus": "x"}},
                "tls": "yes",
            },
        },
        {"ip": "2001:db8::5", "port": 21, "protocol": "ftp", "status": "open",
         "timestamp": fx.TS_NEW, "schema_version": 1, "result": None},
    ]  # fmt: skip
    path = tmp_path / "future.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    loaded = load_results([path])
    web, ftp = sorted(loaded.services, key=lambda s: s.port, reverse=True)
    assert web.product_version_label == "Orthanc 1.12.1"
    assert web.cves == ("CVE-2023-33466",)
    assert web.flags == ("anonymous-access",)
    assert web.patients.value is None  # wrong type: read as absent, not a crash
    assert web.bytes.value == 123456
    assert dict(web.phi_attributes) == {"PatientName": 4}
    assert web.tls is None
    assert web.country == "DE"
    assert ftp.is_service
    assert not ftp.exposed
    assert ftp.target == "[2001:db8::5]:21"


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("127.0.0.1", LOCAL),
        ("10.1.2.3", LOCAL),
        ("192.168.7.7", LOCAL),
        ("172.16.0.1", LOCAL),
        ("100.64.0.1", LOCAL),
        ("169.254.1.1", LOCAL),
        ("::1", LOCAL),
        ("fd00::1", LOCAL),
        ("::ffff:10.0.0.1", LOCAL),
        ("not an address", UNKNOWN),
        ("53.10.0.1", "DE"),
        ("17.1.0.1", "US"),
        ("133.11.0.1", "JP"),
        ("::ffff:53.10.0.1", "DE"),
    ],
)
def test_country_lookup_is_offline_and_local_for_private_ranges(ip: str, country: str) -> None:
    assert country_of(ip) == country


@pytest.mark.parametrize(
    ("toolkit", "extra", "label"),
    [
        (("DCMTK", "3.6.7"), {"product": "Orthanc"}, "Orthanc (DCMTK 3.6.7)"),
        (("DCMTK", "3.6.7"), {"product": "DCMTK storescp"}, "DCMTK storescp 3.6.7"),
        (("pynetdicom", "3.0.4"), {"product": "pynetdicom"}, "pynetdicom 3.0.4"),
        (("DCMTK", "3.6.7"), {"product": "Orthanc", "product_version": "1.12.4"}, "Orthanc 1.12.4"),
        (("DCMTK", "3.6.7"), {}, "DCMTK 3.6.7"),
        (None, {"product": "Orthanc"}, "Orthanc"),
        (None, {}, "unidentified"),
    ],
)
def test_product_and_version_never_borrow_a_toolkit_version_for_another_product(
    tmp_path: Path, toolkit: tuple[str, str] | None, extra: dict[str, str], label: str
) -> None:
    svc = fx.Svc("53.10.0.1", 104, "open-association", toolkit=toolkit, extra=extra)
    (service,) = load_results([fx.write(tmp_path / "p.jsonl", [svc])]).services
    assert service.product_version_label == label


def test_file_share_and_web_results_count_images_bytes_and_anonymous_access(
    tmp_path: Path,
) -> None:
    """Shaped like the file-share and HTTP probes' results (kind ``fileshare`` / ``http``)."""
    from pacsaudit.report.remedy import advice_for
    from pacsaudit.report.summary import summarise

    envelope = {"status": "open", "timestamp": fx.TS_NEW, "schema_version": 1, "error": None}
    records = [
        {**envelope, "ip": "53.10.1.1", "port": 445, "protocol": "smb", "result": {
            "kind": "fileshare", "server": "SMB 3.1.1", "login": "guest", "anonymous": True,
            "files": 900, "bytes": 9_000_000, "dicom_detection": "magic", "dicom_files": 800,
            "dicom_bytes": 8_000_000, "dicom_lower_bound": True,
            "dicomdir": {"files": 1, "patients": 12, "studies": 30, "images": 800},
            "phi_attributes": {"PatientName": 50},
            "exposure_class": "phi-readable", "severity": "critical"}},
        {**envelope, "ip": "53.10.1.2", "port": 21, "protocol": "ftp", "result": {
            "kind": "fileshare", "files": 3,
            "exposure_class": "anonymous-access", "severity": "medium"}},
        {**envelope, "ip": "53.10.1.4", "port": 9999, "protocol": "newproto", "result": {
            "kind": "newproto", "exposure_class": "some-future-class", "severity": "high"}},
        {**envelope, "ip": "53.10.1.3", "port": 8042, "protocol": "http", "status": "http",
         "result": {
            "kind": "http", "orthanc": {"auth_required": False, "version": "1.12.4"},
            "exposure": {"patients": 4, "studies": 5, "images": 60,
                         "phi_attributes": {"PatientName": 4}},
            "exposure_class": "phi-readable", "severity": "critical"}},
    ]  # fmt: skip
    path = tmp_path / "shares.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    loaded = load_results([path])
    smb, ftp, web, future = sorted(loaded.services, key=lambda s: s.ip)
    assert ftp.exposed
    assert future.exposed  # an unknown class counts by its severity
    assert [a.id for a, _ in advice_for(future)][:1] == ["access-control"]
    assert (smb.patients.value, smb.studies.value) == (12, 30)
    assert (smb.images.value, smb.bytes.value, smb.images.lower_bound) == (800, 8_000_000, True)
    assert smb.product_version_label == "banner: SMB 3.1.1"
    assert smb.public_product_version_label == "unidentified"
    assert ftp.images.value is None
    assert web.product_version_label == "Orthanc 1.12.4"
    assert "anonymous-access" in [a.id for a, _ in advice_for(ftp)]
    assert "anonymous-access" in [a.id for a, _ in advice_for(web)]
    totals = summarise(loaded).totals
    assert (totals.patients, totals.images, totals.bytes) == (16, 860, 8_000_000)
    assert totals.images_lower_bound
    assert totals.bytes_lower_bound


def test_byte_order_mark_and_binary_and_bad_timestamps(tmp_path: Path) -> None:
    lines = fx.lines(fx.NEW)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    assert load_results([bom]).records == len(fx.NEW)  # the first record is not lost

    blob = tmp_path / "blob.jsonl"
    blob.write_bytes(b"\n".join(lines) + b"\n\x00\x9f\xffGIF89a")
    loaded = load_results([blob])
    assert [b.reason for b in loaded.bad_lines] == ["binary data, not JSON Lines"]

    record = json.loads(lines[0])
    record["timestamp"] = "FAKEDOE^CANARY 1970-01-01"
    stamped = tmp_path / "stamped.jsonl"
    stamped.write_bytes(json.dumps(record).encode() + b"\n" + b"\n".join(lines[1:]) + b"\n")
    loaded = load_results([stamped])
    assert [b.reason for b in loaded.bad_lines] == ["timestamp is not an ISO 8601 UTC time"]
    assert "CANARY" not in repr(loaded.first_seen) + repr(loaded.last_seen)


def test_a_folder_given_as_results_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="a folder, not a results file"):
        load_results([tmp_path])


def test_the_reports_vocabulary_is_the_models() -> None:
    """Ranks, class order and colours come from the model's enums: a class or severity added
    there is ordered, ranked and coloured in every report, or this fails."""
    from pacsaudit.model import CLASS_ORDER, ExposureClass, Severity
    from pacsaudit.report import service
    from pacsaudit.report.charts import CLASS_COLOURS, SEVERITY_COLOURS

    assert {s.value: s.rank for s in Severity} == service.SEVERITY_RANK
    assert sorted(service.SEVERITY_RANK, key=service.SEVERITY_RANK.__getitem__) == [
        "info",
        "low",
        "medium",
        "high",
        "critical",
    ]
    unordered = set(ExposureClass) - set(CLASS_ORDER)
    assert unordered == {ExposureClass.CLOSED, ExposureClass.COMPROMISED}
    assert set(CLASS_ORDER) <= set(CLASS_COLOURS)
    assert set(Severity) == set(SEVERITY_COLOURS)
    assert set(service.CLASS_ORDER) >= service.EXPOSED_CLASSES
