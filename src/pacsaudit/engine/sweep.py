# Over 600 lines: dialing, expiry, redials and probe launch share the hot loop's private state.
"""The sweep: positioned targets in, findings out, the TCP handshake done without a coroutine.

Why this shape. Most targets of a wide scan are closed or filtered: the answer is the TCP
handshake itself. A coroutine, a task and an exception per such target cost far more than the
handshake (asyncio streams with one task per target manage about 4,800 targets/s here, a plain
epoll loop in Python about 100,000/s). So the sweep connects first, itself, on raw non-blocking
sockets (``socket.connect_ex`` — the call the test suite's loopback guard watches) registered in
one private ``epoll`` object whose descriptor the event loop watches as a single reader:

- refused, unreachable, or no answer within the connect timeout → the finding is made on the
  spot, as the probe would have made it, and no coroutine ever exists for that target;
- connected → a task runs the probe; the connected socket is handed to the probe's first dial
  to that ``ip:port`` (:class:`~pacsaudit.net.stream.DialTicket`), so the peer sees one
  connection, not two.

Connect timeouts need no timer per socket: the deadlines of dialing sockets sit in one heap,
and one timer, set for the earliest, expires them in batches. The timeout is fixed
(``--connect-timeout``) or adaptive (:mod:`pacsaudit.engine.rtt`): every answer's round trip,
SYN-ACK or RST, feeds an RFC 6298 estimator whose timeout the next connects wait; one connect
in :data:`~pacsaudit.engine.rtt.SENTINEL_EVERY` waits the whole upper bound to catch answers
later than that (which widen the timeout), and a target whose connect timed out early is
dialed once more with the timer doubled, in place of the kernel's SYN retransmission that
the short timeout cut off.

Politeness lives here too: a :class:`~pacsaudit.net.limits.TokenBucket` for new connections
(the sweep's own dials, and every further dial a probe makes through the dialer), and a cap of
targets in flight per /24 — a target whose network is at the cap waits in a bounded queue while
others go ahead.

Positions: every target comes with its position in the source. :meth:`Sweep.pending` lists
those taken from the source and not finished (in flight, deferred or held): with the source's
own position it is all a checkpoint needs — see :mod:`pacsaudit.engine.checkpoint`. Memory is
O(concurrency + deferred), whatever the number of targets.
"""

from __future__ import annotations

import _socket
import asyncio
import contextvars
import errno
import heapq
import logging
import select
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from pacsaudit.contract import MultiProbe, Probe, make_finding
from pacsaudit.engine.options import EngineOptions, ScanStats
from pacsaudit.engine.rtt import SENTINEL_EVERY, RttEstimator
from pacsaudit.errors import classify
from pacsaudit.model import ErrorInfo, ErrorKind, Finding, Status
from pacsaudit.net.limits import TokenBucket, network_key
from pacsaudit.net.stream import CONNECTION_LIMITER, DIAL_TICKET, DialTicket, deadlines
from pacsaudit.targets.spec import Target

log = logging.getLogger(__name__)

OnDone = Callable[[int, Target, list[Finding]], None]
"""Receives ``(position, target, findings)`` once per target, in completion order."""

_EPOLL_BATCH = 4096
_YIELD_EVERY = 4096
"""Targets started in one go before the event loop gets a turn."""
_HAS_NONBLOCK = hasattr(socket, "SOCK_NONBLOCK")
_AF_INET, _AF_INET6 = socket.AF_INET, socket.AF_INET6
_SOL_SOCKET, _SO_ERROR = socket.SOL_SOCKET, socket.SO_ERROR
_ECONNREFUSED, _EINPROGRESS = errno.ECONNREFUSED, errno.EINPROGRESS
_EPOLLOUT = getattr(select, "EPOLLOUT", 4)
_monotonic = time.monotonic
_NONBLOCKING_STREAM = socket.SOCK_STREAM | getattr(socket, "SOCK_NONBLOCK", 0)
_IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK})
_EXPIRY_SLACK = 0.005
"""Connect deadlines this close together are expired by one timer callback."""


def _no_register(_fd: int, _events: int) -> None:  # pragma: no cover - replaced before use
    raise RuntimeError("the sweep is not running")


