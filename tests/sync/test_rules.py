"""The founding rules of the sync, one situation each, on the real database."""

from __future__ import annotations

import pytest

from rollbook.directory.models import (
    Account,
    AuditEntry,
    ClassMembership,
    GuardianLink,
    HistoryRecord,
    StaffRole,
    Student,
)
from rollbook.directory.services import Person, add_staff
from rollbook.sync.models import RunIssue, SyncRun

pytestmark = pytest.mark.django_db


def family(
    b,
    student="stu-1",
    guardian="gdn-1",
    email="ana@example.com",
    phone="(212) 555-0101",
    given="Ana",
    family_name="Lopez",
):
    return b.guardian(guardian, given, family_name, email, phone).student(
        student, "Mia", family_name, guardians=(guardian,)
    )


def test_first_sync_waits_for_approval_then_creates_students(run_sync, bundle):
    family(bundle)
    held = run_sync(bundle, approve=False)
    assert held.status == SyncRun.Status.HELD
    assert "first sync" in held.hold_reasons[0]
    assert Student.objects.count() == 0
    from rollbook.directory.audit import Actor
    from rollbook.sync.services import approve_run

    applied = approve_run(held, Actor(label="test"))
    assert applied.status == SyncRun.Status.APPLIED
    student = Student.objects.get()
    assert (student.origin, student.sourced_id, student.last_run_id) == ("synced", "stu-1", held.pk)


def test_first_sync_never_touches_existing_students(run_sync, bundle, school, actor):
    old = Student.objects.create(
        district=school.district, school=school, given_name="Mia", family_name="Lopez", grade="03"
    )
    HistoryRecord.objects.create(
        student=old, kind="note", text="allergy", occurred_at="2025-01-01T00:00:00Z"
    )
    family(bundle)
    run_sync(bundle)
    old.refresh_from_db()
    assert (old.status, old.origin, old.source_id, old.last_run_id) == (
        "active",
        "manual",
        None,
        None,
    )
    assert Student.objects.filter(origin="synced").count() == 1
    assert old.history.count() == 1
    assert not AuditEntry.objects.filter(object_type="student", object_id=old.pk).exists()


def test_a_teacher_who_is_a_parent_is_one_account_with_two_roles(run_sync, bundle):
    bundle.teacher("tch-1", "Ana", "Lopez", "ana@example.com", "(212) 555-0101")
    family(bundle)
    run_sync(bundle)
    account = Account.objects.get()
    assert account.staff_roles.get().role == "teacher"
    assert account.guardian_links.get().student.sourced_id == "stu-1"


def test_formatting_differences_do_not_split_a_person(run_sync, bundle):
    bundle.teacher("tch-1", " ana ", "LOPEZ", "Ana@Example.com ", "212.555.0101")
    family(bundle)
    run_sync(bundle)
    assert Account.objects.count() == 1


@pytest.mark.parametrize("field", ["phone", "email", "given"])
def test_any_difference_gives_separate_accounts(run_sync, bundle, field):
    details = {"email": "ana@example.com", "phone": "(212) 555-0101", "given": "Ana"}
    details[field] = {"phone": "(212) 555-0199", "email": "ana.l@example.com", "given": "Anna"}[
        field
    ]
    bundle.teacher("tch-1", details["given"], "Lopez", details["email"], details["phone"])
    family(bundle)
    run = run_sync(bundle)
    teacher = Account.objects.get(staff_roles__isnull=False)
    parent = Account.objects.get(guardian_links__isnull=False)
    assert teacher.pk != parent.pk
    if field != "given":  # a shared identifier goes to the staff member; the parent is told
        issue = RunIssue.objects.get(run=run, code__endswith="-TAKEN")
        assert issue.sourced_id == "gdn-1"
        assert getattr(parent, "phone" if field == "email" else "email") is None


def test_people_without_email_or_phone_are_never_merged(run_sync, bundle):
    bundle.guardian("gdn-1", "Maria", "Garcia").guardian("gdn-2", "Maria", "Garcia")
    bundle.student("stu-1", "Leo", "Garcia", guardians=("gdn-1",))
    bundle.student("stu-2", "Eva", "Garcia", guardians=("gdn-2",))
    run_sync(bundle)
    assert Account.objects.count() == 2


