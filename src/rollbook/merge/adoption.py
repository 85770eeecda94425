"""Adopt before the first sync: the same matcher, run between the students entered by hand and
the SIS students of a bundle, so that an administrator can confirm which is which; the first
sync then adopts the confirmed records (``sync/adoption.py``) instead of creating duplicates.

Off by default: nothing is adopted that was not confirmed pair by pair (or as the ready
bucket). The founding guideline's flow — archive, sync, merge — stays the default.

Guardians: after the adoption the student has exactly the SIS's guardian links active. A link
entered by hand to a guardian the SIS does not list for the student is archived by the sync
unless the administrator chose to keep it when confirming (``kept_guardians``);
``unlisted_guardians`` lists those guardians beforehand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from django.db import IntegrityError, transaction

from rollbook.directory import audit
from rollbook.directory.contacts import PersonKey
from rollbook.directory.contacts_bulk import normalize_emails, normalize_phones
from rollbook.directory.models import GuardianLink, School, Status, Student
from rollbook.sync import services as sync
from rollbook.sync.models import StudentAdoption, SyncRecord, SyncSource

from .matching import Kid, Suggestion, suggest
from .services import MERGED, MergeRefused, _kids


def _school_ids(district, source: SyncSource | None, schools: pa.Table) -> dict[str, int]:
    """SIS school sourcedId → directory school: the source's synced schools, or a school
    entered by hand with the SIS school's name (which the first sync adopts)."""
    found: dict[str, int] = {}
    if source is not None and source.pk:
        found.update(
            School.objects.filter(source=source).values_list("sourced_id", "pk")  # type: ignore[arg-type]
        )
    manual: dict[str, list[int]] = defaultdict(list)
    for pk, name in School.objects.filter(district=district, source__isnull=True).values_list(
        "pk", "name"
    ):
        manual[name.casefold()].append(pk)
    for sid, name in zip(
        schools["sourced_id"].to_pylist(), schools["name"].to_pylist(), strict=True
    ):
        if sid not in found and len(manual.get(name.casefold(), [])) == 1:
            found[sid] = manual[name.casefold()][0]
    return found


def sis_kids(district, incoming, school_ids: dict[str, int]) -> tuple[list[Kid], list[str]]:
    """The bundle's students as the matcher sees them (ids are positions in the list of
    sourcedIds returned beside them)."""
    students = incoming.tables["student"].filter(pc.invert(incoming.tables["student"]["deleted"]))
    people = incoming.tables["person"]
    emails, _ = normalize_emails(people["email"])
    phones, _ = normalize_phones(people["phone"], district.default_region)
    contact_of = {
        sid: {v for v in (e, p) if v}
        for sid, e, p in zip(
            people["sourced_id"].to_pylist(), emails.to_pylist(), phones.to_pylist(), strict=True
        )
    }
    contacts: dict[str, set[str]] = defaultdict(set)
    links = incoming.tables["guardian_link"]
    for guardian, student in zip(
        links["person_sourced_id"].to_pylist(), links["student_sourced_id"].to_pylist(), strict=True
    ):
        contacts[student] |= contact_of.get(guardian, set())
    kids, sourced_ids = [], []
    names = dict(School.objects.filter(district=district).values_list("pk", "name"))
    for row in students.select(
        [
            "sourced_id",
            "given_name",
            "family_name",
            "preferred_given_name",
            "grade",
            "birth_date",
            "school_sourced_id",
        ]
    ).to_pylist():
        school = school_ids.get(row["school_sourced_id"])
        if school is None:
            continue
        kids.append(
            Kid(
                len(sourced_ids),
                row["given_name"],
                row["family_name"],
                school,
                row["grade"] or "",
                row["birth_date"],
                row["preferred_given_name"] or "",
                names.get(school, ""),
                frozenset(contacts.get(row["sourced_id"], set())),
            )
        )
        sourced_ids.append(row["sourced_id"])
    return kids, sourced_ids


def suggest_adoptions(
    district, bundle: str | Path, source_name: str = "SIS", students=None
) -> tuple[list[Suggestion], list[str]]:
    """For each student entered by hand (not merged, not already synced), the SIS students of
    the bundle it may be. ``students``: the scope (default: the district)."""
    source = SyncSource.objects.filter(district=district, name=source_name).first()
    incoming = sync.read_for_preview(district, bundle, source_name)
    school_ids = _school_ids(district, source, incoming.tables["school"])
    kids, sourced_ids = sis_kids(district, incoming, school_ids)
    scope = students if students is not None else Student.objects.filter(district=district)
    old = _kids(scope.filter(origin="manual").exclude(status=MERGED))
    return suggest(old, kids), sourced_ids


def adoption_record(s: Suggestion, sourced_ids: list[str]) -> dict:
    return {
        "student": {"id": s.old.id, "name": s.old.name, "school": s.old.school_name},
        "bucket": s.bucket,
        "why": s.why,
        "candidates": [
            {
                "sourced_id": sourced_ids[c.student.id],
                "name": c.student.name,
                "school": c.student.school_name,
                "grade": c.student.grade,
                "score": c.score,
                "reasons": c.reasons,
            }
            for c in s.candidates
        ],
    }


