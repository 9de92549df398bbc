"""Fan work over processes with a bounded number of chunks in flight.

``Executor.map`` submits its whole input at once; a NAS share with millions of files would then
sit in memory as pending futures. Here at most ``jobs * 4`` chunks are outstanding, results come
back in input order, and ``jobs == 1`` runs in-process (no fork, easy to debug and profile).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


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
    pool_args: tuple[Any, ...] = tuple(initargs)
    with ProcessPoolExecutor(max_workers=jobs, initializer=initializer, initargs=pool_args) as pool:
        pending: deque[Future[list[R]]] = deque()
        for chunk in _chunks(items, chunk_size):
            pending.append(pool.submit(fn, chunk))
            if len(pending) >= jobs * 4:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
