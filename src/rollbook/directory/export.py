"""Exports of the directory as JSON or CSV, streamed so that a district of any size fits.

The accounts export gives one object per account with ``name``, ``email``, ``phone`` and
``roles``; each role says its kind (staff role, guardian relationship or administrator), where it
applies (school, student or district) and the SIS ``sourcedId``s it came from, if any.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any

from django.db.models import Prefetch, QuerySet

from rollbook.csvsafe import safe_row

from .models import (
    Account,
    AdministratorRole,
    District,
    GuardianLink,
    StaffRole,
    Student,
)

CHUNK = 2000


def _sourced_ids(*values: str | None) -> list[str]:
    return [v for v in values if v]


def district_records(district: District | None = None) -> Iterator[dict[str, Any]]:
    districts = District.objects.all() if district is None else [district]
    for d in districts:
        yield {
            "id": d.pk,
            "name": d.name,
            "default_region": d.default_region,
            "schools": [
                {
                    "id": s.pk,
                    "name": s.name,
                    "identifier": s.identifier,
                    "status": s.status,
                    "sourced_id": s.sourced_id,
                }
                for s in d.schools.all()
            ],
            "students_active": d.students.filter(status="active").count(),
            "students_archived": d.students.filter(status="archived").count(),
        }


def _accounts(district: District | None) -> QuerySet[Account]:
    qs = Account.objects.order_by("id")
    staff = StaffRole.objects.select_related("school")
    links = GuardianLink.objects.select_related("student")
    admins = AdministratorRole.objects.select_related("district", "school")
    if district is not None:
        staff = staff.filter(school__district=district)
        links = links.filter(student__district=district)
        admins = admins.filter(district=district)
        qs = (
            qs.filter(pk__in=StaffRole.objects.filter(school__district=district).values("account"))
            | qs.filter(
                pk__in=GuardianLink.objects.filter(student__district=district).values("account")
            )
            | qs.filter(
                pk__in=AdministratorRole.objects.filter(district=district).values("account")
            )
        )
    return qs.prefetch_related(
        Prefetch("staff_roles", queryset=staff),
        Prefetch("guardian_links", queryset=links),
        Prefetch("administrator_roles", queryset=admins),
    )


def account_record(account: Account) -> dict[str, Any]:
    roles: list[dict[str, Any]] = []
    for r in account.staff_roles.all():
        roles.append(
            {
                "kind": "staff",
                "role": r.role,
                "status": r.status,
                "school": {"id": r.school_id, "name": r.school.name},
                "sourced_ids": _sourced_ids(r.sourced_id, r.person_sourced_id),
            }
        )
    for link in account.guardian_links.all():
        roles.append(
            {
                "kind": "guardian",
                "relationship": link.relationship,
                "status": link.status,
                "student": {"id": link.student_id, "name": str(link.student)},
                "sourced_ids": _sourced_ids(link.person_sourced_id),
            }
        )
    for a in account.administrator_roles.all():
        where: dict[str, Any] = {"district": {"id": a.district_id, "name": a.district.name}}
        if a.school_id:
            where["school"] = {"id": a.school_id, "name": a.school.name}
        roles.append(
            {
                "kind": "administrator",
                "role": a.scope_label,
                "status": a.status,
                **where,
                "sourced_ids": [],
            }
        )
    return {
        "id": account.pk,
        "name": account.name,
        "given_name": account.given_name,
        "family_name": account.family_name,
        "email": account.email,
        "phone": account.phone,
        "active": account.is_active,
        "origin": account.origin,
        "roles": roles,
    }


def account_records(district: District | None = None) -> Iterator[dict[str, Any]]:
    for account in _accounts(district).iterator(chunk_size=CHUNK):
        yield account_record(account)


def student_records(district: District | None = None) -> Iterator[dict[str, Any]]:
    qs = Student.objects.select_related("school").order_by("id")
    if district is not None:
        qs = qs.filter(district=district)
    for s in qs.iterator(chunk_size=CHUNK):
        yield {
            "id": s.pk,
            "district_id": s.district_id,
            "school": {"id": s.school_id, "name": s.school.name},
            "given_name": s.given_name,
            "family_name": s.family_name,
            "preferred_given_name": s.preferred_given_name,
            "grade": s.grade,
            "birth_date": s.birth_date.isoformat() if s.birth_date else None,
            "student_number": s.sis_identifier,
            "status": s.status,
            "origin": s.origin,
            "sourced_id": s.sourced_id,
        }


def _role_summary(role: dict[str, Any]) -> str:
    if role["kind"] == "staff":
        return f"staff:{role['role']}@{role['school']['name']}"
    if role["kind"] == "guardian":
        return f"guardian:{role['relationship']} of {role['student']['name']}"
    return f"administrator:{role.get('school', role['district'])['name']}"


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for key, value in record.items():
        if key == "roles":
            flat[key] = "; ".join(_role_summary(r) for r in value)
        elif key == "school":
            flat["school_id"], flat["school_name"] = value["id"], value["name"]
        elif key == "schools":
            flat[key] = "; ".join(s["name"] for s in value)
        else:
            flat[key] = value
    return flat


def write(records: Iterator[dict[str, Any]], out: IO[str], fmt: str) -> int:
    """Write records as a JSON array or as CSV (formula-safe); returns the count."""
    count = 0
    if fmt == "json":
        out.write("[")
        for record in records:
            out.write(",\n" if count else "\n")
            out.write(json.dumps(record, ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count
    writer = None
    for record in records:
        flat = _flatten(record)
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(flat))
            writer.writeheader()
        writer.writerow(safe_row(flat))
        count += 1
    return count
