"""The self-check, one situation of the founding guideline at a time: each finding and its
count, and the prediction against what the sync then does."""

from __future__ import annotations

import pytest
from django.apps import apps

from rollbook.directory.models import Account, AuditEntry, GuardianLink, Student
from rollbook.sync.models import RunIssue, SyncRecord, SyncRun, SyncSource

from .conftest import manual_guardian, manual_student, same_json

pytestmark = pytest.mark.django_db


def _table_counts() -> dict[str, int]:
    return {
        m._meta.label: m.objects.count()
        for m in apps.get_models()
        if m._meta.app_label in ("directory", "sync")
    }


def test_the_check_changes_nothing(check, bundle, sis_school):
    manual_student(sis_school, "Mia", "Lopez")
    bundle.guardian("gdn-1", "Ana", "Lopez", "ana@example.com").student(
        "stu-1", "Mia", "Lopez", guardians=("gdn-1",)
    )
    before = _table_counts()
    school_before = (sis_school.source_id, sis_school.sourced_id)
    report = check(bundle)
    assert report.prediction["students_created"] == 1
    assert _table_counts() == before
    assert not SyncSource.objects.exists() and not SyncRun.objects.exists()
    sis_school.refresh_from_db()
    assert (sis_school.source_id, sis_school.sourced_id) == school_before


def test_existing_families_are_counted_with_their_likely_twins(
    check, sync_after, bundle, sis_school, school
):
    twin = manual_student(sis_school, "  mia ", "LÓPEZ")  # same child, formatting aside
    manual_student(sis_school, "Noah", "Kim")
    manual_student(sis_school, "Old", "Archived", status="archived")
    manual_student(school, "Elsewhere", "Child")  # a school the SIS does not deliver
    bundle.student("stu-1", "Mia", "López").student("stu-2", "Zoe", "Park")
    report = check(bundle)
    existing = report.finding("CHECK-EXISTING-STUDENTS")
    assert existing.count == 2
    assert {r["student_id"] for r in existing.rows} == {
        twin.pk,
        Student.objects.get(given_name="Noah").pk,
    }
    twins = report.finding("CHECK-EXISTING-STUDENT-TWINS")
    assert [(r["student_id"], r["likely_sis_student"], r["match"]) for r in twins.rows] == [
        (twin.pk, "stu-1", "weak")  # no grade entered by hand: weaker evidence
    ]
    assert report.prediction["students_left_untouched"] == 3
    assert report.prediction["students_created"] == 2
    before = list(Student.objects.filter(origin="manual").order_by("id").values())
    run = sync_after(report)
    assert same_json(run.stats["outcome"], report.outcome)
    assert list(Student.objects.filter(origin="manual").order_by("id").values()) == before


def test_existing_guardians_reused_near_and_unknown(check, sync_after, bundle, sis_school):
    kid = manual_student(sis_school, "Mia", "Lopez")
    exact = manual_guardian(kid, "Ana", "Lopez", "ana@example.com", "+12125550101")
    other_phone = manual_guardian(kid, "Ben", "Lopez", "ben@example.com", "+12125550199")
    other_name = manual_guardian(kid, "Cathy", "Ross", None, "+12125550103")
    unknown = manual_guardian(kid, "Dan", "Moe", "dan@example.com")
    bundle.guardian("gdn-1", "ANA", "lopez", "Ana@Example.com", "(212) 555-0101")
    bundle.guardian("gdn-2", "Ben", "Lopez", "ben@example.com", "(212) 555-0102")
    bundle.guardian("gdn-3", "Catherine", "Ross", "cat@example.com", "(212) 555-0103")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-1", "gdn-2", "gdn-3"))
    report = check(bundle)
    reused = report.finding("CHECK-GUARDIAN-REUSED")
    assert [(r["account_id"], r["sis_sourced_id"]) for r in reused.rows] == [(exact.pk, "gdn-1")]
    near = {r["account_id"]: r for r in report.finding("CHECK-GUARDIAN-NEAR-MATCH").rows}
    assert set(near) == {other_phone.pk, other_name.pk}
    assert near[other_phone.pk]["differs"] == "phone"
    assert (near[other_phone.pk]["phone_current"], near[other_phone.pk]["phone_sis"]) == (
        "+12125550199",
        "+12125550102",
    )
    assert near[other_name.pk]["differs"] == "name, email"
    assert near[other_name.pk]["given_name_sis"] == "Catherine"
    # Only the same person (same name) may take the SIS values (issue 13, case 3).
    assert near[other_phone.pk]["fixable"]
    assert not near[other_name.pk]["fixable"]
    assert "named Catherine Ross" in near[other_name.pk]["not_fixable_because"]
    assert [r["account_id"] for r in report.finding("CHECK-GUARDIAN-NO-MATCH").rows] == [unknown.pk]
    assert report.prediction["accounts_reused"] == 1
    # The near matches keep what they hold: Ben's email, Cathy's phone are withheld.
    conflicts = report.finding("CHECK-SIGN-IN-CONFLICT").rows
    assert {(r["sis_sourced_id"], r["field"], r["held_by_account"]) for r in conflicts} == {
        ("gdn-2", "email", other_phone.pk),
        ("gdn-3", "phone", other_name.pk),
    }
    run = sync_after(report)
    assert same_json(run.stats["outcome"], report.outcome)
    assert GuardianLink.objects.get(person_sourced_id="gdn-1").account_id == exact.pk
    assert GuardianLink.objects.get(person_sourced_id="gdn-2").account_id != other_phone.pk


