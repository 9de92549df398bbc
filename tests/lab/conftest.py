"""One real lab (Orthanc, dcmqrscp, qrscp, storescp over TLS) for the whole test session."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from pacsaudit.lab.manager import LabError, LabInfo, lab_down, lab_up


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    state = tmp_path_factory.mktemp("lab")
    rng = random.Random()
    last: LabError | None = None
    for _ in range(5):  # bounded: another process may hold a port in the range we picked
        base = rng.randrange(20000, 60000, 10)
        try:
            info = lab_up(state, port_base=base)
        except LabError as exc:
            if "ports in use" not in str(exc):
                raise
            last = exc
            continue
        try:
            yield info
        finally:
            lab_down(state)
        return
    raise AssertionError(f"no free port range for the lab: {last}")
