"""How a shard's findings are cut into batches (``run_shard``): by count, and by the findings
that carry a service's facts, so that a batch of rich findings (an open DICOM service at
exposure depth is about 3 KB of JSON) stays a few MB instead of 16,384 of them at once.

The probe here answers without a connection: the batching is under test, not the network (the
engine never dials with ``predial`` off)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

from pacsaudit.contract import make_finding
from pacsaudit.engine.checkpoint import Batch, run_shard
from pacsaudit.engine.options import EngineOptions
from pacsaudit.model import Finding, Status
from pacsaudit.targets.spec import Target

SERVICE_PORT = 104
CLOSED_PORT = 9


class Answering:
    """A service on port 104 (``open-not-dicom``), a closed port anywhere else."""

    name = "dicom"
    description = "answers from memory"
    default_ports = (SERVICE_PORT,)

    async def scan(self, target: Target) -> Finding:
        status = Status.OPEN_NOT_DICOM if target.port == SERVICE_PORT else Status.CLOSED
        return make_finding(self.name, target, time.perf_counter(), status)


class ListSource:
    """The targets of a list, in order, as a shard's positioned source."""

    fingerprint = "test-list"

    def __init__(self, targets: list[Target]) -> None:
        self.targets = targets
        self.length = len(targets)
        self._next = 0

    @property
    def position(self) -> int:
        return self._next

    def estimate(self) -> int:
        return self.length

    def count_range(self) -> tuple[int, int]:
        return self.length, self.length

    def __iter__(self) -> Iterator[tuple[int, Target]]:
        return self

    def __next__(self) -> tuple[int, Target]:
        if self._next >= self.length:
            raise StopIteration
        position = self._next
        self._next += 1
        return position, self.targets[position]


def targets(services: int, closed: int) -> list[Target]:
    """``services`` open ones spread among ``closed`` closed ones (192.0.2.0/24, never dialled)."""
    out = [Target(f"192.0.2.{n % 250 + 1}", CLOSED_PORT) for n in range(closed)]
    for n in range(services):
        out.insert(n * (closed + services) // max(services, 1), Target("192.0.2.251", SERVICE_PORT))
    return out


def batches(todo: list[Target], **flush: int) -> list[list[dict[str, object]]]:
    got: list[Batch] = []

    async def main() -> None:
        await run_shard(
            ListSource(todo),
            Answering(),
            EngineOptions(concurrency=4),
            got.append,
            interval=3600.0,  # no timed checkpoint: only the bounds cut batches
            **flush,
        )

    asyncio.run(main())
    assert got[-1].complete
    assert not any(b.complete for b in got[:-1])
    return [[json.loads(line) for line in b.batch.splitlines()] for b in got]


def services_in(batch: list[dict[str, object]]) -> int:
    return sum(1 for f in batch if f["status"] != "closed")


def test_a_batch_is_cut_at_the_service_bound() -> None:
    cut = batches(targets(services=40, closed=100), flush_services=8, flush_findings=10_000)
    assert [services_in(b) for b in cut[:-1]] == [8] * 5
    assert services_in(cut[-1]) == 0  # the last 8 closed the fifth batch
    assert sum(len(b) for b in cut) == 140  # every finding once, none lost


def test_closed_ports_count_only_against_the_finding_bound() -> None:
    cut = batches(targets(services=0, closed=100), flush_services=8, flush_findings=30)
    assert [len(b) for b in cut] == [30, 30, 30, 10]
