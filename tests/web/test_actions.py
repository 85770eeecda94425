"""Actions on selections of students: exact previews, all or nothing, audited, set-based."""

import pytest

from rollbook.directory import actions
from rollbook.directory.audit import Actor
from rollbook.directory.models import (
    Account,
    AdministratorRole,
    AuditEntry,
    GuardianLink,
    School,
    Status,
    Student,
)

pytestmark = pytest.mark.django_db

ACTOR = Actor(label="test")


def of(world, *given):
    return Student.objects.filter(given_name__in=given, district=world.district)


def test_archive_previews_then_archives_and_audits(world):
    of(world, "Ben").update(status=Status.ARCHIVED)
    selection = of(world, "Ana", "Ben", "Dana")
    preview = actions.preview_archive(selection)
    assert (preview.selected, preview.changed, preview.unchanged) == (3, 2, 1)
    done = actions.archive_students(selection, Actor(account=world.district_admin))
    assert done == preview
    ana = Student.objects.get(given_name="Ana")
    assert ana.status == Status.ARCHIVED and ana.archived_at is not None
    entry = AuditEntry.objects.get(object_type="student", object_id=ana.pk, action="archive")
    assert entry.actor == world.district_admin and entry.district_id == world.district.pk
    assert entry.before["status"] == "active" and entry.after["status"] == "archived"
    assert AuditEntry.objects.filter(action="archive").count() == 2  # Ben was archived already


def test_unarchive_restores_active_status(world):
    actions.archive_students(of(world, "Ana", "Ben"), ACTOR)
    preview = actions.preview_unarchive(of(world, "Ana", "Ben", "Dana"))
    assert (preview.selected, preview.changed) == (3, 2)
    done = actions.unarchive_students(of(world, "Ana", "Ben", "Dana"), ACTOR)
    assert done.changed == 2
    ana = Student.objects.get(given_name="Ana")
    assert ana.status == Status.ACTIVE and ana.archived_at is None
    assert AuditEntry.objects.filter(action="unarchive").count() == 2


def test_remove_guardians_counts_links_students_and_orphaned_accounts(world):
    g = world.guardians
    # Ana, Dana and Eve: Pat keeps Ben and Carl, Gil stays a teacher, Hal keeps Gia.
    preview = actions.preview_remove_guardians(of(world, "Ana", "Dana", "Eve", "Finn"))
    assert preview == actions.GuardianCounts(
        selected=4, students=3, links=3, accounts=3, deactivated=0
    )
    # Eve and Gia: Hal's every link goes — Hal is left with no role.
    selection = of(world, "Eve", "Gia", "Dana")
    preview = actions.preview_remove_guardians(selection)
    assert (preview.links, preview.students, preview.accounts, preview.deactivated) == (3, 3, 2, 1)
    done = actions.remove_guardians(selection, ACTOR)
    assert done == preview
    g["hal"].refresh_from_db()
    g["gil"].refresh_from_db()
    assert not g["hal"].is_active and g["hal"].deactivated_at is not None
    assert g["gil"].is_active  # a teacher at Lincoln too
    assert GuardianLink.objects.filter(account=g["hal"]).count() == 2  # archived, not deleted
    assert not GuardianLink.objects.filter(account=g["hal"], status=Status.ACTIVE).exists()
    assert AuditEntry.objects.filter(object_type="guardianlink", action="archive").count() == 3
    assert AuditEntry.objects.get(object_type="account", action="deactivate").object_id == (
        g["hal"].pk
    )


def test_an_administrator_role_keeps_an_account_active(world):
    hal = world.guardians["hal"]
    AdministratorRole.objects.create(account=hal, district=world.district)
    done = actions.remove_guardians(of(world, "Eve", "Gia"), ACTOR)
    assert (done.links, done.deactivated) == (2, 0)
    hal.refresh_from_db()
    assert hal.is_active


def test_links_to_children_outside_the_selection_keep_an_account(world):
    pat = world.guardians["pat"]
    done = actions.remove_guardians(of(world, "Ana", "Ben"), ACTOR)
    assert done.deactivated == 0
    pat.refresh_from_db()
    assert pat.is_active  # still Carl's parent at Jefferson
    done = actions.remove_guardians(of(world, "Carl"), ACTOR)
    assert done.deactivated == 1
    pat.refresh_from_db()
    assert not pat.is_active


def test_a_second_removal_has_nothing_to_do(world):
    actions.remove_guardians(of(world, "Eve"), ACTOR)
    again = actions.preview_remove_guardians(of(world, "Eve"))
    assert (again.links, again.deactivated, again.students_without_guardians) == (0, 0, 1)


def test_all_or_nothing(world, monkeypatch):
    def fail(entries, batch_size=2000):
        raise RuntimeError("disk full")

    monkeypatch.setattr(actions.audit, "record", fail)
    with pytest.raises(RuntimeError):
        actions.remove_guardians(of(world, "Eve", "Gia"), ACTOR)
    with pytest.raises(RuntimeError):
        actions.archive_students(of(world, "Eve", "Gia"), ACTOR)
    assert GuardianLink.objects.filter(status=Status.ARCHIVED).count() == 0
    assert Account.objects.filter(is_active=False).count() == 0
    assert Student.objects.filter(status=Status.ARCHIVED).count() == 0


def test_large_selections_go_in_chunks(world, django_assert_max_num_queries):
    """2,500 students with a guardian each: more ids than one statement may carry on SQLite.

    Query counts grow with chunks, never with rows (SQLite's inserts of audit entries are
    split by its 999 bound parameters, hence the margin)."""
    school = School.objects.create(district=world.district, name="Big School")
    Student.objects.bulk_create(
        Student(district=world.district, school=school, given_name=f"S{i}", family_name="Big")
        for i in range(2500)
    )
    kids = list(Student.objects.filter(school=school).order_by("pk"))
    parents = Account.objects.bulk_create(
        Account(given_name=f"P{i}", family_name="Big", password="!") for i in range(2500)
    )
    GuardianLink.objects.bulk_create(
        GuardianLink(account=p, student=k) for p, k in zip(parents, kids, strict=True)
    )
    selection = Student.objects.filter(school=school)
    preview = actions.preview_remove_guardians(selection)
    assert (preview.selected, preview.links, preview.deactivated) == (2500, 2500, 2500)
    with django_assert_max_num_queries(150):
        done = actions.remove_guardians(selection, ACTOR)
    assert done == preview
    assert Account.objects.filter(family_name="Big", is_active=False).count() == 2500
    with django_assert_max_num_queries(80):
        archived = actions.archive_students(selection, ACTOR)
    assert archived.changed == 2500
    assert AuditEntry.objects.filter(action="archive", object_type="student").count() == 2500
