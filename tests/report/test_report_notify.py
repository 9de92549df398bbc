"""Owner notices: the most specific network wins, counts and fixes only, unmapped by country."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import report_fixtures as fx

from pacsaudit.report.notify import read_owner_map, write_notices
from pacsaudit.report.records import ReportInputError, load_results

OWNERS = """\
# networks we are responsible for notifying
cidr,owner,contact
53.10.0.0/16,Klinikum Beispiel,pacs-security@klinikum.example
53.10.0.2/32,Radiologie Partner,it@radiologie.example
17.1.0.0/24,Example Health,soc@health.example
2001:db8::/32,IPv6 Lab,lab@ipv6.example
"""


def owners_file(tmp_path: Path, text: str = OWNERS) -> Path:
    path = tmp_path / "owners.csv"
    path.write_text(text, "utf-8")
    return path


def test_longest_prefix_decides_the_owner(tmp_path: Path) -> None:
    owners = read_owner_map(owners_file(tmp_path))
    assert owners.owner_of("53.10.0.1").name == "Klinikum Beispiel"  # type: ignore[union-attr]
    assert owners.owner_of("53.10.0.2").name == "Radiologie Partner"  # type: ignore[union-attr]
    assert owners.owner_of("2001:db8::7").name == "IPv6 Lab"  # type: ignore[union-attr]
    assert owners.owner_of("17.1.1.1") is None
    assert owners.owner_of("junk") is None


def test_one_notice_per_owner_with_counts_and_fixes(tmp_path: Path) -> None:
    loaded = load_results([fx.write_new(tmp_path)])
    out = tmp_path / "notices"
    result = write_notices(loaded, read_owner_map(owners_file(tmp_path)), out)
    names = sorted(p.name for p in result.paths)
    assert names == [
        "example-health.md",
        "klinikum-beispiel.md",
        "radiologie-partner.md",
        "unmapped-jp.md",
        "unmapped-local.md",
        "unmapped-us.md",
    ]
    klinikum = (out / "klinikum-beispiel.md").read_text("utf-8")
    # 53.10.0.1 (critical), .3 (high), .5 (medium); .2 belongs to the /32; .4 is only low
    assert "We found 3 medical-imaging services" in klinikum
    assert "53.10.0.1:104" in klinikum
    assert "53.10.0.2:11112" not in klinikum
    assert "53.10.0.4" not in klinikum
    assert "10 patients, 20 studies, 100 images" in klinikum
    assert "PatientBirthDate (10 records)" in klinikum
    assert "C-MOVE processed for an unknown destination" in klinikum
    assert "**Require authentication and an allow-list of peers**" in klinikum
    assert "**Encrypt with TLS" in klinikum
    assert "self-signed certificate" in klinikum
    assert "**To:** pacs-security@klinikum.example" in klinikum
    partner = (out / "radiologie-partner.md").read_text("utf-8")
    assert "at least 40 images" in partner
    health = (out / "example-health.md").read_text("utf-8")
    assert "**Patch known vulnerabilities**" in health
    assert "CVE-2022-2121" in health
    us = (out / "unmapped-us.md").read_text("utf-8")
    assert "12.0.0.9:104" in us  # the honeypot is outside every mapped network
    assert "likely-honeypot" in us
    assert result.below_threshold == 4  # the four ae-enforced services
    index = (out / "index.csv").read_text("utf-8").splitlines()
    assert index[0] == "notice,owner,contact,services,worst_severity"
    assert "klinikum-beispiel.md,Klinikum Beispiel,pacs-security@klinikum.example,3,critical" in (
        index
    )
    every = "".join(p.read_text("utf-8") for p in out.iterdir())
    for secret in [*fx.hs(0, 1000), fx.KEY]:
        assert secret not in every


def test_min_severity_low_includes_ae_enforced_services(tmp_path: Path) -> None:
    loaded = load_results([fx.write_new(tmp_path)])
    out = tmp_path / "all"
    result = write_notices(loaded, read_owner_map(owners_file(tmp_path)), out, min_severity="low")
    assert result.below_threshold == 0
    assert "53.10.0.4:104" in (out / "klinikum-beispiel.md").read_text("utf-8")


def test_peer_supplied_text_cannot_inject_markdown(tmp_path: Path) -> None:
    evil = [
        fx.Svc("53.10.0.9", 104, "open-association",
               toolkit=("<img src=x onerror=alert(1)>", "[link](http://evil.example)"))
    ]  # fmt: skip
    loaded = load_results([fx.write(tmp_path / "evil.jsonl", evil)])
    out = tmp_path / "n"
    write_notices(loaded, read_owner_map(owners_file(tmp_path)), out)
    text = (out / "klinikum-beispiel.md").read_text("utf-8")
    assert re.search(r"(?<!\\)<img", text) is None
    assert "](http" not in text
    assert r"\<img src=x onerror=alert\(1\)\>" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("network,name\n10.0.0.0/8,x\n", "first row must name the columns cidr,owner"),
        ("cidr,owner\n10.0.0.0/33,x\n", "owners.csv:2: not a network: '10.0.0.0/33'"),
        ("cidr,owner\n10.0.0.0/8,\n", "owners.csv:2: no owner"),
        ("cidr,owner\n", "no networks in the owners map"),
    ],
)
def test_bad_owner_maps_are_refused_with_file_and_line(
    tmp_path: Path, content: str, message: str
) -> None:
    with pytest.raises(ReportInputError, match=message.replace("(", r"\(")):
        read_owner_map(owners_file(tmp_path, content))


def test_owners_map_with_an_unclosed_quote_is_refused(tmp_path: Path) -> None:
    """An unclosed quote would swallow the rest of the file into one owner's name."""
    owners = tmp_path / "owners.csv"
    owners.write_text('cidr,owner,contact\n10.0.0.0/8,"Unclosed,a@b.invalid\n11.0.0.0/8,B,c\n')
    with pytest.raises(ReportInputError, match="unexpected end of data"):
        read_owner_map(owners)
