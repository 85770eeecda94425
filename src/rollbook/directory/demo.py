"""The demo district: realistic, synthetic, deterministic — and brought in the real way.

1. A OneRoster bundle is generated (``rollbook generate``): a few schools, about 2,000 students
   with guardians, staff of whom some are parents.
2. Before the sync, the district already has its schools and some "existing families", entered
   by hand through the manual roster import: the same children, with guardians whose contact
   details sometimes match the SIS exactly (they keep their accounts), sometimes not (new
   accounts beside them, and conflicts the sync reports). They have a history of messages and
   notes.
3. The first sync runs from a schedule, as a district's nightly sync would: the demo gives its
   source a daily schedule whose first slot is due at once, reading the bundle's folder, and a
   worker runs it — the one ``rollbook serve`` starts beside the web server, or (``rollbook
   demo --no-serve``) a worker loop in the demo's own process until the queue is empty. Like
   every first sync the run is held for approval; the schedule carries a one-time approval
   set by the demo (``approve_first_run_as``), so the run is approved by "the demo set-up",
   which its record shows as its approver, beside the reasons it was held.

All names, emails (``example.*``) and phones (555-01xx, reserved for fiction) are invented.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from . import audit, services
from .models import Account, District, HistoryRecord, School, Student
from .roster_import import KNOWN_COLUMNS, apply_roster, read_roster

DEMO_DISTRICT = "Maple Valley Unified School District (demo)"
DEMO_ADMIN_EMAIL = "admin@maplevalley.example.org"
DEMO_ADMIN_PASSWORD = "maple-valley-demo"
DEMO_TIME_ZONE = "America/New_York"
DEMO_APPROVER = "the demo set-up (rollbook demo)"
EXISTING_SHARE = 0.15  # of the SIS students, entered by hand before the sync

MESSAGES = [
    ("message", "Thanks for the reminder about the field trip form — signed and sent back."),
    ("message", "Could we meet next week to talk about reading progress?"),
    ("note", "Prefers to be called by a nickname in class."),
    ("event_signup", "Signed up to volunteer at the spring book fair."),
    ("attendance_note", "Absent for a dentist appointment; excused by a parent."),
    ("message", "Lunch balance is low, please top up when you can."),
]


@dataclass
class DemoSummary:
    district_id: int
    bundle: Path  # the SIS bundle, in the district's import folder
    run_id: int | None
    manual_students: int
    synced_students: int
    accounts: int
    staff_also_guardians: int
    guardians_kept_their_account: int
    conflicts: int
    history_records: int


def _existing_families(bundle: Path, rng: random.Random, schools: dict[str, School]) -> str:
    """A manual roster CSV of some of the bundle's own children, as a school typed them."""
    from rollbook.oneroster import read_bundle

    model = read_bundle(bundle).model
    users = {
        u["sourced_id"]: u
        for u in model.users.select(
            ["sourced_id", "given_name", "family_name", "email", "phone", "grades"]
        ).to_pylist()
    }
    school_of: dict[str, str] = {}
    for r in model.user_roles.select(
        ["user_sourced_id", "org_sourced_id", "role_group"]
    ).to_pylist():
        if r["role_group"] == "student":
            school_of.setdefault(r["user_sourced_id"], r["org_sourced_id"])
    guardians: dict[str, list[str]] = {}
    for link in model.guardian_links.to_pylist():
        guardians.setdefault(link["student_sourced_id"], []).append(link["guardian_sourced_id"])
    rows = []
    typed: dict[str, tuple[str, str]] = {}  # guardian → (email, phone) as the school has them
    old_phones = (
        f"({area}) 555-01{n:02d}" for area in ("207", "802", "603", "401") for n in range(100)
    )
    for sid in sorted(school_of):
        if rng.random() > EXISTING_SHARE or school_of[sid] not in schools:
            continue
        kid = users[sid]
        row = {
            "student_given_name": kid["given_name"],
            "student_family_name": kid["family_name"],
            "grade": (kid["grades"] or ["KG"])[0],
            "school": str(schools[school_of[sid]].pk),
        }
        for slot, gid in zip(("guardian1", "guardian2"), guardians.get(sid, [])[:1], strict=False):
            g = users[gid]
            if gid not in typed:
                email, phone = g["email"] or "", g["phone"] or ""
                roll = rng.random()
                if roll < 0.25 and phone:  # the school has an older phone number
                    phone = next(old_phones)
                elif roll < 0.35 and email:  # the school never had the email
                    email = ""
                typed[gid] = (email, phone)
            email, phone = typed[gid]
            if not email and not phone:
                continue
            row.update(
                {
                    f"{slot}_given_name": g["given_name"],
                    f"{slot}_family_name": g["family_name"],
                    f"{slot}_email": email,
                    f"{slot}_phone": phone,
                }
            )
        rows.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=KNOWN_COLUMNS, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _history(rng: random.Random, district: District, author: Account) -> int:
    now = timezone.now()
    records = []
    for student in Student.objects.filter(district=district, origin="manual").only("id"):
        for _ in range(rng.choice([1, 2, 3])):
            kind, text = rng.choice(MESSAGES)
            records.append(
                HistoryRecord(
                    student=student,
                    kind=kind,
                    text=text,
                    author=author,
                    author_name=author.name,
                    occurred_at=now
                    - dt.timedelta(days=rng.randrange(30, 900), minutes=rng.randrange(600)),
                )
            )
    HistoryRecord.objects.bulk_create(records, batch_size=2000)
    return len(records)


