"""The one pipeline driver: extract → plan → safety → apply → report.

Every caller runs a source's data through :func:`drive`: the command line (``rollbook sync``),
the web (plans and approvals), the workers (scheduled runs) and the self-check. Each stage is
a function of its own, on Arrow tables; the driver only decides which stages run and in what
order, for three modes:

- ``SYNC``: every stage; a run that must be held (``safety.py``) waits for approval unless
  approved up front;
- ``DRY_RUN``: extract and plan, the plan saved for a later approval (``services.approve_run``
  applies it with the same apply stage);
- ``REHEARSAL`` (the self-check): extract and plan as the sync does, then the apply foreseen
  (``forecast.py``: what the apply would write, worked out from the plan and the directory,
  nothing written) — no run record, no row, no id of a sequence is left behind;
- ``FULL_REHEARSAL`` (the reference the tests hold the rehearsal to): extract, plan and apply
  inside one transaction that is rolled back — the sync itself, stopped before its commit.

An :class:`Observer` sees each stage's output (the self-check builds its report from them);
the sync itself needs none. The extract stage reads a source's data as typed Arrow tables
(:class:`Extract`; a CSV bundle today — a REST fetch writes one first, docs/rest.md).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa
import xxhash
from django.db import connection, transaction
from django.utils import timezone

from rollbook.directory import audit
from rollbook.directory import counts as district_counts
from rollbook.errors import UserError
from rollbook.oneroster import BundleError, read_bundle
from rollbook.oneroster.model import ReadResult

from . import bulk, forecast, kept_state, services, statistics
from .apply import apply_plan
from .checkpoint import LaterCheckpoint
from .digests import bundle_digest, records_digest
from .models import SyncRun, SyncSource
from .plan import Plan, save
from .progress import Progress, as_progress, reading
from .read import Incoming
from .report import AppliedSummary, PlanSummary, RunReport, amend
from .safety import hold_reasons
from .state import StatePrefetch, load_states

if TYPE_CHECKING:
    from .apply import Outcome


class Mode(Enum):
    SYNC = "sync"
    DRY_RUN = "dry run"
    REHEARSAL = "rehearsal"
    FULL_REHEARSAL = "full rehearsal"


REHEARSAL_LABEL = "self-check rehearsal (rolled back)"
log = logging.getLogger(__name__)


# --- extract ----------------------------------------------------------------------------------


class ExtractFailed(Exception):
    """The source's data could not be had (a REST fetch that did not complete): the run fails
    with this message as its reason, and nothing is applied."""


class Extract(Protocol):
    """Where a run's data comes from: a OneRoster CSV bundle (a folder or a zip), or a REST
    fetch that writes one. ``digest`` is called first (a fetch happens there); ``read`` then
    gives the typed tables. Either raises ``BundleError`` or ``ExtractFailed``."""

    location: str  # what the run records as what it read
    run_stats: dict  # what the extract adds to the run's report (a REST fetch's counts)

    def exists(self) -> bool: ...

    def digest(self) -> str: ...

    def records_digest(self) -> str | None:
        """The bundle's lines in any order (``digests.records_digest``); None: cannot say."""

    def read(self, progress: Progress) -> ReadResult: ...


@dataclass
class BundleExtract:
    """A OneRoster CSV bundle, read in ``encoding`` ("": UTF-8, a byte-order mark naming its
    own). The encoding is given for the run (``--encoding``, ``encoding_from`` "run") or else
    is the source's (set by :func:`drive`, "source"), so that every caller reads alike."""

    path: Path
    encoding: str = ""
    encoding_from: str = ""

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def run_stats(self) -> dict:
        """How the files were read, on the run's report (``report.RunReport.read_as``)."""
        if not self.encoding:
            return {}
        return {"encoding": self.encoding, "encoding_from": self.encoding_from}

    def exists(self) -> bool:
        return self.path.exists()

    def digest(self) -> str:
        """The bundle's bytes, and the encoding they are read in: the same bytes read in
        another encoding are another bundle (never skipped as identical to the last)."""
        if not self.path.exists():
            return ""
        digest = bundle_digest(self.path)
        if self.encoding:
            digest = xxhash.xxh3_128(f"{digest}:{self.encoding.lower()}".encode()).hexdigest()
        return digest

    def records_digest(self) -> str | None:
        return records_digest(self.path, self.encoding) if self.path.exists() else None

    def read(self, progress: Progress) -> ReadResult:
        return read_bundle(self.path, encoding=self.encoding or None, on_file=reading(progress))


