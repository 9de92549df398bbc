"""Open-port lists from ZMap, masscan and nmap: the first stage of a two-stage scan.

A SYN scanner finds the few hosts with port 104 (or 11112…) open among millions at line rate;
pacsaudit then speaks DICOM to those only. These readers turn the scanners' result files into
``(ip, port)`` pairs, filtered through the same scope and blocklist as typed targets.

Formats read (all checked against the scanners' sources):

ZMap
    plain ``-o``: one address per line; with several ports ZMap's default output is
    ``saddr,sport`` per line, still without a header. ``-O csv`` with ``--output-fields``: a
    header row (``saddr,sport,…``); ``sport`` is the target's port, and a ``success`` column, when
    present, keeps only successful rows (``-O csv`` alone outputs RSTs too). ``-O json``: one
    object per line with the same field names.
masscan
    ``-oL``: ``#masscan`` header, lines ``open tcp 104 192.0.2.1 1700000000``, a ``# end``
    trailer. ``-oJ``: a JSON array of one-port objects ``{"ip": …, "ports": [{"port": 104,
    "proto": "tcp", "status": "open", …}]}``, written in three generations: before 2014 with
    unquoted keys, until 2017 with a trailing comma on every record and a ``{finished: 1}`` last
    line, until 2018 inside ``[``…``]`` with the trailing commas, and since then with commas
    between records. ``-oD``: one ``{"ip", "port", "proto", "data": {"status"}}`` per line.
    ``-oG`` and ``-oX``: nmap's shapes, read by :mod:`pacsaudit.targets.nmap_results`.
nmap
    ``-oG`` and ``-oX`` (:mod:`pacsaudit.targets.nmap_results`).

Only open TCP ports are kept: closed ports, banners, ARP and other protocols are counted, not
returned. A file without ports (ZMap's plain list) takes the user's ports.

Broken input
------------
A malformed line in the middle of a file means it is not what we think it is: by default it is
an error naming ``file:line`` (``strict=True``); with ``strict=False`` it is skipped and counted,
and the first few are kept for the summary. The end of a file is another matter: a scanner
killed mid-write, or a file copied while still growing, ends inside a record. A last line
without its newline that does not parse, a JSON record left open, or a missing masscan trailer
sets :attr:`ReadStats.truncated` and never raises: everything complete before it is used.
Lines are read with a length cap, so a binary or hostile file cannot exhaust memory.
"""

from __future__ import annotations

import csv
import enum
import json
import re
import sys
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pacsaudit.targets import nmap_results
from pacsaudit.targets.blocklist import Scope
from pacsaudit.targets.result_lines import (
    MASSCAN_LIST_WORDS,
    MAX_LINE_CHARS,
    MAX_RECORD_LINES,
    Context,
    Line,
    OpenPort,
    ReadStats,
    ResultsError,
    address,
    bounded_lines,
    could_be_cut,
    lines_of,
    port_number,
)
from pacsaudit.targets.spec import Target
from pacsaudit.usage import UsageError

__all__ = [
    "MAX_LINE_CHARS",
    "InputFormat",
    "OpenPort",
    "ReadStats",
    "ResultsError",
    "parse_open_ports",
    "read_open_ports",
    "targets_from_results",
]


class InputFormat(enum.StrEnum):
    """``--input-format``: which scanner wrote the file; ``auto`` looks at its first line."""

    AUTO = "auto"
    ZMAP = "zmap"
    MASSCAN = "masscan"
    NMAP = "nmap"


# ---------------------------------------------------------------------------------------------
# Entry points.
# ---------------------------------------------------------------------------------------------