def _python_socket(raw: _socket.socket) -> socket.socket:
    """The connected descriptor as the ``socket.socket`` asyncio transports expect (the
    protocol given, so that the socket module need not ask the kernel for it)."""
    return socket.socket(raw.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, raw.detach())


class _Slot:
    """One target between leaving the source and being reported."""

    __slots__ = (
        "attempt", "budget", "deadline", "dialed", "fd", "net", "over_budget", "position", "rto",
        "sock", "started", "target", "ticket",
    )  # fmt: skip

    def __init__(self, position: int, target: Target, net: int) -> None:
        self.position = position
        self.target = target
        self.net = net
        self.sock: _socket.socket | None = None
        self.fd = -1
        self.deadline = 0.0
        self.started = 0.0
        self.dialed = 0.0
        """When the current connect began (monotonic): its answer's round trip is from here."""
        self.rto = 0.0
        """The adaptive timeout when the connect began (an answer after it is late)."""
        self.attempt = 1
        self.ticket: DialTicket | None = None
        self.budget: dict[Any, Any] | None = None
        """The entry of the probe's host budget in the loop's deadlines (withdrawn when done)."""
        self.over_budget = False


def first_protocol(probe: Probe | MultiProbe, port: int) -> str:
    """The protocol the engine names in a closed or filtered finding for this port: the one the
    dispatcher would have sent the port to, or a single probe's own name."""
    if isinstance(probe, MultiProbe):
        return probe.protocol_for(port)
    return probe.name


