"""A district's counts, maintained: what its overview shows, without counting a million rows
per request (issue 18; decision 0011).

The district overview shows active and archived students, guardians (accounts with an active
link to a student of the district), staff (accounts with an active staff role at one of its
schools) and active classes. Counted on every request they took 2.5 s at a million students
(SQLite). They are kept in one row per district, :class:`DistrictCounts`, and stay **exact**:

- **A sync** marks its district's row stale in the apply's own transaction (when it wrote
  anything), and counts it again after its commit (``sync/pipeline.py``, beside the planner
  statistics). Between the two, and whenever a row is stale or missing (a new district, a
  count that failed), the next reader counts it again before showing it: a page never shows a
  count the database does not hold.
- **Hand actions** change the row by exactly what they did, in their own transaction:
  archive and unarchive (:func:`add`, from the rows they changed), remove guardians (the
  accounts that lost their last active link to the district), merges and their undo
  (:func:`tracking`: the students and accounts concerned, measured before and after), the
  roster import and a staff role added by hand.

Concurrency: every writer holds the district's row (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite's write transactions are one at a time) until its commit, taken **before any row of the
directory** — a sync's apply at its start, a hand action before it locks or writes a student or
link — so that no two writers ever wait for each other in opposite orders (a hand action
waits for a running sync of its district, as on SQLite it always did). A recount takes the
same row before it counts. Two changes to one district's counts therefore never interleave,
and a recount sees every change committed before it. A page never waits: it reads the row
without a lock, and a stale row held by a writer (on SQLite: the database's write lock held by
another process) is counted for the page without being kept.

The school overview counts live: a school's rows are a few thousand at most, walked through
the ``(school, status, …)`` indexes (BENCHMARKS.md, "Web").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from .models import DistrictCounts, GuardianLink, SchoolClass, StaffRole, Status, Student

FIELDS = DistrictCounts.FIELDS
#: The tables the counts are made of (``live``): a write elsewhere leaves them true.
COUNTED_TABLES = frozenset(
    m._meta.db_table for m in (Student, GuardianLink, StaffRole, SchoolClass)
)
CHUNK = 900  # ids per query: under SQLite's 999 bound parameters


# Counting ------------------------------------------------------------------------------------


def live(district_id: int) -> dict[str, int]:
    """The counts as the database holds them now (the full queries: seconds at a million)."""
    students = Student.objects.filter(district_id=district_id).aggregate(
        active=Count("pk", filter=Q(status=Status.ACTIVE)),
        archived=Count("pk", filter=Q(status=Status.ARCHIVED)),
    )
    return {
        "students_active": students["active"],
        "students_archived": students["archived"],
        "guardians": GuardianLink.objects.filter(
            status=Status.ACTIVE, student__district_id=district_id
        )
        .values("account_id")
        .distinct()
        .count(),
        "staff": StaffRole.objects.filter(status=Status.ACTIVE, school__district_id=district_id)
        .values("account_id")
        .distinct()
        .count(),
        "classes": SchoolClass.objects.filter(
            status=Status.ACTIVE, school__district_id=district_id
        ).count(),
    }


def current(district_id: int) -> dict[str, int]:
    """The district's counts for a page: the maintained row, counted first if it is stale
    (and kept, unless a writer holds the row: then counted for this page only)."""
    row = DistrictCounts.objects.filter(pk=district_id, stale=False).first()
    if row is not None:
        return row.values()
    try:
        with _not_waiting():
            return refresh(district_id, wait=False)
    except OperationalError:  # SQLite: another process writes (a sync's apply, for minutes)
        return live(district_id)


@contextmanager
def _not_waiting() -> Iterator[None]:
    """SQLite: take the write lock only if it is free now (a page does not wait for a sync's
    apply); PostgreSQL: nothing to do (``SKIP LOCKED`` does it)."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        before = cursor.fetchone()[0]
        cursor.execute("PRAGMA busy_timeout = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {int(before)}")


def refresh(district_id: int, wait: bool = True) -> dict[str, int]:
    """Count the district again and keep the result (its own transaction). ``wait=False``:
    if a writer holds the row, count without keeping the result rather than wait for it."""
    with transaction.atomic():
        row = _held(district_id, create=True, wait=wait)
        if row is None:
            return live(district_id)
        if not wait and not row.stale:  # counted meanwhile (by the sync that made it stale)
            return row.values()
        values = live(district_id)
        for name, value in values.items():
            setattr(row, name, value)
        row.stale, row.counted_at = False, timezone.now()
        row.save()
    return values


def mark_stale(district_ids: Iterable[int]) -> None:
    """The sync's apply changed these districts: their next reader counts them again."""
    DistrictCounts.objects.filter(pk__in=list(district_ids)).update(stale=True)


