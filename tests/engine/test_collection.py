"""The garbage collector while a scan runs: collected less often, never switched off, and
left as it was afterwards."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from hostile_servers import BUDGET, closed_port, probe_options
from pacsaudit.engine.collection import SCAN_YOUNG_THRESHOLD, scan_collection
from pacsaudit.engine.options import EngineOptions, ScanStats
from pacsaudit.model import Status, decode_finding
from pacsaudit.plan import ScaleOptions, ScanPlan, make_plan
from pacsaudit.run import execute


def closed_port_plan(block: str, output: Path, scale: ScaleOptions) -> ScanPlan:
    """A DICOM scan of a loopback block on a port nothing listens on."""
    return make_plan(
        targets=[block],
        input_files=[],
        exclude_files=[],
        ports=(closed_port(),),
        engine=EngineOptions(concurrency=16, host_timeout=BUDGET),
        dicom=probe_options(tls_ports=frozenset()),
        output=output,
        forced_probe="dicom",
        scale=scale,
    )


class Seen:
    """A progress sink that notes the collector's settings while the scan runs."""

    def __init__(self) -> None:
        self.settings: set[tuple[bool, tuple[int, int, int]]] = set()

    def _look(self) -> None:
        self.settings.add((gc.isenabled(), gc.get_threshold()))

    def start(self, total: int, done_before: int, *, own_thread: bool = True) -> None:
        self._look()

    def update(self, stats: ScanStats) -> None:
        self._look()

    def note(self, line: str) -> None:
        self._look()

    def stop(self) -> None:
        self._look()


def test_a_scan_collects_less_often_but_collects_and_restores_the_thresholds(
    tmp_path: Path,
) -> None:
    before = gc.get_threshold()
    plan = closed_port_plan("127.61.0.0/28", tmp_path / "out.jsonl", ScaleOptions())
    seen = Seen()
    outcome = execute(plan, seen)
    assert not outcome.interrupted
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert [decode_finding(line).status for line in lines] == [Status.CLOSED] * 16
    assert seen.settings == {(True, (SCAN_YOUNG_THRESHOLD, *before[1:]))}
    assert gc.get_threshold() == before
    assert gc.isenabled()


def test_the_thresholds_come_back_after_an_error_and_a_higher_one_is_kept() -> None:
    before = gc.get_threshold()
    try:
        with scan_collection():
            assert gc.get_threshold()[0] == SCAN_YOUNG_THRESHOLD
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert gc.get_threshold() == before
    gc.set_threshold(2 * SCAN_YOUNG_THRESHOLD, *before[1:])
    try:
        with scan_collection():
            assert gc.get_threshold()[0] == 2 * SCAN_YOUNG_THRESHOLD
    finally:
        gc.set_threshold(*before)


def test_the_output_is_durable_before_the_state_is_marked_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume of a complete state reads no journal: the output's last batch must be on disk
    (``fdatasync``) before the state says the scan is complete."""
    from pacsaudit.engine.checkpoint import OutputFile
    from pacsaudit.engine.state import ScanState

    order: list[str] = []
    sync, complete = OutputFile.sync, ScanState.mark_complete

    def noted_sync(self: OutputFile) -> None:
        order.append(f"sync dirty={self._dirty}")
        sync(self)

    def noted_complete(self: ScanState) -> None:
        order.append("complete")
        complete(self)

    monkeypatch.setattr(OutputFile, "sync", noted_sync)
    monkeypatch.setattr(ScanState, "mark_complete", noted_complete)
    plan = closed_port_plan(
        "127.61.1.0/30", tmp_path / "out.jsonl", ScaleOptions(state=tmp_path / "out.state")
    )
    assert not execute(plan).interrupted
    assert "complete" in order
    last_sync = max(i for i, step in enumerate(order) if step.startswith("sync"))
    assert order.index("complete") == last_sync + 1
    assert order[last_sync] == "sync dirty=True"  # the last batch, appended after its commit
    assert len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 4
