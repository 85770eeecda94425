"""Suggestions with planted pairs, merges that move everything, undo that restores the rows
exactly, and every guard."""

from __future__ import annotations

import datetime as dt

import pytest

from rollbook.directory.models import (
    AuditEntry,
    ClassMembership,
    District,
    GuardianLink,
    HistoryRecord,
    School,
    Student,
)
from rollbook.merge import services
from rollbook.merge.models import StudentMerge

from .conftest import rows

pytestmark = pytest.mark.django_db

BD = dt.date(2017, 3, 1)


@pytest.fixture
def planted(make, school, school_b):
    """Old students (entered by hand) and the synced students they are — or are not."""
    p = {}
    p["nickname"] = (make.old("Bob", "Smith", birth=BD), make.synced("Robert", "Smith", birth=BD))
    typo_old = make.old("Jonathon", "Kowalsky")
    typo_new = make.synced("Jonathan", "Kowalski", birth=BD)
    make.guardian(typo_old, "Eva", "Kowalski", "eva@example.com")
    make.guardian(typo_new, "Eva", "Kowalski", "eva@example.com")
    p["typo"] = (typo_old, typo_new)
    p["swapped"] = (make.old("Nguyen", "Linh"), make.synced("Linh", "Nguyen"))
    p["hyphen"] = (
        make.old("Ana", "Garcia", birth=BD),
        make.synced("Ana", "García-López", birth=BD),
    )
    twin_bd = dt.date(2016, 5, 5)
    emma = make.synced("Emma", "Lee", birth=twin_bd)
    make.synced("Emmy", "Lee", birth=twin_bd)
    p["twins"] = (make.old("Emma", "Lee", birth=twin_bd), emma)
    p["moved"] = (
        make.old("Priya", "Raman", grade="05", birth=BD),
        make.synced("Priya", "Raman", school=school_b, grade="05", birth=BD),
    )
    p["weak"] = (
        make.old("Sam", "Taylor", grade="02"),
        make.synced("Sam", "Taylor", school=school_b, grade="07"),
    )
    p["none"] = (make.old("Zed", "Quux"), None)
    return p


EXPECTED_BUCKETS = {
    "nickname": "ready",
    "typo": "ready",
    "swapped": "ready",
    "hyphen": "ready",
    "twins": "ambiguous",
    "moved": "needs_look",  # the same child in another school: never merged without a look
    "weak": "weak",
    "none": "no_match",
}


def test_suggestions_fall_into_the_planted_buckets(planted, district):
    found = {s.old.id: s for s in services.suggest(Student.objects.filter(district=district))}
    for name, (old, new) in planted.items():
        suggestion = found[old.pk]
        assert suggestion.bucket == EXPECTED_BUCKETS[name], (name, suggestion)
        if new is not None and suggestion.bucket != "ambiguous":
            assert suggestion.best.student.id == new.pk, name
    twins = found[planted["twins"][0].pk]
    assert {c.student.name for c in twins.candidates[:2]} == {"Emma Lee", "Emmy Lee"}
    reasons = found[planted["typo"][0].pk].best.reasons
    assert "guardian contact in common" in reasons
    assert any("nickname" in r for r in found[planted["nickname"][0].pk].best.reasons)


def test_a_school_administrator_sees_only_their_school(planted, school):
    found = services.suggest(Student.objects.filter(school=school))
    moved_old = planted["moved"][0]
    suggestion = next(s for s in found if s.old.id == moved_old.pk)
    assert suggestion.bucket == "no_match"  # the twin is in another school: out of scope


def test_merge_moves_history_links_and_classes(make, district, actor):
    old = make.old("Mia", "Lopez", status="archived")
    new = make.synced("Mia", "Lopez")
    make.history(old, 4)
    before = list(old.history.values_list("kind", "occurred_at", "author_name", "text"))
    only_old = make.guardian(old, "Ana", "Lopez", "ana@example.com")
    shared = make.guardian(new, "Luis", "Lopez", "luis@example.com")
    make.guardian(old, "Luis", "Lopez", "luis@example.com")
    klass = make.manual_class(old)
    students = Student.objects.filter(district=district)
    preview = services.preview(students, old.pk, new.pk)
    assert preview.counts() == {
        "history_records": 4,
        "guardian_links_only_on_old": 1,
        "guardian_links_already_on_survivor": 1,
        "class_memberships": 1,
    }
    assert preview.kept_accounts(None) == set()  # not listed by the SIS: dropped by default
    record = services.merge(students, old.pk, new.pk, actor, keep_guardians=[only_old.pk])
    old.refresh_from_db()
    assert old.status == "merged"
    assert list(new.history.values_list("kind", "occurred_at", "author_name", "text")) == before
    assert not old.history.exists()
    assert set(new.guardian_links.filter(status="active").values_list("account", flat=True)) == {
        only_old.pk,
        shared.pk,
    }
    assert not old.guardian_links.filter(status="active").exists()
    assert ClassMembership.objects.get(school_class=klass).student_id == new.pk
    assert AuditEntry.objects.filter(action="merge", object_id__in=[old.pk, new.pk]).count() == 2
    assert record.moved["history"] and record.keep_guardians