def bundle(path: str | Path, encoding: str | None = None) -> BundleExtract:
    """A bundle's extract; ``encoding``: its CSV files' encoding for this run (none: the
    source's, else UTF-8)."""
    return BundleExtract(Path(path), encoding or "", "run" if encoding else "")


def _in_source_encoding(extract: Extract, source: SyncSource | None) -> Extract:
    """A bundle given no encoding for the run is read in its source's."""
    if not isinstance(extract, BundleExtract) or extract.encoding or source is None:
        return extract
    if not source.encoding:
        return extract
    return replace(extract, encoding=source.encoding, encoding_from="source")


# --- what a caller may watch ------------------------------------------------------------------


class Observer:
    """Sees each stage's output as the run goes; every method may be left as it is."""

    def read(self, result: ReadResult) -> None:
        """The bundle as read, with its findings (the rest of the run only if it can sync)."""

    def delivered(self, incoming: Incoming, source: SyncSource) -> None:
        """What the bundle delivers to the source (a delta's references settled against the
        state), once the plan has diffed it and before it resolves people into accounts."""

    def planned(self, plan: Plan, run: SyncRun) -> None:
        """The plan, before the safety stage."""

    def applied(self, run: SyncRun, plan: Plan, outcome: Outcome, source: SyncSource) -> None:
        """After the apply stage, still inside its transaction (a full rehearsal reads the
        directory as the sync leaves it here, before the rollback)."""

    def foreseen(
        self, run: SyncRun, plan: Plan, foreseen: forecast.Forecast, source: SyncSource
    ) -> None:
        """A rehearsal's apply, foreseen (``forecast.py``): ``foreseen.outcome`` is the
        outcome the apply would have; nothing was written (``run`` and, before a source's
        first sync, ``source`` are not saved)."""


@dataclass
class Target:
    """The source a run is for. A rehearsal may run for a source that does not exist yet (the
    self-check before a district's first sync): it is made inside the rolled-back transaction."""

    district: object
    name: str = "SIS"
    schools: list[str] | None = None
    source: SyncSource | None = None

    @classmethod
    def of(cls, source: SyncSource) -> Target:
        return cls(source.district, source.name, None, source)


@dataclass
class _Timings:
    seconds: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self.started
        self.started = now


class _Rollback(Exception):
    """Leaves a rehearsal's transaction without keeping anything."""


# --- the driver -------------------------------------------------------------------------------


def drive(
    target: Target | SyncSource,
    extract: Extract,
    actor: audit.Actor,
    *,
    mode: Mode = Mode.SYNC,
    approve: bool = False,
    progress=None,
    observer: Observer | None = None,
) -> SyncRun | None:
    """Run the pipeline. Returns the run, whatever its outcome (a rehearsal: None — nothing of
    it is kept; its observer has what it saw)."""
    from rollbook.work.locks import holding

    if isinstance(target, SyncSource):
        target = Target.of(target)
    if target.source is None:
        found = SyncSource.objects.filter(district=target.district, name=target.name).first()
        target.source = found
    progress = as_progress(progress)
    observer = observer or Observer()
    source = target.source
    # Never beside another run of the same source (rollbook.work.locks). A rehearsal of a
    # source that does not exist yet has nothing to collide with.
    held = holding(source) if source is not None else contextlib.nullcontext()
    with services.no_cyclic_gc(), held:
        if source is not None:
            source.refresh_from_db()  # as it is now that no other run can change it
        extract = _in_source_encoding(extract, source)
        if mode in (Mode.REHEARSAL, Mode.FULL_REHEARSAL):
            _rehearse(target, extract, progress, observer, full=mode is Mode.FULL_REHEARSAL)
            return None
        return _run(source, extract, actor, mode, approve, progress, observer)


