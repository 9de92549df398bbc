"""Short associations beside the probe's main one: open, at most one bounded use, release.

The storage check uses none at all — the A-ASSOCIATE-AC is the whole answer, and nothing is
sent on its contexts but the release. The worklist count uses one C-FIND when the main
association broke before it (Debian's Orthanc aborts a stranger's Q/R C-FIND, and that says
nothing about its worklist). Every wait is bounded by the read timeout and the probe's
deadline (:class:`~.session.Session`).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

from pacsaudit.errors import classify
from pacsaudit.model import ErrorKind
from pacsaudit.net.stream import Connection, DialOptions
from pacsaudit.probes.dicom import pdu, reasons
from pacsaudit.probes.dicom.acceptance import Refused
from pacsaudit.probes.dicom.connection import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRejected,
    RequestorConnection,
)
from pacsaudit.probes.dicom.options import DicomOptions
from pacsaudit.probes.dicom.session import Session
from pacsaudit.targets.spec import Target

_SILENT = frozenset({ErrorKind.READ_TIMEOUT, ErrorKind.BUDGET_EXCEEDED})
"""Errors after which a further association would only wait as long again."""


class Dial(Protocol):
    """:func:`pacsaudit.net.stream.open_connection`'s shape."""

    async def __call__(
        self,
        ip: str,
        port: int,
        options: DialOptions,
        *,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> Connection: ...


Use = Callable[[Session], Awaitable[bool]]
"""What to do on the accepted association; False when the exchange broke (no release then)."""


async def associate_once(
    dial: Dial,
    options: DicomOptions,
    target: Target,
    tls: ssl.SSLContext | None,
    deadline: float,
    request: bytes,
    use: Use | None = None,
) -> pdu.AssociateAccept | Refused:
    """One association: the peer's answer, after ``use`` (if any) and a release."""
    try:
        conn = await dial(
            target.ip, target.port, options.dial, tls=tls, server_hostname=target.host
        )
    except Exception as exc:
        error = classify(exc).error
        return Refused(error.kind if error else "closed", error, reached=False)
    proto = RequestorConnection(max_pdu_receive=options.max_pdu_receive)
    session = Session(conn, proto, read_timeout=options.read_timeout, deadline=deadline)
    accept: pdu.AssociateAccept | None = None
    try:
        conn.write(proto.request(request))
        event = await session.next_event()
        if isinstance(event, AssociationAccepted):
            accept = event.accept
            if use is None or await use(session):
                await session.release()
        elif isinstance(event, AssociationRejected):
            r = event.reject
            return Refused(reasons.reject_info(r.result, r.source, r.reason).reason, rejected=True)
        elif isinstance(event, AssociationAborted):
            return Refused("aborted")
        else:
            return Refused("unexpected-event")
    except BaseException as exc:
        conn.abort()
        if not isinstance(exc, Exception):
            raise  # cancelled by the engine: let go at once
        if accept is not None:
            return accept  # answered: a release that went wrong changes nothing
        error = classify(exc).error
        silent = error is not None and error.kind in _SILENT
        return Refused(error.kind if error else "error", error, reached=not silent)
    finally:
        conn.close()
    return accept
