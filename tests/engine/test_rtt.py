"""The adaptive timing's arithmetic, without sockets: RFC 6298's estimator with nmap's bounds,
late answers widening the timeout, and the in-flight window."""

from __future__ import annotations

import pytest

from pacsaudit.engine.rtt import (
    FLOOR,
    INITIAL_RTO,
    KERNEL_SYN_RETRY,
    LATE_MARGIN,
    WINDOW_CAP,
    RttEstimator,
    in_flight_window,
)


def test_before_any_answer_the_timeout_is_nmap_t4s_initial_one() -> None:
    assert RttEstimator(ceiling=3.0).timeout() == INITIAL_RTO == 0.5
    assert RttEstimator(ceiling=0.2).timeout() == 0.2  # never above the upper bound


def test_first_and_later_samples_follow_rfc_6298() -> None:
    est = RttEstimator(ceiling=3.0, floor=0.001)
    est.sample(0.2)
    assert est.srtt == pytest.approx(0.2)
    assert est.rttvar == pytest.approx(0.1)
    assert est.timeout() == pytest.approx(0.2 + 4 * 0.1)  # SRTT + K * RTTVAR
    est.sample(0.1)
    rttvar = 0.75 * 0.1 + 0.25 * abs(0.2 - 0.1)
    srtt = 0.875 * 0.2 + 0.125 * 0.1
    assert (est.srtt, est.rttvar) == (pytest.approx(srtt), pytest.approx(rttvar))
    assert est.timeout() == pytest.approx(srtt + 4 * rttvar)


def test_a_fast_network_gives_the_floor_not_seconds() -> None:
    est = RttEstimator(ceiling=3.0)
    for _ in range(50):
        est.sample(0.0004)
    assert est.timeout() == FLOOR


def test_a_slow_network_gives_a_timeout_above_its_round_trips() -> None:
    est = RttEstimator(ceiling=3.0)
    for rtt in [0.30, 0.34, 0.28, 0.41, 0.30, 0.36] * 5:
        est.sample(rtt)
    assert 0.41 < est.timeout() < 1.0


def test_the_upper_bound_holds() -> None:
    est = RttEstimator(ceiling=0.5)
    for _ in range(10):
        est.sample(0.45)
        est.late(2.0)
    assert est.timeout() == 0.5
    assert est.retry_timeout() == 0.5


def test_karns_rule_ignores_round_trips_the_kernel_may_have_retransmitted() -> None:
    est = RttEstimator(ceiling=3.0)
    est.sample(0.01)
    before = est.timeout()
    est.sample(1.2)  # after the kernel's SYN retransmission at 1 s: which SYN was answered?
    assert est.samples == 1
    assert est.timeout() == before


def test_a_late_answer_widens_the_timeout_for_good() -> None:
    est = RttEstimator(ceiling=3.0)
    for _ in range(20):
        est.sample(0.001)
    assert est.timeout() == FLOOR
    est.late(0.4)
    assert est.late_answers == 1
    assert est.timeout() == pytest.approx(LATE_MARGIN * 0.4)
    for _ in range(100):  # fast answers again do not shrink it below the late one
        est.sample(0.001)
    assert est.timeout() == pytest.approx(LATE_MARGIN * 0.4)


def test_the_retry_waits_twice_as_long_plus_the_kernels_syn_resend() -> None:
    est = RttEstimator(ceiling=3.0)
    for _ in range(20):
        est.sample(0.001)
    assert est.retry_timeout() == pytest.approx(KERNEL_SYN_RETRY + 2 * FLOOR)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="floor <= ceiling"):
        RttEstimator(ceiling=0.05, floor=0.1)


def test_the_window_follows_descriptors_rate_and_cap() -> None:
    assert in_flight_window(19_936, None, 8.0) == WINDOW_CAP
    assert in_flight_window(1_000, None, 8.0) == 1_000
    assert in_flight_window(19_936, 100.0, 8.0) == 800  # 100/s x 8 s: never more in flight
    assert in_flight_window(19_936, 1.0, 8.0) == 64  # a floor, for slow probes
    assert in_flight_window(10, 1.0, 8.0) == 10  # descriptors win