def _run(source, extract, actor, mode, approve, progress, observer) -> SyncRun:
    from rollbook.work.locks import set_run

    run = SyncRun.objects.create(
        source=source,
        started_by=actor.account,
        started_by_label=actor.label,
        bundle=extract.location,
        status=SyncRun.Status.PLANNING,
        stats=RunReport(dry_run=mode is Mode.DRY_RUN).to_json(),
    )
    set_run(source, run)
    progress.attach(run)
    timings = _Timings()
    progress.stage("read")
    try:
        run.bundle_digest = _as_delivered(extract.digest(), source)
    except (BundleError, ExtractFailed) as exc:
        _failed(run, exc, timings)
    run.stats |= extract.run_stats  # a REST fetch's report (sync/rest.py)
    skip = _same_as_last(run, extract, source, mode)
    if skip:
        timings.lap("read")
        return finish(run, SyncRun.Status.SKIPPED, timings.seconds, note=skip)
    # The state is read on a second thread while this one reads the bundle (state.py).
    prefetch = StatePrefetch(source)
    try:
        result = _extract(extract, progress, observer, run, timings)
        if result is None:
            return run
        if not result.lines_are_records:  # the next bundle cannot be judged by its lines
            run.records_digest = ""
        incoming = services.incoming_for(
            source, result, run.bundle_digest, load_states(source, only=("school",))
        )
        del result  # the reader's full model: freed before planning, never beside the state
        pa.default_memory_pool().release_unused()
        states = prefetch.result()
        amend(run, state_kept=sorted(prefetch.kept))
    finally:
        prefetch.discard()
    timings.lap("read")
    progress.stage("plan")
    plan = _plan(source, incoming, states, progress, observer)
    del incoming
    pa.default_memory_pool().release_unused()
    run.plan_token = services.directory_token(source)
    save(plan, services.plan_folder(run))
    amend(run, plan=PlanSummary.from_json(plan.summary))
    observer.planned(plan, run)
    timings.lap("plan")
    # Safety: a run that would change too much waits for a person.
    first = not source.runs.filter(status=SyncRun.Status.APPLIED).exists()
    run.hold_reasons = hold_reasons(plan, source, first)
    if mode is Mode.DRY_RUN:
        return finish(run, SyncRun.Status.PLANNED, timings.seconds, finished=False)
    if run.hold_reasons and not approve:
        return finish(run, SyncRun.Status.HELD, timings.seconds, finished=False)
    if run.hold_reasons:  # approved up front (--approve): whoever asked is its approver
        run.approved_by, run.approved_by_label = actor.account, actor.label
    return apply(run, plan, states, actor, timings.seconds, progress, observer)


def _as_delivered(digest: str, source: SyncSource) -> str:
    """``digest`` covering also the source's settings that change what a bundle syncs (the
    schools chosen, additions only): the same bundle under other settings is another
    delivery, synced, not skipped. Unchanged for a source with neither."""
    if not digest or not (source.school_sourced_ids or source.additions_only):
        return digest
    schools = ",".join(sorted(source.school_sourced_ids or []))
    return xxhash.xxh3_128(f"{digest}|{schools}|{source.additions_only}".encode()).hexdigest()


def _same_as_last(run: SyncRun, extract: Extract, source: SyncSource, mode: Mode) -> str:
    """Why the run is skipped ("" when it is not): the bundle is the last applied one again,
    byte for byte or as the same lines in another order (``digests.py``), and the directory
    is as that run left it. Not when the directory changed since (a hand archive, a merge:
    ``services.directory_mark``), nor when an email or phone withheld from the last run has
    become free (the sync attaches it): the run then does what its preview says."""

    @functools.cache
    def unchanged() -> bool:  # asked once, whichever digest matches first
        mark = source.last_applied_mark
        return mark == services.directory_mark(source) and not services.withheld_free(source)

    identical = run.bundle_digest and run.bundle_digest == source.last_bundle_digest
    if mode is Mode.SYNC and identical and unchanged():
        return "the bundle is byte-identical to the last one applied"
    if mode not in (Mode.SYNC, Mode.DRY_RUN):
        return ""
    run.records_digest = _as_delivered(extract.records_digest() or "", source)
    same = run.records_digest and run.records_digest == source.last_records_digest
    if mode is Mode.SYNC and same and unchanged():
        return "the bundle holds the same records as the last one applied, in another order"
    return ""


def _extract(extract, progress, observer, run, timings) -> ReadResult | None:
    """Stage 1: the source's data as typed tables and findings. None (the run failed) when
    it has errors a sync cannot go past."""
    try:
        result = extract.read(progress)
    except (BundleError, ExtractFailed) as exc:
        _failed(run, exc, timings)
    if run is not None:
        services.record_findings(run, result)
    observer.read(result)
    if result.can_sync:
        return result
    if run is not None:
        timings.lap("read")
        finish(
            run,
            SyncRun.Status.FAILED,
            timings.seconds,
            note="the bundle has errors; 'rollbook validate' lists them",
        )
    return None


