"""The demo district: realistic, synthetic, deterministic — and brought in the real way.

1. A OneRoster bundle is generated (``rollbook generate``): a few schools, about 2,000 students
   with guardians, staff of whom some are parents.
2. Before the sync, the district already has its schools and some "existing families", entered
   by hand through the manual roster import: the same children, with guardians whose contact
   details sometimes match the SIS exactly (they keep their accounts), sometimes not (new
   accounts beside them, and conflicts the sync reports). They have a history of messages and
   notes.
3. The first sync runs, approved, exactly as an administrator would run it.

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
    """Create the demo district and sync it (refuses when it exists already). With
    ``first_sync=False`` the district is left as it is before its first sync, ready for the
    self-check (``rollbook check``) and the founding guideline's steps."""
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
    run = sync.sync_bundle(source, bundle, actor, approve=True) if first_sync else None
    identity = run.stats["outcome"]["identity"] if run else {}
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
        conflicts=run.issues.filter(code__endswith="-TAKEN").count() if run else 0,
        history_records=history,
    )