def test_a_parent_of_several_children_is_one_account(run_sync, bundle):
    bundle.guardian("gdn-1", "Ana", "Lopez", "ana@example.com")
    for i in range(3):
        bundle.student(f"stu-{i}", f"Kid{i}", "Lopez", guardians=("gdn-1",))
    run_sync(bundle)
    assert Account.objects.get().guardian_links.count() == 3


def test_an_existing_guardian_keeps_the_old_account_on_an_exact_match(
    run_sync, bundle, school, actor
):
    kept, _ = add_staff(
        school, Person.parse("Ana", "Lopez", "ana@example.com", "212-555-0101", "US"), "aide", actor
    )
    family(bundle)
    run = run_sync(bundle)
    assert Account.objects.count() == 1
    assert GuardianLink.objects.get().account == kept
    assert run.stats["outcome"]["identity"]["accounts_matched"] == 1


def test_a_near_match_gets_a_new_account_without_the_taken_email(run_sync, bundle, school, actor):
    old, _ = add_staff(
        school, Person.parse("Ana", "Lopez", "ana@example.com", None, "US"), "aide", actor
    )
    family(bundle)  # same name and email, but a phone
    run = run_sync(bundle)
    link = GuardianLink.objects.get()
    assert link.account != old
    assert link.account.email is None and link.account.phone == "+12125550101"
    assert not old.guardian_links.exists()  # the old account gains no access to the child
    issue = RunIssue.objects.get(run=run, code="SYNC-EMAIL-TAKEN")
    assert issue.account == old


def test_two_sis_people_sharing_an_email_the_lowest_sourced_id_keeps_it(run_sync, bundle):
    bundle.guardian("gdn-2", "Bea", "Lopez", "home@example.com")
    bundle.guardian("gdn-1", "Ana", "Lopez", "home@example.com")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-1", "gdn-2"))
    run_sync(bundle)
    assert Account.objects.get(email="home@example.com").given_name == "Ana"
    assert Account.objects.get(given_name="Bea").email is None


def test_staff_win_a_shared_email_over_guardians(run_sync, bundle):
    bundle.guardian("a-gdn", "Ana", "Lopez", "home@example.com")
    bundle.teacher("z-tch", "Zed", "Lopez", "home@example.com")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("a-gdn",))
    run_sync(bundle)
    assert Account.objects.get(email="home@example.com").given_name == "Zed"


def test_resync_updates_archives_and_reactivates(run_sync, bundle):
    family(bundle)
    bundle.student("stu-2", "Leo", "Lopez", guardians=("gdn-1",))
    run_sync(bundle)
    bundle.students[0]["givenName"] = "Amelia"
    removed = bundle.students.pop()
    second = run_sync(bundle)
    counts = second.stats["outcome"]["counts"]["student"]
    assert (counts["updated"], counts["archived"]) == (1, 1)
    assert Student.objects.get(sourced_id="stu-1").given_name == "Amelia"
    leo = Student.objects.get(sourced_id="stu-2")
    assert leo.status == "archived" and leo.archived_at is not None
    assert GuardianLink.objects.get(student=leo).status == "archived"
    bundle.students.append(removed)
    run_sync(bundle)
    leo.refresh_from_db()
    assert leo.status == "active"
    assert GuardianLink.objects.get(student=leo).status == "active"


def test_each_class_keeps_exactly_its_terms_through_updates_and_returns(run_sync, bundle):
    from rollbook.directory.models import SchoolClass

    def terms() -> dict[str, list[str]]:
        return {
            c.sourced_id: sorted(t.sourced_id for t in c.terms.all())
            for c in SchoolClass.objects.prefetch_related("terms")
        }

    family(bundle)
    bundle.klass("cls-1").klass("cls-2")
    run_sync(bundle)
    assert terms() == {"cls-1": ["term-1"], "cls-2": ["term-1"]}
    bundle.classes[0]["title"] = "Renamed"  # updated: its links rebuilt, not doubled
    gone = bundle.classes.pop()  # archived
    bundle.klass("cls-3")  # created by a re-sync
    run_sync(bundle)
    assert terms() == {"cls-1": ["term-1"], "cls-2": ["term-1"], "cls-3": ["term-1"]}
    bundle.classes.append(gone)  # reactivated
    third = run_sync(bundle)
    assert third.stats["outcome"]["counts"]["class"]["reactivated"] == 1
    assert terms() == {"cls-1": ["term-1"], "cls-2": ["term-1"], "cls-3": ["term-1"]}


