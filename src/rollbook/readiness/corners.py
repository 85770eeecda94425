"""Two situations the first sync handles by the rules but that surprise people, named by the
self-check before they happen:

- a school entered by hand whose name is *nearly* the SIS school's (``Lincoln Elem`` for
  ``Lincoln Elementary School``): the sync adopts a school only on the exact name, so it creates
  a second school, and the students entered by hand stay in the first one;
- guardians removed with Remove Guardians (their accounts deactivated) whom the SIS lists again
  with the same email or phone: the sync gives them new accounts, and the old account's history
  stays with the old account.
"""

from __future__ import annotations

import re
from collections import Counter

import pyarrow as pa
from django.db.models import Count, Q
from rapidfuzz import fuzz

from rollbook.directory.contacts import name_key
from rollbook.directory.models import Account, HistoryRecord, School, Status

from .people import holding, people_of
from .report import Report

#: Words that say what kind of school it is rather than which one.
KINDS = {
    "elementary": "elementary",
    "elem": "elementary",
    "es": "elementary",
    "primary": "elementary",
    "middle": "middle",
    "ms": "middle",
    "junior": "middle",
    "jr": "middle",
    "intermediate": "middle",
    "high": "high",
    "hs": "high",
    "senior": "high",
    "sr": "high",
}
GENERIC = {"school", "sch", "the", "of", "academy", "center", "centre", "campus", "k", "8"}
SIMILAR = 85  # rapidfuzz ratio of the names' distinctive words


def _words(name: str) -> tuple[str, set[str]]:
    """A school name as its distinctive words and its kinds (elementary, middle, high)."""
    words = re.findall(r"\w+", name_key(name))
    kinds = {KINDS[w] for w in words if w in KINDS}
    rest = " ".join(w for w in words if w not in KINDS and w not in GENERIC)
    return rest, kinds


def resembles(manual: str, sis: str) -> int:
    """How alike two school names are (0–100), 0 when they name different kinds of school or
    are equal case, spaces and Unicode form aside (the sync adopts those)."""
    if name_key(manual) == name_key(sis):
        return 0
    (a, kinds_a), (b, kinds_b) = _words(manual), _words(sis)
    if kinds_a and kinds_b and not kinds_a & kinds_b:
        return 0
    if not a or not b:
        return 0
    return round(fuzz.ratio(a, b))


def school_near_matches(
    report: Report,
    district,
    manual_students: list[dict],
    sis_schools: dict[int, str],
    adopted: set[int] = frozenset(),
) -> None:
    """Schools entered by hand (and not adopted) with active students, whose name resembles an
    SIS school's. ``sis_schools``: the source's schools after the rehearsal, id → name;
    ``adopted``: schools the sync adopts that the directory still has as entered by hand."""
    students = Counter(s["school_id"] for s in manual_students)
    rows = []
    for school in (
        School.objects.filter(district=district, source__isnull=True, status=Status.ACTIVE)
        .exclude(pk__in=sorted(adopted))
        .order_by("name", "id")
    ):
        if not students.get(school.pk):
            continue
        scored = [(resembles(school.name, name), name) for name in sis_schools.values()]
        score, best = max(scored, default=(0, ""))
        if score >= SIMILAR:
            rows.append(
                {
                    "school_id": school.pk,
                    "school": school.name,
                    "students_entered_by_hand": students[school.pk],
                    "sis_school": best,
                    "score": score,
                }
            )
    report.add("CHECK-SCHOOL-NEAR-MATCH", rows)


def returning_guardians(report: Report, district, sis: pa.Table) -> None:
    """Deactivated accounts whose guardian links to the district's students were archived
    (Remove Guardians, or a sync) and whose email or phone an SIS person has: the sync makes
    that person a new account; nothing of the old one comes along."""
    report.add("CHECK-GUARDIAN-RETURNS", returning_rows(district, sis))


def returning_rows(district, sis: pa.Table) -> list[dict]:
    """The rows of ``returning_guardians``, from the directory as it is (before the sync)."""
    archived = Q(guardian_links__student__district=district, guardian_links__status=Status.ARCHIVED)
    removed = list(
        Account.objects.filter(archived, is_active=False)
        .annotate(links=Count("guardian_links", filter=archived, distinct=True))
        .order_by("id")
        .values("id", "given_name", "family_name", "email", "phone", "deactivated_at", "links")
    )
    emails = {a["email"] for a in removed if a["email"]}
    phones = {a["phone"] for a in removed if a["phone"]}
    sis_people = people_of(holding(sis, emails, phones)) if (emails or phones) else None
    rows = []
    for account in removed:
        matches = []
        if sis_people is not None:
            for name in ("email", "phone"):
                value = account[name]
                index = sis_people.by_email if name == "email" else sis_people.by_phone
                matches += index.get(value, []) if value else []
        if not matches:
            continue
        person = min(matches, key=lambda p: p.sourced_id)
        rows.append(
            {
                "account_id": account["id"],
                "given_name": account["given_name"],
                "family_name": account["family_name"],
                "email": account["email"] or "",
                "phone": account["phone"] or "",
                "deactivated_at": account["deactivated_at"],
                "archived_guardian_links": account["links"],
                "history_written": 0,
                "sis_sourced_id": person.sourced_id,
                "sis_name": person.name,
            }
        )
    if rows:
        written = dict(
            HistoryRecord.objects.filter(author_id__in=[r["account_id"] for r in rows])
            .values_list("author_id")
            .annotate(n=Count("id"))
        )
        for row in rows:
            row["history_written"] = written.get(row["account_id"], 0)
    return rows