def unlisted_guardians(
    district, bundle: str | Path, pairs: list[tuple[int, str]], source_name: str = "SIS"
) -> dict[int, list[GuardianLink]]:
    """For each pair (student entered by hand, SIS sourcedId): the student's active guardian
    links entered by hand whose guardian the SIS does not list for that SIS student — the
    links the first sync archives unless kept. A prediction by the identity rule: a guardian
    is listed when one of the SIS student's guardians has the account's name, email and phone,
    or is the account already (a person this source synced before)."""
    incoming = sync.read_for_preview(district, bundle, source_name)
    people = incoming.tables["person"]
    emails, _ = normalize_emails(people["email"])
    phones, _ = normalize_phones(people["phone"], district.default_region)
    key_of = {
        sid: PersonKey.of(given, family, email, phone)
        for sid, given, family, email, phone in zip(
            people["sourced_id"].to_pylist(),
            people["given_name"].to_pylist(),
            people["family_name"].to_pylist(),
            emails.to_pylist(),
            phones.to_pylist(),
            strict=True,
        )
    }
    links = incoming.tables["guardian_link"]
    guardians_of: dict[str, set[str]] = defaultdict(set)
    for guardian, student in zip(
        links["person_sourced_id"].to_pylist(), links["student_sourced_id"].to_pylist(), strict=True
    ):
        guardians_of[student].add(guardian)
    wanted = sorted({g for _, sid in pairs for g in guardians_of.get(sid, ())})
    account_of: dict[str, int] = {}
    source = SyncSource.objects.filter(district=district, name=source_name).first()
    for start in range(0, len(wanted) if source is not None else 0, 900):
        account_of.update(
            SyncRecord.objects.filter(
                source=source, entity="person", sourced_id__in=wanted[start : start + 900]
            ).values_list("sourced_id", "local_id")
        )
    found: dict[int, list[GuardianLink]] = {}
    for student_id, sourced_id in pairs:
        listed = guardians_of.get(sourced_id, set())
        keys = {key_of[g] for g in listed if g in key_of}
        accounts = {account_of[g] for g in listed if g in account_of}
        found[student_id] = [
            link
            for link in GuardianLink.objects.filter(
                student_id=student_id,
                student__district=district,
                source__isnull=True,
                status=Status.ACTIVE,
            )
            .select_related("account")
            .order_by("account__family_name", "account__given_name", "pk")
            if link.account_id not in accounts
            and PersonKey.of(
                link.account.given_name,
                link.account.family_name,
                link.account.email,
                link.account.phone,
            )
            not in keys
        ]
    return found


def confirm_adoptions(
    district,
    pairs: list[tuple[int, str]],
    actor: audit.Actor,
    source_name: str = "SIS",
    *,
    keep_guardians: bool | Collection[int] = (),
) -> list[StudentAdoption]:
    """Record that each student (entered by hand) is this SIS student. All or nothing.

    ``keep_guardians``: the accounts whose guardian links entered by hand the first sync keeps
    (by hand) where the SIS does not list them (``True``: every one); it archives the others.
    """
    source = sync.get_source(district, source_name)
    by_hand: dict[int, set[int]] = defaultdict(set)  # student → accounts linked by hand
    for start in range(0, len(pairs), 900):
        for student, account in GuardianLink.objects.filter(
            student_id__in=[p[0] for p in pairs[start : start + 900]],
            student__district=district,
            source__isnull=True,
            status=Status.ACTIVE,
        ).values_list("student_id", "account_id"):
            by_hand[student].add(account)
    if keep_guardians is not True:
        keep = {int(a) for a in keep_guardians or ()}
        unknown = keep - {a for accounts in by_hand.values() for a in accounts}
        if unknown:
            raise MergeRefused(
                f"account {', '.join(map(str, sorted(unknown)))} is not a guardian entered by "
                "hand of these students; nothing was recorded"
            )
    made = []
    try:
        with transaction.atomic():
            for student_id, sourced_id in pairs:
                student = Student.objects.filter(pk=student_id, district=district).first()
                if student is None:
                    raise MergeRefused(f"no student {student_id} in this district")
                if student.origin != "manual" or student.status == MERGED:
                    raise MergeRefused(
                        f"student {student_id} is not a student entered by hand: only those are "
                        "adopted"
                    )
                adoption = StudentAdoption.objects.create(
                    source=source,
                    student=student,
                    sourced_id=sourced_id,
                    kept_guardians=sorted(
                        by_hand[student.pk]
                        if keep_guardians is True
                        else by_hand[student.pk] & keep
                    ),
                    confirmed_by=actor.account,
                    confirmed_by_label=actor.label,
                )
                made.append(adoption)
            audit.record(
                audit.entry(
                    actor,
                    "confirm_adoption",
                    object_type="student",
                    object_id=a.student_id,
                    district=district,
                    after={
                        "sourced_id": a.sourced_id,
                        "adoption": a.pk,
                        "kept_guardians": a.kept_guardians,
                    },
                    note="the first sync will adopt this student as the SIS student; of the "
                    "guardians entered by hand that the SIS does not list, it keeps "
                    + (
                        f"accounts {', '.join(map(str, a.kept_guardians))}"
                        if a.kept_guardians
                        else "none"
                    ),
                )
                for a in made
            )
    except IntegrityError:
        raise MergeRefused(
            "a student or an SIS sourcedId is already waiting for adoption; nothing was recorded"
        ) from None
    return made


def cancel_adoption(district, adoption_id: int, actor: audit.Actor) -> StudentAdoption:
    adoption = StudentAdoption.objects.filter(
        pk=adoption_id, source__district=district, status=StudentAdoption.Status.PENDING
    ).first()
    if adoption is None:
        raise MergeRefused(f"no adoption {adoption_id} waiting for the sync in this district")
    with transaction.atomic():
        adoption.status = StudentAdoption.Status.CANCELLED
        adoption.save(update_fields=["status"])
        audit.record(
            [
                audit.entry(
                    actor,
                    "cancel_adoption",
                    object_type="student",
                    object_id=adoption.student_id,
                    district=district,
                    before={"sourced_id": adoption.sourced_id, "adoption": adoption.pk},
                )
            ]
        )
    return adoption
