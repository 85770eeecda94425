"""A district's maintained overview counts (directory/counts.py) stay exactly what COUNT
queries over the directory say, after every kind of write: a first sync and a next day's sync,
archive and unarchive, remove guardians, a merge and its undo, a roster import, a staff role
added by hand — and a change in one district never moves another district's counts. On the
real database (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import csv
import threading

import pytest
from django.db.models import Count

from rollbook.directory import actions, counts
from rollbook.directory.audit import Actor
from rollbook.directory.counts import DistrictCounts
from rollbook.directory.models import (
    Account,
    District,
    GuardianLink,
    School,
    StaffRole,
    Status,
    Student,
)
from rollbook.directory.roster_import import import_roster
from rollbook.directory.services import Person, add_staff
from rollbook.merge import services as merges
from rollbook.oneroster.generator import derive_next_day, generate_bundle
from rollbook.sync import services
from rollbook.sync.models import SyncRun, SyncSource

ACTOR = Actor(label="test")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("counts")
    generate_bundle(folder / "day1", students=200)
    derive_next_day(folder / "day1", folder / "day2", changes=0.2)
    return folder


def _sync(district: District, folder) -> SyncRun:
    source = services.get_source(district)
    SyncSource.objects.filter(pk=source.pk).update(last_bundle_digest="", last_records_digest="")
    source.refresh_from_db()
    run = services.sync_bundle(source, folder, ACTOR, approve=True)
    assert run.status == SyncRun.Status.APPLIED
    return run


@pytest.fixture
def synced(db, district, bundles, settings, tmp_path):
    """A district after its first sync, its counts as the sync left them, and a second
    district (entered by hand) whose counts nothing done to the first may move."""
    settings.ROLLBOOK_HOME = tmp_path / "home"
    _sync(district, bundles / "day1")
    other = District.objects.create(name="Other District")
    school = School.objects.create(district=other, name="Far Away Elementary")
    child = Student.objects.create(district=other, school=school, given_name="A", family_name="B")
    parent = Account.objects.create(given_name="C", family_name="B", email="c@example.org")
    GuardianLink.objects.create(account=parent, student=child)
    counts.refresh(other.pk)
    return district


def exact(district: District) -> dict[str, int]:
    """The maintained counts, checked against the full COUNT queries."""
    row = DistrictCounts.objects.get(pk=district.pk)
    assert not row.stale, "the counts were left to be counted again by their reader"
    assert row.values() == counts.live(district.pk)
    return row.values()


def other_unchanged() -> None:
    other = District.objects.get(name="Other District")
    assert exact(other) == {
        "students_active": 1,
        "students_archived": 0,
        "guardians": 1,
        "staff": 0,
        "classes": 0,
    }


def test_a_sync_counts_the_district_after_its_commit(synced, bundles):
    first = exact(synced)
    assert first["students_active"] == 200
    assert first["guardians"] > 200 and first["staff"] > 0 and first["classes"] > 0
    run = _sync(synced, bundles / "day2")
    assert "counts" in run.report.timings
    second = exact(synced)
    assert second != first  # students left and arrived, guardians with them
    other_unchanged()


def test_a_stale_count_is_counted_by_its_reader(synced):
    counts.mark_stale([synced.pk])
    Student.objects.filter(pk=Student.objects.filter(district=synced).first().pk).update(
        status=Status.ARCHIVED
    )
    shown = counts.current(synced.pk)
    assert shown == counts.live(synced.pk) and shown["students_archived"] == 1
    exact(synced)


def test_archive_and_unarchive(synced):
    before = exact(synced)
    chosen = Student.objects.filter(district=synced).order_by("pk").values_list("pk", flat=True)
    actions.archive_students(Student.objects.filter(pk__in=list(chosen[:7])), ACTOR)
    after = exact(synced)
    assert after["students_active"] == before["students_active"] - 7
    assert after["students_archived"] == before["students_archived"] + 7
    # Archived students' guardians stay guardians of the district.
    assert after["guardians"] == before["guardians"]
    actions.unarchive_students(Student.objects.filter(district=synced), ACTOR)
    assert exact(synced) == before
    other_unchanged()


def test_remove_guardians(synced):
    before = exact(synced)
    # A guardian of two students: removed from one, still a guardian through the other.
    shared = (
        GuardianLink.objects.filter(student__district=synced, status=Status.ACTIVE)
        .values("account")
        .annotate(n=Count("pk"))
        .filter(n__gte=2)
        .order_by("account")
        .values_list("account", flat=True)
        .first()
    )
    assert shared is not None, "the generated district has siblings"
    children = list(
        GuardianLink.objects.filter(account=shared, status=Status.ACTIVE).values_list(
            "student", flat=True
        )
    )
    actions.remove_guardians(Student.objects.filter(pk=children[0]), ACTOR)
    middle = exact(synced)
    assert middle["guardians"] <= before["guardians"]
    assert GuardianLink.objects.filter(account=shared, status=Status.ACTIVE).exists()
    actions.remove_guardians(Student.objects.filter(pk__in=children), ACTOR)
    after = exact(synced)
    assert after["guardians"] < middle["guardians"]
    other_unchanged()


def test_a_merge_and_its_undo(synced):
    survivor = Student.objects.filter(district=synced, status=Status.ACTIVE).first()
    old = Student.objects.create(
        district=synced,
        school=survivor.school,
        given_name=survivor.given_name,
        family_name=survivor.family_name,
        grade=survivor.grade,
    )
    kept = Account.objects.create(given_name="Kept", family_name="Parent", email="k@example.org")
    dropped = Account.objects.create(given_name="Old", family_name="Parent", email="o@example.org")
    GuardianLink.objects.create(account=kept, student=old)
    GuardianLink.objects.create(account=dropped, student=old)
    twin_parent = GuardianLink.objects.filter(student=survivor, status=Status.ACTIVE).first()
    GuardianLink.objects.create(account_id=twin_parent.account_id, student=old)  # folded
    counts.refresh(synced.pk)
    before = exact(synced)
    record = merges.merge(
        Student.objects.filter(district=synced),
        old.pk,
        survivor.pk,
        ACTOR,
        keep_guardians=[kept.pk],
    )
    merged = exact(synced)
    assert merged["students_active"] == before["students_active"] - 1
    assert merged["guardians"] == before["guardians"] - 1  # the dropped parent
    merges.undo(Student.objects.filter(district=synced), record.pk, ACTOR)
    assert exact(synced) == before
    other_unchanged()


def test_a_roster_import(synced, tmp_path):
    before = exact(synced)
    school = School.objects.filter(district=synced).order_by("pk").first()
    parent = (
        Account.objects.filter(
            guardian_links__student__district=synced, email__isnull=False, phone__isnull=False
        )
        .order_by("pk")
        .first()
    )
    path = tmp_path / "roster.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            ["student_given_name", "student_family_name", "grade"]
            + [f"guardian1_{c}" for c in ("given_name", "family_name", "email", "phone")]
        )
        # A new family, and another child of a guardian the sync brought (the same account).
        w.writerow(["Nia", "Newcomer", "3", "Ola", "Newcomer", "ola@example.org", ""])
        w.writerow(["Tom", parent.family_name, "4", parent.given_name, parent.family_name,
                    parent.email, parent.phone])  # fmt: skip
    result = import_roster(path, synced, school, ACTOR)
    assert result.accounts_reused == 1
    after = exact(synced)
    assert after["students_active"] == before["students_active"] + 2
    assert after["guardians"] == before["guardians"] + 1
    other_unchanged()


def test_a_staff_role_added_by_hand(synced):
    before = exact(synced)
    school = School.objects.filter(district=synced).order_by("pk").first()
    add_staff(school, Person("Nora", "Newhire", "nora@example.org", None), "teacher", ACTOR)
    assert exact(synced)["staff"] == before["staff"] + 1
    teacher = StaffRole.objects.filter(school__district=synced, status=Status.ACTIVE).first()
    account = teacher.account
    other_school = School.objects.filter(district=synced).exclude(pk=teacher.school_id).first()
    add_staff(
        other_school,
        Person(account.given_name, account.family_name, account.email, account.phone),
        "aide",
        ACTOR,
    )
    assert exact(synced)["staff"] == before["staff"] + 1  # already staff of the district
    other_unchanged()


@pytest.mark.django_db(transaction=True)
def test_a_page_never_waits_for_a_writer_holding_the_counts(district):
    """A writer (a sync's apply, a hand action) holds the district's row — on SQLite the
    database's write lock — until its commit; a page finding the row stale meanwhile counts
    for itself, without waiting for the writer and without keeping what it counted."""
    from django.db import connection, transaction

    counts.refresh(district.pk)
    counts.mark_stale([district.pk])
    held, release = threading.Event(), threading.Event()

    def writer():
        with transaction.atomic():
            counts.hold([district.pk])
            held.set()
            release.wait(30)
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(30)
        assert counts.current(district.pk) == counts.live(district.pk)
        assert DistrictCounts.objects.get(pk=district.pk).stale  # not kept: it was held
    finally:
        release.set()
        thread.join()
    assert counts.current(district.pk) == counts.live(district.pk)
    assert not DistrictCounts.objects.get(pk=district.pk).stale  # kept once free