def test_syncing_the_same_bundle_twice_changes_nothing(run_sync, bundle):
    family(bundle)
    bundle.teacher("tch-1", "Tom", "Baker", "tom@example.com").klass("cls-1")
    bundle.enroll("enr-1", "cls-1", "stu-1").enroll("enr-2", "cls-1", "tch-1", "teacher")
    run_sync(bundle)
    entries = AuditEntry.objects.count()
    # The same data exported again: not skipped.
    run_sync.source.last_bundle_digest = run_sync.source.last_records_digest = ""
    run_sync.source.save()
    again = run_sync(bundle)
    assert again.status == "applied"
    for entity, counts in again.stats["outcome"]["counts"].items():
        changes = [counts.get(k, 0) for k in ("created", "updated", "archived", "reactivated")]
        assert changes == [0, 0, 0, 0], entity
    assert AuditEntry.objects.count() == entries


def test_a_guardian_left_with_no_role_is_deactivated_and_comes_back(run_sync, bundle):
    family(bundle)
    run_sync(bundle)
    guardian = bundle.guardians.pop()
    bundle.students[0]["agentSourcedIds"] = ""
    run_sync(bundle)
    account = Account.objects.get()
    assert not account.is_active and account.deactivated_at is not None
    assert GuardianLink.objects.get().status == "archived"
    bundle.guardians.append(guardian)
    bundle.students[0]["agentSourcedIds"] = "gdn-1"
    run_sync(bundle)
    account.refresh_from_db()
    assert account.is_active and account.deactivated_at is None
    assert GuardianLink.objects.get().status == "active"


def test_tobedeleted_in_a_delta_archives_only_that_record(run_sync, bundle):
    family(bundle)
    bundle.student("stu-2", "Leo", "Lopez", guardians=("gdn-1",))
    run_sync(bundle)
    from .bundles import Bundle

    delta = Bundle(
        modes={
            "users": "delta",
            "orgs": "absent",
            "academicSessions": "absent",
            "courses": "absent",
            "classes": "absent",
            "enrollments": "absent",
            "demographics": "absent",
        }
    )
    delta.student("stu-2", "Leo", "Lopez", status="tobedeleted")
    run = run_sync(delta, approve=True)
    assert run.status == "applied", run.stats
    assert Student.objects.get(sourced_id="stu-2").status == "archived"
    assert Student.objects.get(sourced_id="stu-1").status == "active"


def test_a_run_that_archives_too_much_is_held(run_sync, bundle):
    for i in range(10):
        bundle.student(f"stu-{i}", f"Kid{i}", "Lopez")
    run_sync(bundle)
    del bundle.students[8:]
    held = run_sync(bundle, approve=False)
    assert held.status == "held"
    assert "archive 2 of 10 students" in held.hold_reasons[0]
    assert Student.objects.filter(status="archived").count() == 0


def test_a_saved_plan_is_refused_when_the_directory_changed(run_sync, bundle, actor, school):
    family(bundle)
    planned = run_sync(bundle, dry_run=True)
    assert planned.status == "planned" and Student.objects.count() == 0
    from rollbook.errors import UserError
    from rollbook.sync.services import approve_run

    # Someone enters the same person by hand meanwhile: the plan's account decisions are stale.
    add_staff(
        school, Person.parse("Ana", "Lopez", "ana@example.com", "212-555-0101", "US"), "aide", actor
    )
    with pytest.raises(UserError, match="changed since run"):
        approve_run(planned, actor)
    assert Student.objects.filter(origin="synced").count() == 0


def test_a_saved_plan_applies_when_nothing_changed(run_sync, bundle, actor):
    family(bundle)
    planned = run_sync(bundle, dry_run=True)
    from rollbook.sync.services import approve_run

    applied = approve_run(planned, actor)
    assert applied.status == "applied"
    assert applied.stats["outcome"]["counts"]["student"]["created"] == 1
    assert applied.stats["plan"]["counts"]["student"]["created"] == 1


