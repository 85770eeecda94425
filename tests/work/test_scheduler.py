"""The scheduler: which slot is due (time zones, DST, every N hours, pauses, blackout dates,
the rollover pause, catching up after downtime), each slot queued once even when schedulers
race, and the scheduled run itself (held, busy, approved once by the demo's flag)."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from unittest import mock

import pytest
from django.db import connection, connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from rollbook.directory.audit import Actor
from rollbook.directory.models import AuditEntry, District, Student
from rollbook.sync import schedules
from rollbook.sync.models import ScheduledSlot, SyncRun, SyncSchedule, SyncSource
from rollbook.work import scheduler
from rollbook.work.scheduler import latest_slot, slots_on, times_of_day

NY = zoneinfo.ZoneInfo("America/New_York")
UTC = dt.UTC


def at(text: str, tz=UTC) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz)


# --- when: pure computation ------------------------------------------------------------------


def test_daily_in_the_districts_time_zone():
    times = [dt.time(2, 30)]
    # 02:30 in New York in winter (EST, UTC-5) is 07:30 UTC, in summer (EDT) 06:30 UTC.
    assert latest_slot(times, NY, at("2027-01-15 12:00")) == at("2027-01-15 07:30")
    assert latest_slot(times, NY, at("2027-07-15 12:00")) == at("2027-07-15 06:30")
    # Before today's time: yesterday's slot.
    assert latest_slot(times, NY, at("2027-01-15 07:29")) == at("2027-01-14 07:30")
    # Late in the evening in New York is the next day in UTC: still the local day's slot.
    assert latest_slot(times, NY, at("2027-01-16 03:00")) == at("2027-01-15 07:30")
    tokyo = zoneinfo.ZoneInfo(
        "Asia/Tokyo"
    )  # UTC+9, no DST: 02:30 there is 17:30 UTC the day before
    assert latest_slot(times, tokyo, at("2027-01-15 18:00")) == at("2027-01-15 17:30")


def test_a_time_skipped_when_clocks_go_forward_runs_an_hour_later():
    # 2027-03-14: New York's clocks go from 02:00 EST to 03:00 EDT; 02:30 does not exist.
    slots = slots_on(dt.date(2027, 3, 14), [dt.time(2, 30)], NY)
    assert slots == [at("2027-03-14 07:30")]  # 03:30 EDT: read with the offset before
    assert slots[0].astimezone(NY).strftime("%H:%M %Z") == "03:30 EDT"
    # Every day has its one run: the day before, that day and the day after.
    days = [dt.date(2027, 3, d) for d in (13, 14, 15)]
    assert [len(slots_on(d, [dt.time(2, 30)], NY)) for d in days] == [1, 1, 1]


def test_a_time_that_happens_twice_when_clocks_go_back_runs_once():
    # 2027-11-07: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    assert slots_on(dt.date(2027, 11, 7), [dt.time(1, 30)], NY) == [at("2027-11-07 05:30")]
    # After the second 01:30, the due slot is still the first one: never a second run.
    assert latest_slot([dt.time(1, 30)], NY, at("2027-11-07 06:45")) == at("2027-11-07 05:30")


def test_every_few_hours_at_the_same_local_times_each_day():
    assert times_of_day("every", dt.time(0, 0), 6) == [
        dt.time(0, 0),
        dt.time(6, 0),
        dt.time(12, 0),
        dt.time(18, 0),
    ]
    assert times_of_day("every", dt.time(2, 30), 8) == [
        dt.time(2, 30),
        dt.time(10, 30),
        dt.time(18, 30),
    ]
    assert len(times_of_day("every", dt.time(0, 15), 1)) == 24
    times = times_of_day("every", dt.time(0, 0), 6)
    assert latest_slot(times, NY, at("2027-01-15 16:59")) == at("2027-01-15 11:00")  # 06:00 EST
    assert latest_slot(times, NY, at("2027-01-15 17:00")) == at("2027-01-15 17:00")  # 12:00 EST
    # On the day clocks go forward, 02:00 and 03:00 are one moment: one slot.
    hourly = times_of_day("every", dt.time(0, 0), 1)
    assert len(slots_on(dt.date(2027, 3, 14), hourly, NY)) == 23
    assert len(slots_on(dt.date(2027, 11, 7), hourly, NY)) == 24  # 01:00 once


def test_hours_that_do_not_divide_the_day_are_refused():
    from rollbook.errors import UserError

    with pytest.raises(UserError, match="same times each day"):
        schedules.every(5)
    assert schedules.every(12) == 12


# --- when: a schedule in the database ----------------------------------------------------------


@pytest.fixture
def source(db, tmp_path):
    district = District.objects.create(name="Scheduled", time_zone="America/New_York")
    folder = tmp_path / "export"
    folder.mkdir()
    return SyncSource.objects.create(district=district, name="SIS", location=str(folder))


def schedule_of(source, now, **change):
    schedules.change(source, schedules.Change(**change), Actor(label="test"), now=now)
    return SyncSchedule.objects.select_related("source__district").get(source=source)


def test_nothing_is_due_before_the_first_slot_after_the_schedule_was_made(source):
    made = at("2027-01-15 15:00")  # 10:00 in New York: today's 02:30 is in the past
    schedule = schedule_of(source, made, daily=dt.time(2, 30))
    assert scheduler.due(schedule, at("2027-01-16 07:29")) is None
    assert scheduler.due(schedule, at("2027-01-16 07:30")) == (at("2027-01-16 07:30"), "")
    assert scheduler.next_slot(schedule, made) == at("2027-01-16 07:30")


def test_after_downtime_only_the_latest_missed_slot_runs_once(source):
    schedule = schedule_of(source, at("2027-01-01 00:00"), daily=dt.time(2, 30))
    back = at("2027-01-20 12:00")  # down since the 10th: nine slots missed
    made = scheduler.tick(now=back)
    assert [(s.slot_at, s.status) for s in made] == [(at("2027-01-20 07:30"), "queued")]
    assert scheduler.tick(now=back + dt.timedelta(minutes=5)) == []
    assert ScheduledSlot.objects.count() == 1
    assert DBTaskResult.objects.filter(task_path__endswith="run_scheduled_sync").count() == 1
    assert schedule.source.slots.get().task_id


def test_paused_blackout_and_rollover(source):
    schedule = schedule_of(
        source,
        at("2026-12-01 00:00"),
        daily=dt.time(2, 30),
        add_blackouts=[(dt.date(2026, 12, 24), dt.date(2027, 1, 2))],
        rollover=(dt.date(2027, 6, 20), dt.date(2027, 8, 15)),
    )
    blackout = "blackout dates 2026-12-24..2027-01-02"
    # A slot missed the day before (the 23rd's) does not start on a blackout day.
    (slot,) = scheduler.tick(now=at("2026-12-24 06:00"))  # 01:00 on the 24th in New York
    assert (slot.slot_at, slot.status, slot.note) == (at("2026-12-23 07:30"), "skipped", blackout)
    # A blackout day's slot is recorded as skipped, nothing queued.
    (slot,) = scheduler.tick(now=at("2026-12-25 12:00"))
    assert (slot.status, slot.note) == ("skipped", blackout)
    assert not DBTaskResult.objects.exists()
    # After the blackout: the last blacked-out slot is not caught up; the next day's runs.
    (slot,) = scheduler.tick(now=at("2027-01-03 05:00"))  # midnight of the 3rd
    assert (slot.slot_at, slot.status) == (at("2027-01-02 07:30"), "skipped")
    (slot,) = scheduler.tick(now=at("2027-01-03 08:00"))
    assert slot.status == "queued"
    assert DBTaskResult.objects.count() == 1
    # The rollover pause, the same way.
    (slot,) = scheduler.tick(now=at("2027-07-01 12:00"))
    assert (slot.status, slot.note) == ("skipped", "rollover pause 2027-06-20..2027-08-15")
    assert scheduler.next_slot(schedule, at("2027-07-01 12:00")) == at("2027-08-16 06:30")
    # Paused: nothing is recorded; resumed: the next slot, never one from before the resume.
    schedule = schedule_of(source, at("2027-09-01 12:00"), paused=True)
    assert scheduler.tick(now=at("2027-09-02 12:00")) == []
    assert scheduler.next_slot(schedule, at("2027-09-02 12:00")) is None
    schedule_of(source, at("2027-09-03 12:00"), paused=False)
    assert scheduler.tick(now=at("2027-09-03 12:01")) == []
    (slot,) = scheduler.tick(now=at("2027-09-04 06:31"))
    assert slot.slot_at == at("2027-09-04 06:30")


def test_a_source_without_a_folder_skips_its_slots_and_says_why(source):
    source.location = ""
    source.save()
    schedule_of(source, at("2027-01-01 00:00"), every_hours=6, starting=dt.time(0, 0))
    (slot,) = scheduler.tick(now=at("2027-01-01 12:00"))
    assert slot.status == "skipped" and "no folder" in slot.note


def test_a_change_of_time_or_time_zone_never_runs_a_past_slot(source):
    schedule_of(source, at("2027-01-10 00:00"), daily=dt.time(2, 30))
    assert len(scheduler.tick(now=at("2027-01-10 08:00"))) == 1
    # At 14:00 UTC, moved to 08:00 New York time (13:00 UTC, an hour ago): not today.
    schedule_of(source, at("2027-01-10 14:00"), daily=dt.time(8, 0))
    assert scheduler.tick(now=at("2027-01-10 14:01")) == []
    schedule_of(source, at("2027-01-10 14:05"), time_zone="Asia/Tokyo")
    assert scheduler.tick(now=at("2027-01-10 14:10")) == []
    (slot,) = scheduler.tick(now=at("2027-01-10 23:00"))  # 08:00 in Tokyo on the 11th
    assert slot.slot_at == at("2027-01-10 23:00")


# --- exactly once: schedulers racing -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_racing_schedulers_queue_each_slot_once(tmp_path):
    """Four threads with their own database connections tick at the same moment, on many
    sources, again and again: every due slot is recorded and queued exactly once."""
    district = District.objects.create(name="Race", time_zone="America/Chicago")
    for i in range(6):
        source = SyncSource.objects.create(district=district, name=f"S{i}", location=str(tmp_path))
        schedule_of(source, at("2027-02-01 00:00"), every_hours=1, starting=dt.time(0, i * 7))
    moments = [at("2027-02-03 10:00") + dt.timedelta(minutes=20 * k) for k in range(6)]
    start = threading.Barrier(4)
    errors = []

    def scheduler_thread():
        try:
            for now in moments:
                start.wait(timeout=30)
                scheduler.tick(now=now)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler_thread) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    expected = {
        (s.source_id, latest_slot(times_of_day(s.kind, s.time_of_day, 1), scheduler.zone(s), now))
        for s in SyncSchedule.objects.select_related("source__district")
        for now in moments
    }
    assert len(expected) == 17  # hourly at :00 (2 slots in the window), :07 … :35 (3 each)
    slots = ScheduledSlot.objects.all()
    assert {(s.source_id, s.slot_at) for s in slots} == expected
    assert slots.count() == len(expected)
    tasks = DBTaskResult.objects.filter(task_path__endswith="run_scheduled_sync")
    assert tasks.count() == len(expected)
    assert sorted(t.args_kwargs["args"][1] for t in tasks) == sorted(s.pk for s in slots)


# --- the scheduled run -----------------------------------------------------------------------


@pytest.fixture
def home(settings, tmp_path):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    return settings.ROLLBOOK_HOME


def scheduled_source(tmp_path, bundle, **change):
    from tests.sync.bundles import Bundle

    bundle = bundle or Bundle()
    if not bundle.students:
        bundle.guardian("gdn-1", "Ana", "Lopez", "ana@example.com").student(
            "stu-1", "Mia", "Lopez", guardians=("gdn-1",)
        )
    folder = bundle.write(tmp_path / "export")
    district = District.objects.create(name="Nightly", time_zone="Europe/Paris")
    source = SyncSource.objects.create(district=district, name="SIS")
    made = timezone.now() - dt.timedelta(days=2)
    change = {"daily": dt.time(2, 0), "location": str(folder)} | change
    schedule_of(source, made, **change)
    return source


def run_due(source):
    (slot,) = scheduler.tick()
    return scheduler.run_slot(source.pk, slot.pk), ScheduledSlot.objects.get(pk=slot.pk)


def test_a_scheduled_first_sync_is_held_and_the_slot_names_its_run(db, home, tmp_path):
    source = scheduled_source(tmp_path, None)
    run, slot = run_due(source)
    assert run.status == SyncRun.Status.HELD and run.started_by_label == "schedule"
    assert (slot.status, slot.run_id) == ("done", run.pk)
    assert Student.objects.count() == 0
    # The task delivered twice does nothing the second time.
    assert scheduler.run_slot(source.pk, slot.pk) is None
    assert SyncRun.objects.count() == 1


def test_the_demos_one_time_approval_applies_the_first_run_only(db, home, tmp_path):
    source = scheduled_source(tmp_path, None, approve_first_run_as="the demo set-up")
    run, slot = run_due(source)
    assert run.status == SyncRun.Status.APPLIED
    assert run.approved_by_label == "the demo set-up"
    assert "first sync" in run.hold_reasons[0]  # it was held, and approved: both on record
    assert SyncSchedule.objects.get(source=source).approve_first_run_as == ""
    used = AuditEntry.objects.filter(action="update_schedule").latest("id")
    assert used.after == {"approve_first_run_as": ""} and str(run.pk) in used.note


def test_a_busy_source_makes_the_scheduled_run_wait_in_the_queue(db, home, tmp_path):
    from rollbook.work.models import SourceLock, WorkerProcess

    source = scheduled_source(tmp_path, None)
    # Another live process (on another machine, its heartbeat fresh) holds the source.
    WorkerProcess.objects.create(worker_id="other-1", heartbeat_at=timezone.now(), host="elsewhere")
    SourceLock.objects.create(source=source, holder="other-1")
    (slot,) = scheduler.tick()
    before = timezone.now()
    assert scheduler.run_slot(source.pk, slot.pk) is None
    slot.refresh_from_db()
    assert (slot.status, slot.attempts) == ("waiting", 1)
    assert not SyncRun.objects.exists()
    again = DBTaskResult.objects.get(pk=slot.task_id)
    assert again.args_kwargs["args"] == [source.pk, slot.pk]
    wait = (again.run_after - before).total_seconds()
    assert 29 <= wait <= 61
    # Once the source is free, the queued task runs the slot.
    SourceLock.objects.all().delete()
    run = scheduler.run_slot(source.pk, slot.pk)
    assert run.status == SyncRun.Status.HELD
    slot.refresh_from_db()
    assert (slot.status, slot.run_id) == ("done", run.pk)


def test_an_unreadable_folder_fails_the_run_and_the_slot_without_a_traceback(db, home, tmp_path):
    source = scheduled_source(tmp_path, None)
    source.location = str(tmp_path / "gone")
    source.save()
    run, slot = run_due(source)
    assert run.status == SyncRun.Status.FAILED
    assert slot.status == "failed" and "cannot be read" in slot.note


def test_a_slot_whose_worker_died_says_so(db, home, tmp_path):
    from rollbook.work.models import WorkerProcess

    scheduled_source(tmp_path, None)
    (slot,) = scheduler.tick()
    old = timezone.now() - dt.timedelta(hours=1)
    WorkerProcess.objects.create(worker_id="dead-1", heartbeat_at=old, host="elsewhere")
    ScheduledSlot.objects.filter(pk=slot.pk).update(status="running", worker="dead-1")
    scheduler.settle_abandoned_slots()
    slot.refresh_from_db()
    assert slot.status == "failed" and "interrupted" in slot.note


def test_the_scheduler_is_a_worker_housekeeper():
    from rollbook.work.worker import housekeepers

    assert scheduler.tick in housekeepers


def test_the_database_refuses_a_second_row_for_a_slot(source):
    from django.db import IntegrityError, transaction

    ScheduledSlot.objects.create(source=source, slot_at=at("2027-01-01 07:30"))
    with pytest.raises(IntegrityError), transaction.atomic():
        ScheduledSlot.objects.create(source=source, slot_at=at("2027-01-01 07:30"))
    assert connection.vendor in ("sqlite", "postgresql")


def test_when_many_are_due_the_largest_runs_first_and_web_jobs_before_all(db, home, tmp_path):
    """The worker takes the highest priority first (django-tasks-db orders by it): the
    largest district's run starts first, so it does not start last and run alone at the
    end; every scheduled run waits behind the administrators' own jobs (priority 0)."""
    from tests.sync.bundles import Bundle

    def district(name: str, students: int):
        bundle = Bundle()
        for i in range(students):
            bundle.guardian(f"g{i}", "Ana", f"Lopez{i}", f"ana{i}@example.com").student(
                f"s{i}", "Mia", f"Lopez{i}", guardians=(f"g{i}",)
            )
        folder = bundle.write(tmp_path / name)
        place = District.objects.create(name=name, time_zone="Europe/Paris")
        source = SyncSource.objects.create(district=place, name="SIS")
        made = timezone.now() - dt.timedelta(days=2)
        schedule_of(source, made, daily=dt.time(2, 0), location=str(folder))
        return source

    small, large, middle = district("small", 2), district("large", 400), district("mid", 40)
    scheduler.tick()
    queued = DBTaskResult.objects.filter(task_path__endswith="run_scheduled_sync")
    order = [r.args_kwargs["args"][0] for r in queued.ready()]
    assert order == [large.pk, middle.pk, small.pk]
    priorities = {r.args_kwargs["args"][0]: r.priority for r in queued}
    assert all(-100 <= p < 0 for p in priorities.values())
    assert priorities[large.pk] > priorities[middle.pk] > priorities[small.pk]
    # Sizes a quarter apart are told apart: the fleet's largest districts are not tied.
    sizes = iter([150 << 20, 200 << 20, 250 << 20])
    with mock.patch.object(scheduler, "expected_bytes", lambda source: next(sizes)):
        by_size = [scheduler.priority(large) for _ in range(3)]
    assert by_size == sorted(set(by_size))
    # A REST source (no folder) is sized by its last run's rows; none yet: the lowest.
    rest = SyncSource.objects.create(
        district=small.district,
        name="API",
        kind="rest",
        rest_url="https://sis.example",
        auth="oauth2",
    )
    assert scheduler.priority(rest) == scheduler.SCHEDULED_PRIORITY[0]
    SyncRun.objects.create(source=rest, stats={"counts": {"users": {"created": 3_000_000}}})
    assert scheduler.priority(rest) > priorities[large.pk]


def test_ctrl_c_while_a_run_is_settled_still_lets_the_source_go(db, home, tmp_path, monkeypatch):
    """Ctrl+C that lands after the run, while the lock's holder settles what it left: the lock
    is let go all the same (a stale lock made the next run wait until its holder was reaped)."""
    from rollbook.sync import services
    from rollbook.work.locks import holding
    from rollbook.work.models import SourceLock

    source = scheduled_source(tmp_path, None)
    calls = []

    def settle(held):
        calls.append(held)
        if len(calls) == 2:  # the second call: on the way out
            raise KeyboardInterrupt

    monkeypatch.setattr(services, "settle_interrupted_runs", settle)
    with pytest.raises(KeyboardInterrupt), holding(source):
        assert SourceLock.objects.filter(source=source).exists()
    assert len(calls) == 2
    assert not SourceLock.objects.exists()
