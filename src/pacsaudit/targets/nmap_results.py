"""Open ports from the nmap-style result formats: grepable (``-oG``) and XML (``-oX``).

nmap writes them, and masscan writes the same two shapes (``scanner="masscan"`` in the XML), so
a first stage run with either, or an nmap ``-p 104,11112 --open`` sweep a hospital already
has, feeds pacsaudit's second stage. Layouts, checked against nmap 7.93's files and masscan
1.3.2's (``src/out-grepable.c``, ``src/out-xml.c``):

grepable
    ``# Nmap 7.93 scan initiated …`` or ``# Masscan 1.3.2 scan initiated …``; host lines
    ``Host: 192.0.2.1 (name)<TAB>Ports: 104/open/tcp//acr-nema///, 11112/closed/tcp/////``
    (masscan: ``Timestamp: 1700000000<TAB>Host: 192.0.2.1 ()<TAB>Ports: 104/open/tcp//acr-nema//``,
    one port a line), ``Host: … Status: Up`` lines and masscan's ``Host: … Port: … Banner:``
    lines (counted as other); the trailer ``# Nmap done at …`` / ``# Masscan done at …``.
XML
    ``<nmaprun scanner="nmap|masscan">`` with ``<host>`` elements holding ``<address>`` and
    ``<ports><port protocol portid><state state/></port></ports>``; ``</nmaprun>`` closes a
    finished scan (an interrupted nmap leaves it out). masscan's banner records repeat a port
    with a ``<service banner=…>``: counted as other, as in its JSON.

The XML is read with expat, line by line, so memory stays bounded by the element being read:
a document type with declarations (entities) is refused, as no scanner writes one, nesting is
capped, and a token may not span more than :data:`MAX_RECORD_LINES` lines. A well-formedness
error in the middle stops the read there (with ``strict=False``, everything before it is
kept); the end of a cut file is a warning, as for the other formats.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NoReturn
from xml.parsers import expat

from pacsaudit.targets.result_lines import (
    MAX_RECORD_LINES,
    Context,
    Line,
    OpenPort,
    address,
    port_number,
)

SCANNERS = frozenset({"nmap", "masscan"})
MAX_DEPTH = 16
"""nmap's deepest element (a script's table inside a port) is far above any real nesting."""

_PORT_ENTRY = re.compile(r"(\d{1,5})/([^/]*)/([^/]*)/")


def grepable_family(text: str) -> str | None:
    """``nmap`` or ``masscan`` for the first line of a grepable file, else None; a bare
    ``Host:`` line (no header) is nmap's shape, and masscan's banner lines share it."""
    if text.startswith("# Masscan ") or text.startswith("Timestamp:"):
        return "masscan"
    if text.startswith("# Nmap ") or text.startswith("Host:"):
        return "nmap"
    return None


def _sections(text: str) -> dict[str, str]:
    """``Key: value`` sections of a grepable line, split at tabs."""
    out: dict[str, str] = {}
    for part in text.split("\t"):
        key, sep, value = part.partition(": ")
        if sep:
            out[key.strip()] = value.strip()
    return out


def grepable(lines: Iterator[Line], ctx: Context) -> Iterator[OpenPort]:
    """``-oG`` of nmap or masscan. A file that began with the header but lacks the ``done``
    trailer was cut short (or the scan stopped)."""
    header = ended = False
    for line in lines:
        if line.overlong:
            ctx.bad(line, "line too long")
            continue
        text = line.text.strip()
        if not text:
            continue
        if text.startswith("#"):
            if text.startswith(("# Nmap done", "# Masscan done")):
                ended = True
            elif text.startswith(("# Nmap ", "# Masscan ")):
                header = True
            continue
        if text.startswith(("Nmap scan report for", "Starting Nmap", "PORT ")):
            raise ctx.refuse(line, "nmap's normal output (-oN) is not read: use -oG or -oX")
        sections = _sections(text)
        ip = address(sections.get("Host", "").split(" ", 1)[0])
        stamp = sections.get("Timestamp")
        if ip is None or (stamp is not None and not stamp.isdigit()):
            ctx.bad(line, "expected 'Host: <address> (<name>)' and its Ports or Status")
            continue
        if "Ports" in sections:
            yield from _grepable_ports(ip, sections["Ports"], line, ctx)
        elif "Port" in sections or "Status" in sections:  # a banner, or a host's status
            ctx.stats.other += "Port" in sections
        else:
            ctx.bad(line, "expected 'Host: <address> (<name>)' and its Ports or Status")
    if header and not ended:
        ctx.stats.truncated = True


def _grepable_ports(ip: str, ports: str, line: Line, ctx: Context) -> Iterator[OpenPort]:
    """``104/open/tcp//acr-nema///, …``: port, state, protocol are the first three fields.
    nmap writes a version's own slashes as ``|``, but its commas stay: a piece that is not
    an entry continues the one before it."""
    found = False
    for piece in ports.split(", "):
        entry = _PORT_ENTRY.match(piece.strip())
        if entry is None:
            continue
        found = True
        port, state, proto = port_number(entry[1]), entry[2], entry[3]
        if proto != "tcp":
            ctx.stats.other += 1
        elif port is None:
            ctx.bad(line, "bad port")
        elif state != "open":
            ctx.stats.not_open += 1
        else:
            ctx.stats.records += 1
            ctx.stats.unterminated = not line.terminated
            yield OpenPort(ip, port)
    if not found:
        ctx.bad(line, "expected 'Ports: <port>/<state>/<protocol>/…'")


class _Refused(Exception):
    """The document is not a scanner's results: raised from a handler, out of ``Parse``."""