def build_demo(students: int = 2000, seed: int = 7, first_sync: bool = True) -> DemoSummary:
    """Create the demo district (refuses when it exists already) and schedule its first sync,
    due at once, for a worker to run (``run_queue``, or the worker of ``rollbook serve``).
    With ``first_sync=False`` nothing is scheduled: the district is left as it is before its
    first sync, ready for the self-check (``rollbook check``) and the founding guideline's
    steps."""
    from rollbook.oneroster import read_bundle
    from rollbook.oneroster.generator import generate_bundle
    from rollbook.sync import services as sync
    from rollbook.web.bundles import district_import_folder

    rng = random.Random(seed)
    actor = audit.Actor(label="rollbook demo")
    with transaction.atomic():
        district = services.create_district(DEMO_DISTRICT, actor)
        # In the district's own import folder (ROLLBOOK_IMPORT_ROOT/<district id>/demo), so
        # that the web app's Sync and Self-check tabs of this district can name it: "demo".
        bundle = district_import_folder(district.pk) / "demo"
        generate_bundle(bundle, students=students, seed=seed)
        admin = services.create_administrator(
            district,
            DEMO_ADMIN_EMAIL,
            DEMO_ADMIN_PASSWORD,
            actor,
            given_name="Dana",
            family_name="Whitfield",
        )
        orgs = read_bundle(bundle).model.orgs.to_pylist()
        schools = {
            o["sourced_id"]: School.objects.create(district=district, name=o["name"])
            for o in orgs
            if o["type"] == "school"
        }
        entries = read_roster(
            _existing_families(bundle, rng, schools), "existing families", district, None
        )
        apply_roster(entries, district, actor)
        history = _history(rng, district, admin)
    source = sync.get_source(district, "SIS", str(bundle))
    if first_sync:
        schedule_first_sync(source, bundle, actor)
    return summarize(district, bundle, history)


def schedule_first_sync(source, bundle: Path, actor: audit.Actor) -> None:
    """A daily schedule at this very minute of the district's day: its first slot is due now.
    The run it makes is held like every first sync, and approved once by the demo set-up."""
    from rollbook.sync import schedules
    from rollbook.work.scheduler import latest_slot

    zone = schedules.time_zone(DEMO_TIME_ZONE)
    at = timezone.now().astimezone(zone).replace(second=0, microsecond=0).time()
    now = latest_slot([at], zone, timezone.now())  # this minute (its first, if clocks go back)
    schedules.change(
        source,
        schedules.Change(
            daily=at,
            time_zone=DEMO_TIME_ZONE,
            location=str(bundle),
            approve_first_run_as=DEMO_APPROVER,
        ),
        actor,
        now=now,
    )


def run_queue() -> None:
    """Run what is queued now — the demo's scheduled first sync — with a worker loop in this
    process, until the queue is empty (``rollbook demo --no-serve``)."""
    from rollbook.work.worker import run_child

    run_child(["heavy", "default"], batch=True)


def summarize(district: District, bundle: Path, history: int | None = None) -> DemoSummary:
    """What the demo district holds now (its first sync's run, once a worker made it)."""
    from rollbook.sync.models import SyncRun

    run = (
        SyncRun.objects.filter(source__district=district, started_by_label="schedule")
        .order_by("pk")
        .first()
    )
    applied = run is not None and run.status == SyncRun.Status.APPLIED
    identity = run.report.identity if applied else {}
    if history is None:
        history = HistoryRecord.objects.filter(student__district=district).count()
    return DemoSummary(
        district_id=district.pk,
        bundle=bundle,
        run_id=run.pk if run else None,
        manual_students=Student.objects.filter(district=district, origin="manual").count(),
        synced_students=Student.objects.filter(district=district, origin="synced").count(),
        accounts=Account.objects.filter(is_active=True).count(),
        staff_also_guardians=Account.objects.filter(
            staff_roles__isnull=False, guardian_links__isnull=False
        )
        .distinct()
        .count(),
        guardians_kept_their_account=identity.get("accounts_matched", 0),
        conflicts=run.issues.filter(code__endswith="-TAKEN").count() if applied else 0,
        history_records=history,
    )
