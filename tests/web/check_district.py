"""A realistic district before its first sync, for the self-check report's tests: a generated
SIS export (``rollbook generate``, a few hundred students) and a directory that already holds
families entered by hand — some the SIS will recognise, some it will not — the way
``tests/readiness/`` builds its cases, only many of them."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from rollbook.directory.audit import Actor

PASSWORD = "a-long-passphrase"


@dataclass
class CheckedDistrict:
    district: object
    admin: object
    folder: Path  # the export, in the district's import folder
    job: object = None  # the finished self-check job


def _rows(folder: Path, name: str) -> list[dict]:
    with (folder / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def build_checked_district(import_root: Path, students: int = 300) -> CheckedDistrict:
    """District "Cedar Valley" with the generator's schools entered by hand (two with the SIS's
    exact names, which the sync adopts; the high school as "Oakside High", nearly its SIS
    name), one student in four entered by hand beside the SIS's, each with a guardian: the
    SIS's guardian exactly, with another phone, with another first name, or someone the SIS
    does not know."""
    from rollbook.directory.contacts import normalize_email, normalize_phone
    from rollbook.directory.models import Account, District, GuardianLink, School, Student
    from rollbook.directory.services import create_administrator
    from rollbook.oneroster.generator import generate_bundle

    actor = Actor(label="test")
    district = District.objects.create(name="Cedar Valley Unified", default_region="US")
    admin = create_administrator(
        district, "dana@cedar.example", PASSWORD, actor, given_name="Dana", family_name="Whitfield"
    )
    folder = import_root / str(district.pk) / "2026-09-01"
    generate_bundle(folder, students=students, seed=7)
    schools = {}
    for org in _rows(folder, "orgs.csv"):
        if org["type"] != "school":
            continue
        name = org["name"]
        if name.endswith("High School"):
            name = name.removesuffix(" School")  # nearly the SIS's name: not adopted
        schools[org["sourcedId"]] = School.objects.create(district=district, name=name)
    users = _rows(folder, "users.csv")
    guardians = {u["sourcedId"]: u for u in users if u["sourcedId"].startswith("gdn-")}
    pupils = [u for u in users if u["sourcedId"].startswith("stu-")]
    for n, pupil in enumerate(pupils[::4]):
        given = pupil["givenName"] if n % 5 else pupil["givenName"][:-1] + "e"  # a typo
        kid = Student.objects.create(
            district=district,
            school=schools[pupil["primaryOrgSourcedId"]],
            given_name=given,
            family_name=pupil["familyName"],
            grade=pupil["grades"],
        )
        agents = [a for a in pupil["agentSourcedIds"].split(",") if a in guardians]
        if not agents:
            continue
        sis = guardians[agents[0]]
        email, phone = normalize_email(sis["email"]), normalize_phone(sis["phone"])
        given = sis["givenName"]
        if n % 4 == 1 and phone:
            phone = f"+1202555{n:04d}"  # another phone: a second account, fixable
        elif n % 4 == 2:
            given = "Alex" if given != "Alex" else "Sam"  # another person: not fixable
        elif n % 4 == 3:
            given, email, phone = "Robin", f"robin.{n}@home.example", None  # unknown to the SIS
        account = Account.objects.filter(email=email).first() if email else None
        if account is None:
            account = Account.objects.create(
                given_name=given,
                family_name=sis["familyName"],
                email=email,
                phone=phone if not Account.objects.filter(phone=phone).exists() else None,
            )
        GuardianLink.objects.get_or_create(account=account, student=kid)
    return CheckedDistrict(district, admin, folder)


def run_self_check(checked: CheckedDistrict) -> object:
    """The self-check job on the export, done, with its report saved (as the worker does)."""
    from django.utils import timezone

    from rollbook.readiness.services import run_check
    from rollbook.web.models import Job
    from rollbook.web.views_check import save_report

    job = Job.objects.create(
        district=checked.district,
        kind=Job.Kind.CHECK,
        bundle=str(checked.folder),
        created_by=checked.admin,
    )
    job.result = save_report(job, run_check(checked.district, checked.folder))
    job.status = Job.Status.DONE
    job.finished_at = timezone.now()
    job.save()
    checked.job = job
    return job
