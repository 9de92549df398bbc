"""Read and dial timeouts on one loop timer (``net.stream.Deadlines``): exact, ordered, and
withdrawn waits never fire — on asyncio's loop and on uvloop."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import weakref
from collections.abc import Callable

import pytest
import uvloop

from pacsaudit.errors import ReadTimeout
from pacsaudit.net.stream import DialOptions, deadlines, open_connection

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.fixture(params=sorted(LOOPS))
def loop_factory(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop]:
    return LOOPS[request.param]


def test_waits_expire_in_deadline_order_never_early(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def main() -> list[tuple[str, float, float]]:
        loop = asyncio.get_running_loop()
        registry = deadlines(loop)
        fired: list[tuple[str, float, float]] = []
        done = loop.create_future()

        def expire(name: object) -> None:
            assert isinstance(name, str)
            fired.append((name, loop.time(), due[name]))
            if len(fired) == len(due) and not done.done():
                done.set_result(None)

        due: dict[str, float] = {}
        # a later, shorter timeout must re-arm the timer earlier
        for name, timeout in (("c", 0.12), ("a", 0.03), ("b", 0.06), ("a2", 0.03)):
            due[name] = loop.time() + timeout
            registry.add(timeout, expire, name)
        async with asyncio.timeout(5):
            await done
        assert len(registry) == 0
        return fired

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        fired = runner.run(main())
    assert [name for name, _, _ in fired] == ["a", "a2", "b", "c"]
    for _name, at, due in fired:
        assert due <= at < due + 0.5


def test_withdrawn_waits_never_fire(loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        registry = deadlines(loop)
        fired: list[object] = []
        first = registry.add(0.02, fired.append, "withdrawn")
        registry.add(0.04, fired.append, "kept")
        other = registry.add(0.01, fired.append, "also withdrawn")
        first.pop("withdrawn")
        other.pop("also withdrawn")
        await asyncio.sleep(0.15)
        return fired

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        assert runner.run(main()) == ["kept"]


def _closed_loops_with_registries() -> list[weakref.ref[asyncio.AbstractEventLoop]]:
    loops = [uvloop.new_event_loop(), asyncio.new_event_loop()]
    try:
        registries = [deadlines(loop) for loop in loops]
        if registries[0] is not deadlines(loops[0]) or registries[0] is registries[1]:
            raise AssertionError("not one registry per loop")
        return [weakref.ref(loop) for loop in loops]
    finally:
        for loop in loops:
            loop.close()


def test_one_registry_per_loop_forgotten_with_it() -> None:
    refs = _closed_loops_with_registries()
    gc.collect()
    assert [r() for r in refs] == [None, None]  # the registries kept no loop alive


def test_a_silent_peer_times_a_read_out_on_time(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]

        async def main() -> float:
            conn = await open_connection("127.0.0.1", port, DialOptions(connect_timeout=2.0))
            try:
                started = time.monotonic()
                with pytest.raises(ReadTimeout):
                    await conn.read(0.1)
                return time.monotonic() - started
            finally:
                conn.abort()

        with asyncio.Runner(loop_factory=loop_factory) as runner:
            elapsed = runner.run(main())
    # The deadline is counted on the loop's clock: uvloop's is libuv's millisecond time, cached
    # at the start of each loop iteration, so it may lag time.monotonic() by a few ms (0.0994 s
    # measured once in a loaded full run).
    assert 0.1 - 0.005 <= elapsed < 0.6