class _Malformed(Exception):
    """The document breaks off in the middle: raised from a handler, out of ``Parse``."""


class _Port:
    """A ``<port>`` being read: its protocol, number, state, and whether it is a banner."""

    __slots__ = ("banner", "number", "proto", "state")

    def __init__(self, proto: str, number: int | None) -> None:
        self.proto, self.number, self.state, self.banner = proto, number, "", False


class _XmlResults:
    """expat's handlers for one document: the host being read and what it found."""

    def __init__(self, wanted: str | None) -> None:
        self.wanted = wanted
        self.scanner = ""
        self.stack: list[str] = []
        self.closed = False
        self.ip: str | None = None
        self.ports: list[_Port] = []
        self.port: _Port | None = None
        self.done: list[tuple[str | None, list[_Port]]] = []
        self.events = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.events += 1
        parent = self.stack[-1] if self.stack else ""
        self.stack.append(name)
        if len(self.stack) > MAX_DEPTH:
            raise _Malformed(f"elements nested deeper than {MAX_DEPTH}")
        if len(self.stack) == 1:
            self._root(name, attrs)
        elif name == "host" and parent == "nmaprun":
            self.ip, self.ports = None, []
        elif name == "address" and parent == "host":
            if attrs.get("addrtype") != "mac" and self.ip is None:
                self.ip = address(attrs.get("addr", "")) or ""
        elif name == "port" and parent == "ports" and "host" in self.stack:
            self.port = _Port(attrs.get("protocol", ""), port_number(attrs.get("portid")))
        elif name == "state" and parent == "port" and self.port is not None:
            self.port.state = attrs.get("state", "")
        elif name == "service" and parent == "port" and self.port is not None:
            self.port.banner = self.port.banner or "banner" in attrs

    def _root(self, name: str, attrs: dict[str, str]) -> None:
        scanner = attrs.get("scanner", "")
        if name != "nmaprun" or scanner not in SCANNERS:
            raise _Refused(
                f"XML, but not nmap's or masscan's results (<{name[:40]}> scanner={scanner[:40]!r})"
            )
        if self.wanted is not None and scanner != self.wanted:
            raise _Refused(
                f"this looks like {scanner} output, not {self.wanted} "
                f"(use --input-format {scanner} or auto)"
            )
        self.scanner = scanner

    def end(self, name: str) -> None:
        self.events += 1
        self.stack.pop()
        if name == "port" and self.port is not None:
            self.ports.append(self.port)
            self.port = None
        elif name == "host" and self.stack == ["nmaprun"]:
            self.done.append((self.ip, self.ports))
            self.ip, self.ports = None, []
        elif not self.stack:
            self.closed = True

    def other(self, *_: object) -> None:
        self.events += 1

    def doctype(self, _name: str, _system: str | None, _public: str | None, subset: int) -> None:
        self.events += 1
        if subset:
            raise _Refused("a document type with declarations: no scanner writes one")

    def entity(self, *_: object) -> NoReturn:
        raise _Refused("an entity declaration: no scanner writes one")


