"""Progress on the command line: Rich bars on a terminal, plain lines otherwise.

``rollbook sync``, ``run approve``, ``check``, ``merge apply`` and ``students archive`` show
how far their work got (``rollbook.sync.progress``): on a terminal, one bar per stage with its
counts, percentage, elapsed time and (when the total is known) the time left; when standard
error is not a terminal, or with ``--json``, a plain line as each stage begins and ends and
every ten seconds in between. Both go to standard error: standard output (``--json``) stays
clean for the programs reading it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

from rollbook.sync.progress import Progress, Snapshot, duration


@contextmanager
def shown(*, plain: bool = False, console: Console | None = None) -> Iterator[Progress]:
    """A ``Progress`` whose reports are shown on standard error while the block runs."""
    console = console or Console(stderr=True)
    view: Bars | Lines = Lines(console) if plain or not console.is_terminal else Bars(console)
    with view:
        yield Progress(view)


class Bars:
    """One Rich bar per stage, left on the screen when the stage ends."""

    def __init__(self, console: Console):
        self.bars = RichProgress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.task: TaskID | None = None
        self.stage = self.label = ""

    def __enter__(self) -> Bars:
        self.bars.start()
        return self

    def __exit__(self, kind, error, trace) -> None:
        self._end(finished=kind is None)
        self.bars.stop()

    def __call__(self, snapshot: Snapshot) -> None:
        if self.task is None or snapshot.stage != self.stage:
            self._end(finished=True)
            self.stage, self.label = snapshot.stage, snapshot.label
            self.task = self.bars.add_task(snapshot.label, counts="")
        self.bars.update(
            self.task,
            description=snapshot.text(counts=False),
            completed=snapshot.done,
            total=snapshot.total or None,
            counts=snapshot.counts(),
        )

    def _end(self, finished: bool) -> None:
        """The stage's bar stops where it got; one without a total is full once finished."""
        if self.task is None:
            return
        task = self.bars.tasks[self.task]
        if finished and task.total is None:
            whole = max(int(task.completed), 1)
            self.bars.update(self.task, total=whole, completed=whole)
        self.bars.update(self.task, description=self.label)
        self.bars.stop_task(self.task)
        self.task = None


class Lines:
    """Plain lines for logs: each stage as it begins and ends, and a line every ``every``
    seconds in between while something changed."""

    def __init__(
        self, console: Console, clock: Callable[[], float] = time.monotonic, every: float = 10.0
    ):
        self.console, self.clock, self.every = console, clock, every
        self.snapshot: Snapshot | None = None
        self.started = self.last = 0.0

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, kind, error, trace) -> None:
        self._end(finished=kind is None)

    def __call__(self, snapshot: Snapshot) -> None:
        now = self.clock()
        before, self.snapshot = self.snapshot, snapshot
        if before is None or snapshot.stage != before.stage:
            if before is not None:
                self.snapshot = before
                self._end(finished=True)
                self.snapshot = snapshot
            self.started = self.last = now
            self._print(f"{snapshot.label}…")
        elif now - self.last >= self.every and snapshot != before:
            self.last = now
            percent = f" ({snapshot.percent}%)" if snapshot.percent is not None else ""
            self._print(f"  {snapshot.text()}{percent}, {duration(now - self.started)}")

    def _end(self, finished: bool) -> None:
        if self.snapshot is None:
            return
        took = duration(self.clock() - self.started)
        counts = self.snapshot.counts()
        verb = "done" if finished else "stopped"
        self._print(f"{self.snapshot.label}: {verb} in {took}" + (f" ({counts})" if counts else ""))
        self.snapshot = None

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
