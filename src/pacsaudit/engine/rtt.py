"""Adaptive timing: the connect timeout from measured round trips, and the in-flight window.

Why. Most addresses of a private block hold nothing, and a connect to a silent address ends
only at the timeout. With a fixed 3 s timeout and 512 slots, a mostly silent /20 took 24.6 s
where ``nmap -sT -T4`` took 10.6 s: every silent address held a slot for 3 s although the
network answered in a millisecond. nmap measures the round trips of the answers it gets and
waits for silence only a few round trips long; so does this module, sans-IO (the sweep feeds it
times, it answers with timeouts), on the references:

- RFC 6298 (TCP's retransmission timer): ``SRTT``/``RTTVAR`` smoothed with alpha 1/8 and
  beta 1/4, ``RTO = SRTT + max(G, 4 * RTTVAR)``, Karn's rule (no sample from an ambiguous,
  retransmitted exchange) and doubling the timer for a retransmission (5.5);
- nmap's timing (``timing.cc``, ``-T4``): the same estimator, with a floor of 100 ms
  (``--min-rtt-timeout``) instead of TCP's 1 s and an initial timeout of 500 ms
  (``--initial-rtt-timeout``) instead of 1 s, since a scan's "retransmission" is a retry of a
  silent target, not a resend of a user's data.

What a too-short timeout would lose is counted, and makes the timeout wider:

- a *late* answer — a SYN-ACK or RST that came after the timeout the estimator gave when the
  connect began — is an answer a connect with that timeout would have missed. The sweep gives
  a share of its connects (:data:`SENTINEL_EVERY`) the whole upper bound to catch them; each
  raises a floor under the timeout to the late round trip plus a margin, so the next
  connects of a slow path wait long enough;
- a lost SYN or SYN-ACK is the kernel's to retransmit, after 1 s (``TCP_TIMEOUT_INIT``); a
  timeout below that never sees the retransmission, so the sweep retries a target once when its
  first connect timed out early, waiting the doubled timeout plus that 1 s, long enough for the
  kernel to resend the retry's SYN once. A target gets three SYNs before it is called filtered
  (the first, the retry, the kernel's resend of the retry) where a fixed 3 s timeout gives two
  (at 0 and 1 s), and a silent address holds its slot about 1.3 s instead of 3 s on a fast
  network. Answers found only by the retry are counted.

The upper bound is ``--connect-timeout``'s default (3 s): a timeout never exceeds it, and a
user who gives ``--connect-timeout`` gets that fixed timeout and no adaptation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

ALPHA = 1 / 8
BETA = 1 / 4
K = 4
GRANULARITY = 0.001
"""RFC 6298's G: the clock's granularity (monotonic time in the loop, well under 1 ms)."""
INITIAL_RTO = 0.5
"""The timeout before the first answer: nmap ``-T4``'s ``--initial-rtt-timeout`` (RFC 6298
(2.1) says 1 s for TCP, whose retransmission resends data; ours is a retry, see below)."""
FLOOR = 0.1
"""nmap ``-T4``'s ``--min-rtt-timeout``: never wait less for a SYN-ACK than this."""
KERNEL_SYN_RETRY = 1.0
"""Linux retransmits an unanswered SYN after 1 s (``TCP_TIMEOUT_INIT``): a round trip this
long may answer the second SYN, so it is no sample (Karn's rule), but it is a late answer."""
LATE_MARGIN = 1.5
"""After a late answer the timeout stays at least this many times its round trip."""
SENTINEL_EVERY = 64
"""One connect in this many waits the whole upper bound: the only way to see answers that
come after the adaptive timeout (they would otherwise be lost unseen)."""


CEILING = 3.0
"""The adaptive timeout's upper bound unless told otherwise: what ``--connect-timeout`` waited,
fixed, before adaptation (and what the probes' own dials wait)."""


@dataclass
class RttEstimator:
    """Round-trip statistics of one scan and the connect timeout they give.

    ``sample`` takes the time from ``connect()`` to its answer (SYN-ACK or RST) of every
    connect that got one; ``timeout`` is what the next connect should wait; ``late`` is called
    when an answer came after the timeout its connect would have had under adaptation.
    """

    ceiling: float = CEILING
    """The upper bound: :data:`CEILING`, or the engine's ``connect_timeout``."""
    floor: float = FLOOR
    srtt: float | None = None
    rttvar: float = 0.0
    samples: int = 0
    late_answers: int = 0
    """Answers a connect with the adaptive timeout would have missed (seen by sentinels)."""
    retry_answers: int = 0
    """Answers that came only to the second connect of a target (the first timed out)."""
    safe_floor: float = 0.0
    """Raised by late answers: the timeout never goes below it again in this scan."""
    _timeout: float = field(default=INITIAL_RTO, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.ceiling:
            raise ValueError("need 0 < floor <= ceiling")
        self._timeout = self._clamp(INITIAL_RTO)

    def _clamp(self, rto: float) -> float:
        return min(self.ceiling, max(self.floor, self.safe_floor, rto))

    def timeout(self) -> float:
        """Seconds the next connect waits for its answer."""
        return self._timeout

    def retry_timeout(self) -> float:
        """Seconds the second connect of a silent target waits: the timer doubled, as TCP
        backs off for a retransmission (RFC 6298 5.5), plus the kernel's own SYN retransmission
        delay, so that a second lost SYN still gets the kernel's resend in time."""
        return min(self.ceiling, KERNEL_SYN_RETRY + 2 * self._timeout)

    def sample(self, rtt: float) -> None:
        """One measured round trip (RFC 6298 2.2 and 2.3); ambiguous ones are ignored."""
        if rtt < 0 or rtt >= KERNEL_SYN_RETRY:
            return  # the kernel may have sent the SYN twice: which one was answered?
        self.samples += 1
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = (1 - BETA) * self.rttvar + BETA * abs(self.srtt - rtt)
            self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt
        self._timeout = self._clamp(self.srtt + max(GRANULARITY, K * self.rttvar))

    def late(self, rtt: float) -> None:
        """An answer after ``rtt`` seconds that the adaptive timeout would have missed: wait at
        least ``LATE_MARGIN * rtt`` from now on (bounded by the ceiling)."""
        self.late_answers += 1
        self.safe_floor = min(self.ceiling, max(self.safe_floor, LATE_MARGIN * rtt))
        self._timeout = self._clamp(self._timeout)

    def found_on_retry(self) -> None:
        self.retry_answers += 1


WINDOW_CAP = 16384
"""The most targets in flight by default, whatever the open-file limit: each connected one may
run a probe, and 10,000 probes at once measured about 130 MB."""
WINDOW_FLOOR = 64


def in_flight_window(descriptors: int, rate: float | None, hold: float) -> int:
    """How many targets to keep in flight when the user did not say (``--concurrency``).

    Every target in flight holds one descriptor, so the open-file limit (less a reserve,
    ``descriptors``) bounds the window; :data:`WINDOW_CAP` bounds it too. With ``--rate``, more
    than ``rate * hold`` in flight never helps — at most that many connections can have been
    opened within the time a target normally holds its slot (``hold``: the connect timeout's
    upper bound plus one read timeout) — so the window is that, and no descriptors are tied up
    for nothing.
    """
    window = min(descriptors, WINDOW_CAP)
    if rate is not None:
        window = min(window, max(WINDOW_FLOOR, math.ceil(rate * hold)))
    return max(1, window)