def _failed(run: SyncRun | None, exc: Exception, timings: _Timings):
    """The data could not be read or fetched: the run fails with the reason; a UserError for
    whoever started it."""
    if run is not None:
        amend(run, error=str(exc))
        timings.lap("read")
        finish(run, SyncRun.Status.FAILED, timings.seconds)
    if isinstance(exc, ExtractFailed):
        raise UserError(str(exc)) from None
    raise UserError(f"the bundle cannot be read: {exc}") from None


def _plan(source, incoming, states, progress, observer) -> Plan:
    """Stage 2: the differences with what the source delivered before, people resolved.
    The observer is told what was delivered between the two (the self-check's sections about
    people, which the resolution then takes normalised): after the diffs, so that the
    check's tables of people are never held beside the diffs' lookups, where its memory
    peaked (BENCHMARKS.md, Self-check)."""
    entities = services.diff_entities(incoming, states, progress)
    observer.delivered(incoming, source)
    return services.make_plan(
        incoming,
        states,
        entities,
        source.district,
        additions_only=source.additions_only,
        progress=progress,
        source=source,
    )


def _rehearse(target: Target, extract: Extract, progress, observer, full: bool = False) -> None:
    """The sync's stages on the directory as it is: read and plan, then the apply foreseen
    (nothing written), or — ``full`` — applied in one transaction and rolled back."""
    if not extract.exists():
        raise UserError(f"{extract.location}: no such file or folder")
    progress.stage("read")
    prefetch = StatePrefetch(target.source)  # read on a second thread, as by the sync
    try:
        # No digest: a rehearsal is never skipped as the same bundle as the last (hashing the
        # bytes cost 0.8 s at L); a REST source fetches in ``read``.
        result = _extract(extract, progress, observer, None, _Timings())
        if result is None:
            return
        # Other processes see "rehearse" and the time it began, then the report: the rehearsal
        # is one transaction, reported to this process only.
        progress.stage("rehearse")
        # The foreseen apply writes nothing: it reads one committed state of the database (on
        # SQLite without taking its write lock); the full one writes and rolls back.
        with (
            contextlib.suppress(_Rollback),
            transaction.atomic() if full else _reading(),
            progress.unseen(),
        ):
            source = _rehearsal_source(target, save=full)
            incoming = services.incoming_for(
                source, result, "", load_states(source, only=("school",))
            )
            del result
            pa.default_memory_pool().release_unused()
            # The state as committed before the rehearsal began (a source made just now by
            # the rehearsal has none: empty tables).
            states = prefetch.result()
            plan = _plan(source, incoming, states, progress, observer)
            del incoming
            if not full:
                run = SyncRun(
                    source=source, started_by_label=REHEARSAL_LABEL, status=SyncRun.Status.APPLYING
                )
                observer.planned(plan, run)
                foreseen = forecast.foresee(run, plan, states, progress)
                observer.foreseen(run, plan, foreseen, source)
                raise _Rollback
            run = SyncRun.objects.create(
                source=source, started_by_label=REHEARSAL_LABEL, status=SyncRun.Status.APPLYING
            )
            observer.planned(plan, run)
            outcome = apply_plan(run, plan, states, progress)
            observer.applied(run, plan, outcome, source)
            raise _Rollback
    finally:
        prefetch.discard()


def _reading():
    """One committed state of the database for a rehearsal that writes nothing: SQLite's
    deferred read transaction (no write lock); on PostgreSQL a transaction (rolled back)."""
    if connection.vendor == "sqlite":
        return bulk.read_snapshot()
    return transaction.atomic()


def _rehearsal_source(target: Target, save: bool = True) -> SyncSource:
    """The source rehearsed. ``save``: made (or given the chosen schools) in the database —
    the full rehearsal's transaction rolls it back; else an unsaved copy."""
    source = target.source
    if not save:
        if source is None:
            return SyncSource(
                district=target.district, name=target.name, school_sourced_ids=target.schools or []
            )
        source = copy.copy(source)
        if target.schools is not None:
            source.school_sourced_ids = target.schools
        return source
    if source is None:
        return services.get_source(target.district, target.name, schools=target.schools)
    if target.schools is not None and source.school_sourced_ids != target.schools:
        source.school_sourced_ids = target.schools
        source.save(update_fields=["school_sourced_ids"])
    return source


