"""What a scan draws on the operator's terminal: the progress bar and the end-of-scan summary.

The run reports to a :class:`~pacsaudit.run.Progress` sink and knows nothing of rich; this is
the sink the CLI passes (and the summary it prints from the run's outcome).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from pacsaudit.engine.options import ScanStats
    from pacsaudit.run import ScanOutcome


class ProgressBar:
    """rich's progress bar as a run's progress sink."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._done_before = 0
        self._manual = False

    def start(self, total: int, done_before: int, *, own_thread: bool = True) -> None:
        """Draw the bar; without ``own_thread`` only when :meth:`update` is called (rich's
        refresh thread stays unstarted: a scan in processes forks while the bar is up)."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[found]} found"),
            TextColumn("[cyan]{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
            refresh_per_second=5,
            auto_refresh=own_thread,
        )
        self._manual = not own_thread
        self._done_before = done_before
        self._bar.start()
        self._task = self._bar.add_task("scanning", total=total, found=0, rate="")

    def update(self, stats: ScanStats) -> None:
        if self._bar is None or self._task is None:
            return
        self._bar.update(
            self._task,
            completed=self._done_before + stats.done,
            found=stats.found,
            rate=f"{stats.rate:,.0f}/s",
            refresh=self._manual,
        )

    def note(self, line: str) -> None:
        from pacsaudit.peertext import visible

        # a note may quote a target or a peer: data, never markup, control characters shown
        self._console.print(visible(line), highlight=False, markup=False)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.refresh()
            self._bar.stop()


def summarise(outcome: ScanOutcome, console: Console) -> None:
    from pacsaudit.report.table import print_summary

    print_summary(
        outcome.interesting,
        Counter(outcome.stats.by_status),
        console,
        outcome.stats.elapsed,
        targets=outcome.stats.done,
    )
    second = outcome.second_pass
    if second is not None:
        left = f", {second.left_out} more hosts left out by the bound" if second.left_out else ""
        console.print(
            f"second pass: {second.tried} association(s) under AE titles revealed by a web "
            f"API of the same host, {second.seconds:.1f} s{left}",
            markup=False,
            highlight=False,
        )
