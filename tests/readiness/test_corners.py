"""Corners the self-check names before the first sync (issue 13, item 9): a school entered by
hand whose name is nearly the SIS school's, and removed guardians the SIS brings back."""

from __future__ import annotations

import pytest

from rollbook.directory import actions
from rollbook.directory.models import Account, AuditEntry, School, Student
from rollbook.directory.services import rename_school
from rollbook.readiness.corners import resembles

from ..sync.bundles import Bundle
from .conftest import manual_guardian, manual_student, same_json

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("manual", "sis", "alike"),
    [
        ("Lincoln Elem.", "Lincoln Elementary School", True),
        ("Lincon Elementary", "Lincoln Elementary", True),
        ("Jefferson Middle", "Jefferson Middle School", True),
        ("North Elementary", "South Elementary", False),
        ("Lincoln Elementary", "Lincoln High School", False),
        ("Lincoln Elementary", "LINCOLN ELEMENTARY", False),  # adopted by the sync as it is
        ("Washington High", "Lincoln Elementary", False),
    ],
)
def test_school_names_that_resemble(manual, sis, alike):
    assert (resembles(manual, sis) >= 85) is alike


def test_a_school_nearly_named_like_the_sis_school_is_listed(check, sync_after, district, actor):
    bundle = Bundle(schools=["lincoln-elementary"])
    bundle.student("stu-1", "Mia", "Lopez", school="lincoln-elementary")
    near = School.objects.create(district=district, name="Lincoln Elem")
    other = School.objects.create(district=district, name="Washington High")
    manual_student(near, "Old", "Kid")
    manual_student(other, "Far", "Kid")
    report = check(bundle)
    rows = report.finding("CHECK-SCHOOL-NEAR-MATCH").rows
    assert [(r["school_id"], r["sis_school"], r["students_entered_by_hand"]) for r in rows] == [
        (near.pk, "School lincoln-elementary", 1)
    ]
    # Renamed to the SIS name, the school is adopted by the sync: no second school.
    rename_school(district, near.pk, "School lincoln-elementary", actor)
    assert AuditEntry.objects.filter(action="rename", object_id=near.pk).exists()
    again = check(bundle)
    assert again.finding("CHECK-SCHOOL-NEAR-MATCH") is None
    run = sync_after(again)
    assert same_json(run.stats["outcome"], again.outcome)
    near.refresh_from_db()
    assert near.sourced_id == "lincoln-elementary"
    assert School.objects.filter(district=district).count() == 2
    assert Student.objects.get(sourced_id="stu-1").school_id == near.pk


def test_a_synced_school_cannot_be_renamed_by_hand(check, sync_after, district, actor, bundle):
    from rollbook.errors import UserError

    bundle.student("stu-1", "Mia", "Lopez")
    sync_after(check(bundle))
    synced = School.objects.get(sourced_id="sch-1")
    with pytest.raises(UserError, match="comes from the SIS"):
        rename_school(district, synced.pk, "Other", actor)


def test_removed_guardians_the_sis_brings_back_are_named(
    check, sync_after, bundle, sis_school, actor
):
    kid = manual_student(sis_school, "Mia", "Lopez")
    ana = manual_guardian(kid, "Ana", "Lopez", "ana@example.com", "+12125550101")
    actions.remove_guardians(Student.objects.filter(pk=kid.pk), actor)
    ana.refresh_from_db()
    assert not ana.is_active
    bundle.guardian("gdn-1", "Ana", "Lopez", "ana@example.com", "(212) 555-0101")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    report = check(bundle)
    rows = report.finding("CHECK-GUARDIAN-RETURNS").rows
    assert [(r["account_id"], r["sis_sourced_id"], r["archived_guardian_links"]) for r in rows] == [
        (ana.pk, "gdn-1", 1)
    ]
    assert report.prediction["accounts_created"] >= 1
    run = sync_after(report)
    assert same_json(run.stats["outcome"], report.outcome)
    fresh = Account.objects.get(email="ana@example.com", is_active=True)
    assert fresh.pk != ana.pk
    ana.refresh_from_db()
    assert not ana.is_active
