"""Reading JSON listings page by page: the pagination every counted listing shares (QIDO-RS,
Orthanc's REST ``/studies``), and the tolerant JSON readers behind it.

Apart from :mod:`pacsaudit.probes.http.probe` because a new listing (another archive's REST
API) needs only a ``request(offset)`` and a ``parse`` here, not a change to the walk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pacsaudit.measure.dicom_json import JsonTally
from pacsaudit.model import ErrorInfo, ErrorKind, Exposure, QueryStats
from pacsaudit.probes.http.transport import Fetched, WebSession


async def paginate(
    session: WebSession,
    *,
    max_records: int,
    model: str,
    request: Callable[[int], Awaitable[Fetched]],
    parse: Callable[[Fetched], list[Any] | None],
    tally: JsonTally,
    add: Callable[[object], bool],
    first: tuple[Fetched, list[Any]] | None = None,
) -> Exposure | None:
    """Count page after page (``request(offset)``) until one adds no study — the end, or
    a server that ignores the offset — or a bound: ``--max-records``, the request and time
    budgets, a page that is not a listing. None when not even the first page was one."""
    stats = _PageStats()
    error: ErrorInfo | None = None
    lower_bound = False
    offset = 0
    page: list[Any] | None = None
    if first is not None:
        stats.note(first[0])
        page = first[1]
    while True:
        if page is None:
            if session.exhausted():
                lower_bound, error = True, stopped(session)
                break
            fetched = await request(offset)
            stats.note(fetched)
            page = parse(fetched)
            if page is None:
                if offset == 0:
                    return None
                lower_bound, error = True, page_error(fetched)
                break
        if not page:
            break
        before = tally.studies
        for record in page:
            if tally.records >= max_records:
                lower_bound = True
                break
            add(record)
        if lower_bound or tally.studies == before:
            break
        offset += len(page)
        page = None
    query = QueryStats(
        level="STUDY",
        model=model,
        queries=stats.queries,
        records=tally.records,
        lower_bound=lower_bound,
        statuses=stats.statuses,
        error=error,
    )
    return tally.exposure(queries=[query], lower_bound=lower_bound, error=error)


@dataclass
class _PageStats:
    queries: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def note(self, fetched: Fetched) -> None:
        self.queries += 1
        key = str(fetched.status) if fetched.status is not None else "error"
        self.statuses[key] = self.statuses.get(key, 0) + 1


def stopped(session: WebSession) -> ErrorInfo:
    if session.remaining() <= 0.2:
        return ErrorInfo(ErrorKind.BUDGET_EXCEEDED, "the probe's time budget ran out", "budget")
    if session.requests >= session.max_requests:
        return ErrorInfo(
            ErrorKind.BUDGET_EXCEEDED, "the probe's request budget ran out", "max-requests"
        )
    return ErrorInfo(ErrorKind.PROTOCOL_VIOLATION, "the peer stopped answering", "peer-failing")


def page_error(fetched: Fetched) -> ErrorInfo:
    if fetched.error is not None and fetched.error.error is not None:
        return fetched.error.error
    if fetched.truncated:
        return ErrorInfo(
            ErrorKind.PROTOCOL_VIOLATION, "a page was larger than the body cap", "body-cap"
        )
    return ErrorInfo(
        ErrorKind.PROTOCOL_VIOLATION,
        f"a page was not a JSON array (HTTP {fetched.status})",
        "not-json",
    )


def decode(fetched: Fetched) -> Any:
    if not fetched.ok or fetched.truncated or not fetched.body:
        return None
    try:
        return msgspec.json.decode(fetched.body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError):
        return None


def json_object(fetched: Fetched) -> dict[str, Any] | None:
    doc = decode(fetched)
    return doc if isinstance(doc, dict) else None


def json_list(fetched: Fetched) -> list[Any] | None:
    doc = decode(fetched)
    return doc if isinstance(doc, list) else None


def is_json(fetched: Fetched) -> bool:
    return "json" in fetched.content_type()


def dicom_json_page(fetched: Fetched) -> list[Any] | None:
    """A QIDO-RS answer: a JSON array of objects (a catch-all HTML page is not one). 204 No
    Content is an empty result."""
    if fetched.status == 204:
        return []
    ctype = fetched.content_type()
    if ctype and "json" not in ctype:
        return None
    page = json_list(fetched)
    if page is None or not all(isinstance(r, dict) for r in _head(page)):
        return None
    return page


def _head(items: list[Any], n: int = 8) -> Iterator[Any]:
    yield from items[:n]