def test_updating_contacts_makes_the_sync_keep_the_accounts(
    check, sync_after, bundle, sis_school, district, actor
):
    from rollbook.readiness.services import update_guardian_contacts

    kid = manual_student(sis_school, "Mia", "Lopez")
    old = manual_guardian(kid, "ben", " LOPEZ", "ben@example.com", "+12125550199")
    blocked = manual_guardian(kid, "Eve", "Ng", "eve@example.com")
    holder = Account.objects.create(given_name="Someone", family_name="Else", email="eve2@x.org")
    bundle.guardian("gdn-2", "Ben", "Lopez", "ben@example.com", "(212) 555-0102")
    bundle.guardian("gdn-5", "Eve", "Ng", "eve2@x.org", "(212) 555-0105")
    bundle.guardian("gdn-6", "Eve", "Ng", "eve@example.com", "(212) 555-0106")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-2", "gdn-5", "gdn-6"))
    report = check(bundle)
    near = {r["account_id"]: r for r in report.finding("CHECK-GUARDIAN-NEAR-MATCH").rows}
    assert near[old.pk]["fixable"] and near[old.pk]["differs"] == "phone"
    # Eve's closest SIS record is gdn-6 (same email): fixable. Pointing her at gdn-5 would
    # take another account's email.
    assert near[blocked.pk]["sis_sourced_id"] == "gdn-6" and near[blocked.pk]["fixable"]

    from rollbook.errors import UserError

    with pytest.raises(UserError, match="not an existing guardian"):
        update_guardian_contacts(district, report.folder, actor, accounts=[holder.pk])
    done = update_guardian_contacts(district, report.folder, actor, accounts=[old.pk])
    assert [r["account_id"] for r in done] == [old.pk]
    old.refresh_from_db()
    assert (old.given_name, old.email, old.phone) == ("Ben", "ben@example.com", "+12125550102")
    entry = AuditEntry.objects.get(action="update_contacts", object_id=old.pk)
    assert entry.before["phone"] == "+12125550199" and entry.after["phone"] == "+12125550102"
    assert entry.actor_label == "test"

    again = check(bundle)
    assert old.pk in {r["account_id"] for r in again.finding("CHECK-GUARDIAN-REUSED").rows}
    run = sync_after(again)
    assert same_json(run.stats["outcome"], again.outcome)
    assert GuardianLink.objects.get(person_sourced_id="gdn-2").account_id == old.pk


def test_a_fix_that_would_take_someone_elses_email_is_refused(
    check, bundle, sis_school, district, actor
):
    from rollbook.errors import UserError
    from rollbook.readiness.services import update_guardian_contacts

    kid = manual_student(sis_school, "Mia", "Lopez")
    old = manual_guardian(kid, "Ben", "Lopez", None, "+12125550102")
    Account.objects.create(given_name="Other", family_name="Person", email="ben@example.com")
    bundle.guardian("gdn-2", "Ben", "Lopez", "ben@example.com", "(212) 555-0102")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-2",))
    report = check(bundle)
    row = report.finding("CHECK-GUARDIAN-NEAR-MATCH").rows[0]
    assert row["account_id"] == old.pk and not row["fixable"]
    assert "ben@example.com belongs to account" in row["not_fixable_because"]
    with pytest.raises(UserError, match="cannot take the SIS values"):
        update_guardian_contacts(district, report.folder, actor, accounts=[old.pk])
    assert update_guardian_contacts(district, report.folder, actor) == []
    old.refresh_from_db()
    assert old.email is None


