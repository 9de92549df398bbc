"""Politeness: a global new-connection rate and a cap of probes per network.

Why a token bucket: a scan must not exceed the rate an operator agreed to, whatever the
concurrency, yet it should not stall when a burst of targets turns out closed. A bucket refills
continuously at ``rate`` per second and holds at most ``burst`` tokens; each new TCP connection
spends one. Nothing polls: when the bucket is empty, the caller learns exactly when the next
token will exist and sleeps (or schedules a callback) until then.

Why a cap per /24: the cyclic-group order already spreads probes over the address space, but a
target list made of one /24 (a hospital's server subnet) would still receive ``concurrency``
probes at once. ``--per-network N`` bounds the probes in flight per IPv4 /24 (IPv6 /64).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections import deque
from collections.abc import Callable

from pacsaudit.usage import UsageError

_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$")
_PER = {None: 1.0, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_PER.update({"h": 3600.0, "hour": 3600.0})

MAX_RATE = 10_000_000.0
"""Far above what one process reaches; a typo such as ``1e9`` is refused rather than obeyed."""


def parse_rate(text: str) -> float:
    """``"500"``, ``"500/s"``, ``"30/m"`` or ``"100/h"`` as new connections per second."""
    m = _RATE.match(text)
    if not m:
        raise UsageError(f"bad rate {text!r}: write N/s, e.g. 1000/s (or N/m, N/h)")
    rate = float(m.group(1)) / _PER[m.group(2)]
    if not 0 < rate <= MAX_RATE:
        raise UsageError(f"bad rate {text!r}: must be above 0 and at most {MAX_RATE:,.0f}/s")
    return rate


class TokenBucket:
    """Tokens refill at ``rate`` per second up to ``burst``; one token per new connection.

    ``burst`` defaults to a twentieth of a second's worth (at least one): enough to dispatch in
    batches (one wake-up per batch, not per connection) and small enough that the rate over any
    window longer than 50 ms stays within a few percent of ``rate``. The bucket starts with one
    token, so a scan does not open with a burst either.
    """

    __slots__ = ("_clock", "_stamp", "_timer", "_tokens", "_waiters", "burst", "rate")

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate / 20)
        self._clock = clock
        self._tokens = 1.0
        self._stamp = clock()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def _refill(self) -> None:
        now = self._clock()
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def take(self) -> bool:
        """Spend one token if there is one."""
        if self._tokens < 1.0:
            self._refill()
            if self._tokens < 1.0:
                return False
        self._tokens -= 1.0
        return True

    def delay(self) -> float:
        """Seconds until a token exists (0 if one does)."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    async def acquire(self) -> None:
        """Wait for a token and spend it (for connections a probe opens itself).

        Waiters are served in order by one timer set for the moment the next token is due,
        so a thousand waiting probes cost one wake-up per token, not a thousand.
        """
        if not self._waiters and self.take():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._arm()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._tokens += 1.0  # granted as we were cancelled: give the token back
            raise

    def _arm(self) -> None:
        if self._timer is None and self._waiters:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.delay(), self._grant)

    def _grant(self) -> None:
        self._timer = None
        while self._waiters:
            if self._waiters[0].done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            if not self.take():
                break
            self._waiters.popleft().set_result(None)
        self._arm()


def network_key(ip: str) -> int:
    """The /24 (IPv4) or /64 (IPv6) an address belongs to, as one integer.

    IPv4 keys are below 2^24, IPv6 keys are offset above them, so the two never collide. Parsed
    by hand for IPv4: this runs once per target when ``--per-network`` is set.
    """
    if ":" not in ip:
        a, b, c, _ = ip.split(".")
        return (int(a) << 16) | (int(b) << 8) | int(c)
    return (1 << 24) + (int(ipaddress.IPv6Address(ip)) >> 64)