def test_a_failure_while_applying_leaves_the_directory_as_it_was(run_sync, bundle, monkeypatch):
    family(bundle)
    from rollbook.sync import accounts

    def broken(writer):
        raise RuntimeError("disk full")

    monkeypatch.setattr(accounts, "settle_activity", broken)
    with pytest.raises(RuntimeError):
        run_sync(bundle)
    assert Student.objects.count() == 0 and Account.objects.count() == 0
    assert SyncRun.objects.get().status == "failed"


def test_a_person_who_splits_off_takes_their_links_along(run_sync, bundle):
    bundle.teacher("tch-1", "Ana", "Lopez", "ana@example.com", "(212) 555-0101")
    family(bundle)
    run_sync(bundle)
    shared = Account.objects.get()
    bundle.guardians[0]["phone"] = "(212) 555-0199"  # the parent record now differs
    run_sync(bundle)
    link = GuardianLink.objects.get()
    assert link.account != shared
    assert shared.staff_roles.filter(status="active").exists()
    assert not shared.guardian_links.exists()


def test_every_change_points_to_its_run(run_sync, bundle):
    family(bundle)
    run = run_sync(bundle)
    assert AuditEntry.objects.filter(run=run).count() >= 3
    assert not AuditEntry.objects.filter(
        run__isnull=True, actor__isnull=True, actor_label=""
    ).exists()
    assert StaffRole.objects.filter(last_run__isnull=True, source__isnull=False).count() == 0
    assert ClassMembership.objects.count() == 0


def test_a_school_entered_by_hand_with_the_same_name_becomes_the_sis_school(
    run_sync, bundle, school
):
    old = Student.objects.create(
        district=school.district, school=school, given_name="Mia", family_name="Lopez"
    )
    bundle.schools = ["sch-9"]
    from .bundles import Bundle

    assert isinstance(bundle, Bundle)
    school.name = "School sch-9"  # the name the bundle gives its school
    school.save()
    bundle.student("stu-1", "Mia", "Lopez", school="sch-9")
    run = run_sync(bundle)
    school.refresh_from_db()
    assert (school.source_id, school.sourced_id) == (run.source_id, "sch-9")
    assert run.stats["outcome"]["counts"]["school"]["adopted"] == 1
    synced = Student.objects.get(origin="synced")
    assert synced.school == school == old.school
    old.refresh_from_db()
    assert old.origin == "manual" and old.source_id is None


def test_a_source_limited_to_some_schools_syncs_only_those(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    from rollbook.directory.audit import Actor
    from rollbook.sync import services

    from .bundles import Bundle

    b = Bundle(schools=["sch-1", "sch-2"])
    b.guardian("gdn-1", "Ana", "Lopez", "ana@example.com")
    b.student("stu-1", "Mia", "Lopez", school="sch-1", guardians=("gdn-1",))
    b.student("stu-2", "Leo", "Lopez", school="sch-2", guardians=("gdn-1",))
    source = services.get_source(district, "North", schools=["sch-2"])
    run = services.sync_bundle(source, b.write(tmp_path / "b"), Actor(label="t"), approve=True)
    assert run.stats["plan"]["skipped_outside_schools"] == {
        "school": 1,
        "student_at_other_schools": 1,  # Mia, at sch-1: counted, never silently left
        "guardian_link": 1,  # Ana's link to Mia (Ana is synced: Leo's guardian)
    }
    assert list(Student.objects.values_list("sourced_id", flat=True)) == ["stu-2"]
    assert GuardianLink.objects.get().student.sourced_id == "stu-2"


def test_a_byte_identical_bundle_is_skipped(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    from rollbook.directory.audit import Actor
    from rollbook.sync import services

    from .bundles import Bundle

    folder = Bundle().student("stu-1", "Mia", "Lopez").write(tmp_path / "b")
    source = services.get_source(district)
    services.sync_bundle(source, folder, Actor(label="t"), approve=True)
    again = services.sync_bundle(source, folder, Actor(label="t"), approve=True)
    assert again.status == "skipped"
    assert "byte-identical" in again.stats["note"]