def test_people_with_several_roles(check, sync_after, bundle):
    bundle.teacher("tch-1", "Ana", "Lopez", "ana@example.com", "(212) 555-0101")
    bundle.guardian("gdn-1", "Ana", "Lopez", "ANA@example.com", "212-555-0101")
    bundle.teacher("tch-2", "Raj", "Patel", "raj@example.com", "(212) 555-0111")
    bundle.guardian("gdn-2", "Raj", "Patel", "raj@example.com", "(212) 555-0112")
    bundle.guardian("gdn-3", "Kim", "Lee", "kim@example.com")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    bundle.student("stu-2", "Dev", "Patel", guardians=("gdn-2",))
    bundle.student("stu-3", "Jo", "Lee", guardians=("gdn-3",))
    bundle.student("stu-4", "Al", "Lee", guardians=("gdn-3",))
    report = check(bundle)
    one = report.finding("CHECK-MULTI-ROLE-ONE-ACCOUNT")
    assert [r["sourced_ids"] for r in one.rows] == ["gdn-1, tch-1"]
    # A guardian of two students is one account by construction: counted, not listed.
    assert (one.count, one.unlisted) == (1, 1)
    assert one.summary == (
        "1 group of SIS records with the same name, email and phone will each be one "
        "account; 1 more SIS record holds several roles of one kind (a guardian of several "
        "students, staff with several roles): one account each, counted but not listed."
    )
    staff = report.finding("CHECK-STAFF-ALSO-GUARDIAN")
    assert [r["sourced_ids"] for r in staff.rows] == ["gdn-1, tch-1"]
    split = report.finding("CHECK-MULTI-ROLE-SPLIT")
    assert split.count == 1
    assert {r["sourced_id"]: r["differs"] for r in split.rows} == {
        "gdn-2": "(first of the group)",
        "tch-2": "phone",
    }
    assert (report.prediction["people_split"], report.prediction["accounts_from_split"]) == (1, 2)
    run = sync_after(report)
    assert same_json(run.stats["outcome"], report.outcome)
    accounts = dict(
        SyncRecord.objects.filter(entity="person").values_list("sourced_id", "local_id")
    )
    assert accounts["gdn-1"] == accounts["tch-1"]
    assert accounts["gdn-2"] != accounts["tch-2"]


def test_sign_in_conflicts_are_the_ones_the_sync_records(check, sync_after, bundle, sis_school):
    holder = Account.objects.create(given_name="Zed", family_name="Holder", email="ana@example.com")
    bundle.guardian("gdn-1", "Ana", "Lopez", "ana@example.com")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    report = check(bundle)
    rows = report.finding("CHECK-SIGN-IN-CONFLICT").rows
    assert rows == [
        {
            "field": "email",
            "value": "ana@example.com",
            "sis_sourced_id": "gdn-1",
            "sis_name": "Ana Lopez",
            "held_by_account": holder.pk,
            "held_by_sis_sourced_id": "",
            "held_by_name": "Zed Holder",
        }
    ]
    assert report.prediction["identifiers_withheld"] == 1
    run = sync_after(report)
    issue = RunIssue.objects.get(run=run, code="SYNC-EMAIL-TAKEN")
    assert issue.sourced_id == "gdn-1"


def test_contactability(check, bundle):
    bundle.guardian("gdn-1", "No", "Contact")
    bundle.guardian("gdn-2", "Bad", "Email", "not-an-email", "(212) 555-0102")
    bundle.guardian("gdn-3", "Bad", "Phone", "bp@example.com", "12")
    bundle.student("stu-1", "A", "One", guardians=("gdn-1", "gdn-2", "gdn-3"))
    bundle.student("stu-2", "B", "Alone")
    report = check(bundle)
    assert [r["sourced_id"] for r in report.finding("CHECK-GUARDIAN-NO-CONTACT").rows] == ["gdn-1"]
    assert [r["email"] for r in report.finding("CHECK-EMAIL-MALFORMED").rows] == ["not-an-email"]
    assert [r["phone"] for r in report.finding("CHECK-PHONE-UNPARSEABLE").rows] == ["12"]
    assert [r["sourced_id"] for r in report.finding("CHECK-STUDENT-NO-GUARDIAN").rows] == ["stu-2"]


