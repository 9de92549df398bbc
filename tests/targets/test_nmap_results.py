"""Readers of nmap-style results: grepable (``-oG``) and XML (``-oX``), by nmap and masscan.

The fixtures are files nmap 7.93 and masscan 1.3.2 wrote on this machine (nmap on loopback,
masscan inside network namespaces; ``tests/targets/test_scanners_netns.py`` runs them again),
with the addresses moved to the documentation ranges and a few records added in the same
layout: masscan's banner record, an IPv6 host, nmap's MAC address and host hint.
"""

from __future__ import annotations

import time

import pytest

from pacsaudit.targets.readers import InputFormat, OpenPort, ResultsError
from targets.test_readers import read

NMAP_GREPABLE = (
    "# Nmap 7.93 scan initiated Sat Dec  5 05:23:31 2026 as: nmap -n -Pn -sT -p 104,11112 "
    "-oG nmap.G 192.0.2.1 192.0.2.2\n"
    "Host: 192.0.2.1 ()\tStatus: Up\n"
    "Host: 192.0.2.1 ()\tPorts: 104/open/tcp//acr-nema///, 11112/closed/tcp//dicom///\n"
    "Host: 192.0.2.2 (pacs.example)\tStatus: Up\n"
    "Host: 192.0.2.2 (pacs.example)\tPorts: 104/filtered/tcp//acr-nema///, "
    "11112/open/tcp//dicom//DCMTK, version 3.6, 3.6.7/\tIgnored State: closed (998)\n"
    "Host: 192.0.2.3 ()\tPorts: 161/open/udp//snmp///\n"
    "# Nmap done at Sat Dec  5 05:23:31 2026 -- 3 IP addresses (3 hosts up) scanned in 0.03 "
    "seconds\n"
)
MASSCAN_GREPABLE = (
    "# Masscan 1.3.2 scan initiated Sat Dec  5 05:19:21 2026\n"
    "# Ports scanned: TCP(1;104-104) UDP(0;) SCTP(0;) PROTOCOLS(0;)\n"
    "Timestamp: 1796447961\tHost: 192.0.2.10 ()\tPorts: 104/open/tcp//acr-nema//\n"
    "Timestamp: 1796447961\tHost: 192.0.2.30 ()\tPorts: 104/open/tcp//acr-nema//\n"
    "Host: 192.0.2.30 ()\tPort: 104\tService: unknown\tBanner: \\x01\\x00\n"
    "Timestamp: 1796447961\tHost: 192.0.2.20 ()\tPorts: 104/closed/tcp//acr-nema//\n"
    "# Masscan done at Sat Dec  5 05:19:48 2026\n"
)
NMAP_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
<!-- Nmap 7.93 scan initiated Sat Dec  5 05:23:31 2026 as: nmap -n -Pn -sT -p 104,11112 -->
<nmaprun scanner="nmap" args="nmap -n -Pn -sT -p 104,11112" start="1796448211" version="7.93" \
xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="2" services="104,11112"/>
<verbose level="0"/>
<debugging level="0"/>
<hosthint><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="192.0.2.9" addrtype="ipv4"/>
</hosthint>
<host starttime="1796448211" endtime="1796448211"><status state="up" reason="user-set" \
reason_ttl="0"/>
<address addr="192.0.2.1" addrtype="ipv4"/>
<address addr="02:00:00:00:00:01" addrtype="mac"/>
<hostnames>
</hostnames>
<ports><extraports state="closed" count="998"/>
<port protocol="tcp" portid="104"><state state="open" reason="syn-ack" reason_ttl="0"/>\
<service name="acr-nema" method="table" conf="3"/></port>
<port protocol="tcp" portid="11112"><state state="closed" reason="conn-refused" \
reason_ttl="0"/></port>
</ports>
<times srtt="80" rttvar="3759" to="100000"/>
</host>
<host starttime="1796448211" endtime="1796448211"><status state="up" reason="user-set" \
reason_ttl="0"/>
<address addr="2001:db8::2" addrtype="ipv6"/>
<ports><port protocol="tcp" portid="11112"><state state="open" reason="syn-ack" \
reason_ttl="0"/></port>
<port protocol="udp" portid="161"><state state="open" reason="udp-response" \
reason_ttl="0"/></port>
</ports>
</host>
<runstats><finished time="1796448211" timestr="Sat Dec  5 05:23:31 2026" elapsed="0.03" \
exit="success"/><hosts up="2" down="0" total="2"/>
</runstats>
</nmaprun>
"""
MASSCAN_XML = (
    '<?xml version="1.0"?>\r\n'
    "<!-- masscan v1.0 scan -->\r\n"
    '<nmaprun scanner="masscan" start="1796447956" version="1.0-BETA"  '
    'xmloutputversion="1.03">\r\n'
    '<scaninfo type="syn" protocol="tcp" />\r\n'
    '<host endtime="1796447956"><address addr="192.0.2.20" addrtype="ipv4"/><ports>'
    '<port protocol="tcp" portid="104"><state state="open" reason="syn-ack" reason_ttl="64"/>'
    "</port></ports></host>\r\n"
    '<host endtime="1796447957"><address addr="192.0.2.20" addrtype="ipv4"/><ports>'
    '<port protocol="tcp" portid="104"><state state="open" reason="syn-ack" reason_ttl="64" />'
    '<service name="unknown" banner="\\x01\\x00"></service></port></ports></host>\r\n'
    '<host endtime="1796447956"><address addr="192.0.2.30" addrtype="ipv4"/><ports>'
    '<port protocol="tcp" portid="104"><state state="closed" reason="rst" reason_ttl="64"/>'
    "</port></ports></host>\r\n"
    "<runstats>\r\n"
    '<finished time="1796447961" timestr="2026-12-05 05:19:21" elapsed="5" />\r\n'
    '<hosts up="1" down="1" total="2" />\r\n'
    "</runstats>\r\n"
    "</nmaprun>\r\n"
)


def test_nmap_grepable() -> None:
    found, stats = read(NMAP_GREPABLE)
    assert found == [OpenPort("192.0.2.1", 104), OpenPort("192.0.2.2", 11112)]
    assert stats.variant == "nmap-grepable"
    assert (stats.records, stats.not_open, stats.other, stats.malformed) == (2, 2, 1, 0)
    assert not stats.truncated
    assert read(NMAP_GREPABLE, "nmap")[0] == found


def test_masscan_grepable() -> None:
    found, stats = read(MASSCAN_GREPABLE, InputFormat.MASSCAN)
    assert found == [OpenPort("192.0.2.10", 104), OpenPort("192.0.2.30", 104)]
    assert stats.variant == "masscan-grepable"
    assert (stats.records, stats.not_open, stats.other) == (2, 1, 1)
    assert not stats.truncated


def test_nmap_xml() -> None:
    found, stats = read(NMAP_XML)
    # the host hint's address is not a host; the MAC address is not the host's address
    assert found == [OpenPort("192.0.2.1", 104), OpenPort("2001:db8::2", 11112)]
    assert stats.variant == "nmap-xml"
    assert (stats.records, stats.not_open, stats.other, stats.malformed) == (2, 1, 1, 0)
    assert not stats.truncated
    assert not stats.problems


def test_masscan_xml_with_crlf_and_a_banner_record() -> None:
    found, stats = read(MASSCAN_XML, "masscan")
    assert found == [OpenPort("192.0.2.20", 104)]
    assert stats.variant == "masscan-xml"
    assert (stats.records, stats.not_open, stats.other) == (1, 1, 1)
    assert not stats.truncated


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        (NMAP_XML, "masscan", "looks like nmap output, not masscan"),
        (MASSCAN_XML, "nmap", "looks like masscan output, not nmap"),
        (NMAP_XML, "zmap", "looks like nmap output, not zmap"),
        (NMAP_GREPABLE, "masscan", "looks like nmap output"),
        (MASSCAN_GREPABLE, "zmap", "looks like masscan output"),
        ("Host: 192.0.2.1 ()\tPorts: 104/open/tcp/////\n", "zmap", "nmap output, not zmap"),
        ('<?xml version="1.0"?>\n<html><body/></html>\n', "auto", "not nmap's or masscan's"),
        ('<nmaprun scanner="nessus">\n</nmaprun>\n', "auto", "scanner='nessus'"),
        (
            "# Nmap 7.93 scan initiated Sat Dec  5 05:23:31 2026 as: nmap -p 104 192.0.2.1\n"
            "Nmap scan report for 192.0.2.1\n",
            "auto",
            "-oN",
        ),
    ],
)
def test_files_of_the_wrong_kind_are_refused(text: str, fmt: str, message: str) -> None:
    with pytest.raises(ResultsError, match=message) as caught:
        read(text, fmt, strict=False)  # refusals hold whatever the strictness
    assert str(caught.value).startswith("results.txt:")


def test_a_headerless_host_line_is_read_as_nmap_or_masscan() -> None:
    text = "Host: 192.0.2.1 ()\tPorts: 104/open/tcp/////\n"
    for fmt in ("auto", "nmap", "masscan"):
        assert read(text, fmt)[0] == [OpenPort("192.0.2.1", 104)]


def test_entities_are_refused_before_any_expansion() -> None:
    """A document type with entity declarations (the billion laughs) is no scanner's: refused
    at once, nothing expanded."""
    laughs = (
        '<?xml version="1.0"?>\n<!DOCTYPE nmaprun [\n<!ENTITY a "aaaaaaaaaa">\n'
        + "".join(
            f'<!ENTITY {c} "{f"&{p};" * 10}">\n'
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + ']>\n<nmaprun scanner="nmap"><host><address addr="&i;"/></host></nmaprun>\n'
    )
    started = time.perf_counter()
    with pytest.raises(ResultsError, match="declarations"):
        read(laughs)
    assert time.perf_counter() - started < 5  # expanded, &i; would be 10^9 characters
    external = (
        '<?xml version="1.0"?>\n<!DOCTYPE nmaprun SYSTEM "file:///etc/passwd">\n'
        '<nmaprun scanner="nmap"></nmaprun>\n'
    )
    found, stats = read(external)  # an external DTD is never fetched: nothing is read from it
    assert found == []
    assert not stats.truncated


def test_a_cut_file_keeps_every_host_before_the_cut() -> None:
    """Cut at every character: never an error, and what is found is a prefix of the whole."""
    whole = read(NMAP_XML)[0]
    for cut in range(len(NMAP_XML)):
        found, stats = read(NMAP_XML[:cut])
        assert found == whole[: len(found)], cut
        assert stats.truncated == ("</nmaprun>" not in NMAP_XML[:cut]) or cut == 0, cut
    for text in (NMAP_GREPABLE, MASSCAN_GREPABLE):
        lines = text.splitlines(keepends=True)
        found, stats = read("".join(lines[:-1]))  # no "done" trailer
        assert found == read(text)[0]
        assert stats.truncated


def test_malformed_xml_in_the_middle() -> None:
    broken = NMAP_XML.replace("</hostnames>", "</hostname>")
    with pytest.raises(ResultsError, match=r"results.txt:16: not well-formed XML"):
        read(broken)
    found, stats = read(broken, strict=False)
    assert found == []  # the first host had not closed
    assert stats.malformed == 1
    assert "rest of the file is not read" in stats.problems[0]
    junk = NMAP_XML + "<nmaprun/>\n"
    found, stats = read(junk, strict=False)
    assert len(found) == 2
    assert stats.malformed == 1


def test_hostile_structure_stays_bounded() -> None:
    deep = '<nmaprun scanner="nmap">\n' + "<a>\n" * 100_000
    with pytest.raises(ResultsError, match="nested deeper"):
        read(deep)
    endless = '<nmaprun scanner="nmap">\n<!-- ' + "x\n" * 100_000
    with pytest.raises(ResultsError, match="left open over 200 lines"):
        read(endless)
    long_line = '<nmaprun scanner="nmap">\n<host a="' + "x" * 70_000 + '"/>\n</nmaprun>\n'
    with pytest.raises(ResultsError, match="line too long"):
        read(long_line)


def test_bad_records_are_named() -> None:
    text = NMAP_GREPABLE.replace("Host: 192.0.2.3 ()", "Host: 192.0.2.300 ()")
    with pytest.raises(ResultsError, match=r"results\.txt:6: expected 'Host"):
        read(text)
    found, stats = read(text, strict=False)
    assert len(found) == 2
    assert stats.malformed == 1
    xml = NMAP_XML.replace('addr="192.0.2.1"', 'addr="not-an-address"')
    found, stats = read(xml, strict=False)
    assert found == [OpenPort("2001:db8::2", 11112)]
    assert "without a valid address" in stats.problems[0]