def read_open_ports(
    path: str | Path,
    input_format: InputFormat | str = InputFormat.AUTO,
    *,
    strict: bool = True,
    stats: ReadStats | None = None,
) -> Iterator[OpenPort]:
    """Open ports from a ZMap or masscan result file (``-`` for standard input), lazily.

    ``stats`` (one is made if not given) is filled in as the iterator is consumed.
    """
    origin = "stdin" if str(path) == "-" else str(path)
    stats = stats if stats is not None else ReadStats(origin)
    if str(path) == "-":
        yield from _parse(bounded_lines(sys.stdin), origin, input_format, strict, stats)
        return
    try:
        # errors="replace": undecodable bytes make a line malformed (an error naming it),
        # never a UnicodeDecodeError from deep inside the iterator.
        stream = open(path, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115
    except OSError as exc:
        raise ResultsError(f"cannot read result file {origin}: {exc.strerror or exc}") from None
    with stream:
        yield from _parse(bounded_lines(stream), origin, input_format, strict, stats)


def parse_open_ports(
    lines: Iterable[str],
    origin: str,
    input_format: InputFormat | str = InputFormat.AUTO,
    *,
    strict: bool = True,
    stats: ReadStats | None = None,
) -> Iterator[OpenPort]:
    """As :func:`read_open_ports`, from lines that keep their ``\\n`` (``io.StringIO``,
    ``str.splitlines(keepends=True)``)."""
    stats = stats if stats is not None else ReadStats(origin)
    yield from _parse(lines_of(lines), origin, input_format, strict, stats)


def targets_from_results(
    results: Iterable[OpenPort],
    ports: Sequence[int],
    scope: Scope,
    *,
    port_filter: Collection[int] | None = None,
    stats: ReadStats | None = None,
) -> Iterator[Target]:
    """Targets for the second stage: each address checked against ``scope`` (the blocklist and,
    when the user named targets, those targets), portless records given ``ports``, records
    with a port kept only if in ``port_filter`` (when given), duplicates dropped.

    Order is the file's: ZMap and masscan already emit hosts in their own random order, and
    the list is small. The duplicate check keeps one (ip, port) per result, O(results) memory.
    """
    seen: set[tuple[str, int]] = set()
    for result in results:
        if result.ip not in scope:
            if stats is not None:
                stats.out_of_scope += 1
            continue
        if result.port is None:
            wanted: Iterable[int] = ports
        elif port_filter is not None and result.port not in port_filter:
            continue
        else:
            wanted = (result.port,)
        for port in wanted:
            key = (result.ip, port)
            if key in seen:
                if stats is not None:
                    stats.duplicates += 1
                continue
            seen.add(key)
            yield Target(result.ip, port)


# ---------------------------------------------------------------------------------------------
# Detection.
# ---------------------------------------------------------------------------------------------

_SADDR_KEY = re.compile(r'^\{\s*"?saddr"?\s*:')


def _detect(text: str) -> str:
    """The variant from the first non-blank line (``xml`` for either scanner's XML, whose
    ``scanner`` attribute comes later). Raises ValueError for a known format that is not
    read, so the message can say which one to use instead."""
    if "\x00" in text or text.startswith("masscan/"):  # masscan -oB starts "masscan/1.1"
        raise ValueError(
            "binary data (masscan -oB?): write results with zmap -o / -O csv, masscan -oL / "
            "-oJ / -oX, or nmap -oG / -oX"
        )
    if text.startswith("#masscan"):
        return "masscan-list"
    grepable = nmap_results.grepable_family(text)
    if grepable is not None:
        return f"{grepable}-grepable"
    if text.startswith("<"):
        return "xml"
    if text.split(maxsplit=1)[0] in MASSCAN_LIST_WORDS:
        return "masscan-list"
    if text.startswith("["):
        return "masscan-json"
    if text.startswith("{"):
        return "zmap-json" if _SADDR_KEY.match(text) else "masscan-json"
    return "zmap"


def _parse(
    lines: Iterator[Line],
    origin: str,
    input_format: InputFormat | str,
    strict: bool,
    stats: ReadStats,
) -> Iterator[OpenPort]:
    try:
        wanted = InputFormat(input_format)
    except ValueError:
        raise UsageError(
            f"bad input format {input_format!r}: use zmap, masscan, nmap or auto"
        ) from None
    ctx = Context(origin, strict, stats)
    head: list[Line] = []
    first: Line | None = None
    for line in lines:  # ends: consumes the iterator
        head.append(line)
        if line.text.strip() or line.overlong:
            first = line
            break
    if first is None:
        stats.variant = "empty"
        return
    try:
        variant = _detect(first.text.strip()) if not first.overlong else "zmap"
    except ValueError as exc:
        raise ctx.refuse(first, str(exc)) from None
    family = variant.split("-", 1)[0]
    # XML names its scanner later; a bare grepable ``Host:`` line is nmap's or masscan's
    bare_host = first.text.lstrip().startswith("Host:")
    either = variant == "xml" or (bare_host and wanted in (InputFormat.MASSCAN, InputFormat.NMAP))
    if wanted is not InputFormat.AUTO and family != wanted.value and not either:
        raise ctx.refuse(
            first,
            f"this looks like {family} output, not {wanted.value} "
            f"(use --input-format {family} or auto)",
        )
    replay = _chain(head, lines)
    if variant == "masscan-list":
        stats.variant = variant
        yield from _masscan_list(replay, ctx)
    elif variant == "masscan-json":
        stats.variant = variant
        yield from _masscan_json(replay, ctx)
    elif variant == "zmap-json":
        stats.variant = variant
        yield from _zmap_json(replay, ctx)
    elif variant.endswith("-grepable"):
        stats.variant = variant
        yield from nmap_results.grepable(replay, ctx)
    elif variant == "xml":
        named = None if wanted is InputFormat.AUTO else wanted.value
        yield from nmap_results.xml(replay, ctx, named)
    else:
        yield from _zmap_csv(replay, ctx)


def _chain(head: list[Line], rest: Iterator[Line]) -> Iterator[Line]:
    yield from head
    yield from rest


# ---------------------------------------------------------------------------------------------
# ZMap.
# ---------------------------------------------------------------------------------------------

_TRUE = frozenset({"1", "true", "True"})


def _cells(text: str) -> list[str] | None:
    """The CSV cells of one line; None when its quoting is broken (a quoted line break)."""
    if '"' not in text:
        return text.split(",")
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return None


def _zmap_csv(lines: Iterator[Line], ctx: Context) -> Iterator[OpenPort]:
    """Plain lists (``ip`` or ``ip,port`` per line) and CSV with a header row."""
    saddr, sport, success = 0, -1, -1
    columns = 0
    started = False
    for line in lines:
        text = line.text.strip()
        if line.overlong:
            ctx.bad(line, "line too long")
            continue
        if not text or text.startswith("#"):
            continue
        raw_cells = _cells(text)
        if raw_cells is None:
            ctx.bad(line, "broken CSV quoting")
            continue
        cells = [c.strip() for c in raw_cells]
        if not started:
            started = True
            if address(cells[0]) is None:
                names = [c.lower() for c in cells]
                if "saddr" not in names and not line.terminated and could_be_cut(text):
                    ctx.stats.truncated = True  # cut inside the first line: nothing to read
                    return
                if "saddr" not in names:
                    raise ctx.refuse(
                        line,
                        "not a ZMap result: the first line is neither an address nor a CSV "
                        "header with a saddr column",
                    )
                saddr = names.index("saddr")
                sport = names.index("sport") if "sport" in names else -1
                success = names.index("success") if "success" in names else -1
                columns = len(names)
                ctx.stats.variant = "zmap-csv"
                continue
            ctx.stats.variant = "zmap-plain"
            columns = len(cells)
            if columns > 2:
                raise ctx.refuse(
                    line,
                    "a ZMap list without a header has saddr or saddr,sport only: write the "
                    "header row (drop --no-header-row) to use other --output-fields",
                )
            sport = 1 if columns == 2 else -1
        if len(cells) != columns:
            ctx.bad(line, f"expected {columns} column(s), found {len(cells)}")
            continue
        ip = address(cells[saddr])
        if ip is None:
            ctx.bad(line, f"not an IP address: {cells[saddr][:60]!r}")
            continue
        port: int | None = None
        if sport >= 0:
            port = port_number(cells[sport])
            if port is None:
                ctx.bad(line, f"not a port: {cells[sport][:20]!r}")
                continue
        if success >= 0 and cells[success] not in _TRUE:
            ctx.stats.not_open += 1
            continue
        ctx.stats.records += 1
        ctx.stats.unterminated = not line.terminated
        yield OpenPort(ip, port)


def _zmap_json(lines: Iterator[Line], ctx: Context) -> Iterator[OpenPort]:
    """``zmap -O json``: one object per line."""
    for line in lines:
        text = line.text.strip()
        if line.overlong:
            ctx.bad(line, "line too long")
            continue
        if not text:
            continue
        try:
            record: Any = json.loads(text)
        except ValueError:
            ctx.bad(line, "not a JSON object")
            continue
        if not isinstance(record, dict):
            ctx.bad(line, "not a JSON object")
            continue
        ip = address(str(record.get("saddr", "")))
        if ip is None:
            ctx.bad(line, "no valid saddr")
            continue
        port: int | None = None
        if "sport" in record:
            port = port_number(record["sport"])
            if port is None:
                ctx.bad(line, "sport is not a port")
                continue
        if "success" in record and record["success"] not in (True, 1, "1", "true"):
            ctx.stats.not_open += 1
            continue
        ctx.stats.records += 1
        ctx.stats.unterminated = not line.terminated
        yield OpenPort(ip, port)


# ---------------------------------------------------------------------------------------------
# masscan.
# ---------------------------------------------------------------------------------------------


def _masscan_list(lines: Iterator[Line], ctx: Context) -> Iterator[OpenPort]:
    """``-oL``: ``<status> <proto> <port> <ip> <timestamp>`` between ``#masscan`` and
    ``# end``. A file that started with the header but lacks the trailer was cut short."""
    header = ended = False
    for line in lines:
        text = line.text.strip()
        if line.overlong:
            ctx.bad(line, "line too long")
            continue
        if not text:
            continue
        if text.startswith("#"):
            if text.startswith("#masscan"):
                header = True
            elif text == "# end":
                ended = True
            continue
        fields = text.split()
        status = fields[0]
        if status == "banner":
            ctx.stats.other += 1
            continue
        if status not in MASSCAN_LIST_WORDS or len(fields) != 5:
            ctx.bad(line, "expected '<status> <proto> <port> <ip> <timestamp>'")
            continue
        _, proto, port_text, ip_text, timestamp = fields
        ip, port = address(ip_text), port_number(port_text)
        if ip is None or not timestamp.isdigit() or (port is None and proto == "tcp"):
            ctx.bad(line, "bad address, port or timestamp")
            continue
        if proto != "tcp":
            ctx.stats.other += 1
            continue
        if status != "open":
            ctx.stats.not_open += 1
            continue
        ctx.stats.records += 1
        yield OpenPort(ip, port)
    if header and not ended:
        ctx.stats.truncated = True


_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:")
_DECODER = json.JSONDecoder()


def _decode_object(text: str) -> tuple[Any, str] | None:
    """The first JSON value of ``text`` and the text after it, or None if it does not parse
    (yet). Falls back to quoting bare keys for masscan's pre-2014 records
    (``{ip: "…", ports: […]}``) and its ``{finished: 1}`` line; quoting is idempotent, so the
    remainder can be returned in quoted form."""
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        pass
    else:
        return value, text[end:]
    quoted = _BARE_KEY.sub(r'\1"\2":', text)
    try:
        value, end = _DECODER.raw_decode(quoted)
    except ValueError:
        return None
    return value, quoted[end:]


def _masscan_json(lines: Iterator[Line], ctx: Context) -> Iterator[OpenPort]:
    """``-oJ`` in all its generations, and ``-oD``; see the module doc."""
    buffer = ""
    buffer_lines = 0
    opened = closed = finished = per_line = False
    for line in lines:
        if line.overlong:
            ctx.bad(line, "line too long")
            buffer, buffer_lines = "", 0
            continue
        buffer = f"{buffer}\n{line.text}" if buffer else line.text
        buffer_lines += 1
        for _ in range(len(buffer) + 1):  # ends: each round consumes input or breaks
            stripped = buffer.lstrip(" \t\r\n,")
            if stripped.startswith("["):
                opened = True
                buffer = stripped[1:]
                continue
            if stripped.startswith("]"):
                closed = True
                buffer = stripped[1:]
                continue
            buffer = stripped
            if not buffer:
                buffer_lines = 0
                break
            if not buffer.startswith("{"):
                ctx.bad(line, "expected a JSON object")
                buffer, buffer_lines = "", 0
                break
            decoded = _decode_object(buffer)
            if decoded is None:
                unbalanced = buffer.count("{") > buffer.count("}")
                if unbalanced and buffer_lines < MAX_RECORD_LINES:
                    break  # a record spread over lines: read the next one
                ctx.bad(line, "not a JSON object")
                buffer, buffer_lines = "", 0
                break
            record, buffer = decoded
            if isinstance(record, dict) and record.get("finished") == 1 and "ip" not in record:
                finished = True
                continue
            if isinstance(record, dict) and "port" in record and "ports" not in record:
                per_line = True  # -oD has no end marker to miss
            yield from _masscan_record(record, line, ctx)
    # Left inside a record, or without the end marker of its generation ("]" since 2017,
    # "{finished: 1}" before): the scanner was stopped or the file was cut.
    unfinished = (opened and not closed) or (not opened and not finished and not per_line)
    if buffer.strip(" \t\r\n,") or unfinished:
        ctx.stats.truncated = True


def _masscan_record(record: Any, line: Line, ctx: Context) -> Iterator[OpenPort]:
    if not isinstance(record, dict):
        ctx.bad(line, "not a JSON object")
        return
    ip = address(str(record.get("ip", "")))
    if ip is None:
        ctx.bad(line, "no valid ip")
        return
    if "ports" in record:
        entries = record["ports"]
        if not isinstance(entries, list):
            ctx.bad(line, "ports is not a list")
            return
    else:  # -oD: one port per line, the status under "data"
        data = record.get("data")
        status = data.get("status") if isinstance(data, dict) else None
        if record.get("rec_type") == "banner":
            status = None
        entries = [{"port": record.get("port"), "proto": record.get("proto"), "status": status}]
    for entry in entries:
        if not isinstance(entry, dict):
            ctx.bad(line, "a ports entry is not an object")
            continue
        if entry.get("proto") != "tcp" or "service" in entry or entry.get("status") is None:
            ctx.stats.other += 1
            continue
        port = port_number(entry.get("port"))
        if port is None:
            ctx.bad(line, "bad port")
            continue
        if entry.get("status") != "open":
            ctx.stats.not_open += 1
            continue
        ctx.stats.records += 1
        yield OpenPort(ip, port)
