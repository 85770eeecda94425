"""The self-check's sections, each built from data already gathered (no database access)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.oneroster.model import ReadResult
from rollbook.sync.report import left_out

from .people import (
    GuardianComparison,
    SisPerson,
    differing_fields,
    people_of,
    role_groups,
    sharing,
    with_ids,
)
from .report import Report
from .wording import plural


def existing_families(
    report: Report,
    manual: list[dict],
    syncing_schools: dict[int, str],
    likely: dict[int, tuple[str, str, int]],
) -> int:
    """Active students entered by hand in the schools that will sync, and which of them look
    like an incoming SIS student (``likely``: student id → (bucket, SIS sourcedId, score), from
    the merge process's own matcher). Returns how many there are."""
    affected = [s for s in manual if s["school_id"] in syncing_schools]
    if not affected:
        return 0
    rows, twins = [], []
    for s in affected:
        bucket, sourced_id, score = likely.get(s["id"], ("no_match", "", 0))
        row = {
            "student_id": s["id"],
            "given_name": s["given_name"],
            "family_name": s["family_name"],
            "school": syncing_schools[s["school_id"]],
            "grade": s["grade"],
            "birth_date": s["birth_date"],
            "guardian_links": s["guardian_links"],
            "history_records": s["history"],
            "likely_sis_student": sourced_id,
            "match": bucket.replace("_", " "),
            "score": score,
        }
        rows.append(row)
        if bucket != "no_match":
            twins.append(row)
    report.add(
        "CHECK-EXISTING-STUDENTS",
        rows,
        summary=f"{plural(len(rows), 'student')} entered by hand "
        f"{'is' if len(rows) == 1 else 'are'} active in schools that will sync; "
        f"{len(twins):,} of them {'looks' if len(twins) == 1 else 'look'} like an incoming SIS "
        "student.",
    )
    report.add("CHECK-EXISTING-STUDENT-TWINS", twins)
    return len(rows)


def existing_guardians(report: Report, comparison: GuardianComparison) -> None:
    report.add(
        "CHECK-GUARDIAN-REUSED",
        [
            {
                "account_id": a.id,
                "given_name": a.given_name,
                "family_name": a.family_name,
                "email": a.email or "",
                "phone": a.phone or "",
                "sis_sourced_id": p.sourced_id,
                "sis_roles": p.roles,
            }
            for a, p in comparison.reused
        ],
    )
    fixable = sum(1 for row in comparison.near if row["fixable"])
    report.add(
        "CHECK-GUARDIAN-NEAR-MATCH",
        comparison.near,
        summary=f"{plural(len(comparison.near), 'existing guardian')} "
        f"{'resembles' if len(comparison.near) == 1 else 'resemble'} an SIS person without "
        f"matching exactly; {fixable:,} can take the SIS values now.",
    )
    report.add(
        "CHECK-GUARDIAN-NO-MATCH",
        [
            {
                "account_id": a.id,
                "given_name": a.given_name,
                "family_name": a.family_name,
                "email": a.email or "",
                "phone": a.phone or "",
                "students_linked": a.students,
            }
            for a in comparison.unmatched
        ],
    )


def multiple_roles(report: Report, sis: pa.Table) -> dict[str, int]:
    """Groups of SIS records that share an email or phone, and records holding several roles.
    Returns the numbers the prediction quotes (people split, accounts they become)."""
    one, staff_guardian, split = [], [], []
    people_split = accounts_from_split = 0
    grouped: set[str] = set()
    for number, group in enumerate(role_groups(people_of(sharing(sis))), start=1):
        grouped.update(p.sourced_id for p in group)
        keys = {p.key for p in group}
        if len(keys) == 1:
            first = group[0]
            row = {
                "group": number,
                "sourced_ids": ", ".join(p.sourced_id for p in group),
                "given_name": first.given_name,
                "family_name": first.family_name,
                "email": first.email or "",
                "phone": first.phone or "",
                "roles": "; ".join(p.roles for p in group),
            }
            one.append(row)
            if any(p.staff_roles or p.is_staff for p in group) and any(
                p.is_guardian for p in group
            ):
                staff_guardian.append(row)
            continue
        people_split += 1
        accounts_from_split += len(keys)
        first = group[0]
        for p in group:
            split.append(
                {
                    "group": number,
                    "accounts_in_group": len(keys),
                    **p.row(),
                    "differs": ", ".join(differing_fields(first, p)) or "(first of the group)",
                }
            )
    # A single record holding several roles is one account by construction: there is no
    # decision to show unless its roles are a staff role and a guardian role (the person may
    # want two accounts). The rest (a guardian of several students, staff with several roles)
    # are counted, not listed: a district has hundreds of thousands of them.
    groups = len(one)
    staff = pc.or_(sis["is_staff"], pc.greater(sis["staff_roles"], 0))
    guardian = pc.greater(sis["children"], 0)
    both = pc.and_(guardian, staff)
    several = pc.or_(pc.greater(pc.add(sis["children"], sis["staff_roles"]), 1), both)
    alone = pc.invert(pc.is_in(sis["sourced_id"], pa.array(sorted(grouped), pa.string())))
    unlisted = pc.sum(pc.and_(pc.and_(several, alone), pc.invert(both))).as_py() or 0
    for p in people_of(sis.filter(pc.and_(both, alone))).people:
        row = {
            "group": "",
            "sourced_ids": p.sourced_id,
            "given_name": p.given_name,
            "family_name": p.family_name,
            "email": p.email or "",
            "phone": p.phone or "",
            "roles": p.roles,
        }
        one.append(row)
        staff_guardian.append(row)
    report.add(
        "CHECK-MULTI-ROLE-ONE-ACCOUNT",
        one,
        summary=_one_account_summary(groups, len(one) - groups, unlisted),
        unlisted=unlisted,
    )
    report.add(
        "CHECK-STAFF-ALSO-GUARDIAN",
        staff_guardian,
        summary=f"{plural(len(staff_guardian), 'staff member')} will use one account for "
        "their staff and guardian roles; staff who want separate accounts need different "
        "emails.",
    )
    report.add(
        "CHECK-MULTI-ROLE-SPLIT",
        split,
        count=people_split,
        summary=f"{plural(people_split, 'group', 'groups')} of SIS records that share an email "
        f"or phone will become {plural(accounts_from_split, 'separate account')}.",
    )
    return {"people_split": people_split, "accounts_from_split": accounts_from_split}


def _one_account_summary(groups: int, staff_guardians: int, unlisted: int) -> str:
    parts = []
    if groups:
        parts.append(
            f"{plural(groups, 'group')} of SIS records with the same name, email and phone "
            f"will each be one account"
        )
    if staff_guardians:
        parts.append(
            f"{plural(staff_guardians, 'SIS record')} "
            f"{'holds' if staff_guardians == 1 else 'hold'} both a staff role and a guardian "
            "role: one account"
        )
    if unlisted:
        parts.append(
            f"{plural(unlisted, 'more SIS record')} "
            f"{'holds' if unlisted == 1 else 'hold'} several roles of one kind (a guardian of "
            "several students, staff with several roles): one account each, counted but not "
            "listed"
        )
    return "; ".join(parts) + "." if parts else ""


def sign_in_conflicts(
    report: Report, conflicts: pa.Table, sis: pa.Table, accounts: dict[int, str]
) -> None:
    ids = {v for v in conflicts["person_sourced_id"].to_pylist() if v} | {
        v for v in conflicts["holder_sourced_id"].to_pylist() if v
    }
    people = people_of(with_ids(sis, ids))
    rows = []
    for c in conflicts.to_pylist():
        if not c["code"].endswith("-TAKEN"):
            continue
        person = people.by_id.get(c["person_sourced_id"])
        holder_person = people.by_id.get(c["holder_sourced_id"] or "")
        rows.append(
            {
                "field": c["field"],
                "value": c["value"],
                "sis_sourced_id": c["person_sourced_id"],
                "sis_name": person.name if person else "",
                "held_by_account": c["holder_account"] or "",
                "held_by_sis_sourced_id": c["holder_sourced_id"] or "",
                "held_by_name": accounts.get(c["holder_account"], "")
                if c["holder_account"]
                else (holder_person.name if holder_person else ""),
            }
        )
    report.add("CHECK-SIGN-IN-CONFLICT", rows)


def _people(sis: pa.Table, mask) -> list[SisPerson]:
    return people_of(sis.filter(pc.fill_null(mask, False))).people


def contactability(report: Report, sis: pa.Table, students: pa.Table, links: pa.Table) -> None:
    no_contact = pc.and_(
        pc.and_(pc.greater(sis["children"], 0), pc.equal(sis["raw_email"], "")),
        pc.equal(sis["raw_phone"], ""),
    )
    report.add(
        "CHECK-GUARDIAN-NO-CONTACT",
        [p.row() | {"students": p.children} for p in _people(sis, no_contact)],
    )
    report.add(
        "CHECK-EMAIL-MALFORMED",
        [p.row() | {"email": p.raw_email} for p in _people(sis, sis["email_bad"])],
    )
    report.add(
        "CHECK-PHONE-UNPARSEABLE",
        [p.row() | {"phone": p.raw_phone} for p in _people(sis, sis["phone_bad"])],
    )
    # One column of the links and the masks of the students, not filtered copies of whole
    # tables (1M students and 2.5M links at a million students: the check's peak, 0.25 GB).
    live = pc.invert(links["deleted"])
    linked = pc.unique(links["student_sourced_id"].filter(live).combine_chunks())
    alone = pc.and_(
        pc.invert(students["deleted"]), pc.invert(pc.is_in(students["sourced_id"], linked))
    )
    report.add(
        "CHECK-STUDENT-NO-GUARDIAN",
        students.select(["sourced_id", "given_name", "family_name", "school_sourced_id", "grade"])
        .filter(alone)
        .to_pylist(),
    )


def data_quality(report: Report, result: ReadResult) -> None:
    rows = []
    for code, count in result.findings.counts().items():
        summary = result.findings.by_code[code]
        first = summary.instances[0] if summary.instances else None
        rows.append(
            {
                "code": code,
                "severity": str(summary.severity),
                "count": count,
                "what": summary.spec.title,
                "fix": summary.spec.fix,
                "first_at": first.location() if first else "",
            }
        )
    report.add("CHECK-READER-FINDINGS", rows, count=sum(r["count"] for r in rows))


def sync_skips(report: Report, skips: list[dict], outside: dict[str, int]) -> None:
    rows = list(skips) + [
        {
            "entity": kind,
            "sourced_id": "",
            "message": left_out(kind, n) + " — left out of the sync",
        }
        for kind, n in outside.items()
        if n
    ]
    report.add("CHECK-SYNC-SKIPS", rows, count=len(skips) + sum(outside.values()))
