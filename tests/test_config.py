"""The timing defaults as the options derive them: without --concurrency and
--connect-timeout the window is sized by the run and the connect timeout adapts; given, they
are taken as they are. Nothing here connects: the plans are built, never run."""

from __future__ import annotations

import math
import resource

import pytest

from pacsaudit.config import DEFAULT_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT, ScanArguments
from pacsaudit.engine.options import FD_RESERVE
from pacsaudit.engine.rtt import WINDOW_CAP, WINDOW_FLOOR
from pacsaudit.probes.dicom.options import Depth
from pacsaudit.run import run_engine
from pacsaudit.usage import UsageError

TARGET = ("10.11.12.0/28",)
QUIET = {"targets": TARGET, "depth": Depth.DISCOVER}
"""Discovery depth: no keyed hasher, so no key file is read or created."""


def test_without_the_options_the_window_and_the_timeout_are_automatic() -> None:
    arguments = ScanArguments(targets=TARGET)
    engine = arguments.engine()
    assert engine.auto_window
    assert engine.adaptive_timeout
    assert engine.concurrency == DEFAULT_CONCURRENCY
    # the adaptive timeout's upper bound is also what the probes' own dials wait
    assert arguments.dial().connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert arguments.fileshare().connect_timeout == DEFAULT_CONNECT_TIMEOUT


def test_given_options_are_fixed() -> None:
    arguments = ScanArguments(**QUIET, concurrency=100, connect_timeout=1.5)
    engine = arguments.engine()
    assert not engine.auto_window
    assert not engine.adaptive_timeout
    assert engine.concurrency == 100
    assert arguments.dial().connect_timeout == 1.5
    assert arguments.fileshare().connect_timeout == 1.5
    run = run_engine(arguments.plan())
    assert run.concurrency == 100
    assert run.max_probing is None
    assert run.connect_timeout == 1.5


def test_the_default_window_follows_the_open_file_limit_with_probes_capped() -> None:
    run = run_engine(ScanArguments(**QUIET).plan())  # raises the soft limit first
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert run.concurrency == max(1, min(WINDOW_CAP, soft - FD_RESERVE))
    assert run.max_probing == min(run.concurrency, DEFAULT_CONCURRENCY)
    assert run.connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert run.predial


def test_under_a_rate_the_window_is_what_the_rate_can_fill() -> None:
    arguments = ScanArguments(**QUIET, rate="10/s", read_timeout=5.0)
    run = run_engine(arguments.plan())
    hold = DEFAULT_CONNECT_TIMEOUT + 5.0
    assert run.concurrency == max(WINDOW_FLOOR, math.ceil(10 * hold))
    assert run.max_probing == run.concurrency


def test_a_bad_fixed_connect_timeout_is_refused() -> None:
    with pytest.raises(UsageError, match="--connect-timeout"):
        ScanArguments(targets=TARGET, connect_timeout=math.nan).validate()