def _parser(results: _XmlResults) -> expat.XMLParserType:
    parser = expat.ParserCreate()
    parser.StartElementHandler = results.start
    parser.EndElementHandler = results.end
    parser.CharacterDataHandler = results.other
    parser.CommentHandler = results.other
    parser.ProcessingInstructionHandler = results.other
    parser.XmlDeclHandler = results.other
    parser.StartDoctypeDeclHandler = results.doctype
    parser.EntityDeclHandler = results.entity
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


def xml(lines: Iterator[Line], ctx: Context, wanted: str | None) -> Iterator[OpenPort]:
    """``-oX`` of nmap or masscan (``wanted``: the family the user named, or None)."""
    results = _XmlResults(wanted)
    parser = _parser(results)
    quiet = 0  # lines fed since expat last reported anything: a token still open
    line: Line | None = None
    for line in lines:
        if line.overlong:
            _stop(ctx, line, "line too long")
            return
        before = results.events
        try:
            parser.Parse(line.text + "\n", False)
        except _Refused as exc:
            raise ctx.refuse(line, str(exc)) from None
        except (_Malformed, expat.ExpatError) as exc:
            yield from _hosts(results, line, ctx)
            where = Line(getattr(exc, "lineno", line.number), line.text, line.terminated)
            _stop(ctx, where, _reason(exc))
            return
        quiet = 0 if results.events != before else quiet + 1
        if quiet > MAX_RECORD_LINES:
            yield from _hosts(results, line, ctx)
            _stop(ctx, line, f"an XML token left open over {MAX_RECORD_LINES} lines")
            return
        yield from _hosts(results, line, ctx)
    ctx.stats.variant = f"{results.scanner or wanted or 'nmap'}-xml"
    try:
        parser.Parse("", True)
    except (_Refused, _Malformed, expat.ExpatError):
        if results.closed and line is not None:
            _stop(ctx, line, "text after the end of the document")
            return
    if not results.closed:
        ctx.stats.truncated = True


def _reason(exc: Exception) -> str:
    if isinstance(exc, expat.ExpatError):
        return f"not well-formed XML ({expat.ErrorString(exc.code)})"
    return str(exc)


def _stop(ctx: Context, line: Line, reason: str) -> None:
    """A break in the document: the rest of it cannot be read as XML."""
    ctx.bad(line, f"{reason}; the rest of the file is not read")


def _hosts(results: _XmlResults, line: Line, ctx: Context) -> Iterator[OpenPort]:
    """The hosts whose element closed in the last line fed."""
    if results.scanner:
        ctx.stats.variant = f"{results.scanner}-xml"
    done, results.done = results.done, []
    for ip, ports in done:
        if not ip:
            ctx.bad(line, "a host without a valid address")
            continue
        for port in ports:
            if port.proto != "tcp" or port.banner:
                ctx.stats.other += 1
            elif port.number is None:
                ctx.bad(line, "bad portid")
            elif port.state != "open":
                ctx.stats.not_open += 1
            else:
                ctx.stats.records += 1
                yield OpenPort(ip, port.number)
