"""Alerts: a district's administrators hear about a scheduled sync that needs a person.

Three things raise an alert (a ``web.Alert`` row, docs/sync.md "Alerts"):

- a **scheduled** run (``started_by_label == "schedule"``) **held** for approval;
- a scheduled run that **failed**;
- a scheduled source with **no successful run** (applied, or skipped because the SIS export
  was byte-identical) for longer than its schedule's ``alert_after_hours`` (else the setting
  ``ROLLBOOK_ALERT_STALE_HOURS``, 36).

Each alert is raised once — the row's unique ``key`` is one per run and kind, one per source
and stale period (the time since its last successful run), so several workers looking at once
raise it once — and emailed once to the district's active district administrators. The
district's page shows it until it is dealt with: settled by a later run (a held run approved
or discarded; a run of the source that succeeds after a failure or a stale period), or
dismissed by a district administrator (``dismiss``, audited).

Entry points: ``after_run(run)`` (the scheduled-sync task, after each scheduled run) and
``check_stale(now)`` (a worker housekeeper, every few seconds: stale sources, scheduled runs
whose task died before it could tell, alerts settled meanwhile, emails not sent yet).
The email names the district, the source and the run and says what to do, with a link to the
page; it never names a student, a guardian or a staff member.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Min, Q
from django.urls import reverse
from django.utils import timezone

from rollbook.directory import audit
from rollbook.directory.models import Account, AdministratorRole, District, Status
from rollbook.errors import UserError
from rollbook.sync.models import ScheduledSlot, SyncRun, SyncSource
from rollbook.web.models import Alert

log = logging.getLogger(__name__)

SCHEDULE = "schedule"  # the started_by_label of the scheduler's runs
SUCCESS = (SyncRun.Status.APPLIED, SyncRun.Status.SKIPPED)
RUN_KINDS = {SyncRun.Status.HELD: Alert.Kind.HELD, SyncRun.Status.FAILED: Alert.Kind.FAILED}
SWEEP = dt.timedelta(days=2)  # scheduled runs this recent are alerted if their task could not
MAIL_TRIES = 5  # an email that could not be sent is tried again this many times in all
MAIL_FOR = dt.timedelta(days=2)  # …while the alert is this young


# --- raising ----------------------------------------------------------------------------------


def after_run(run: SyncRun) -> Alert | None:
    """After a run of a source: settle the alerts it deals with; if it is a scheduled run that
    was held or failed, alert the district (once per run). Returns the alert raised now."""
    run.refresh_from_db()
    settle(source_id=run.source_id)
    if run.started_by_label != SCHEDULE or run.status not in RUN_KINDS:
        return None
    return _alert_run(run)


def _alert_run(run: SyncRun) -> Alert | None:
    kind = RUN_KINDS[run.status]
    if kind == Alert.Kind.FAILED and _later_success(run.source_id, run.pk) is not None:
        return None  # a later run succeeded already: nothing to do
    detail = {"hold_reasons": list(run.hold_reasons)} if kind == Alert.Kind.HELD else {}
    if kind == Alert.Kind.FAILED and run.report.note:
        detail["note"] = run.report.note  # a sentence of ours, never the data's
    return _raise(kind, run.source, run, f"{kind}:run:{run.pk}", detail)


def check_stale(now: dt.datetime | None = None) -> list[Alert]:
    """Alert each scheduled source without a successful run for longer than its threshold
    (once per stale period); also alert scheduled runs held or failed whose task could not
    (it died), settle what later runs dealt with, and retry emails not sent. A worker calls
    it every few seconds (``rollbook.work.worker.housekeepers``). Returns the alerts raised."""
    now = now or timezone.now()
    settle()
    raised = [a for a in (_sweep_runs(now)) if a is not None]
    for source, since, hours, last_ok in _watched(now):
        if now - since <= dt.timedelta(hours=hours):
            continue
        key = f"stale:source:{source.pk}:after:{last_ok or 'never'}"
        detail = {"since": since.isoformat(), "hours": hours}
        latest = source.runs.order_by("-pk").first()
        if latest is not None:
            detail |= {"latest_run": latest.pk, "latest_status": latest.status}
        run = SyncRun.objects.filter(pk=last_ok).first() if last_ok else None
        alert = _raise(Alert.Kind.STALE, source, run, key, detail)
        if alert is not None:
            raised.append(alert)
    _retry_mail(now)
    return raised


def _sweep_runs(now: dt.datetime) -> list[Alert | None]:
    """Scheduled runs held or failed lately and not alerted: their task died (the reaper
    failed the run) or could not call ``after_run``."""
    recent = SyncRun.objects.filter(
        started_by_label=SCHEDULE, status__in=list(RUN_KINDS), created_at__gte=now - SWEEP
    ).select_related("source")
    runs = {
        f"{RUN_KINDS[r.status]}:run:{r.pk}": r for r in recent if not _task_still_on(r.source_id)
    }
    known = set(Alert.objects.filter(key__in=list(runs)).values_list("key", flat=True))
    return [_alert_run(run) for key, run in sorted(runs.items()) if key not in known]


def _task_still_on(source_id: int) -> bool:
    """A live worker is still running a scheduled slot of the source: its task alerts the run
    itself when it ends (``after_run``) — a held first run may yet be approved by the demo's
    one-time approval (``scheduler._approve_first``), and must not alert meanwhile."""
    from . import heartbeat

    running = ScheduledSlot.objects.filter(
        source_id=source_id, status=ScheduledSlot.Status.RUNNING
    ).values_list("worker", flat=True)
    return any(worker and heartbeat.is_alive(worker) for worker in running)


def _raise(kind: str, source: SyncSource, run: SyncRun | None, key: str, detail: dict):
    """The alert, created and emailed — or None if it was raised before (its key exists)."""
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                key=key,
                kind=kind,
                district_id=source.district_id,
                source=source,
                run=run,
                detail=detail,
            )
    except IntegrityError:
        return None
    log.info("alert %s raised: %s of district %s", alert.pk, key, source.district_id)
    send(alert)
    return alert


# --- which sources are watched, and since when ------------------------------------------------


def _schedule_model():
    try:
        return apps.get_model("sync", "SyncSchedule")
    except LookupError:  # before schedules exist
        return None


def _schedule_of(source: SyncSource):
    if _schedule_model() is None:
        return None
    try:
        return source.schedule
    except ObjectDoesNotExist:
        return None


def _zone(district: District) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(getattr(district, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _blocked(schedule, day: dt.date) -> bool:
    """Is the schedule's local day a blackout date or in the rollover pause (no run starts)?"""
    try:
        from rollbook.work.scheduler import blocked
    except ImportError:
        return False
    return bool(blocked(schedule, day))


