"""Fan work over processes with a bounded number of chunks in flight.

``Executor.map`` submits its whole input at once; a NAS share with millions of files would then
sit in memory as pending futures. Here at most ``jobs * 4`` chunks are outstanding, results come
back in input order, and ``jobs == 1`` runs in-process (no fork, easy to debug and profile).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

from pacsaudit.usage import UsageError

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")

MAX_JOBS = 64
"""Never more worker processes than this, whatever the machine: each one is a Python
interpreter with pydicom loaded, and thousands of them exhaust memory before doing any work."""


def max_jobs() -> int:
    """Four processes per CPU (reading a NAS waits on I/O), at most :data:`MAX_JOBS`."""
    return max(1, min(MAX_JOBS, 4 * (os.cpu_count() or 1)))


def check_jobs(requested: int) -> tuple[int, str | None]:
    """The worker count to use and, when ``requested`` was lowered, a note saying so.

    Below one is a mistake and refused; above :func:`max_jobs` the run would only slow down
    (or never start), so it is clamped rather than refused: the user asked for speed.
    """
    if requested < 1:
        raise UsageError(f"--jobs must be at least 1, not {requested}")
    cap = max_jobs()
    if requested > cap:
        return cap, f"--jobs {requested} is more than this machine can use: running {cap}"
    return requested, None


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def ordered_map(
    fn: Callable[[list[T]], list[R]],
    items: Iterable[T],
    *,
    jobs: int,
    chunk_size: int = 32,
    initializer: Callable[..., object] | None = None,
    initargs: Sequence[object] = (),
) -> Iterator[R]:
    """Apply ``fn`` to chunks of ``items``; yields each item's result in order."""
    if jobs <= 1:
        if initializer is not None:
            initializer(*initargs)
        for chunk in _chunks(items, chunk_size):
            yield from fn(chunk)
        return
    # imported here: multiprocessing is ~10 ms of a one-process run's start-up
    from concurrent.futures import ProcessPoolExecutor

    pool_args: tuple[Any, ...] = tuple(initargs)
    with ProcessPoolExecutor(max_workers=jobs, initializer=initializer, initargs=pool_args) as pool:
        pending: deque[Future[list[R]]] = deque()
        for chunk in _chunks(items, chunk_size):
            pending.append(pool.submit(fn, chunk))
            if len(pending) >= jobs * 4:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
