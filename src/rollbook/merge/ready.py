"""The ready bucket, checked before it is merged at once (the web app's bulk confirmation).

A district that entered every child by hand before its first sync may have hundreds of
thousands of ready pairs: everything here reads the directory a chunk of pairs at a time (a
fixed number of queries per chunk, never per pair) and checks each pair as it is now:

- a pair that no longer passes the rules (``matching``: another school, names under
  ``NAMES_ALIKE``) is **held**, with why;
- a pair a guard refuses (``services._guard``: merged since, the synced student archived…) is
  held, with the guard's words;
- a ready pair whose records still differ somewhere (``Candidate.notes``) is listed for a look;
- the guardians the SIS does not list are listed pair by pair, for the keep or drop choice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Count, QuerySet

from rollbook.directory.models import ClassMembership, GuardianLink, HistoryRecord, Status, Student

from .services import MergeRefused, _guard, evidence

CHUNK = 400  # pairs read at once
COUNTS = (
    "history_records",
    "guardian_links_only_on_old",
    "guardian_links_already_on_survivor",
    "class_memberships",
)


@dataclass
class PairPreview:
    """What merging one pair moves, in counts, and the guardians the SIS does not list."""

    old: Student
    survivor: Student
    counts: dict[str, int]
    links_only_on_old: list[GuardianLink]


@dataclass
class ReadyCheck:
    """The ready bucket as it will be merged: the pairs, what moves, the pairs a person should
    see before confirming, and the pairs that are not merged at once, with why."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    exceptional: list[dict] = field(default_factory=list)  # {"p": PairPreview, "notes": [...]}
    unlisted: list[PairPreview] = field(default_factory=list)  # with guardians to keep or drop
    held: list[str] = field(default_factory=list)  # not merged at once, with why


def names_of(students: QuerySet[Student], ids: set[int]) -> dict[int, str]:
    """Students' names by id, for what a person reads."""
    ordered, out = sorted(ids), {}
    for start in range(0, len(ordered), 900):
        rows = students.filter(pk__in=ordered[start : start + 900]).values_list(
            "pk", "given_name", "family_name"
        )
        out.update((pk, f"{given} {family}") for pk, given, family in rows)
    return out


def _per_student(rows) -> dict[int, int]:
    return dict(rows.values("student_id").annotate(n=Count("id")).values_list("student_id", "n"))


def preview_pairs(
    students: QuerySet[Student], pairs: list[tuple[int, int]]
) -> Iterator[tuple[tuple[int, int], PairPreview | str]]:
    """Each pair with what merging it moves (as ``services.preview`` counts it), or why a guard
    refuses it — a chunk of pairs at a time."""
    for start in range(0, len(pairs), CHUNK):
        part = pairs[start : start + CHUNK]
        ids = {pk for pair in part for pk in pair}
        found = {s.pk: s for s in students.filter(pk__in=ids).select_related("school")}
        olds = [old for old, _ in part]
        history = _per_student(HistoryRecord.objects.filter(student_id__in=olds))
        memberships = _per_student(
            ClassMembership.objects.filter(
                student_id__in=olds, source__isnull=True, status=Status.ACTIVE
            )
        )
        on_survivor: dict[int, set[int]] = defaultdict(set)
        for student, account in GuardianLink.objects.filter(
            student_id__in=[new for _, new in part], status=Status.ACTIVE
        ).values_list("student_id", "account_id"):
            on_survivor[student].add(account)
        old_links: dict[int, list[GuardianLink]] = defaultdict(list)
        for link in (
            GuardianLink.objects.filter(student_id__in=olds, status=Status.ACTIVE)
            .select_related("account")
            .order_by("id")
        ):
            old_links[link.student_id].append(link)
        for old_id, new_id in part:
            old, survivor = found.get(old_id), found.get(new_id)
            try:
                for student, pk, what in ((old, old_id, "old"), (survivor, new_id, "synced")):
                    if student is None:
                        raise MergeRefused(
                            f"no {what} student {pk} among the students you may act on"
                        )
                _guard(old, survivor)
            except MergeRefused as exc:
                yield (old_id, new_id), str(exc)
                continue
            links = old_links[old_id]
            only = [link for link in links if link.account_id not in on_survivor[new_id]]
            counts = {
                "history_records": history.get(old_id, 0),
                "guardian_links_only_on_old": len(only),
                "guardian_links_already_on_survivor": len(links) - len(only),
                "class_memberships": memberships.get(old_id, 0),
            }
            yield (old_id, new_id), PairPreview(old, survivor, counts, only)


def mergeable(
    students: QuerySet[Student], pairs: list[tuple[int, int]]
) -> tuple[list[tuple[int, int]], dict, list[str]]:
    """Of the ready pairs, those the rules still let merge at once, on the evidence as it is
    now (a pair found before the rules, or whose students changed since, is held); the
    evidence by pair; and the held pairs in words."""
    found = evidence(students, pairs)
    names = names_of(students, {pk for pair in pairs for pk in pair})
    ok, held = [], []
    for pair in pairs:
        said = f"{names.get(pair[0], pair[0])} → {names.get(pair[1], pair[1])}"
        c = found.get(pair)
        if c is None:
            held.append(f"{said}: no longer among the students you may act on")
        elif c.concerns:
            held.append(f"{said}: needs a look — {'; '.join(c.concerns)}")
        else:
            ok.append(pair)
    return ok, found, held


def check_ready(students: QuerySet[Student], pairs: list[tuple[int, int]]) -> ReadyCheck:
    """What merging the ready pairs would do (the confirmation page)."""
    ok, found, held = mergeable(students, pairs)
    check = ReadyCheck(held=held)
    for pair, preview in preview_pairs(students, ok):
        if isinstance(preview, str):
            old, new = preview_names(students, pair)
            check.held.append(f"{old} → {new}: {preview}")
            continue
        check.pairs.append(pair)
        for key, n in preview.counts.items():
            check.totals[key] += n
        if found[pair].notes:
            check.exceptional.append({"p": preview, "notes": found[pair].notes})
        if preview.links_only_on_old:
            check.unlisted.append(preview)
    return check


def preview_names(students: QuerySet[Student], pair: tuple[int, int]) -> tuple[str, str]:
    names = names_of(students, set(pair))
    return names.get(pair[0], str(pair[0])), names.get(pair[1], str(pair[1]))
