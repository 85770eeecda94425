"""The scheduler: every few seconds each worker asks it for the sources whose scheduled run is
due (``tick``, one of the worker's housekeepers), and it queues each due slot once.

Exactly once, however many workers and schedulers run: a due slot is first recorded as a
``sync.ScheduledSlot`` row, unique by (source, slot time), and queued in the same transaction
only by the scheduler whose insert won; the others get the unique violation and move on.

When a slot is due: a schedule names times of day in its district's time zone (``zoneinfo``),
every day — daily at one time, or every N hours (N divides 24) from a first time. Each local
day's times become moments (UTC): a time that does not exist that day (the hour skipped when
clocks go forward) is read with the offset before the change, so 02:30 runs at 03:30; a time
that happens twice (clocks go back) is its first occurrence; two times meeting in one moment
are one slot. The due slot is the latest moment not after now, and not before the schedule's
``active_from`` (its last change of timing or resume): after a worker was down for days, only
the latest missed slot runs, once. A slot is recorded as skipped, not queued, on a blackout
date or during the rollover pause (the slot's day or today in the district's time zone).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import random
import zoneinfo
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from rollbook.sync.models import ScheduledSlot, SyncRun, SyncSchedule, SyncSource

log = logging.getLogger(__name__)
UTC = dt.UTC
LOOK_AHEAD_DAYS = 800  # next_slot: how far a run of blackouts and pauses is looked past
BUSY_RETRY_SECONDS = (30, 60)
#: Scheduled runs queue below the web's jobs (priority 0): among themselves the largest
#: first, so that when many districts are due at once the longest runs do not start last
#: and leave one worker running alone at the end (the fleet benchmark, BENCHMARKS.md).
SCHEDULED_PRIORITY = (-99, -1)
BYTES_PER_ROW = 100  # a REST source's size, from its last run's rows (a CSV row's bytes)


# --- when -------------------------------------------------------------------------------------


def times_of_day(kind: str, first: dt.time, every_hours: int) -> list[dt.time]:
    """The local times of a day's runs."""
    if kind == SyncSchedule.Kind.DAILY:
        return [first]
    start = first.hour * 60 + first.minute
    step = every_hours * 60
    return sorted({_minutes((start + k * step) % (24 * 60)) for k in range(24 * 60 // step)})


def _minutes(total: int) -> dt.time:
    return dt.time(total // 60, total % 60)


def slots_on(day: dt.date, times: Iterable[dt.time], tz: dt.tzinfo) -> list[dt.datetime]:
    """The moments (UTC) of a local day's times, in order, each once."""
    return sorted({dt.datetime.combine(day, t, tzinfo=tz).astimezone(UTC) for t in times})


def latest_slot(times: list[dt.time], tz: dt.tzinfo, now: dt.datetime) -> dt.datetime | None:
    """The latest moment of the times not after ``now``."""
    today = now.astimezone(tz).date()
    for back in range(3):  # a day has at least one slot: today's or yesterday's is it
        found = [at for at in slots_on(today - dt.timedelta(days=back), times, tz) if at <= now]
        if found:
            return found[-1]
    return None


def slots_after(times: list[dt.time], tz: dt.tzinfo, after: dt.datetime):
    """The moments of the times after ``after``, in order (for ever)."""
    day = after.astimezone(tz).date() - dt.timedelta(days=1)
    while True:
        for at in slots_on(day, times, tz):
            if at > after:
                yield at
        day += dt.timedelta(days=1)


def zone(schedule: SyncSchedule) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(schedule.source.district.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.warning("district %s: unknown time zone; using UTC", schedule.source.district_id)
        return UTC


def blocked(schedule: SyncSchedule, day: dt.date) -> str:
    """Why no run starts on this local day ("" if one may)."""
    from rollbook.sync.schedules import ranges

    for start, end in ranges(schedule):
        if start <= day <= end:
            return f"blackout dates {start.isoformat()}..{end.isoformat()}"
    if schedule.rollover_start and schedule.rollover_start <= day <= schedule.rollover_end:
        return (
            f"rollover pause {schedule.rollover_start.isoformat()}.."
            f"{schedule.rollover_end.isoformat()}"
        )
    return ""


def due(schedule: SyncSchedule, now: dt.datetime) -> tuple[dt.datetime, str] | None:
    """The slot to record now and why it is skipped ("": it runs); None: nothing is due."""
    if schedule.paused or not schedule.source.is_active:
        return None
    tz = zone(schedule)
    times = times_of_day(schedule.kind, schedule.time_of_day, schedule.every_hours)
    at = latest_slot(times, tz, now)
    if at is None or at < schedule.active_from:
        return None
    reason = blocked(schedule, at.astimezone(tz).date()) or blocked(
        schedule, now.astimezone(tz).date()
    )
    if not reason and not schedule.source.location and not schedule.source.is_rest:
        reason = "the source has no folder to read: set one with 'rollbook source schedule "
        reason += "--folder' or on its settings page"
    return at, reason


def next_slot(schedule: SyncSchedule, now: dt.datetime) -> dt.datetime | None:
    """When the next run will start (None while paused or blocked for very long)."""
    if schedule.paused or not schedule.source.is_active:
        return None
    tz = zone(schedule)
    times = times_of_day(schedule.kind, schedule.time_of_day, schedule.every_hours)
    for at in slots_after(times, tz, max(now, schedule.active_from - dt.timedelta(seconds=1))):
        if at > now + dt.timedelta(days=LOOK_AHEAD_DAYS):
            return None
        if not blocked(schedule, at.astimezone(tz).date()):
            return at
    return None  # pragma: no cover  (slots_after never ends)


# --- queueing -----------------------------------------------------------------------------------


def tick(now: dt.datetime | None = None) -> list[ScheduledSlot]:
    """Record and queue every due slot (a worker's housekeeper, every few seconds). Returns the
    slots this call recorded (queued or skipped); a slot another scheduler recorded is not."""
    now = now or timezone.now()
    settle_abandoned_slots()
    made = []
    schedules = SyncSchedule.objects.select_related("source__district").filter(
        paused=False, source__is_active=True
    )
    for schedule in schedules:
        found = due(schedule, now)
        if found is None:
            continue
        at, reason = found
        if ScheduledSlot.objects.filter(source_id=schedule.source_id, slot_at=at).exists():
            continue
        slot = _record(schedule.source, at, reason, now)
        if slot is not None:
            made.append(slot)
    return made


def _record(source: SyncSource, at: dt.datetime, reason: str, now: dt.datetime):
    """Insert the slot; queue its run only if this insert won (one transaction: a slot is
    never recorded without its task, nor queued twice)."""
    from .tasks import run_scheduled_sync

    try:
        with transaction.atomic():
            slot = ScheduledSlot.objects.create(
                source=source,
                slot_at=at,
                status=ScheduledSlot.Status.SKIPPED if reason else ScheduledSlot.Status.QUEUED,
                note=reason,
                finished_at=now if reason else None,
            )
            if not reason:
                result = run_scheduled_sync.using(priority=priority(source)).enqueue(
                    source.pk, slot.pk
                )
                slot.task_id = str(result.id)
                slot.save(update_fields=["task_id"])
    except IntegrityError:  # another scheduler recorded it first
        return None
    log.info("source %s: slot %s %s", source.pk, at.isoformat(), reason or "queued")
    return slot


def expected_bytes(source: SyncSource) -> int:
    """About how much a source's next run reads: its folder's CSV files, or (a REST
    source) its last run's rows. An estimate for ordering the queue, nothing else."""
    if source.kind == SyncSource.Kind.CSV_BUNDLE:
        try:
            with os.scandir(source.location) as entries:
                return sum(
                    e.stat().st_size
                    for e in entries
                    if e.name.lower().endswith(".csv") and e.is_file()
                )
        except (OSError, ValueError):
            return 0
    last = source.runs.exclude(stats={}).order_by("-pk").values_list("stats", flat=True).first()
    counts = (last or {}).get("counts") or {}
    rows = sum(n for actions in counts.values() for n in actions.values() if isinstance(n, int))
    return rows * BYTES_PER_ROW


def priority(source: SyncSource) -> int:
    """The queue priority of a source's scheduled run: larger runs sooner, all below the
    web's jobs. 1 KB and less → -99; three steps up per doubling of the size (1 GB → -39), so
    that sizes a quarter apart differ (whole doublings left the fleet benchmark's three
    largest districts, 120,000 to 200,000 students, tied, and the largest ran third)."""
    low, high = SCHEDULED_PRIORITY
    size = expected_bytes(source)
    steps = int(3 * math.log2(size / 1024)) if size > 1024 else 0
    return max(low, min(high, low + steps))


def settle_abandoned_slots() -> None:
    """A slot whose worker died while running it says so (its run was failed by the reaper)."""
    from . import heartbeat

    for slot in ScheduledSlot.objects.filter(status=ScheduledSlot.Status.RUNNING).exclude(
        worker=""
    ):
        if not heartbeat.is_alive(slot.worker):
            ScheduledSlot.objects.filter(pk=slot.pk, status=ScheduledSlot.Status.RUNNING).update(
                status=ScheduledSlot.Status.FAILED,
                note="interrupted: the worker running it stopped; the next slot runs again",
                finished_at=timezone.now(),
            )


# --- running ------------------------------------------------------------------------------------


def run_slot(source_id: int, slot_id: int) -> SyncRun | None:
    """The scheduled run of a slot (the ``run_scheduled_sync`` task): sync the source's folder
    (a REST source: fetch it, ``sync/rest.py``), held for approval as any run would be. A
    busy source: the task queues itself again 30–60 s later and waits. Returns the run made
    (None if none was)."""
    from rollbook.directory.audit import Actor
    from rollbook.errors import UserError
    from rollbook.sync import services

    from . import heartbeat
    from .locks import SourceBusy

    slot = ScheduledSlot.objects.select_related("source__district").filter(pk=slot_id).first()
    if slot is None or slot.source_id != source_id:
        log.warning("scheduled slot %s of source %s: not found", slot_id, source_id)
        return None
    waiting = [ScheduledSlot.Status.QUEUED, ScheduledSlot.Status.WAITING]
    me = heartbeat.this_process().worker_id
    if not ScheduledSlot.objects.filter(pk=slot.pk, status__in=waiting).update(
        status=ScheduledSlot.Status.RUNNING, worker=me, started_at=timezone.now()
    ):
        return None  # done already (a task delivered twice)
    source = slot.source
    before = source.runs.order_by("-pk").values_list("pk", flat=True).first() or 0
    try:
        # A folder source reads its folder; a REST source fetches (changes, or a reconcile).
        run = services.sync_source(source, Actor(label="schedule"), approve=False)
    except SourceBusy:
        _wait(slot)
        return None
    except Exception as exc:  # the run (if any) says failed; the slot says why
        run = source.runs.filter(pk__gt=before, started_by_label="schedule").first()
        _finish(slot, ScheduledSlot.Status.FAILED, run, str(exc))
        if run is not None:
            after_run(run)
        if not isinstance(exc, UserError):
            raise
        return run
    run = _approve_first(slot, run)
    _finish(slot, ScheduledSlot.Status.DONE, run, "")
    after_run(run)
    return run


def _wait(slot: ScheduledSlot) -> None:
    from .tasks import run_scheduled_sync

    later = timezone.now() + dt.timedelta(seconds=random.uniform(*BUSY_RETRY_SECONDS))
    with transaction.atomic():
        result = run_scheduled_sync.using(run_after=later, priority=priority(slot.source)).enqueue(
            slot.source_id, slot.pk
        )
        ScheduledSlot.objects.filter(pk=slot.pk).update(
            status=ScheduledSlot.Status.WAITING,
            note="waiting: another run of the source is in progress",
            attempts=slot.attempts + 1,
            task_id=str(result.id),
            worker="",
        )


def _finish(slot: ScheduledSlot, status: str, run: SyncRun | None, note: str) -> None:
    ScheduledSlot.objects.filter(pk=slot.pk).update(
        status=status, run=run, note=note[:500], finished_at=timezone.now()
    )


def _approve_first(slot: ScheduledSlot, run: SyncRun) -> SyncRun:
    """The demo's one-time approval: its schedule's first run, held for approval like every
    first sync, is approved by the label the demo set (the run's approver says so)."""
    from rollbook.directory import audit
    from rollbook.errors import UserError
    from rollbook.sync import services

    schedule = SyncSchedule.objects.filter(source_id=slot.source_id).first()
    if (
        schedule is None
        or not schedule.approve_first_run_as
        or run.status != SyncRun.Status.HELD
        or slot.source.runs.filter(status=SyncRun.Status.APPLIED).exists()
    ):
        return run
    label = schedule.approve_first_run_as
    try:
        run = services.approve_run(run, audit.Actor(label=label))
    except UserError as exc:  # busy, or the directory changed: it stays held, for a person
        log.warning("run %s: the one-time approval could not apply it: %s", run.pk, exc)
        run.refresh_from_db()
        return run
    if run.status == SyncRun.Status.APPLIED:
        SyncSchedule.objects.filter(pk=schedule.pk).update(approve_first_run_as="")
        audit.record(
            [
                audit.entry(
                    audit.Actor(label=label),
                    "update_schedule",
                    schedule,
                    district=slot.source.district_id,
                    before={"approve_first_run_as": label},
                    after={"approve_first_run_as": ""},
                    note=f"the one-time approval of the first run was used by run {run.pk}",
                )
            ]
        )
    return run


def after_run(run: SyncRun) -> None:
    """Tell the alerts about the run, if this installation has them (``work/alerts.py``)."""
    try:
        from rollbook.work import alerts
    except ImportError:
        return
    try:
        alerts.after_run(run)
    except Exception:
        log.exception("alerts after run %s failed", run.pk)
