"""Actions on a selection of students: archive, unarchive, remove guardians.

Each action comes in two parts: ``preview_*`` counts exactly what it would do, without writing;
the action itself does it all or nothing (one transaction), writes the audit log, and returns
what it did. A selection is any queryset of students — a page of checked rows or a whole
filter of a million — so the work is set-based: ids are read once, rows are updated in chunks
of ids, and audit entries are written in bulk. Nothing is deleted: students and guardian links
are archived, accounts deactivated.

The caller decides what may be selected (the web app passes its scope's students); the
command line may use these functions as they are. Each action takes an optional ``progress``
(``rollbook.sync.progress``), told each chunk; inside the action's transaction, so only the
same process hears it (bars on the command line).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from . import audit, counts
from .models import Account, AdministratorRole, GuardianLink, StaffRole, Status, Student

if TYPE_CHECKING:
    from rollbook.sync.progress import Progress

CHUNK = 900  # ids per UPDATE: under SQLite's 999 bound parameters


@dataclass(frozen=True)
class StatusCounts:
    """Archive or unarchive: how many selected, how many change, how many already were."""

    selected: int
    changed: int
    synced: int = 0  # of those changed, how many come from the SIS

    @property
    def unchanged(self) -> int:
        return self.selected - self.changed


@dataclass(frozen=True)
class GuardianCounts:
    """Remove guardians: links archived, students and accounts touched, accounts deactivated."""

    selected: int  # students selected
    students: int  # of them, with at least one active guardian link
    links: int  # active guardian links archived
    accounts: int  # distinct guardian accounts of those links
    deactivated: int  # accounts left with no active role, deactivated

    @property
    def students_without_guardians(self) -> int:
        return self.selected - self.students


def _chunks(values: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    it = iter(values)
    while chunk := list(islice(it, size)):
        yield chunk


def _recorder(progress: Progress):
    def record(entries: Iterable) -> None:
        """Write audit entries in batches, never holding a million of them at once."""
        it = iter(entries)
        while batch := list(islice(it, 2000)):
            audit.record(batch)
            progress.advance(len(batch))

    return record


def _districts(students: QuerySet[Student]) -> list[int]:
    return list(students.order_by().values_list("district_id", flat=True).distinct())


def _progress(progress: Progress | None) -> Progress:
    from rollbook.sync.progress import Progress

    return progress or Progress()


# Archive and unarchive ------------------------------------------------------------------------


def _status_preview(students: QuerySet[Student], from_status: str) -> StatusCounts:
    changing = students.filter(status=from_status)
    return StatusCounts(
        selected=students.count(),
        changed=changing.count(),
        synced=changing.filter(source__isnull=False).count(),
    )


def preview_archive(students: QuerySet[Student]) -> StatusCounts:
    return _status_preview(students, Status.ACTIVE)


def preview_unarchive(students: QuerySet[Student]) -> StatusCounts:
    return _status_preview(students, Status.ARCHIVED)


def _set_status(
    students: QuerySet[Student],
    to_status: str,
    actor: audit.Actor,
    note: str,
    progress: Progress | None = None,
) -> StatusCounts:
    from_status = Status.ACTIVE if to_status == Status.ARCHIVED else Status.ARCHIVED
    action = "archive" if to_status == Status.ARCHIVED else "unarchive"
    progress = _progress(progress)
    progress.stage(action)  # other processes see this, then the result
    with transaction.atomic(), progress.unseen():
        counts.hold(_districts(students))  # before any student is locked (counts.py)
        selected = students.count()
        rows = list(
            students.filter(status=from_status)
            .select_for_update()
            .order_by()
            .values_list("pk", "district_id", "archived_at", "source_id")
        )
        now = timezone.now()
        archived_at = now if to_status == Status.ARCHIVED else None
        progress.update(total=len(rows))
        for chunk in _chunks(pk for pk, *_ in rows):
            Student.objects.filter(pk__in=chunk).update(
                status=to_status, archived_at=archived_at, updated_at=now
            )
            progress.advance(len(chunk))
        # The districts' overview counts, by exactly what changed (directory/counts.py).
        for district_id, n in Counter(district_id for _, district_id, *_ in rows).items():
            counts.add(district_id, **{f"students_{from_status}": -n, f"students_{to_status}": n})
        progress.stage("audit", total=len(rows))
        _recorder(progress)(
            audit.entry(
                actor,
                action,
                object_type="student",
                object_id=pk,
                district=district_id,
                before={"status": from_status, "archived_at": audit.json_value(was)},
                after={"status": to_status, "archived_at": audit.json_value(archived_at)},
                note=note,
            )
            for pk, district_id, was, _ in rows
        )
        synced = sum(1 for *_, source in rows if source is not None)
        return StatusCounts(selected=selected, changed=len(rows), synced=synced)


def archive_students(
    students: QuerySet[Student],
    actor: audit.Actor,
    note: str = "",
    progress: Progress | None = None,
) -> StatusCounts:
    """Archive the active students of the selection (status archived, archived_at now)."""
    return _set_status(students, Status.ARCHIVED, actor, note, progress)


def unarchive_students(
    students: QuerySet[Student],
    actor: audit.Actor,
    note: str = "",
    progress: Progress | None = None,
) -> StatusCounts:
    """Make the archived students of the selection active again."""
    return _set_status(students, Status.ACTIVE, actor, note, progress)


# Remove guardians -----------------------------------------------------------------------------


def _active_links(students: QuerySet[Student]) -> QuerySet[GuardianLink]:
    return GuardianLink.objects.filter(status=Status.ACTIVE, student__in=students.values("pk"))


def _has_other_role(accounts: QuerySet[Account], removed: QuerySet[GuardianLink] | None = None):
    """Accounts that keep an active role once the ``removed`` links are archived."""
    other_links = GuardianLink.objects.filter(account=OuterRef("pk"), status=Status.ACTIVE)
    if removed is not None:
        other_links = other_links.exclude(pk__in=removed.values("pk"))
    return accounts.filter(
        Exists(other_links)
        | Exists(StaffRole.objects.filter(account=OuterRef("pk"), status=Status.ACTIVE))
        | Exists(AdministratorRole.objects.filter(account=OuterRef("pk"), status=Status.ACTIVE))
    )


def preview_remove_guardians(students: QuerySet[Student]) -> GuardianCounts:
    links = _active_links(students)
    accounts = Account.objects.filter(pk__in=links.values("account_id"))
    active_accounts = accounts.filter(is_active=True)
    keep = _has_other_role(active_accounts, links)
    return GuardianCounts(
        selected=students.count(),
        students=links.values("student_id").distinct().count(),
        links=links.count(),
        accounts=accounts.count(),
        deactivated=active_accounts.exclude(pk__in=keep.values("pk")).count(),
    )


def remove_guardians(
    students: QuerySet[Student],
    actor: audit.Actor,
    note: str = "",
    progress: Progress | None = None,
) -> GuardianCounts:
    """Archive the active guardian links of the selected students; deactivate every account
    that is left with no active role (no staff role, guardian link or administrator role)."""
    progress = _progress(progress)
    progress.stage("remove_guardians")  # other processes see this, then the result
    with transaction.atomic(), progress.unseen():
        # Held before any link is locked: no other change of these districts' counts
        # interleaves with this one's (directory/counts.py).
        kept = counts.hold(_districts(students))
        selected = students.count()
        links = list(
            _active_links(students)
            .select_for_update()
            .order_by()
            .values_list("pk", "account_id", "student_id", "student__district_id")
        )
        now = timezone.now()
        progress.update(total=len(links))
        for chunk in _chunks(pk for pk, *_ in links):
            GuardianLink.objects.filter(pk__in=chunk).update(status=Status.ARCHIVED)
            progress.advance(len(chunk))
        district_of = {account: district for _, account, _, district in links}
        # Every account of these links had an active link to a student of its district;
        # the district's guardians are fewer by those that have none left.
        for district in kept:
            had = {account for _, account, _, d in links if d == district}
            counts.add(district, guardians=counts.guardians_among(district, had) - len(had))
        orphans: list[int] = []
        progress.stage("deactivate", total=len(district_of))
        for chunk in _chunks(sorted(district_of)):
            left = Account.objects.filter(pk__in=chunk, is_active=True)
            keep = _has_other_role(left)
            orphans += left.exclude(pk__in=keep.values("pk")).values_list("pk", flat=True)
            progress.advance(len(chunk))
        for chunk in _chunks(orphans):
            Account.objects.filter(pk__in=chunk).update(
                is_active=False, deactivated_at=now, updated_at=now
            )
        progress.stage("audit", total=len(links) + len(orphans))
        record = _recorder(progress)
        entries = (
            audit.entry(
                actor,
                "archive",
                object_type="guardianlink",
                object_id=pk,
                district=district,
                before={"status": Status.ACTIVE, "account_id": account, "student_id": student},
                after={"status": Status.ARCHIVED},
                note=note or "guardians removed",
            )
            for pk, account, student, district in links
        )
        record(entries)
        record(
            audit.entry(
                actor,
                "deactivate",
                object_type="account",
                object_id=pk,
                district=district_of[pk],
                before={"is_active": True, "deactivated_at": None},
                after={"is_active": False, "deactivated_at": audit.json_value(now)},
                note="no active role left after guardians were removed",
            )
            for pk in orphans
        )
        return GuardianCounts(
            selected=selected,
            students=len({student for _, _, student, _ in links}),
            links=len(links),
            accounts=len(district_of),
            deactivated=len(orphans),
        )
