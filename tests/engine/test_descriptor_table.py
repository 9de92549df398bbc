"""The descriptor table is sized for the sweep's window before any thread starts: the kernel
grows it by doubling, and in a threaded process each growth sleeps for an RCU grace period.

Each case runs in a fresh interpreter, whose table is still the kernel's small default (the
table of the test process itself has long grown). ``FDSize`` in ``/proc/self/status`` is the
table's size; ``/proc/self/fd`` lists what is open.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, os, resource, sys
from pacsaudit.engine.options import reserve_descriptor_table

def table():
    for line in open("/proc/self/status"):
        if line.startswith("FDSize:"):
            return int(line.split()[1])

soft = int(sys.argv[2])
if soft:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
read_end, write_end = os.pipe()
before, opened = table(), sorted(os.listdir("/proc/self/fd"))
reserve_descriptor_table(int(sys.argv[1]))
after, still = table(), sorted(os.listdir("/proc/self/fd"))
os.write(write_end, b"x")
print(json.dumps({"before": before, "after": after, "same": opened == still,
                  "pipe": os.read(read_end, 1) == b"x"}))
"""


def reserve_in_fresh_process(window: int, soft_limit: int = 0) -> dict[str, int | bool]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(window), str(soft_limit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    result: dict[str, int | bool] = json.loads(out)
    return result


def test_the_table_holds_the_window_and_no_descriptor_is_opened_or_closed() -> None:
    seen = reserve_in_fresh_process(3000)
    assert int(seen["before"]) < 3000  # a fresh process: the growth is the call's
    assert int(seen["after"]) >= 3000 + 64  # the window and the descriptors kept free
    assert seen["same"] is True  # the duplicate is closed again, nothing else touched
    assert seen["pipe"] is True


def test_a_window_beyond_the_open_file_limit_grows_the_table_to_the_limit_only() -> None:
    seen = reserve_in_fresh_process(50_000, soft_limit=1000)
    assert 1000 <= int(seen["after"]) < 4096
    assert seen["same"] is True