class Sweep:
    """One run of the engine over a positioned target iterator."""

    def __init__(
        self,
        probe: Probe | MultiProbe,
        options: EngineOptions,
        on_done: OnDone,
        *,
        stats: ScanStats | None = None,
        limiter: TokenBucket | None = None,
    ) -> None:
        self.probe = probe
        self.options = options
        self.stats = stats or ScanStats()
        self._on_done = on_done
        self._limiter = limiter or (TokenBucket(options.rate) if options.rate else None)
        self._predial = options.predial and hasattr(select, "epoll")
        self._predials = probe.predials if isinstance(probe, MultiProbe) else None
        self._cap = options.per_network or 0
        self._max_deferred = max(1024, 4 * options.concurrency)
        self._scan_all = probe.scan_all if isinstance(probe, MultiProbe) else None
        self._scan_one = None if isinstance(probe, MultiProbe) else probe.scan
        self._protocols: dict[int, str] = {}
        self._predial_ports: dict[int, bool] = {}
        # Targets taken from the source and not reported, by position (insertion-ordered).
        self._inflight: dict[int, Target] = {}
        self._active = 0
        """Targets holding a slot of the concurrency: dialing or probing."""
        self._dialing: dict[int, _Slot] = {}
        """Sockets waiting for the handshake, by descriptor (what epoll reports)."""
        self._deadlines: list[tuple[float, int, _Slot]] = []
        """(deadline, dial number, slot) of every connect begun; an entry whose dial number
        is no longer its slot's, or whose slot has no socket, is stale and skipped."""
        self._dials = 0
        self._redials: deque[_Slot] = deque()
        """Targets whose first connect timed out early, to be dialed once more."""
        self.rtt: RttEstimator | None = (
            RttEstimator(ceiling=options.connect_timeout) if options.adaptive_timeout else None
        )
        self._tasks: dict[asyncio.Task[list[Finding]], _Slot] = {}
        self._max_probing = options.max_probing or options.concurrency
        self._waiting: deque[tuple[_Slot, socket.socket | None, bool]] = deque()
        """Connected targets waiting for a probe slot (``max_probing``); while any wait, no
        new target is dialed: the probes, not the network, are the bottleneck then."""
        self._net_count: dict[int, int] = {}
        self._deferred: dict[int, deque[tuple[int, Target]]] = {}
        self._deferred_total = 0
        self._ready: deque[tuple[int, Target, int]] = deque()
        self._held: tuple[int, Target, int] | None = None
        self._exhausted = False
        self._items: Iterator[tuple[int, Target]] = iter(())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future[None] | None = None
        self._context = contextvars.copy_context()
        self._epoll: select.epoll | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._expiry_at = 0.0
        self._wake: asyncio.TimerHandle | None = None
        self._connect_timeout = options.connect_timeout
        self._register: Callable[[int, int], None] = _no_register
        self._connect_ex: Callable[[_socket.socket, tuple[str, int]], int] = (
            socket.socket.connect_ex
        )

    # -- what a checkpoint needs ---------------------------------------------------------------

    def pending(self) -> list[int]:
        """Positions taken from the source and not yet reported (in flight, deferred, held)."""
        return list(self._inflight)

    @property
    def in_flight(self) -> int:
        return self._active

    def abort(self, exc: BaseException) -> None:
        """End the run with ``exc`` (raised by :meth:`run`); pending targets stay pending."""
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc)

    # -- running -------------------------------------------------------------------------------

    async def run(self, items: Iterator[tuple[int, Target]]) -> ScanStats:
        """Probe every target the iterator yields; returns when all are reported.

        Cancelled (Ctrl-C), it stops dialing, cancels the probes and closes every socket it
        opened; what was not reported stays in :meth:`pending`.
        """
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._budgets = deadlines(loop)
        self._items = items
        self._done = loop.create_future()
        self._connect_ex = socket.socket.connect_ex  # whatever wraps it now (the tests' guard)
        if self._limiter is not None:
            self._context.run(CONNECTION_LIMITER.set, self._limiter)
        if self._predial:
            self._epoll = select.epoll()
            self._register = self._epoll.register
            loop.add_reader(self._epoll.fileno(), self._guarded, self._on_epoll)
        try:
            self._pump()
            await self._done
        finally:
            await self._shutdown()
            self.stats.finished = time.monotonic()
            self._record_timing()
        return self.stats

    def _record_timing(self) -> None:
        rtt, stats = self.rtt, self.stats
        stats.connect_timeout = rtt.timeout() if rtt is not None else self._connect_timeout
        if rtt is not None:
            stats.rtt_samples = rtt.samples
            stats.late_answers = rtt.late_answers
            stats.retry_answers = rtt.retry_answers
            stats.srtt = rtt.srtt

    async def _shutdown(self) -> None:
        for handle in (self._expiry, self._wake):
            if handle is not None:
                handle.cancel()
        self._expiry = self._wake = None
        if self._epoll is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None
        for slot in self._dialing.values():
            if slot.sock is not None:
                slot.sock.close()
                slot.sock = None
        self._dialing.clear()
        for _slot, sock, _prepaid in self._waiting:
            if sock is not None:
                sock.close()
        self._waiting.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _guarded(self, callback: Callable[[], None]) -> None:
        """Run a loop callback; an exception (a full disk while writing) ends the sweep with
        it instead of vanishing into the loop's exception handler."""
        try:
            callback()
        except BaseException as exc:
            if self._done is not None and not self._done.done():
                self._done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    # -- taking targets ------------------------------------------------------------------------

    def _pump(self) -> None:
        """Start targets while a slot, a token and a target are available."""
        done = self._done
        if done is None or done.done():
            return
        try:
            self._fill()
        except Exception as exc:
            done.set_exception(exc)
            return
        if (
            self._exhausted
            and self._active == 0
            and self._held is None
            and not self._ready
            and not self._deferred_total
        ):
            done.set_result(None)

    def _fill(self) -> None:
        # The hot loop of a wide scan (with _dial and _on_epoll): locals, no needless calls.
        limiter = self._limiter
        cap = self._cap
        inflight = self._inflight
        concurrency = self.options.concurrency
        stats = self.stats
        predial = self._predial
        predials = self._predials
        perf_counter = time.perf_counter
        if self._redials and not self._redial():
            return
        waiting = self._waiting
        while waiting and len(self._tasks) < self._max_probing:
            slot, sock, prepaid = waiting.popleft()
            self._start_probe(slot, sock, prepaid)
        started = 0
        while self._active < concurrency and not waiting:
            if started >= _YIELD_EVERY:
                # Targets that finish inside connect() (closed loopback ports) never leave
                # this loop: give the event loop a turn (checkpoints, Ctrl-C, progress).
                assert self._loop is not None
                self._loop.call_soon(self._guarded, self._pump)
                return
            started += 1
            item: tuple[int, Target, int]
            if self._held is not None:
                item, self._held = self._held, None
            elif self._ready:
                item = self._ready.popleft()
            else:
                if self._exhausted or self._deferred_total >= self._max_deferred:
                    return
                try:
                    position, target = next(self._items)
                except StopIteration:
                    self._exhausted = True
                    return
                inflight[position] = target
                net = -1
                if cap:
                    net = network_key(target.ip)
                    count = self._net_count.get(net, 0)
                    if count >= cap:
                        self._deferred.setdefault(net, deque()).append((position, target))
                        self._deferred_total += 1
                        continue
                    self._net_count[net] = count + 1
                item = (position, target, net)
            # A probe that connects by other means (impacket) pays each of its connections
            # itself, when it opens it: a token taken here, at the target's start, would be
            # spent long before a connection it may wait for (bunching them on the wire).
            own_dials = predials is not None and not self._predial_port(item[1].port)
            dials = predial and not own_dials
            if limiter is not None and not own_dials and not limiter.take():
                self._held = item
                self._schedule_wake(limiter.delay())
                return
            slot = _Slot(*item)
            slot.started = perf_counter()
            self._active += 1
            if self._active > stats.peak_in_flight:
                stats.peak_in_flight = self._active
            if dials:
                self._dial(slot)
            else:
                self._launch(slot, None, prepaid=not own_dials)

    def _redial(self) -> bool:
        """Dial again the targets whose first connect timed out early (they keep their slots);
        False when the rate's tokens ran out first."""
        limiter = self._limiter
        redials = self._redials
        while redials:
            if limiter is not None and not limiter.take():
                self._schedule_wake(limiter.delay())
                return False
            self.stats.retried += 1
            self._dial(redials.popleft())
        return True

    def _schedule_wake(self, delay: float) -> None:
        if self._wake is None:
            assert self._loop is not None
            self._wake = self._loop.call_later(delay, self._guarded, self._on_wake)

    def _on_wake(self) -> None:
        self._wake = None
        self._pump()

    # -- the connection stage ------------------------------------------------------------------

    def _dial(self, slot: _Slot) -> None:
        # A bare _socket.socket: socket.socket's Python-level __init__ and close() cost a fifth
        # of a closed port's whole handling. The connect still goes through
        # socket.socket.connect_ex, looked up at run time, where the test suite's guard sits.
        target = slot.target
        ip = target.ip
        try:
            sock = _socket.socket(_AF_INET6 if ":" in ip else _AF_INET, _NONBLOCKING_STREAM)
        except OSError as exc:
            self._report_error(slot, exc)
            return
        try:
            if not _HAS_NONBLOCK:
                sock.setblocking(False)
            slot.dialed = _monotonic()
            err = self._connect_ex(sock, (ip, target.port))
        except Exception as exc:  # a malformed address, or the test suite's network guard
            sock.close()
            self._report_error(slot, exc)
            return
        if err == _EINPROGRESS or err in _IN_PROGRESS:
            # An answer the kernel already has (a RST from this host's own stack, processed
            # inside connect(); a local ICMP error) is final now: no epoll round trip. Anywhere
            # else this costs one getsockopt and finds nothing.
            err = sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
            if err == _ECONNREFUSED:
                sock.close()
                if self.rtt is not None:
                    self._answered(slot)
                self._closed(slot)
                return
            if err:
                sock.close()
                self._report_errno(slot, err)
                return
            fd = sock.fileno()
            self._register(fd, _EPOLLOUT)
            slot.sock = sock
            slot.fd = fd
            self._dialing[fd] = slot
            self._set_deadline(slot)
        elif err == 0:
            self._launch(slot, _python_socket(sock))
        else:
            sock.close()
            self._report_errno(slot, err)

    def _set_deadline(self, slot: _Slot) -> None:
        rtt = self.rtt
        if rtt is None:
            timeout = self._connect_timeout
        elif slot.attempt > 1:
            timeout = rtt.retry_timeout()
        else:
            slot.rto = timeout = rtt.timeout()
            if self._dials % SENTINEL_EVERY == 0:
                timeout = rtt.ceiling  # a sentinel: sees the answers later than the timeout
        self._dials += 1
        slot.deadline = deadline = slot.dialed + timeout
        heapq.heappush(self._deadlines, (deadline, self._dials, slot))
        slot.rto = slot.rto or timeout
        if self._expiry is None or deadline + _EXPIRY_SLACK < self._expiry_at:
            self._arm_expiry(deadline)

    def _arm_expiry(self, deadline: float) -> None:
        assert self._loop is not None
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry_at = deadline + _EXPIRY_SLACK
        delay = max(0.0, self._expiry_at - _monotonic())
        self._expiry = self._loop.call_later(delay, self._guarded, self._expire)

    def _answered(self, slot: _Slot) -> None:
        """A SYN-ACK or RST came: one round trip for the estimator, and a late answer (one
        the adaptive timeout would have missed) or an answer only the retry got, counted."""
        rtt = self.rtt
        assert rtt is not None
        elapsed = _monotonic() - slot.dialed
        rtt.sample(elapsed)
        if slot.attempt > 1:
            rtt.found_on_retry()
        elif slot.rto and elapsed > slot.rto:
            rtt.late(elapsed)

    def _on_epoll(self) -> None:
        assert self._epoll is not None
        dialing = self._dialing
        closed = self._closed
        for fd, _events in self._epoll.poll(0, _EPOLL_BATCH):
            slot = dialing.pop(fd, None)
            if slot is None or slot.sock is None:
                continue
            sock, slot.sock = slot.sock, None
            err = sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
            if self.rtt is not None and err in (0, _ECONNREFUSED):
                self._answered(slot)
            if err == _ECONNREFUSED:
                sock.close()  # closing the descriptor also takes it out of the epoll set
                closed(slot)
            elif err:
                sock.close()
                self._report_errno(slot, err)
            else:
                self._epoll.unregister(fd)
                self._launch(slot, _python_socket(sock))
        self._pump()

    def _closed(self, slot: _Slot) -> None:
        """The commonest outcome of all, reported with as little work as possible."""
        target = slot.target
        protocol = self._protocols.get(target.port) or self._protocol(target.port)
        self._complete(slot, [make_finding(protocol, target, slot.started, Status.CLOSED)])

    def _expire(self) -> None:
        """Close connects past their deadline: those ports are filtered — or, when the
        adaptive timeout cut the first connect short of the upper bound, dialed once more."""
        self._expiry = None
        now = _monotonic()
        heap = self._deadlines
        rtt = self.rtt
        while heap and heap[0][0] <= now:
            _deadline, _number, slot = heapq.heappop(heap)
            sock = slot.sock
            if sock is None or self._dialing.get(slot.fd) is not slot:
                continue  # answered, or dialed again since: a stale entry
            del self._dialing[slot.fd]
            sock.close()
            slot.sock = None
            if rtt is not None and slot.attempt == 1 and slot.deadline - slot.dialed < rtt.ceiling:
                slot.attempt = 2
                self._redials.append(slot)
            else:
                self._report_status(slot, Status.FILTERED, None)
        while heap and heap[0][2].sock is None:
            heapq.heappop(heap)  # answered long ago: no timer for them
        if heap:
            self._arm_expiry(heap[0][0])
        self._pump()

    def _report_errno(self, slot: _Slot, err: int) -> None:
        if err == errno.ECONNREFUSED:
            self._report_status(slot, Status.CLOSED, None)
        else:
            self._report_error(slot, OSError(err, errno.errorcode.get(err, str(err))))

    def _report_error(self, slot: _Slot, exc: BaseException) -> None:
        classified = classify(exc)
        self._report_status(slot, classified.status, classified.error)

    def _protocol(self, port: int) -> str:
        protocol = self._protocols.get(port)
        if protocol is None:
            protocol = self._protocols[port] = first_protocol(self.probe, port)
        return protocol

    def _predial_port(self, port: int) -> bool:
        allowed = self._predial_ports.get(port)
        if allowed is None:
            assert self._predials is not None
            allowed = self._predial_ports[port] = self._predials(port)
        return allowed

    def _report_status(self, slot: _Slot, status: Status, error: ErrorInfo | None) -> None:
        target = slot.target
        protocol = self._protocol(target.port)
        self._complete(slot, [make_finding(protocol, target, slot.started, status, error=error)])

    # -- the probe stage -----------------------------------------------------------------------

    def _launch(self, slot: _Slot, sock: socket.socket | None, *, prepaid: bool = True) -> None:
        if len(self._tasks) >= self._max_probing:
            self._waiting.append((slot, sock, prepaid))
            return
        self._start_probe(slot, sock, prepaid)

    def _start_probe(self, slot: _Slot, sock: socket.socket | None, prepaid: bool) -> None:
        assert self._loop is not None
        target = slot.target
        # No TCP_NODELAY here: the transport a probe wraps the socket in sets it (uvloop's and
        # asyncio's both), and a second setsockopt per target is a system call for nothing.
        ticket = DialTicket(
            target.ip,
            target.port,
            sock,
            prepaid=prepaid and self._limiter is not None and sock is None,
        )
        slot.ticket = ticket
        context = self._context.copy()
        context.run(DIAL_TICKET.set, ticket)
        task = self._loop.create_task(self._probe_one(target), context=context)
        self._tasks[task] = slot
        # The host budget: an entry in the loop's deadlines (one timer for all probes, whose
        # budgets are equal) instead of asyncio.timeout's timer handle and context per probe.
        slot.budget = self._budgets.add(self.options.host_timeout, self._budget_spent, task)
        if len(self._tasks) > self.stats.peak_probing:
            self.stats.peak_probing = len(self._tasks)
        task.add_done_callback(self._task_done)

    def _budget_spent(self, task: asyncio.Task[list[Finding]]) -> None:
        slot = self._tasks.get(task)
        if slot is not None and not task.done():
            slot.over_budget = True
            task.cancel()

    async def _probe_one(self, target: Target) -> list[Finding]:
        try:
            if self._scan_all is not None:
                return await self._scan_all(target)
            assert self._scan_one is not None
            return [await self._scan_one(target)]
        except asyncio.CancelledError:
            # The budget's cancel becomes the target's finding; any other (the sweep shutting
            # down) goes on up, as asyncio.timeout tells them apart.
            task = asyncio.current_task()
            slot = self._tasks.get(task) if task is not None else None
            if task is None or slot is None or not slot.over_budget or task.uncancel() > 0:
                raise
            error = ErrorInfo(ErrorKind.BUDGET_EXCEEDED, "host time budget spent")
            protocol = self._protocol(target.port)
            return [make_finding(protocol, target, None, Status.ERROR, error=error)]
        except Exception as exc:  # a probe bug must not end the scan
            protocol = self._protocol(target.port)
            log.debug(
                "probe %s failed on %s:%d: %s",
                self.probe.name,
                target.ip,
                target.port,
                type(exc).__name__,
            )
            classified = classify(exc)
            status, detail = classified.status, classified.error
            return [make_finding(protocol, target, None, status, error=detail)]

    def _task_done(self, task: asyncio.Task[list[Finding]]) -> None:
        slot = self._tasks.pop(task, None)
        if slot is None:
            return
        if slot.budget is not None:
            slot.budget.pop(task, None)
        if slot.ticket is not None:
            slot.ticket.discard()
        if task.cancelled():
            return  # the sweep is shutting down; the target stays pending
        self._guarded(lambda: self._finish_task(slot, task))

    def _finish_task(self, slot: _Slot, task: asyncio.Task[list[Finding]]) -> None:
        exc = task.exception()
        if exc is not None:  # pragma: no cover - _probe_one catches every Exception
            self._report_error(slot, exc)
        else:
            self._complete(slot, task.result())
        self._pump()

    # -- reporting -----------------------------------------------------------------------------

    def _complete(self, slot: _Slot, findings: list[Finding]) -> None:
        del self._inflight[slot.position]
        self._active -= 1
        if slot.net >= 0:
            self._release(slot.net)
        stats = self.stats
        stats.done += 1
        by_status = stats.by_status
        for finding in findings:
            by_status[finding.status] += 1
        self._on_done(slot.position, slot.target, findings)

    def _release(self, net: int) -> None:
        queue = self._deferred.get(net)
        if queue:
            position, target = queue.popleft()
            self._deferred_total -= 1
            if not queue:
                del self._deferred[net]
            self._ready.append((position, target, net))  # keeps the network's slot
            return
        count = self._net_count[net] - 1
        if count:
            self._net_count[net] = count
        else:
            del self._net_count[net]
