"""A source's schedule: what people type, what it means, and changing it — audited.

The schedule itself is ``models.SyncSchedule``; ``rollbook.work.scheduler`` reads it and queues
its runs. Changes come from ``rollbook source schedule`` and from the source's settings page in
the web app, both through :func:`change`, which records every change with before and after.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from rollbook.directory import audit
from rollbook.errors import UserError

from .models import SyncSchedule, SyncSource

HOURS = (1, 2, 3, 4, 6, 8, 12, 24)  # "every N hours": the same times every day
SCHEDULE_FIELDS = [
    "kind",
    "time_of_day",
    "every_hours",
    "paused",
    "blackouts",
    "rollover_start",
    "rollover_end",
    "alert_after_hours",
    "approve_first_run_as",
]
SOURCE_FIELDS = ["additions_only", "location"]
TIMING = {"kind", "time_of_day", "every_hours"}


def parse_time(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text.strip()).replace(second=0, microsecond=0)
    except ValueError:
        raise UserError(f"{text!r} is not a time of day; write it as HH:MM, e.g. 02:30") from None


def parse_range(text: str) -> tuple[dt.date, dt.date]:
    """``2026-12-24..2027-01-02`` (both days included; one day alone is a range of one)."""
    first, _, last = text.strip().partition("..")
    try:
        start = dt.date.fromisoformat(first.strip())
        end = dt.date.fromisoformat(last.strip()) if last else start
    except ValueError:
        raise UserError(
            f"{text!r} is not a range of dates; write it as FIRST..LAST, e.g. "
            "2026-12-24..2027-01-02"
        ) from None
    if end < start:
        raise UserError(f"{text!r} ends before it starts")
    return start, end


def time_zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"{name!r} is not a time zone; give its IANA name, e.g. America/Chicago or "
            "Europe/London"
        ) from None


def every(hours: int) -> int:
    if hours not in HOURS:
        raise UserError(
            f"every {hours} hours does not fall at the same times each day; choose "
            + ", ".join(map(str, HOURS))
        )
    return hours


def ranges(schedule: SyncSchedule) -> list[tuple[dt.date, dt.date]]:
    return [(dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in schedule.blackouts]


def _snapshot(schedule: SyncSchedule) -> dict:
    data = audit.snapshot(schedule, SCHEDULE_FIELDS)
    data["time_of_day"] = schedule.time_of_day.strftime("%H:%M")
    return data


def _text(span: tuple[dt.date, dt.date]) -> str:
    return f"{span[0].isoformat()}..{span[1].isoformat()}"


@dataclass
class Change:
    """What to change (None: leave it). ``add_blackouts`` are added after ``blackouts`` (a
    whole new list, or [] to clear them); ``rollover`` is a range, or () to clear it."""

    daily: dt.time | None = None
    every_hours: int | None = None
    starting: dt.time | None = None  # every few hours: the first of the day's times
    paused: bool | None = None
    blackouts: list[tuple[dt.date, dt.date]] | None = None
    add_blackouts: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    rollover: tuple[dt.date, dt.date] | tuple[()] | None = None
    additions_only: bool | None = None
    location: str | None = None
    alert_after_hours: int | None = None
    time_zone: str | None = None
    approve_first_run_as: str | None = None  # the demo's one-time approval (never the web's)


SOURCE_ONLY = {"additions_only", "location", "time_zone"}


def change(
    source: SyncSource, change: Change, actor: audit.Actor, now: dt.datetime | None = None
) -> SyncSchedule | None:
    """Apply a change to the source's schedule (created on first use, which needs a timing),
    its mode and folder, and its district's time zone; each changed object audited with before
    and after. Slots before ``now`` are never run after a change of timing or a resume.
    Returns the schedule (None for a source without one whose mode alone changed)."""
    now = now or timezone.now()
    if change.daily is not None and change.every_hours is not None:
        raise UserError("choose one: --daily or --every-hours")
    with transaction.atomic():
        source = SyncSource.objects.select_for_update().select_related("district").get(pk=source.pk)
        schedule = SyncSchedule.objects.filter(source=source).first()
        created = schedule is None
        if created and not _about_schedule(change):
            return _source_only(source, change, actor, now)
        if created:
            if change.daily is None and change.every_hours is None:
                raise UserError(
                    f"the source {source.name} has no schedule yet; give it a time first: "
                    "--daily 02:30 or --every-hours 6"
                )
            schedule = SyncSchedule(source=source, time_of_day=dt.time(2, 30), active_from=now)
        before = None if created else _snapshot(schedule)
        source_before = audit.snapshot(source, SOURCE_FIELDS)
        _apply(schedule, source, change)
        after = _snapshot(schedule)
        resumed = before is not None and before["paused"] and not schedule.paused
        if created or resumed or any(before[f] != after[f] for f in TIMING):
            schedule.active_from = now
        entries = []
        if before != after or created:
            schedule.save()
            entries.append(
                audit.entry(
                    actor,
                    "create_schedule" if created else "update_schedule",
                    schedule,
                    district=source.district,
                    before=before,
                    after=after,
                    note=f"schedule of source {source.name}: {describe(schedule, source)}",
                )
            )
        if audit.snapshot(source, SOURCE_FIELDS) != source_before:
            source.save(update_fields=SOURCE_FIELDS)
            entries.append(
                audit.entry(
                    actor,
                    "update_source",
                    source,
                    district=source.district,
                    before=source_before,
                    after=audit.snapshot(source, SOURCE_FIELDS),
                )
            )
        if change.time_zone is not None:
            entries += _time_zone(source, change.time_zone, actor, now)
        audit.record(entries)
    schedule.refresh_from_db()
    return schedule


def _about_schedule(change: Change) -> bool:
    return any(
        value not in (None, []) for name, value in vars(change).items() if name not in SOURCE_ONLY
    )


def _source_only(source: SyncSource, change: Change, actor: audit.Actor, now) -> None:
    """A source without a schedule: its mode (and its district's time zone) only."""
    before = audit.snapshot(source, ["additions_only"])
    entries = []
    if change.additions_only is not None and change.additions_only != source.additions_only:
        source.additions_only = change.additions_only
        source.save(update_fields=["additions_only"])
        entries.append(
            audit.entry(
                actor,
                "update_source",
                source,
                district=source.district,
                before=before,
                after=audit.snapshot(source, ["additions_only"]),
            )
        )
    if change.time_zone is not None:
        entries += _time_zone(source, change.time_zone, actor, now)
    audit.record(entries)
    return None


def _apply(schedule: SyncSchedule, source: SyncSource, change: Change) -> None:
    if change.daily is not None:
        schedule.kind, schedule.time_of_day = SyncSchedule.Kind.DAILY, change.daily
    if change.every_hours is not None:
        schedule.kind = SyncSchedule.Kind.EVERY
        schedule.every_hours = every(change.every_hours)
    if change.starting is not None:
        schedule.time_of_day = change.starting
    if change.paused is not None:
        schedule.paused = change.paused
    spans = ranges(schedule) if change.blackouts is None else list(change.blackouts)
    for span in change.add_blackouts:
        if span not in spans:
            spans.append(span)
    schedule.blackouts = [[a.isoformat(), b.isoformat()] for a, b in sorted(spans)]
    if change.rollover is not None:
        schedule.rollover_start, schedule.rollover_end = change.rollover or (None, None)
    if change.alert_after_hours is not None:
        if change.alert_after_hours < 1:
            raise UserError("the alert needs at least 1 hour without a successful run")
        schedule.alert_after_hours = change.alert_after_hours
    if change.approve_first_run_as is not None:
        schedule.approve_first_run_as = change.approve_first_run_as
    if change.additions_only is not None:
        source.additions_only = change.additions_only
    if change.location is not None:
        source.location = change.location


def _time_zone(source: SyncSource, name: str, actor: audit.Actor, now: dt.datetime) -> list:
    """The district's time zone (all its schedules follow it; none runs a past slot)."""
    district = source.district
    name = time_zone(name).key
    if district.time_zone == name:
        return []
    before = audit.snapshot(district, ["time_zone"])
    district.time_zone = name
    district.save(update_fields=["time_zone"])
    SyncSchedule.objects.filter(source__district=district).update(active_from=now)
    return [
        audit.entry(
            actor,
            "update_district",
            district,
            district=district,
            before=before,
            after={"time_zone": name},
            note="the time zone of the district's sync schedules",
        )
    ]


def times_text(schedule: SyncSchedule) -> str:
    if schedule.kind == SyncSchedule.Kind.DAILY:
        return f"every day at {schedule.time_of_day:%H:%M}"
    if schedule.every_hours == 24:
        return f"every 24 hours, at {schedule.time_of_day:%H:%M}"
    return f"every {schedule.every_hours} hours from {schedule.time_of_day:%H:%M}"


def describe(schedule: SyncSchedule, source: SyncSource | None = None) -> str:
    """The schedule in one sentence, as an administrator would say it."""
    source = source or schedule.source
    parts = [f"{times_text(schedule)} ({source.district.time_zone})"]
    if schedule.paused:
        parts.insert(0, "paused")
    spans = [_text(s) for s in ranges(schedule)]
    if spans:
        parts.append("no run on " + ", ".join(spans))
    if schedule.rollover_start:
        parts.append(f"rollover pause {_text((schedule.rollover_start, schedule.rollover_end))}")
    if source.additions_only:
        parts.append("additions only")
    return "; ".join(parts)


def record(schedule: SyncSchedule, now: dt.datetime | None = None, slots: int = 5) -> dict:
    """The schedule as data (``--show --json``, the web page): times, next run, last slots."""
    from rollbook.work.scheduler import next_slot, zone

    source = schedule.source
    upcoming = next_slot(schedule, now or timezone.now())
    tz = zone(schedule)

    def local(at: dt.datetime | None) -> str | None:
        return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if at else None

    return {
        "source": source.name,
        "district_id": source.district_id,
        "summary": describe(schedule, source),
        "kind": schedule.kind,
        "time_of_day": schedule.time_of_day.strftime("%H:%M"),
        "every_hours": schedule.every_hours if schedule.kind == SyncSchedule.Kind.EVERY else None,
        "time_zone": source.district.time_zone,
        "paused": schedule.paused,
        "blackouts": [_text(s) for s in ranges(schedule)],
        "rollover": _text((schedule.rollover_start, schedule.rollover_end))
        if schedule.rollover_start
        else None,
        "additions_only": source.additions_only,
        "folder": source.location,
        "folder_exists": bool(source.location) and Path(source.location).exists(),
        "alert_after_hours": schedule.alert_after_hours,
        "next_run": upcoming.isoformat() if upcoming else None,
        "next_run_local": local(upcoming),
        "slots": [
            {
                "at": slot.slot_at.isoformat(),
                "at_local": local(slot.slot_at),
                "status": slot.status,
                "note": slot.note,
                "run": slot.run_id,
                "run_status": slot.run.status if slot.run_id else None,
            }
            for slot in source.slots.select_related("run")[:slots]
        ],
    }
