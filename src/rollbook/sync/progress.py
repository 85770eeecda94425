"""How far a long piece of work got: a sync run, a self-check, merges, bulk actions.

Work reports to a :class:`Progress`: a *stage* (reading the bundle, planning, applying…),
within it a *step* (a file, an apply step), and *done* of *total* in the stage's unit (bytes,
rows, pairs, students; a total of 0 is not known). Every report goes at once to the listener of
the same process (the command line's bars, a web job's record, ``rollbook.bars``) and, for a
sync run, into the run's row (``SyncRun.stage``, the stage's name — ``read``, ``plan``,
``apply`` —, ``done``, ``total``, ``progress_at``): a new stage at once, counts at most once a
second, with a queryset ``update``. The run object in memory is given the same values, so that
a later ``save`` of it never writes older ones.

A transaction's writes are seen by other processes only when it commits. Work inside one (the
apply, the self-check's rehearsal, a bulk action) reports inside ``with progress.unseen():``:
the listener of the same process still hears every step, but nothing is written to the run
row, and the snapshots say ``durable=False`` so that a listener which writes to the database (a
web job, ``job_listener``) leaves them out. Another process sees the stage as it was when the
transaction began — "applying", with the time it began — and then the result.

Reports come per file, per step, per chunk or per pair, never per row: they cost nothing
measurable (docs/sync.md, "Progress").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from django.utils import timezone

if TYPE_CHECKING:
    from .models import SyncRun
    from .plan import Plan


@dataclass(frozen=True)
class Stage:
    label: str
    unit: str = ""  # what done and total count
    sealed: bool = False  # the stage's work is one transaction: others see only its start


STAGES: dict[str, Stage] = {
    "read": Stage("Reading the bundle", "bytes"),
    "plan": Stage("Planning"),
    "apply": Stage("Applying", "rows", sealed=True),
    "rehearse": Stage("Working out what the sync will do (nothing written)", "rows", sealed=True),
    "merge": Stage("Merging", "pairs"),
    "check_pairs": Stage("Checking pairs", "pairs"),
    "archive": Stage("Archiving students", "students", sealed=True),
    "unarchive": Stage("Unarchiving students", "students", sealed=True),
    "remove_guardians": Stage("Removing guardians", "guardian links", sealed=True),
    "deactivate": Stage("Deactivating accounts left without a role", "accounts", sealed=True),
    "audit": Stage("Writing the audit log", "entries", sealed=True),
}
BYTES = ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"))
SEALED_NOTE = "in one transaction: other processes see how far it got when it ends"


@dataclass(frozen=True)
class Snapshot:
    """Where the work is now."""

    stage: str = ""
    step: str = ""
    done: int = 0
    total: int = 0  # 0: not known
    durable: bool = True  # False inside a transaction: no other process can see it yet

    @property
    def kind(self) -> Stage:
        return STAGES.get(self.stage) or Stage(self.stage.replace("_", " ").capitalize())

    @property
    def label(self) -> str:
        return self.kind.label

    @property
    def percent(self) -> int | None:
        return min(100, self.done * 100 // self.total) if self.total > 0 else None

    def counts(self) -> str:
        """'45.1 of 90.2 MB', '1,234 of 5,000 rows', '1,234 rows' or ''."""
        unit = self.kind.unit
        if unit == "bytes":
            if not self.total:
                return ""
            scale, name = next((s, n) for s, n in BYTES if self.total >= s or n == "kB")
            return f"{self.done / scale:,.1f} of {self.total / scale:,.1f} {name}"
        if self.total:
            return f"{self.done:,} of {self.total:,} {unit}".rstrip()
        return f"{self.done:,} {unit}".rstrip() if self.done else ""

    def text(self, *, counts: bool = True, for_others: bool = False) -> str:
        """In words: 'Applying: accounts — 1,234 of 5,000 rows'. ``for_others``: as another
        process sees it, saying so when the stage is one transaction."""
        words = self.label + (f": {self.step}" if self.step else "")
        if for_others and self.kind.sealed:
            return f"{words}, {SEALED_NOTE}"
        shown = self.counts() if counts else ""
        return f"{words} — {shown}" if shown else words

    @classmethod
    def of_run(cls, run: SyncRun) -> Snapshot:
        """What a run's row says (as written by ``Progress``: its stage, done and total; the
        step is known to the working process only)."""
        return cls(run.stage or "", "", run.done or 0, run.total or 0)


Listener = Callable[[Snapshot], None]


def duration(seconds: float) -> str:
    """'0.4 s', '12 s', '2 min 05 s', '1 h 02 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Reports of one piece of work, to a listener and (once attached) to a sync run's row.

    ``clock`` (seconds, monotonic) and ``every`` decide how often the run row is written: a
    new stage at once, counts (and steps) at most once every ``every`` seconds.
    """

    def __init__(
        self,
        listener: Listener | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        every: float = 1.0,
    ):
        self.listener = listener
        self.clock = clock
        self.every = every
        self.run: SyncRun | None = None
        self.snapshot = Snapshot()
        self.writes = 0  # run rows written
        self._written_at: float | None = None
        self._written: tuple = ()
        self._durable = True

    def attach(self, run: SyncRun) -> None:
        """Write this work's progress into ``run`` from now on."""
        self.run = run

    def stage(self, stage: str, *, total: int = 0, step: str = "") -> None:
        """A new stage begins (done 0)."""
        self._report(Snapshot(stage, step, 0, max(total, 0), self._durable), new_stage=True)

    def update(
        self, done: int | None = None, *, total: int | None = None, step: str | None = None
    ) -> None:
        now = self.snapshot
        total = now.total if total is None else max(total, 0)
        done = now.done if done is None else max(done, 0)
        if total:
            done = min(done, total)
        self._report(
            replace(
                now,
                done=done,
                total=total,
                step=now.step if step is None else step,
                durable=self._durable,
            )
        )

    def advance(self, n: int = 1) -> None:
        self.update(self.snapshot.done + n)

    @contextmanager
    def unseen(self) -> Iterator[Progress]:
        """Reports inside a transaction: heard by the listener, never written to the run row
        (``durable=False``); the run row is written again once outside."""
        was = self._durable
        self._durable = False
        try:
            yield self
        finally:
            self._durable = was

    def _report(self, snapshot: Snapshot, new_stage: bool = False) -> None:
        self.snapshot = snapshot
        if self.listener is not None:
            self.listener(snapshot)
        run = self.run
        if run is None:
            return
        # The object in memory always has the latest values: a later save() writes them.
        run.stage, run.done, run.total = snapshot.stage[:40], snapshot.done, snapshot.total
        run.progress_at = timezone.now()
        if not snapshot.durable:
            return
        now, row = self.clock(), (run.stage, run.done, run.total)
        if not new_stage and (
            row == self._written
            or (self._written_at is not None and now - self._written_at < self.every)
        ):
            return
        self._written_at, self._written = now, row
        from .models import SyncRun

        SyncRun.objects.filter(pk=run.pk).update(
            stage=run.stage, done=run.done, total=run.total, progress_at=run.progress_at
        )
        self.writes += 1