def _held(district_id: int, create: bool = False, wait: bool = True) -> DistrictCounts | None:
    """The district's row, locked until the transaction ends (created stale if missing and
    ``create``). ``wait=False``: None when another transaction holds it."""
    locked = DistrictCounts.objects.select_for_update(skip_locked=not wait)
    row = locked.filter(pk=district_id).first()
    if row is None and not wait and DistrictCounts.objects.filter(pk=district_id).exists():
        return None  # held by a writer
    if row is None and create:
        try:
            with transaction.atomic():
                row = DistrictCounts.objects.create(district_id=district_id)
        except IntegrityError:  # created by another process meanwhile
            if not wait:
                return None
            row = locked.get(pk=district_id)
    return row


def hold(district_ids: Iterable[int]) -> set[int]:
    """Hold these districts' rows until the transaction ends: before a change touches any
    row of the directory (see the module's concurrency rule), so that no other change of
    them interleaves. Returns the districts whose counts are kept (not stale): the others
    need no measuring."""
    ids = sorted(set(district_ids))  # one order for everyone: no deadlock between holders
    rows = DistrictCounts.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {pk for pk, stale in rows.values_list("pk", "stale") if not stale}


def add(district_id: int, **delta: int) -> None:
    """Change a district's counts by ``delta`` (inside the change's transaction). A stale or
    missing row is left alone: it is counted whole before anyone reads it."""
    changes = {name: F(name) + n for name, n in delta.items() if n}
    if changes:
        DistrictCounts.objects.filter(pk=district_id, stale=False).update(**changes)


# Measured changes -----------------------------------------------------------------------------


def _chunks(values: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    it = iter(sorted(set(values)))
    while chunk := list(islice(it, size)):
        yield chunk


def guardians_among(
    district_id: int, accounts: Iterable[int], without_links: Iterable[int] = ()
) -> int:
    """How many of ``accounts`` have an active guardian link to a student of the district
    (not counting the links ``without_links``)."""
    skip = set(without_links)
    found = 0
    for chunk in _chunks(accounts):
        links = GuardianLink.objects.filter(
            account_id__in=chunk, status=Status.ACTIVE, student__district_id=district_id
        )
        if skip:
            rows = links.values_list("account_id", "pk")
            found += len({account for account, pk in rows if pk not in skip})
        else:
            found += links.values("account_id").distinct().count()
    return found


def staff_among(district_id: int, accounts: Iterable[int]) -> int:
    """How many of ``accounts`` have an active staff role at a school of the district."""
    return sum(
        StaffRole.objects.filter(
            account_id__in=chunk, status=Status.ACTIVE, school__district_id=district_id
        )
        .values("account_id")
        .distinct()
        .count()
        for chunk in _chunks(accounts)
    )


def _students_among(district_id: int, students: Iterable[int]) -> dict[str, int]:
    counted = {"students_active": 0, "students_archived": 0}
    for chunk in _chunks(students):
        rows = (
            Student.objects.filter(pk__in=chunk, district_id=district_id)
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        for status, n in rows:
            if status in (Status.ACTIVE, Status.ARCHIVED):
                counted[f"students_{status}"] += n
    return counted


def _linked(students: Iterable[int]) -> set[int]:
    """Accounts with a guardian link (of any status) to one of ``students``."""
    found: set[int] = set()
    for chunk in _chunks(students):
        found |= set(
            GuardianLink.objects.filter(student_id__in=chunk).values_list("account_id", flat=True)
        )
    return found


class Change:
    """A change (inside its transaction) that touches only ``students``, the guardian links of
    ``accounts`` or of those students, and the staff roles of ``staff``: the district's counts
    change by what it did to them, measured before (:meth:`begin`, before its first write) and
    after (:meth:`end`)."""

    def __init__(
        self,
        district_id: int,
        students: Iterable[int] = (),
        accounts: Iterable[int] = (),
        staff: Iterable[int] = (),
    ):
        self.district_id = district_id
        self.students, self.accounts, self.staff = set(students), set(accounts), set(staff)
        self.before: dict[str, int] | None = None

    def begin(self) -> None:
        held = _held(self.district_id)
        if held is None or held.stale:  # counted whole before anyone reads it
            return
        self.accounts |= _linked(self.students)
        self.before = self._measure()

    def end(self) -> None:
        if self.before is None:
            return
        if not _linked(self.students) <= self.accounts:  # another account's link came to them
            mark_stale([self.district_id])
            return
        after = self._measure()
        add(self.district_id, **{name: after[name] - self.before[name] for name in after})

    def _measure(self) -> dict[str, int]:
        return {
            **_students_among(self.district_id, self.students),
            "guardians": guardians_among(self.district_id, self.accounts),
            "staff": staff_among(self.district_id, self.staff),
        }


@contextmanager
def tracking(
    district_id: int,
    students: Iterable[int] = (),
    accounts: Iterable[int] = (),
    staff: Iterable[int] = (),
) -> Iterator[None]:
    """:class:`Change` around a block."""
    change = Change(district_id, students, accounts, staff)
    change.begin()
    yield
    change.end()
