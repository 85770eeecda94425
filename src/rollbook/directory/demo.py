"""The demo district: realistic, synthetic, deterministic.

A few schools, about 2,000 students with guardians (siblings share them), staff, some staff
who are also parents (one account, several roles), and a history of messages and notes on
the students. Until the sync engine exists, every family here is entered the way a school did
before it had a sync: through the manual roster import (``origin = manual``).

All names, emails (``@example.org``/``@example.com``) and phones (555-01xx, reserved for
fiction) are invented.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from . import audit, services
from .models import Account, District, HistoryRecord, School, Student
from .roster_import import KNOWN_COLUMNS, apply_roster, read_roster

DEMO_DISTRICT = "Maple Valley Unified School District (demo)"
DEMO_ADMIN_EMAIL = "admin@maplevalley.example.org"
DEMO_ADMIN_PASSWORD = "maple-valley-demo"

GIVEN = [
    "Ava",
    "Liam",
    "Sofía",
    "Noah",
    "Mia",
    "Mateo",
    "Amara",
    "Ethan",
    "Zoë",
    "Lucas",
    "Aisha",
    "Oliver",
    "Chloé",
    "Elijah",
    "Priya",
    "Jack",
    "Hana",
    "Leo",
    "Fatima",
    "Owen",
    "Isla",
    "Diego",
    "Nora",
    "Kai",
    "Maya",
    "Omar",
    "Lena",
    "Hugo",
    "Ines",
    "Arjun",
    "Grace",
    "Yusuf",
    "Camila",
    "Theo",
    "Ruth",
    "Sami",
    "Elena",
    "Tomás",
    "Ada",
    "Felix",
]
FAMILY = [
    "García",
    "Smith",
    "Nguyen",
    "Johnson",
    "O'Brien",
    "Patel",
    "Kim",
    "Müller",
    "Rossi",
    "Hernández",
    "Okafor",
    "Williams",
    "Cohen",
    "Silva",
    "Novak",
    "Ahmed",
    "Brown",
    "Dubois",
    "Tanaka",
    "López",
    "Ivanova",
    "Murphy",
    "Jensen",
    "Chen",
    "Davis",
    "Moreno-Ruiz",
    "Wilson",
    "Haddad",
    "Schmidt",
    "Kowalski",
    "Singh",
    "Andersson",
    "Taylor",
    "Ortiz",
    "Mensah",
    "Clarke",
]
AREA_CODES = [
    "212",
    "415",
    "617",
    "503",
    "206",
    "303",
    "512",
    "614",
    "919",
    "602",
    "404",
    "312",
    "305",
    "702",
    "801",
    "971",
    "720",
    "646",
    "213",
    "718",
    "207",
    "802",
    "603",
    "401",
    "860",
    "413",
    "508",
    "781",
    "978",
    "339",
]
SCHOOLS = [
    ("Maple Valley Elementary", ["KG", "01", "02", "03", "04", "05"], 450),
    ("Cedar Creek Elementary", ["KG", "01", "02", "03", "04", "05"], 420),
    ("Riverside Middle School", ["06", "07", "08"], 520),
    ("Maple Valley High School", ["09", "10", "11", "12"], 610),
]
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
    students: int
    guardian_accounts: int
    staff: int
    staff_also_guardians: int
    history_records: int


class _Phones:
    def __init__(self) -> None:
        self.next = 0

    def take(self) -> str:
        area, line = divmod(self.next, 100)
        self.next += 1
        return f"({AREA_CODES[area % len(AREA_CODES)]}) 555-01{line:02d}"


def _family_rows(
    rng: random.Random,
    school: School,
    grades: list[str],
    count: int,
    phones: _Phones,
    staff_parents: list[dict],
) -> list[dict]:
    rows: list[dict] = []
    while len(rows) < count:
        family = rng.choice(FAMILY)
        guardians = []
        if staff_parents and rng.random() < 0.04:
            guardians.append(staff_parents.pop())
            family = guardians[0]["family_name"]
        for _ in range(rng.choice([1, 2, 2, 2]) - len(guardians)):
            given = rng.choice(GIVEN)
            email = f"{given}.{family}{rng.randrange(1000)}@example.com".lower()
            email = email.replace("'", "").replace(" ", "")
            email = email.encode("ascii", "ignore").decode()
            guardians.append(
                {
                    "given_name": given,
                    "family_name": family,
                    "email": email if rng.random() > 0.05 else "",
                    "phone": phones.take(),
                    "relationship": "parent",
                }
            )
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            if len(rows) >= count:
                break
            row = {
                "student_given_name": rng.choice(GIVEN),
                "student_family_name": family,
                "grade": rng.choice(grades),
                "school": str(school.pk),
            }
            for slot, g in zip(("guardian1", "guardian2"), guardians, strict=False):
                row.update({f"{slot}_{k}": v for k, v in g.items()})
            rows.append(row)
    return rows


def _roster_text(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=KNOWN_COLUMNS, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@transaction.atomic
def build_demo(students: int = 2000, seed: int = 7) -> DemoSummary:
    """Create the demo district (refuses when it exists already)."""
    rng = random.Random(seed)
    actor = audit.Actor(label="rollbook demo")
    district = services.create_district(DEMO_DISTRICT, actor)
    services.create_administrator(
        district,
        DEMO_ADMIN_EMAIL,
        DEMO_ADMIN_PASSWORD,
        actor,
        given_name="Dana",
        family_name="Whitfield",
    )
    phones = _Phones()
    scale = students / sum(size for _, _, size in SCHOOLS)
    staff_parents: list[dict] = []
    staff_count = 0
    schools = []
    for name, grades, size in SCHOOLS:
        school = School.objects.create(district=district, name=name)
        schools.append((school, grades, max(1, round(size * scale))))
        for i in range(max(2, round(size * scale * 0.06))):
            given, family = rng.choice(GIVEN), rng.choice(FAMILY)
            email = f"{given}.{family}.{school.pk}{i}@maplevalley.example.org".lower()
            email = email.replace("'", "").encode("ascii", "ignore").decode()
            person = services.Person.parse(given, family, email, phones.take(), "US")
            role = "teacher" if i % 12 else "principal" if i == 0 else "counselor"
            services.add_staff(school, person, role, actor)
            staff_count += 1
            if rng.random() < 0.15:  # some staff are parents too, written exactly the same
                staff_parents.append(
                    {
                        "given_name": given,
                        "family_name": family,
                        "email": email,
                        "phone": person.phone,
                        "relationship": "parent",
                    }
                )
    reused_staff = len(staff_parents)
    rows: list[dict] = []
    for school, grades, size in schools:
        rows.extend(_family_rows(rng, school, grades, size, phones, staff_parents))
    reused_staff -= len(staff_parents)
    entries = read_roster(_roster_text(rows), "demo roster", district, None)
    result = apply_roster(entries, district, actor)
    history = _history(rng, district)
    return DemoSummary(
        district_id=district.pk,
        students=result.students_created,
        guardian_accounts=result.accounts_created + result.accounts_reused,
        staff=staff_count,
        staff_also_guardians=reused_staff,
        history_records=history,
    )


def _history(rng: random.Random, district: District) -> int:
    now = timezone.now()
    records = []
    teachers = list(Account.objects.filter(staff_roles__school__district=district)[:20])
    for student in Student.objects.filter(district=district).only("id").iterator():
        for _ in range(rng.choice([0, 1, 2, 3])):
            kind, text = rng.choice(MESSAGES)
            author = rng.choice(teachers) if teachers else None
            records.append(
                HistoryRecord(
                    student=student,
                    kind=kind,
                    text=text,
                    occurred_at=now
                    - dt.timedelta(days=rng.randrange(30, 900), minutes=rng.randrange(600)),
                    author=author,
                    author_name=author.name if author else "",
                )
            )
    HistoryRecord.objects.bulk_create(records, batch_size=2000)
    return len(records)
