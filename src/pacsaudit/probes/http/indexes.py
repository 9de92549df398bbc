"""Open directory listings recognised by their structure, and read into entries.

A web server that lists a folder (nginx ``autoindex``, Apache ``mod_autoindex``, lighttpd
``mod_dirlisting``, Caddy ``file_server browse``, IIS directory browsing, Python's
``http.server``) serves a file share without any login: what a share walk does over FTP or SMB,
the HTTP probe does over these pages (:mod:`pacsaudit.probes.http.webshare`). Each format is
recognised by markup its generator always writes — not by a ``Server`` header, which proxies
rewrite and operators hide — and each signature names the source where its format can be
checked.

Only direct children of the listed folder on the same scheme, host and port become entries:
the parent link, sort links (``?C=N;O=D``), absolute links elsewhere and deeper paths are
skipped. Names live only inside the walk; nothing here reaches a result.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx
import msgspec

if TYPE_CHECKING:  # the walk imports pydicom: only a page that is a listing needs it
    from pacsaudit.probes.fileshare.walk import Entry

MAX_LINKS = 20_000
"""Anchors parsed from one page at most: the walk's own bound is lower, this one protects the
parser from a page made of nothing but links."""


@dataclass(frozen=True, slots=True)
class IndexFormat:
    """One generator of listing pages: how to recognise its page, where its format is defined."""

    key: str
    recognise: Callable[[str], bool]
    source: str
    sizes: Callable[[str], dict[str, int]] | None = None
    """Exact sizes by href, where the page shows bytes (not ``1.2K``)."""


# -- recognisers ----------------------------------------------------------------------------------

_TITLE = re.compile(r"<title>\s*([^<]{0,512})</title>", re.IGNORECASE)


def _title(page: str) -> str:
    m = _TITLE.search(page[:4096])
    return m.group(1).strip() if m else ""


def _nginx(page: str) -> bool:
    # ngx_http_autoindex_module.c (nginx/src/http/modules): "<html>\r\n<head><title>Index of "
    # then "<h1>Index of ...</h1><hr><pre>" and, below the root, '<a href="../">../</a>'.
    return _title(page).startswith("Index of ") and "</h1><hr><pre>" in page


def _apache(page: str) -> bool:
    # mod_autoindex.c (httpd/modules/generators): "<title>Index of ...", an <h1> of the same;
    # with FancyIndexing sort links "?C=N;O=D" on the column heads (in a <pre> or, with
    # HTMLTable, a <table>), without it a "<ul><li><a href=" list; the footer
    # "<address>Apache/... Server at" where ServerSignature is on. Pages of Apache 2.4.71 in
    # the three layouts: tests/probes/http/pages/.
    if not _title(page).startswith("Index of "):
        return False
    sorted_heads = "?C=N;O=D" in page or "?C=N&amp;O=D" in page
    plain = "<h1>Index of " in page and "<ul><li><a href=" in page
    return sorted_heads or plain or "<address>Apache" in page


def _lighttpd(page: str) -> bool:
    # mod_dirlisting.c (lighttpd1.4/src): '<div class="list">' around
    # '<table summary="Directory Listing" ...>' with name cells '<td class="n">' (lighttpd
    # 1.4.69's page: tests/probes/http/pages/).
    return 'summary="Directory Listing"' in page and 'class="n"' in page


def _caddy(page: str) -> bool:
    # Caddy v2 modules/caddyhttp/fileserver/browse.html: the footer's link to caddyserver.com
    # ("Served with Caddy") and the listing table '<table aria-describedby="summary">' with
    # '<tr class="file">' rows (Caddy 2.6.2's page: tests/probes/http/pages/).
    table = 'aria-describedby="summary"' in page or '<tr class="file">' in page
    return "caddyserver.com" in page and (table or "data-size=" in page)


_IIS_ROW = re.compile(
    r"\d{1,2}/\d{1,2}/\d{4}\s+\d{1,2}:\d{2}(?:\s*[AP]M)?\s+(&lt;dir&gt;|\d+)\s+"
    r'<A HREF="([^"]{1,4096})">',
    re.IGNORECASE,
)


def _iis(page: str) -> bool:
    # IIS directory browsing (learn.microsoft.com, IIS configuration reference:
    # system.webServer/directoryBrowse): "<H1>host - /path/</H1><hr>" then a <pre> of rows
    # "date time  <dir>|bytes <A HREF=...>", the first one "[To Parent Directory]" below root.
    return "<pre>" in page.lower() and (
        "[To Parent Directory]" in page or _IIS_ROW.search(page) is not None
    )


def _python(page: str) -> bool:
    # CPython Lib/http/server.py, SimpleHTTPRequestHandler.list_directory:
    # "<title>Directory listing for /path/</title>", an <h1> of the same, a <ul> of <li><a>.
    return _title(page).startswith("Directory listing for ") and "<ul>" in page


# -- exact sizes ----------------------------------------------------------------------------------

_NGINX_ROW = re.compile(r'<a href="([^"]{1,4096})">[^<]{0,4096}</a>[ ]+\S+ \S+[ ]+(\d{1,15}|-)\r?$')


def _nginx_sizes(page: str) -> dict[str, int]:
    # autoindex_exact_size on (the default): bytes in the last column, "-" for folders.
    out: dict[str, int] = {}
    for line in page.splitlines()[: MAX_LINKS + 8]:
        m = _NGINX_ROW.search(line)
        if m and m.group(2) != "-":
            out[m.group(1)] = int(m.group(2))
    return out


def _iis_sizes(page: str) -> dict[str, int]:
    return {m.group(2): int(m.group(1)) for m in _IIS_ROW.finditer(page) if m.group(1).isdigit()}


FORMATS: tuple[IndexFormat, ...] = (
    IndexFormat("nginx-autoindex", _nginx, "nginx ngx_http_autoindex_module.c", _nginx_sizes),
    IndexFormat("apache-autoindex", _apache, "Apache httpd mod_autoindex.c"),
    IndexFormat("lighttpd-dirlisting", _lighttpd, "lighttpd mod_dirlisting.c"),
    IndexFormat("caddy-browse", _caddy, "Caddy fileserver/browse.html"),
    IndexFormat("iis-directory-browsing", _iis, "IIS system.webServer/directoryBrowse", _iis_sizes),
    IndexFormat("python-http-server", _python, "CPython Lib/http/server.py list_directory"),
)
CADDY_JSON = "caddy-browse-json"
"""Caddy answers a browse request whose Accept names JSON with a JSON array (its file_server
module documentation: name, size, url, mod_time, mode, is_dir, is_symlink)."""


def recognise(body: bytes, content_type: str) -> str | None:
    """The listing format of a page, or None when it is not a directory listing."""
    if "json" in content_type:
        return CADDY_JSON if _caddy_json(body) is not None else None
    if content_type and "html" not in content_type:
        return None
    page = body.decode("utf-8", "replace")
    for fmt in FORMATS:
        if fmt.recognise(page):
            return fmt.key
    return None


# -- entries --------------------------------------------------------------------------------------


class _Anchors(HTMLParser):
    """Every ``<a href>`` of a page, in order, bounded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a" or len(self.hrefs) >= MAX_LINKS:
            return
        for name, value in attrs:
            if name == "href" and value:
                self.hrefs.append(value)
                return