def test_data_quality_groups_the_readers_findings(check, sync_after, bundle):
    bundle.guardian("gdn-1", "Bad", "Email", "not-an-email").guardian("gdn-2", "B", "E", "x@")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-1", "gdn-2"))
    report = check(bundle)
    assert report.can_sync
    rows = report.finding("CHECK-READER-FINDINGS").rows
    assert [(r["code"], r["severity"], r["count"]) for r in rows] == [
        ("OR-VALUE-EMAIL", "warning", 2)
    ]
    assert rows[0]["first_at"].startswith("users.csv:")
    run = sync_after(report)
    assert same_json(run.stats["outcome"], report.outcome)


def test_a_bundle_with_errors_cannot_sync(check, write, district, tmp_path, sis_school):
    from rollbook.readiness.services import run_check

    manual_student(sis_school, "Mia", "Lopez")
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "manifest.csv").write_text("propertyName,value\nmanifest.version,1.0\n")
    (folder / "users.csv").write_text("not,a,users,file\n1,2,3,4\n")
    report = run_check(district, folder)
    assert not report.can_sync
    assert "cannot run" in report.verdict
    assert report.count("CHECK-READER-FINDINGS") >= 1
    assert report.count("CHECK-EXISTING-STUDENTS") == 1
    assert report.prediction == {}


@pytest.mark.parametrize(
    ("account", "sis", "shared"),
    [
        # Dee Fox would become Ray Fox through a shared email.
        (("Dee", "Fox", "fox@example.com", None), ("Ray", "Fox", "fox@example.com", ""), "email"),
        # Gia Moe would become Hal Moe (and take Hal's email) through a shared landline.
        (
            ("Gia", "Moe", None, "+12125550177"),
            ("Hal", "Moe", "hal@example.com", "(212) 555-0177"),
            "phone",
        ),
    ],
)
def test_a_fix_is_never_offered_for_another_person(
    check, sync_after, bundle, sis_school, district, actor, account, sis, shared
):
    """Issue 13, case 3: sharing one identifier is no evidence of being the same person."""
    from rollbook.errors import UserError
    from rollbook.readiness.services import update_guardian_contacts

    kid = manual_student(sis_school, "Kid", account[1])
    old = manual_guardian(kid, *account)
    before = list(Account.objects.filter(pk=old.pk).values())
    bundle.guardian("gdn-9", *sis)
    bundle.student("stu-9", "Other", sis[1], guardians=("gdn-9",))
    report = check(bundle)
    row = report.finding("CHECK-GUARDIAN-NEAR-MATCH").rows[0]
    assert row["account_id"] == old.pk and shared not in row["differs"]
    assert not row["fixable"] and f"named {sis[0]} {sis[1]}" in row["not_fixable_because"]
    with pytest.raises(UserError, match="cannot take the SIS values"):
        update_guardian_contacts(district, report.folder, actor, accounts=[old.pk])
    assert update_guardian_contacts(district, report.folder, actor) == []
    assert list(Account.objects.filter(pk=old.pk).values()) == before
    # The sync then gives the SIS person an account of their own, and the old one no role.
    run = sync_after(report)
    assert same_json(run.stats["outcome"], report.outcome)
    assert GuardianLink.objects.get(person_sourced_id="gdn-9").account_id != old.pk
    assert list(Account.objects.filter(pk=old.pk).values()) == before


def test_a_fix_never_changes_an_account_of_another_district(
    check, bundle, sis_school, district, actor
):
    from rollbook.directory.models import District, School
    from rollbook.readiness.services import update_guardian_contacts

    kid = manual_student(sis_school, "Mia", "Lopez")
    shared = manual_guardian(kid, "Ben", "Lopez", "ben@example.com", "+12125550199")
    elsewhere = District.objects.create(name="Elsewhere District")
    other_kid = manual_student(School.objects.create(district=elsewhere, name="Far"), "Al", "Lo")
    GuardianLink.objects.create(account=shared, student=other_kid)
    before = list(Account.objects.filter(pk=shared.pk).values())
    bundle.guardian("gdn-2", "Ben", "Lopez", "ben@example.com", "(212) 555-0102")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-2",))
    report = check(bundle)
    row = report.finding("CHECK-GUARDIAN-NEAR-MATCH").rows[0]
    assert row["account_id"] == shared.pk and not row["fixable"]
    assert "another district" in row["not_fixable_because"]
    assert update_guardian_contacts(district, report.folder, actor) == []
    assert list(Account.objects.filter(pk=shared.pk).values()) == before
