"""Peak RSS of the CLI for big target files: 2,000,000 and 10,000,000 lines (issue 17).

Writes target files of distinct, scattered loopback addresses (a random sample of
127.0.0.0/8, so few of them merge into ranges: the worst case for interval storage), in two
forms — a plain target list (``-i FILE``) and a ZMap result (``-i FILE --input-format zmap``,
the same addresses, the second stage of a two-stage scan) — then runs, for each size and form:

- ``pacsaudit scan … --dry-run`` (reading, scoping, planning, counting the shards);
- ``pacsaudit scan … -p PORT -q -o FILE`` on a closed loopback port (reading, then the scan with
  its state database and output); ``--scan-shard I/N`` scans one shard only, the whole list
  still read and held.

Peak RSS comes from ``/usr/bin/time`` (see ``bench_dicom_sweep.run_child``). Goals: under
150 MB for 2,000,000 lines, under 300 MB for 10,000,000. Only loopback is ever contacted.

Usage::

    .venv/bin/python bench/bench_target_files.py                    # 2M and 10M, ~10 min
    .venv/bin/python bench/bench_target_files.py --sizes 2000000 --skip-scan
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import sys
import tempfile
from pathlib import Path

from bench_dicom_sweep import machine_description, run_child  # type: ignore[import-not-found]

VENV_BIN = Path(sys.executable).parent
PACSAUDIT = str(VENV_BIN / "pacsaudit")
GOALS_MB = {2_000_000: 150.0, 10_000_000: 300.0}
LOOPBACK = int(ipaddress.IPv4Address("127.0.0.0"))


def write_targets(path: Path, lines: int, seed: int) -> None:
    """``lines`` distinct loopback addresses in random order, one per line."""
    numbers = random.Random(seed).sample(range(1, 1 << 24), lines)
    with path.open("w", encoding="ascii") as fh:
        fh.writelines(f"{ipaddress.IPv4Address(LOOPBACK + n)}\n" for n in numbers)


def measure(label: str, cmd: list[str], goal: float, deadline: float) -> float:
    child = run_child(cmd, deadline=deadline)
    verdict = "meets" if child.max_rss_mb < goal else "ABOVE"
    status = "" if child.returncode == 0 else f"  EXIT {child.returncode}"
    print(
        f"  {label:<44} {child.wall:7.1f} s  cpu {child.cpu:6.1f} s  peak RSS "
        f"{child.max_rss_mb:6.1f} MB ({verdict} < {goal:.0f} MB){status}",
        flush=True,
    )
    return child.max_rss_mb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="2000000,10000000", help="lines, comma-separated")
    parser.add_argument("--port", type=int, default=9, help="a port closed on loopback")
    parser.add_argument("--scan-shard", default=None, help="scan only this shard, e.g. 0/10")
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--deadline", type=float, default=1800.0, help="per child, seconds")
    args = parser.parse_args(argv)
    print(f"machine: {machine_description()}")
    worst: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="pacsaudit-bench-targets-") as name:
        tmp = Path(name)
        for lines in (int(s) for s in args.sizes.split(",")):
            goal = GOALS_MB.get(lines, 300.0)
            path = tmp / f"targets-{lines}.txt"
            write_targets(path, lines, seed=lines)
            print(f"{lines:,} lines ({path.stat().st_size / 1e6:.0f} MB file):", flush=True)
            forms = {
                "plain list": ["-i", str(path)],
                "ZMap result": ["127.0.0.0/8", "-i", str(path), "--input-format", "zmap"],
            }
            for form, given in forms.items():
                base = [PACSAUDIT, "scan", *given, "-p", str(args.port)]
                peaks = [measure(f"{form}, --dry-run", [*base, "--dry-run"], goal, args.deadline)]
                if not args.skip_scan:
                    out = tmp / "out.jsonl"
                    shard = ["--shard", args.scan_shard] if args.scan_shard else []
                    label = f"{form}, scan" + (f" of shard {args.scan_shard}" if shard else "")
                    cmd = [*base, *shard, "-q", "-o", str(out)]
                    peaks.append(measure(label, cmd, goal, args.deadline))
                    out.unlink(missing_ok=True)
                    Path(f"{out}.state").unlink(missing_ok=True)
                worst[lines] = max(worst.get(lines, 0.0), *peaks)
            path.unlink()
    for lines, peak in worst.items():
        goal = GOALS_MB.get(lines, 300.0)
        verdict = "meets" if peak < goal else "ABOVE"
        print(f"{lines:>12,} lines: peak RSS at most {peak:.1f} MB ({verdict} the {goal:.0f} MB)")
    return 0 if all(p < GOALS_MB.get(n, 300.0) for n, p in worst.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
