"""A merge leaves exactly the SIS's guardian links active (issue 13, case 5): a guardian that
only the old student had is dropped unless an administrator keeps it, and then it is kept by
hand, visibly; a duplicate of the synced student's link is folded into it. Undo restores every
row exactly."""

from __future__ import annotations

import pytest

from rollbook.directory.audit import Actor
from rollbook.directory.models import Account, AuditEntry, GuardianLink, Student
from rollbook.merge import guardians, services

from .conftest import rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(make):
    """Mia entered by hand with Ana (whom the SIS does not list) and Luis (whom it does)."""
    old = make.old("Mia", "Lopez", status="archived")
    new = make.synced("Mia", "Lopez")
    ana = make.guardian(old, "Ana", "Lopez", "ana@example.com")
    luis = make.guardian(new, "Luis", "Lopez", "luis@example.com")
    make.guardian(old, "Luis", "Lopez", "luis@example.com")
    return old, new, ana, luis


def active_accounts(student) -> list[int]:
    return sorted(
        student.guardian_links.filter(status="active").values_list("account_id", flat=True)
    )


def test_by_default_a_guardian_the_sis_does_not_list_is_dropped(family, district, actor):
    old, new, ana, luis = family
    before = rows()
    students = Student.objects.filter(district=district)
    preview = services.preview(students, old.pk, new.pk)
    assert [link.account_id for link in preview.links_only_on_old] == [ana.pk]
    record = services.merge(students, old.pk, new.pk, actor)
    assert active_accounts(new) == [luis.pk]  # exactly the SIS's links
    assert active_accounts(old) == []
    dropped = GuardianLink.objects.get(account=ana)
    assert (dropped.status, dropped.student_id) == ("archived", old.pk)  # archived, not deleted
    entry = AuditEntry.objects.get(object_type="guardianlink", object_id=dropped.pk)
    assert entry.action == "archive" and entry.after["merge"] == record.pk
    assert "does not list" in entry.note
    ana.refresh_from_db()
    assert not ana.is_active  # no other role: deactivated, audited
    assert AuditEntry.objects.filter(
        action="deactivate", object_type="account", object_id=ana.pk
    ).exists()
    assert not record.keep_guardians
    services.undo(students, record.pk, actor)
    assert rows() == before


def test_a_duplicate_of_the_synced_link_is_folded_into_it(family, district, actor):
    old, new, ana, luis = family
    students = Student.objects.filter(district=district)
    synced_link = GuardianLink.objects.get(student=new, account=luis)
    preview = services.preview(students, old.pk, new.pk)
    [duplicate] = preview.links_already_on_survivor
    assert preview.folded_into == {duplicate.pk: synced_link.pk}
    record = services.merge(students, old.pk, new.pk, actor, keep_guardians=True)
    assert list(GuardianLink.objects.filter(account=luis, status="active")) == [synced_link]
    duplicate.refresh_from_db()
    assert duplicate.status == "archived"
    assert record.moved["links_folded"] == [duplicate.pk]
    entry = AuditEntry.objects.get(object_type="guardianlink", object_id=duplicate.pk)
    assert entry.after == {"status": "archived", "folded_into": synced_link.pk, "merge": record.pk}


def test_a_ticked_guardian_is_kept_by_hand_and_shown_so(family, district, make):
    old, new, ana, luis = family
    other = make.guardian(old, "Oli", "Lopez", "oli@example.com")
    admin = Account.objects.create(given_name="Dee", family_name="Admin", email="dee@x.org")
    actor = Actor(account=admin)
    students = Student.objects.filter(district=district)
    before = rows()
    record = services.merge(students, old.pk, new.pk, actor, keep_guardians=[ana.pk])
    assert active_accounts(new) == sorted([ana.pk, luis.pk])  # Oli not ticked: dropped
    assert GuardianLink.objects.get(account=other).status == "archived"
    kept_link = GuardianLink.objects.get(account=ana)
    assert kept_link.student_id == new.pk and kept_link.source_id is None
    assert record.keep_guardians and record.moved["links_moved"] == [kept_link.pk]
    links = list(new.guardian_links.all())
    shown = guardians.kept_by_hand(new, links)
    assert list(shown) == [kept_link.pk]
    assert shown[kept_link.pk]["by"] == "Dee Admin"
    assert shown[kept_link.pk]["at"].date() == record.created_at.date()
    services.undo(students, record.pk, actor)
    assert rows() == before
    assert guardians.kept_by_hand(new, list(new.guardian_links.all())) == {}


def test_an_unknown_account_to_keep_keeps_nothing(family, district, actor):
    old, new, ana, luis = family
    students = Student.objects.filter(district=district)
    stranger = Account.objects.create(given_name="Eve", family_name="X", email="eve@x.org")
    services.merge(students, old.pk, new.pk, actor, keep_guardians=[stranger.pk])
    assert active_accounts(new) == [luis.pk]
    assert not GuardianLink.objects.filter(account=stranger).exists()


def test_bulk_merges_keep_per_pair(make, district, actor):
    students = Student.objects.filter(district=district)
    a_old, a_new = make.old("Mia", "Lopez"), make.synced("Mia", "Lopez")
    b_old, b_new = make.old("Noah", "Kim"), make.synced("Noah", "Kim")
    ana = make.guardian(a_old, "Ana", "Lopez", "ana@example.com")
    bea = make.guardian(b_old, "Bea", "Kim", "bea@example.com")
    dry = services.merge_many(
        students, [(a_old.pk, a_new.pk), (b_old.pk, b_new.pk)], actor, dry_run=True
    )
    assert [r.guardians for r in dry] == [
        [{"account": ana.pk, "name": "Ana Lopez", "email": "ana@example.com", "kept": False}],
        [{"account": bea.pk, "name": "Bea Kim", "email": "bea@example.com", "kept": False}],
    ]
    # Bea kept for Mia's pair only: she is not Mia's guardian, so nothing is kept there.
    results = services.merge_many(
        students,
        [(a_old.pk, a_new.pk), (b_old.pk, b_new.pk)],
        actor,
        keep_guardians={a_old.pk: {bea.pk}, b_old.pk: {bea.pk}},
    )
    assert [g["kept"] for r in results for g in r.guardians] == [False, True]
    assert active_accounts(a_new) == []
    assert active_accounts(b_new) == [bea.pk]