# --- apply and report -------------------------------------------------------------------------


def apply(run, plan, states, actor, timings, progress: Progress, observer=None) -> SyncRun:
    """Stage 4: the plan written in one transaction (all of it, or nothing)."""
    # Other processes see "apply" and the time it began (the run's row, saved below), then the
    # result: what happens inside the transaction is reported to this process only.
    progress.stage("apply")
    started = time.perf_counter()
    services.settle_interrupted_runs(run.source, keep=run)
    run.status = SyncRun.Status.APPLYING
    run.save()
    later = LaterCheckpoint()  # a large commit's log copied beside the work after it
    try:
        with bulk.counting() as written, transaction.atomic(), progress.unseen():
            # The district's overview counts, held before any row of the directory (the
            # lock order of directory/counts.py): marked stale below if anything is written.
            district_counts.hold([run.source.district_id])
            outcome = apply_plan(run, plan, states, progress)
            run.source.last_bundle_digest = run.bundle_digest
            run.source.last_records_digest = run.records_digest
            # The directory as this run leaves it (its own audit entries written above).
            run.source.last_applied_mark = services.directory_mark(run.source)
            run.source.save(
                update_fields=["last_bundle_digest", "last_records_digest", "last_applied_mark"]
            )
            # Written in the same transaction: a run whose changes committed says so, even
            # when its process is killed right after the commit.
            SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.APPLIED)
            # The district's overview counts, counted again below when their tables changed.
            recount = any(written[t] for t in district_counts.COUNTED_TABLES)
            if recount:
                district_counts.mark_stale([run.source.district_id])
            if observer is not None:
                observer.applied(run, plan, outcome, run.source)
            later.hold(sum(written.values()))
            committing = time.perf_counter()
    except Exception as exc:
        later.start(committed=False)
        amend(run, error=f"{type(exc).__name__}: {exc}")
        finish(run, SyncRun.Status.FAILED, timings | {"apply": time.perf_counter() - started})
        raise
    timings["apply"] = time.perf_counter() - started
    later.start()
    # What the run left behind, kept for the next run (kept_state.py): after the commit only.
    keeping = time.perf_counter()
    kept_state.keep(run.source.pk, outcome.state)
    outcome.state = {}
    timings["state kept"] = time.perf_counter() - keeping
    amend(
        run,
        outcome=AppliedSummary(dict(outcome.counts), dict(outcome.identity), outcome.issues),
        apply_seconds=outcome.seconds | {"commit": round(time.perf_counter() - committing, 3)},
    )
    # The planner's statistics of the tables the run changed much, after the commit (so
    # holding none of its locks); never fails the run (statistics.py).
    analyzed = statistics.refresh(written)
    if analyzed["analyzed"] or analyzed["skipped"]:
        timings["statistics"] = analyzed["seconds"]
    if recount:
        timings["counts"] = _count_district(run.source.district_id)
    waited = time.perf_counter()
    if later.wait() is not None:
        timings["checkpoint"] = time.perf_counter() - waited  # what the run waited for it
    _supersede(run)
    return finish(run, SyncRun.Status.APPLIED, timings)


def _count_district(district_id: int) -> float:
    """The district's overview counts, counted again after the commit (directory/counts.py);
    never fails the run: a count left stale is made by its next reader."""
    started = time.perf_counter()
    try:
        district_counts.refresh(district_id)
    except Exception:
        log.warning("counts: district %s not counted after the sync", district_id, exc_info=True)
    return round(time.perf_counter() - started, 3)


def _supersede(applied: SyncRun) -> None:
    """Plans made before a run that applied can no longer be approved: say so."""
    for old in applied.source.runs.filter(
        pk__lt=applied.pk, status__in=[SyncRun.Status.PLANNED, SyncRun.Status.HELD]
    ):
        amend(old, note=f"out of date: run {applied.pk} was applied after it was planned")
        finish(old, SyncRun.Status.DISCARDED, old.report.timings)


def finish(
    run: SyncRun, status: str, timings: dict, note: str = "", finished: bool = True
) -> SyncRun:
    """Stage 5, report: the run's outcome, each stage's seconds, and a note for people."""
    run.status = status
    amend(run, timings={k: round(v, 3) for k, v in timings.items()})
    if note:
        amend(run, note=note)
    if finished:
        run.finished_at = timezone.now()
    run.save()
    return run