def test_dropping_guardians_archives_links_and_deactivates_accounts_left_without_role(
    make, district, actor
):
    old = make.old("Mia", "Lopez")
    new = make.synced("Mia", "Lopez")
    gone = make.guardian(old, "Ana", "Lopez", "ana@example.com")
    before = rows()
    students = Student.objects.filter(district=district)
    record = services.merge(students, old.pk, new.pk, actor, keep_guardians=False)
    gone.refresh_from_db()
    assert not gone.is_active and gone.deactivated_at is not None
    assert GuardianLink.objects.get(account=gone).status == "archived"
    services.undo(students, record.pk, actor)
    assert rows() == before


def test_guardians_removed_before_the_sync_stay_removed(make, district, actor):
    old = make.old("Mia", "Lopez")
    new = make.synced("Mia", "Lopez")
    make.guardian(old, "Ana", "Lopez", "ana@example.com", status="archived")
    preview = services.preview(Student.objects.filter(district=district), old.pk, new.pk)
    assert preview.links_only_on_old == []
    assert preview.kept_accounts(True) == set()


def test_undo_restores_every_row_exactly(make, district, actor):
    old = make.old("Mia", "Lopez", status="archived")
    old.archived_at = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    old.save()
    new = make.synced("Mia", "Lopez")
    make.history(old, 3)
    make.guardian(old, "Ana", "Lopez", "ana@example.com")
    make.guardian(new, "Luis", "Lopez", "luis@example.com")
    make.guardian(old, "Luis", "Lopez", "luis@example.com")
    make.manual_class(old)
    before = rows()
    students = Student.objects.filter(district=district)
    record = services.merge(students, old.pk, new.pk, actor)
    assert rows() != before
    services.undo(students, record.pk, actor)
    assert rows() == before
    record.refresh_from_db()
    assert record.status == "undone"
    assert AuditEntry.objects.filter(action="unmerge", object_type="student").count() == 2
    # and one per guardian link put back (dropped, folded) and per account reactivated
    assert AuditEntry.objects.filter(action="unmerge", object_type="guardianlink").count() == 2
    assert AuditEntry.objects.filter(action="unmerge", object_type="account").count() == 1
    with pytest.raises(services.MergeRefused, match="already undone"):
        services.undo(students, record.pk, actor)
    # Merged again after the undo: allowed.
    services.merge(students, old.pk, new.pk, actor)


def test_undo_explains_what_blocks_it(make, district, actor):
    old = make.old("Mia", "Lopez")
    new = make.synced("Mia", "Lopez")
    other = make.synced("Noah", "Kim")
    make.history(old, 2)
    students = Student.objects.filter(district=district)
    record = services.merge(students, old.pk, new.pk, actor)
    HistoryRecord.objects.filter(student=new).update(student=other)
    with pytest.raises(services.MergeRefused, match="history records moved by the merge"):
        services.undo(students, record.pk, actor)


def test_guards(make, district, school, school_b, actor):
    students = Student.objects.filter(district=district)
    old = make.old("Mia", "Lopez")
    synced_a = make.synced("Mia", "Lopez")
    synced_b = make.synced("Mia", "Lopez", school=school_b)
    with pytest.raises(services.MergeRefused, match="two synced students"):
        services.merge(students, synced_a.pk, synced_b.pk, actor)
    with pytest.raises(services.MergeRefused, match="into itself"):
        services.merge(students, old.pk, old.pk, actor)
    with pytest.raises(services.MergeRefused, match="entered by hand"):
        services.merge(students, old.pk, make.old("Mia", "L").pk, actor)
    other = District.objects.create(name="Elsewhere")
    far = Student.objects.create(
        district=other,
        school=School.objects.create(district=other, name="Far"),
        given_name="Mia",
        family_name="Lopez",
        origin="synced",
        source=synced_a.source,
        sourced_id="far-1",
    )
    with pytest.raises(services.MergeRefused, match="not among|different districts|no synced"):
        services.merge(Student.objects.all(), old.pk, far.pk, actor)
    with pytest.raises(services.MergeRefused, match="among the students you may act on"):
        services.merge(Student.objects.filter(school=school), old.pk, synced_b.pk, actor)
    services.merge(students, old.pk, synced_a.pk, actor)
    with pytest.raises(services.MergeRefused, match="already merged"):
        services.merge(students, old.pk, synced_b.pk, actor)
    assert StudentMerge.objects.count() == 1


def test_bulk_merge_is_all_or_nothing_per_pair(make, district, actor):
    students = Student.objects.filter(district=district)
    a_old, a_new = make.old("Mia", "Lopez"), make.synced("Mia", "Lopez")
    b_old, b_new = make.old("Noah", "Kim"), make.synced("Noah", "Kim")
    make.history(a_old, 2)
    results = services.merge_many(
        students, [(a_old.pk, a_new.pk), (b_new.pk, a_new.pk), (b_old.pk, b_new.pk)], actor
    )
    assert [bool(r.merge_id) for r in results] == [True, False, True]
    assert "two synced students" in results[1].error
    assert a_new.history.count() == 2
    dry = services.merge_many(students, [(a_old.pk, a_new.pk)], actor, dry_run=True)
    assert "already merged" in dry[0].error