def child_name(base: httpx.URL, href: str) -> tuple[str, bool] | None:
    """``(name, is_folder)`` when ``href`` names a direct child of the folder at ``base``
    (same scheme, host and port, no query); None for anything else."""
    if len(href) > 4096:
        return None
    try:
        url = base.join(href)
    except (httpx.InvalidURL, ValueError, TypeError):
        return None
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port) or url.query:
        return None
    parent = base.raw_path.split(b"?", 1)[0]
    path = url.raw_path.split(b"?", 1)[0]
    if not path.startswith(parent) or len(path) <= len(parent):
        return None
    rest = path[len(parent) :].decode("ascii", "replace")
    folder = rest.endswith("/")
    segment = rest[:-1] if folder else rest
    if not segment or "/" in segment:
        return None
    name = unquote(segment, errors="replace")
    if name in (".", ".."):
        return None
    return name, folder


def parse_index(body: bytes, fmt: str, base: httpx.URL) -> list[Entry]:
    """The direct children a listing page shows, with exact sizes where the format has them."""
    from pacsaudit.probes.fileshare.walk import Entry, EntryKind

    if fmt == CADDY_JSON:
        return _caddy_entries(body, base)
    page = body.decode("utf-8", "replace")
    parser = _Anchors()
    try:
        parser.feed(page)
        parser.close()
    except Exception:  # HTMLParser is lenient; a hostile page must still never raise here
        pass
    by_format = next((f for f in FORMATS if f.key == fmt), None)
    sizes = by_format.sizes(page) if by_format is not None and by_format.sizes else {}
    entries: list[Entry] = []
    seen: set[str] = set()
    for href in parser.hrefs:
        child = child_name(base, href)
        if child is None or child[0] in seen:
            continue
        name, folder = child
        seen.add(name)
        if folder:
            entries.append(Entry(name, EntryKind.DIR, identity=_identity(base, name)))
        else:
            entries.append(Entry(name, EntryKind.FILE, size=sizes.get(_raw(href))))
    return entries


def _raw(href: str) -> str:
    """The href as the page wrote it (sizes are keyed so); HTMLParser unescaped ``&amp;``."""
    return href.replace("&", "&amp;") if "&" in href else href


def _identity(base: httpx.URL, name: str) -> str:
    return f"{base.raw_path.decode('ascii', 'replace')}{name}/"


def _caddy_json(body: bytes) -> list[dict[str, Any]] | None:
    try:
        doc = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, list):
        return None
    items = [d for d in doc[:MAX_LINKS] if isinstance(d, dict)]
    if len(items) != min(len(doc), MAX_LINKS):
        return None
    if not all({"name", "url", "is_dir"} <= d.keys() for d in items[:8]):
        return None
    return items


def _caddy_entries(body: bytes, base: httpx.URL) -> list[Entry]:
    from pacsaudit.probes.fileshare.walk import Entry, EntryKind

    entries: list[Entry] = []
    for item in _caddy_json(body) or []:
        url, is_dir, size = item.get("url"), item.get("is_dir"), item.get("size")
        if not isinstance(url, str) or not isinstance(is_dir, bool):
            continue
        child = child_name(base, url)
        if child is None:
            continue
        name, _ = child
        if is_dir:
            entries.append(Entry(name, EntryKind.DIR, identity=_identity(base, name)))
        elif item.get("is_symlink") is True:
            entries.append(Entry(name, EntryKind.LINK))
        else:
            ok = isinstance(size, int) and not isinstance(size, bool)
            entries.append(Entry(name, EntryKind.FILE, size=size if ok else None))
    return entries