def _watched(now: dt.datetime):
    """(source, since when its stale clock runs, threshold in hours, last successful run id)
    of each scheduled source that is expected to run now.

    A source is watched when it has a schedule that is not paused — or, with no schedule row,
    when its latest run was started by the scheduler. The clock runs from its last successful
    run, but never from before the schedule's ``active_from`` (its last change or resume), nor
    from before the end of a blackout or rollover pause: no runs were expected then. While
    today is a blackout date or in the rollover pause, the source is not watched."""
    default_hours = float(getattr(settings, "ROLLBOOK_ALERT_STALE_HOURS", 36))
    sources = (
        SyncSource.objects.filter(is_active=True)
        .select_related("district")
        .annotate(
            last_ok_id=Max("runs__pk", filter=Q(runs__status__in=SUCCESS)),
            last_ok_at=Max("runs__finished_at", filter=Q(runs__status__in=SUCCESS)),
            last_id=Max("runs__pk"),
            first_scheduled=Min("runs__created_at", filter=Q(runs__started_by_label=SCHEDULE)),
        )
    )
    latest_labels = dict(
        SyncRun.objects.filter(pk__in=[s.last_id for s in sources if s.last_id]).values_list(
            "pk", "started_by_label"
        )
    )
    for source in sources:
        schedule = _schedule_of(source)
        if schedule is None:
            if latest_labels.get(source.last_id) != SCHEDULE:
                continue
            since = source.last_ok_at or source.first_scheduled
            hours = default_hours
        else:
            if getattr(schedule, "paused", False):
                continue
            hours = getattr(schedule, "alert_after_hours", None) or default_hours
            starts = [
                t
                for t in (source.last_ok_at, getattr(schedule, "active_from", None))
                if t is not None
            ]
            since = max(starts) if starts else getattr(schedule, "created_at", source.created_at)
            zone = _zone(source.district)
            today = now.astimezone(zone).date()
            if _blocked(schedule, today):
                continue
            for back in range(1, int(hours // 24) + 2):  # the latest blocked day in the window
                day = today - dt.timedelta(days=back)
                if _blocked(schedule, day):
                    after = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
                    since = max(since, after.astimezone(dt.UTC))
                    break
        if since is not None:
            yield source, since, float(hours), source.last_ok_id


# --- settling ---------------------------------------------------------------------------------


def _later_success(source_id: int, after_pk: int) -> SyncRun | None:
    return (
        SyncRun.objects.filter(source_id=source_id, status__in=SUCCESS, pk__gt=after_pk)
        .order_by("pk")
        .first()
    )


def settled_by(alert: Alert) -> tuple[bool, SyncRun | None]:
    """Has a run dealt with the alert, and which one? A held run no longer held (approved,
    discarded, or out of date after a later run applied); after a failed run, a later run of
    the source that succeeded; after a stale period, any successful run since."""
    if alert.kind == Alert.Kind.HELD:
        status = SyncRun.objects.filter(pk=alert.run_id).values_list("status", flat=True).first()
        if status == SyncRun.Status.HELD:
            return False, None
        return True, _later_success(alert.source_id, alert.run_id - 1)
    if alert.kind == Alert.Kind.FAILED:
        later = _later_success(alert.source_id, alert.run_id)
    else:
        later = _later_success(alert.source_id, alert.run_id or 0)
    return later is not None, later


def settle(source_id: int | None = None) -> int:
    """Mark the open alerts that later runs dealt with as resolved; how many were."""
    open_ = Alert.objects.filter(resolved_at=None, dismissed_at=None)
    if source_id is not None:
        open_ = open_.filter(source_id=source_id)
    done = 0
    for alert in open_:
        settled, run = settled_by(alert)
        if settled:
            done += Alert.objects.filter(pk=alert.pk, resolved_at=None, dismissed_at=None).update(
                resolved_at=timezone.now(), resolved_by_run=run
            )
    return done


def current(district: District) -> list[Alert]:
    """The district's alerts still to deal with, newest first (for its page; reads only:
    an alert a later run settled is left out even before a worker marks it resolved)."""
    found = Alert.objects.filter(district=district, resolved_at=None, dismissed_at=None)
    return [a for a in found.select_related("source", "run") if not settled_by(a)[0]]


def dismiss(alert: Alert, actor: audit.Actor) -> Alert:
    """A district administrator dealt with the alert: it leaves the page (audited)."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if not alert.is_open:
            raise UserError("this alert was dealt with already")
        before = audit.snapshot(alert, ["dismissed_at", "dismissed_by_id"])
        alert.dismissed_at, alert.dismissed_by = timezone.now(), actor.account
        alert.save(update_fields=["dismissed_at", "dismissed_by"])
        audit.record(
            [
                audit.entry(
                    actor,
                    "dismiss_alert",
                    alert,
                    district=alert.district_id,
                    before=before,
                    after=audit.snapshot(alert, ["dismissed_at", "dismissed_by_id"]),
                    note=f"{alert.get_kind_display()}: {alert.key}",
                )
            ]
        )
    return alert


# --- the email --------------------------------------------------------------------------------


def recipients(district_id: int) -> list[tuple[int, str]]:
    """(account id, email) of the district's active district administrators: syncs are the
    district's, and only its district administrators may approve, discard or start them.
    School administrators, and every other district's administrators, are not written to."""
    roles = AdministratorRole.objects.filter(
        district_id=district_id, school__isnull=True, status=Status.ACTIVE
    )
    return list(
        Account.objects.filter(pk__in=roles.values("account"), is_active=True)
        .exclude(email__isnull=True)
        .exclude(email="")
        .order_by("pk")
        .values_list("pk", "email")
    )


def send(alert: Alert) -> bool:
    """Email the alert to the district's administrators, once: the send is claimed first (a
    row update only one process wins), and an email that failed is tried again later by
    ``check_stale``. Returns whether this call sent it."""
    now = timezone.now()
    claimed = Alert.objects.filter(pk=alert.pk, mailed_at=None).update(
        mailed_at=now, mail_tries=F("mail_tries") + 1
    )
    if not claimed:
        return False
    alert = Alert.objects.select_related("district", "source", "run").get(pk=alert.pk)
    to = recipients(alert.district_id)
    if not to:
        Alert.objects.filter(pk=alert.pk).update(
            mailed_to=[], mail_error="nobody to write to: no active district administrator"
        )
        log.warning("alert %s: district %s has no one to email", alert.pk, alert.district_id)
        return False
    subject, body = message(alert)
    try:
        EmailMessage(subject, body, to=[email for _, email in to]).send()
    except Exception as exc:  # an SMTP server away: tried again by check_stale
        Alert.objects.filter(pk=alert.pk).update(
            mailed_at=None, mail_error=f"{type(exc).__name__}: {exc}"[:500]
        )
        log.warning("alert %s: the email could not be sent (%s)", alert.pk, type(exc).__name__)
        return False
    Alert.objects.filter(pk=alert.pk).update(mailed_to=[pk for pk, _ in to], mail_error="")
    return True


def _retry_mail(now: dt.datetime) -> None:
    for alert in Alert.objects.filter(
        mailed_at=None,
        resolved_at=None,
        dismissed_at=None,
        mail_tries__lt=MAIL_TRIES,
        created_at__gte=now - MAIL_FOR,
    ):
        send(alert)


def link(path: str) -> str:
    return getattr(settings, "ROLLBOOK_BASE_URL", "http://127.0.0.1:8000").rstrip("/") + path


def _when(at: dt.datetime | None, district: District) -> str:
    if at is None:
        return "—"
    zone = _zone(district)
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M} ({getattr(zone, 'key', 'UTC')})"


def message(alert: Alert) -> tuple[str, str]:
    """The email's subject and text. It names the district, the source, the run, counts and
    times — never a student, a guardian or a staff member."""
    district, source, run = alert.district, alert.source, alert.run
    if run is not None and alert.kind != Alert.Kind.STALE:
        page = link(reverse("web:district-run", args=[district.pk, run.pk]))
    else:
        page = link(reverse("web:district-sync", args=[district.pk]))
    head = f"[Rollbook] {district.name}: "
    if alert.kind == Alert.Kind.HELD:
        subject = head + f"scheduled sync held for approval (run {run.pk})"
        reasons = alert.detail.get("hold_reasons") or []
        lines = [
            f"The scheduled sync of the source “{source.name}” of {district.name} made run "
            f"{run.pk} on {_when(run.created_at, district)} and held it for approval: nothing "
            "of it has been applied, and the directory is as it was.",
            "",
            "Why it was held:",
            *(f"- {r}" for r in reasons),
            "",
            "What to do: open the run, look at what it would change, then approve it or discard "
            "it (on the run's page, or the Sync tab):",
            page,
        ]
    elif alert.kind == Alert.Kind.FAILED:
        subject = head + f"scheduled sync failed (run {run.pk})"
        note = alert.detail.get("note")
        lines = [
            f"The scheduled sync of the source “{source.name}” of {district.name} failed: run "
            f"{run.pk}, started {_when(run.created_at, district)}. Nothing of it was applied; "
            "the directory is as it was before the run.",
            *([f"What happened: {note}."] if note else []),
            "",
            "What to do: look at the failure and its findings on the run's page:",
            page,
            "Often the SIS export is the cause ('rollbook validate' lists a bundle's problems). "
            "The next scheduled run tries again; a run that succeeds clears this alert.",
        ]
    else:
        hours = alert.detail.get("hours")
        since = dt.datetime.fromisoformat(alert.detail["since"])
        subject = head + f"no successful sync of “{source.name}” for {hours:g} hours"
        last = (
            f"Its last successful run was run {run.pk}, finished {_when(run.finished_at, district)}"
            if run is not None
            else "It has not had a successful run yet"
        )
        latest = alert.detail.get("latest_run")
        lines = [
            f"The source “{source.name}” of {district.name} has had no successful "
            f"sync (applied, or skipped because the SIS export was unchanged) since "
            f"{_when(since, district)}: more than the {hours:g} hours allowed. {last}.",
            (
                f"Its latest run is run {latest} ({alert.detail.get('latest_status')})."
                if latest
                else "No run has started since."
            ),
            "",
            "What to do: open the Sync tab and look at the latest runs (approve or discard a "
            "held one; look at a failed one); check that the SIS export still arrives in the "
            "source's folder and that Rollbook's workers run ('rollbook worker'):",
            page,
        ]
    lines += [
        "",
        f"You get this email because you are a district administrator of {district.name} in "
        "Rollbook. It is sent once; the district's page shows the alert until it is dealt "
        "with or an administrator dismisses it.",
    ]
    return subject, "\n".join(lines) + "\n"
