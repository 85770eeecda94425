"""Merging old students (entered by hand before the first sync) into their synced twins.

- ``suggest``: candidates and buckets, within the students an administrator may see;
- ``preview``: exactly what a merge moves, and what it leaves as the SIS says;
- ``merge`` / ``merge_many``: one transaction per pair, audited; the old student becomes a
  tombstone (status ``merged``) that points at the survivor through a ``StudentMerge``;
- ``undo``: puts every row back as it was, if nothing touched them since.

Every function takes ``students``: the students the caller may act on (a district's, or an
administrator's scope). A student outside it is treated as not existing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from rollbook.directory import audit
from rollbook.directory import counts as district_counts
from rollbook.directory.models import (
    Account,
    AdministratorRole,
    ClassMembership,
    GuardianLink,
    HistoryRecord,
    StaffRole,
    Status,
    Student,
)
from rollbook.errors import UserError

from . import guardians
from .matching import Candidate, Kid, Suggestion, score
from .matching import suggest as match
from .models import StudentMerge

if TYPE_CHECKING:
    from rollbook.sync.progress import Progress

MERGED = "merged"  # Student.status of a tombstone


class MergeRefused(UserError):
    """A guard said no; the message says why."""


# --- suggestions ------------------------------------------------------------------------------


def _kids(students: QuerySet[Student]) -> list[Kid]:
    rows = list(
        students.order_by("id").values_list(
            "id",
            "given_name",
            "family_name",
            "school_id",
            "grade",
            "birth_date",
            "preferred_given_name",
            "school__name",
        )
    )
    ids = [r[0] for r in rows]
    contacts: dict[int, set[str]] = defaultdict(set)
    classes: dict[int, set[int]] = defaultdict(set)
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for sid, email, phone in GuardianLink.objects.filter(student_id__in=chunk).values_list(
            "student_id", "account__email", "account__phone"
        ):
            contacts[sid].update(v for v in (email, phone) if v)
        for sid, cls in ClassMembership.objects.filter(student_id__in=chunk).values_list(
            "student_id", "school_class_id"
        ):
            classes[sid].add(cls)
    return [
        Kid(
            pk,
            given,
            family,
            school,
            grade,
            birth,
            preferred,
            school_name,
            frozenset(contacts[pk]),
            frozenset(classes[pk]),
        )
        for pk, given, family, school, grade, birth, preferred, school_name in rows
    ]


def old_students(students: QuerySet[Student]) -> QuerySet[Student]:
    """Students entered by hand that are not merged (active or archived)."""
    return students.filter(origin="manual").exclude(status=MERGED)


def suggest(students: QuerySet[Student]) -> list[Suggestion]:
    """For every old student in ``students``, the synced students of ``students`` it may be."""
    return match(
        _kids(old_students(students)),
        _kids(students.filter(origin="synced", status=Status.ACTIVE)),
    )


def suggestion_record(s: Suggestion) -> dict:
    return {
        "old_student": _kid_record(s.old),
        "bucket": s.bucket,
        "why": s.why,
        "candidates": [
            {
                "student": _kid_record(c.student),
                "score": c.score,
                "reasons": c.reasons,
                "names_alike": c.names.percent,
                "concerns": c.concerns,
                "notes": c.notes,
            }
            for c in s.candidates
        ],
    }


def evidence(
    students: QuerySet[Student], pairs: list[tuple[int, int]]
) -> dict[tuple[int, int], Candidate]:
    """The evidence for each pair (old student, synced student) as the directory is now: what
    a bulk confirmation shows, whatever was true when the candidates were found. A pair with
    a student outside ``students`` is left out."""
    ids = sorted({pk for pair in pairs for pk in pair})
    kids: dict[int, Kid] = {}
    for start in range(0, len(ids), 900):
        kids.update((k.id, k) for k in _kids(students.filter(pk__in=ids[start : start + 900])))
    return {
        (old, new): score(kids[old], kids[new]) for old, new in pairs if old in kids and new in kids
    }


def _kid_record(k: Kid) -> dict:
    return {
        "id": k.id,
        "name": k.name,
        "school": k.school_name,
        "grade": k.grade,
        "birth_date": k.birth_date.isoformat() if k.birth_date else None,
    }


# --- preview ------------------------------------------------------------------------------------


#: Which guardian links found only on the old student a merge keeps: ``None`` or ``False``
#: none (the default), ``True`` all, or the ids of the accounts to keep.
Keep = bool | Collection[int] | None


@dataclass
class Preview:
    old: Student
    survivor: Student
    history: list[HistoryRecord]
    # Active, to an account the synced student has no link to: the SIS does not list these
    # guardians for the child. Dropped (archived) unless the administrator ticks them.
    links_only_on_old: list[GuardianLink]
    # Active, to an account the synced student is linked to already: folded into that link.
    links_already_on_survivor: list[GuardianLink]
    memberships: list[ClassMembership]  # the old student's active manual class memberships
    folded_into: dict[int, int] = field(default_factory=dict)  # old link → survivor's link
    unchanged_fields: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "history_records": len(self.history),
            "guardian_links_only_on_old": len(self.links_only_on_old),
            "guardian_links_already_on_survivor": len(self.links_already_on_survivor),
            "class_memberships": len(self.memberships),
        }

    def kept_accounts(self, keep: Keep) -> set[int]:
        """The accounts whose links found only on the old student are kept."""
        only = {link.account_id for link in self.links_only_on_old}
        if keep is True:
            return only
        if not keep:
            return set()
        return only & {int(a) for a in keep}


def _get(students: QuerySet[Student], pk: int, what: str) -> Student:
    found = students.filter(pk=pk).select_related("school").first()
    if found is None:
        raise MergeRefused(f"no {what} student {pk} among the students you may act on")
    return found


def _guard(old: Student, survivor: Student) -> None:
    if old.pk == survivor.pk:
        raise MergeRefused(f"student {old.pk} cannot be merged into itself")
    if old.district_id != survivor.district_id:
        raise MergeRefused("students of different districts are never merged")
    if old.status == MERGED:
        merge = old.merges_as_old.filter(status=StudentMerge.Status.APPLIED).first()
        raise MergeRefused(
            f"student {old.pk} is already merged into student "
            f"{merge.survivor_id if merge else '?'} (merge {merge.pk if merge else '?'}); "
            "undo that merge first"
        )
    if old.origin == "synced":
        raise MergeRefused(
            f"student {old.pk} comes from the SIS: two synced students are never merged, and "
            "a synced student is never merged away (fix duplicates in the SIS)"
        )
    if survivor.origin != "synced":
        raise MergeRefused(
            f"student {survivor.pk} was entered by hand: an old student is merged into the "
            "synced student it is"
        )
    if survivor.status != Status.ACTIVE:
        raise MergeRefused(f"student {survivor.pk} is {survivor.status}; merge into an active one")


def preview(students: QuerySet[Student], old_id: int, survivor_id: int) -> Preview:
    old = _get(students, old_id, "old")
    survivor = _get(students, survivor_id, "synced")
    _guard(old, survivor)
    on_survivor: dict[int, int] = {}  # account → the survivor's link (the SIS's first)
    for link_id, account_id in (
        survivor.guardian_links.filter(status=Status.ACTIVE)
        .order_by(F("source_id").asc(nulls_last=True), "id")
        .values_list("pk", "account_id")
    ):
        on_survivor.setdefault(account_id, link_id)
    active_links = list(
        old.guardian_links.filter(status=Status.ACTIVE).select_related("account").order_by("id")
    )
    only_old = [link for link in active_links if link.account_id not in on_survivor]
    return Preview(
        old=old,
        survivor=survivor,
        history=list(old.history.select_related("author").order_by("occurred_at", "id")),
        links_only_on_old=only_old,
        links_already_on_survivor=[link for link in active_links if link not in only_old],
        memberships=list(
            old.memberships.filter(source__isnull=True, status=Status.ACTIVE)
            .select_related("school_class")
            .order_by("id")
        ),
        folded_into={
            link.pk: on_survivor[link.account_id]
            for link in active_links
            if link.account_id in on_survivor
        },
        unchanged_fields={
            "name": survivor.display_name,
            "school": survivor.school.name,
            "grade": survivor.grade,
            "SIS sourcedId": survivor.sourced_id or "",
        },
    )


# --- merge ----------------------------------------------------------------------------------


def _has_role(account_ids: list[int]) -> set[int]:
    active = Q(status=Status.ACTIVE)
    with_role = set()
    for model in (GuardianLink, StaffRole, AdministratorRole):
        with_role |= set(
            model.objects.filter(active, account_id__in=account_ids).values_list(
                "account_id", flat=True
            )
        )
    return with_role


def merge(
    students: QuerySet[Student],
    old_id: int,
    survivor_id: int,
    actor: audit.Actor,
    *,
    keep_guardians: Keep = None,
    evidence: dict | None = None,
) -> StudentMerge:
    """Merge one old student into its synced twin, in one transaction.

    Guardian links found only on the old student (the SIS does not list those guardians for
    the child) are archived unless ``keep_guardians`` keeps them; a link to an account the
    synced student is linked to already is folded into that link (archived)."""
    with transaction.atomic():
        # The district's counts first, before any student is locked (directory/counts.py).
        district_counts.hold(
            Student.objects.filter(pk__in=[old_id, survivor_id]).values_list(
                "district_id", flat=True
            )
        )
        list(
            Student.objects.select_for_update()
            .filter(pk__in=[old_id, survivor_id])
            .values_list("pk", flat=True)
        )
        p = preview(students, old_id, survivor_id)
        kept = p.kept_accounts(keep_guardians)
        old, survivor = p.old, p.survivor
        # The district's overview counts change by what the merge does to these two students
        # and their guardians' links (directory/counts.py).
        change = district_counts.Change(old.district_id, students=[old.pk, survivor.pk])
        change.begin()
        moved: dict = {
            "old_student": {
                "status": old.status,
                "archived_at": audit.json_value(old.archived_at),
            },
            "history": [h.pk for h in p.history],
            "links_moved": [],
            "links_archived": [],
            "links_folded": [],  # of links_archived: folded into the survivor's link
            "memberships_moved": [],
            "memberships_archived": [],
            "accounts_deactivated": [],
        }
        HistoryRecord.objects.filter(pk__in=moved["history"]).update(student_id=survivor.pk)
        moving = [link for link in p.links_only_on_old if link.account_id in kept]
        dropped = [link for link in p.links_only_on_old if link.account_id not in kept]
        moved["links_moved"] = [link.pk for link in moving]
        GuardianLink.objects.filter(pk__in=moved["links_moved"]).update(student_id=survivor.pk)
        archive = dropped + p.links_already_on_survivor
        moved["links_archived"] = [link.pk for link in archive]
        moved["links_folded"] = [link.pk for link in p.links_already_on_survivor]
        GuardianLink.objects.filter(pk__in=moved["links_archived"]).update(status=Status.ARCHIVED)
        in_survivor_classes = set(
            survivor.memberships.filter(status=Status.ACTIVE).values_list(
                "school_class_id", flat=True
            )
        )
        for m in p.memberships:
            key = (
                "memberships_archived"
                if m.school_class_id in in_survivor_classes
                else ("memberships_moved")
            )
            moved[key].append(m.pk)
        ClassMembership.objects.filter(pk__in=moved["memberships_moved"]).update(
            student_id=survivor.pk
        )
        ClassMembership.objects.filter(pk__in=moved["memberships_archived"]).update(
            status=Status.ARCHIVED
        )
        accounts = sorted({link.account_id for link in archive})
        with_role = _has_role(accounts)
        left = list(
            Account.objects.filter(pk__in=accounts, is_active=True)
            .exclude(pk__in=with_role)
            .order_by("pk")
            .values_list("pk", "deactivated_at")
        )
        # (account, deactivated_at before): an undo restores both exactly.
        moved["accounts_deactivated"] = [[pk, audit.json_value(at)] for pk, at in left]
        Account.objects.filter(pk__in=[pk for pk, _ in left]).update(
            is_active=False, deactivated_at=timezone.now()
        )
        Student.objects.filter(pk=old.pk).update(status=MERGED)
        change.end()
        record = StudentMerge.objects.create(
            district_id=old.district_id,
            old_student=old,
            survivor=survivor,
            keep_guardians=bool(moving),
            evidence=evidence or {},
            moved=moved,
            merged_by=actor.account,
            merged_by_label=actor.label,
        )
        counts = {k: len(v) for k, v in moved.items() if isinstance(v, list)}
        note = (
            f"merge {record.pk}: student {old.pk} ({old.given_name} {old.family_name}, entered "
            f"by hand) merged into synced student {survivor.pk}; moved {counts}"
        )
        audit.record(
            [
                audit.entry(
                    actor,
                    "merge",
                    old,
                    district=old.district_id,
                    before={"status": old.status},
                    after={"status": MERGED, "merged_into": survivor.pk, "merge": record.pk},
                    note=note,
                ),
                audit.entry(
                    actor,
                    "merge",
                    survivor,
                    district=old.district_id,
                    after={"merged_from": old.pk, "merge": record.pk, **counts},
                    note=note,
                ),
                *guardians.merge_entries(
                    actor,
                    record,
                    moving,
                    dropped,
                    [(link, p.folded_into[link.pk]) for link in p.links_already_on_survivor],
                    [pk for pk, _ in left],
                ),
            ]
        )
        return record


@dataclass
class PairResult:
    old_id: int
    survivor_id: int
    merge_id: int | None = None
    error: str = ""
    # The guardians found only on the old student (the SIS does not list them for the synced
    # student): account, name, email, and whether the merge keeps them.
    guardians: list[dict] = field(default_factory=list)


def merge_many(
    students: QuerySet[Student],
    pairs: list[tuple[int, int]],
    actor: audit.Actor,
    *,
    keep_guardians: Keep | Mapping[int, Collection[int]] = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[PairResult]:
    """Merge many pairs, all or nothing per pair, reported pair by pair.

    ``keep_guardians``: as for :func:`merge`, for every pair; or, per old student, the
    accounts to keep (``{old student id: account ids}``). ``progress``: told each pair."""
    seen_old: set[int] = set()
    results = []
    if progress is not None:
        progress.stage("check_pairs" if dry_run else "merge", total=len(pairs))
    for old_id, survivor_id in pairs:
        result = PairResult(old_id, survivor_id)
        keep = (
            keep_guardians.get(old_id, ())
            if isinstance(keep_guardians, Mapping)
            else keep_guardians
        )
        try:
            if old_id in seen_old:
                raise MergeRefused(f"student {old_id} appears twice in the list")
            seen_old.add(old_id)
            p = preview(students, old_id, survivor_id)
            kept = p.kept_accounts(keep)
            result.guardians = [
                {
                    "account": link.account_id,
                    "name": link.account.name,
                    "email": link.account.email or "",
                    "kept": link.account_id in kept,
                }
                for link in p.links_only_on_old
            ]
            if not dry_run:
                result.merge_id = merge(
                    students, old_id, survivor_id, actor, keep_guardians=keep
                ).pk
        except (UserError, IntegrityError) as exc:
            result.error = str(exc)
        results.append(result)
        if progress is not None:
            progress.advance()
    return results


# --- undo -------------------------------------------------------------------------------------


def undo_blockers(record: StudentMerge) -> list[str]:
    """What has changed since the merge and stops its undo (empty: it can be undone)."""
    m = record.moved
    old, survivor = record.old_student_id, record.survivor_id
    blockers = []
    if record.status != StudentMerge.Status.APPLIED:
        return [f"merge {record.pk} was already undone"]
    if Student.objects.filter(pk=old).exclude(status=MERGED).exists():
        blockers.append(f"student {old} is no longer a merged tombstone")
    moved_away = HistoryRecord.objects.filter(pk__in=m["history"]).exclude(student_id=survivor)
    if moved_away.exists():
        blockers.append(
            f"{moved_away.count()} of the history records moved by the merge are no longer on "
            f"student {survivor}"
        )
    for key, want in (
        ("links_moved", {"student_id": survivor, "status": Status.ACTIVE}),
        ("links_archived", {"status": Status.ARCHIVED}),
    ):
        changed = GuardianLink.objects.filter(pk__in=m[key]).exclude(**want)
        if changed.exists():
            blockers.append(
                f"guardian links {sorted(changed.values_list('pk', flat=True))} changed since "
                "the merge"
            )
    for key, want in (
        ("memberships_moved", {"student_id": survivor}),
        ("memberships_archived", {"status": Status.ARCHIVED}),
    ):
        changed = ClassMembership.objects.filter(pk__in=m[key]).exclude(**want)
        if changed.exists():
            blockers.append(
                f"class memberships {sorted(changed.values_list('pk', flat=True))} changed "
                "since the merge"
            )
    for account in Account.objects.filter(pk__in=[pk for pk, _ in m["accounts_deactivated"]]):
        if account.is_active:
            blockers.append(f"account {account.pk} was reactivated since the merge")
            continue
        for name in ("email", "phone"):
            value = getattr(account, name)
            if value and Account.objects.filter(is_active=True, **{name: value}).exists():
                blockers.append(
                    f"the {name} of account {account.pk} now belongs to another active "
                    "account; the account cannot be reactivated"
                )
    later = StudentMerge.objects.filter(
        pk__gt=record.pk, status=StudentMerge.Status.APPLIED, old_student_id=survivor
    )
    if later.exists():
        blockers.append(f"student {survivor} was itself merged later")
    return blockers


def undo(students: QuerySet[Student], merge_id: int, actor: audit.Actor) -> StudentMerge:
    """Put every row the merge changed back as it was, in one transaction."""
    with transaction.atomic():
        record = (
            StudentMerge.objects.select_for_update()
            .filter(pk=merge_id)
            .filter(Exists(students.filter(pk=OuterRef("old_student_id"))))
            .filter(Exists(students.filter(pk=OuterRef("survivor_id"))))
            .first()
        )
        if record is None:
            raise MergeRefused(f"no merge {merge_id} among the students you may act on")
        blockers = undo_blockers(record)
        if blockers:
            raise MergeRefused(f"merge {merge_id} cannot be undone: " + "; ".join(blockers))
        m, old = record.moved, record.old_student_id
        change = district_counts.Change(record.district_id, students=[old, record.survivor_id])
        change.begin()
        HistoryRecord.objects.filter(pk__in=m["history"]).update(student_id=old)
        GuardianLink.objects.filter(pk__in=m["links_moved"]).update(student_id=old)
        GuardianLink.objects.filter(pk__in=m["links_archived"]).update(status=Status.ACTIVE)
        ClassMembership.objects.filter(pk__in=m["memberships_moved"]).update(student_id=old)
        ClassMembership.objects.filter(pk__in=m["memberships_archived"]).update(
            status=Status.ACTIVE
        )
        for pk, deactivated_at in m["accounts_deactivated"]:
            Account.objects.filter(pk=pk).update(is_active=True, deactivated_at=deactivated_at)
        before = m["old_student"]
        Student.objects.filter(pk=old).update(
            status=before["status"], archived_at=before["archived_at"]
        )
        change.end()
        record.status = StudentMerge.Status.UNDONE
        record.undone_at = timezone.now()
        record.undone_by, record.undone_by_label = actor.account, actor.label
        record.save(update_fields=["status", "undone_at", "undone_by", "undone_by_label"])
        note = f"merge {record.pk} undone: student {old} restored beside {record.survivor_id}"
        audit.record(
            [
                audit.entry(
                    actor,
                    "unmerge",
                    object_type="student",
                    object_id=pk,
                    district=record.district_id,
                    before={"status": MERGED} if pk == old else {"merged_from": old},
                    after={"status": before["status"]} if pk == old else None,
                    note=note,
                )
                for pk in (old, record.survivor_id)
            ]
            + [
                audit.entry(
                    actor,
                    "unmerge",
                    object_type=kind,
                    object_id=pk,
                    district=record.district_id,
                    before=was,
                    after=now,
                    note=f"merge {record.pk} undone",
                )
                for kind, ids, was, now in (
                    (
                        "guardianlink",
                        m["links_moved"],
                        {"student": record.survivor_id},
                        {"student": old},
                    ),
                    (
                        "guardianlink",
                        m["links_archived"],
                        {"status": Status.ARCHIVED},
                        {"status": Status.ACTIVE},
                    ),
                    (
                        "account",
                        [pk for pk, _ in m["accounts_deactivated"]],
                        {"is_active": False},
                        {"is_active": True},
                    ),
                )
                for pk in ids
            ]
        )
        return record