def as_progress(progress: Progress | Callable[[str], None] | None) -> Progress:
    """A ``Progress`` for what a caller passed: one, nothing, or (as before ``Progress``) a
    function told the name of each new stage."""
    if progress is None or isinstance(progress, Progress):
        return progress or Progress()
    told = progress
    stages: list[str] = []

    def listen(snapshot: Snapshot) -> None:
        if not stages or stages[-1] != snapshot.stage:
            stages.append(snapshot.stage)
            told(snapshot.stage)

    return Progress(listen)


def reading(progress: Progress) -> Callable[[str, int, int], None]:
    """The reader's ``on_file`` (``read_bundle``): bytes of the bundle's files read."""

    def on_file(name: str, done: int, total: int) -> None:
        progress.update(done, total=total, step=name)

    return on_file


def job_listener(
    report: Callable[..., None],
    *,
    clock: Callable[[], float] = time.monotonic,
    every: float = 1.0,
) -> Listener:
    """A listener handing the durable snapshots to a web job's ``progress(stage, done,
    total)`` (``rollbook.web.jobs``): the text as another process should read it, at once
    when the stage or step changes, otherwise at most once every ``every`` seconds. Snapshots
    from inside a transaction are left out: written through the transaction's own connection,
    nobody would see them before it ends."""
    last: dict[str, object] = {"key": None, "at": None}

    def listen(snapshot: Snapshot) -> None:
        if not snapshot.durable:
            return
        key, now = (snapshot.stage, snapshot.step), clock()
        at = last["at"]
        if key == last["key"] and at is not None and now - at < every:  # type: ignore[operator]
            return
        last["key"], last["at"] = key, now
        report(snapshot.text(for_others=True), snapshot.done, snapshot.total)

    return listen


# The apply's steps (sync/apply.py), weighed by the rows of the plan each one writes.

ENTITY_STEPS = (
    "school",
    "session",
    "course",
    "class",
    "student",
    "staff_role",
    "guardian_link",
    "enrollment",
)


def apply_rows(plan: Plan) -> dict[str, int]:
    """Rows of the plan each step of the apply writes (``apply_plan``'s step names): an
    entity's creations, updates, reactivations and archives; the accounts step, the changed
    person records; the last step, the person records and the audit entries. The steps that
    only tidy up count 0."""
    changed = {
        e: p.create.num_rows + p.update.num_rows + p.reactivate.num_rows + p.archive.num_rows
        for e, p in plan.entities.items()
    }
    rows = {name: changed.get(name, 0) for name in ENTITY_STEPS}
    rows["accounts"] = changed.get("person", 0)
    audited = sum(
        p.update.num_rows + p.reactivate.num_rows + p.archive.num_rows
        for p in plan.entities.values()
    )
    rows["records and audit"] = changed.get("person", 0) + audited
    return rows
