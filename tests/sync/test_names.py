"""Names in the sync: one spelling per name whatever the Unicode form, hidden characters out."""

from __future__ import annotations

import unicodedata

import pytest

from rollbook.directory.models import Account, AuditEntry, Origin, Student
from rollbook.sync.models import RunIssue

pytestmark = pytest.mark.django_db


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


EMAIL, PHONE = "jose@example.com", "(212) 555-0101"


def test_two_unicode_spellings_of_one_guardian_are_one_account(run_sync, bundle):
    bundle.guardian("gdn-1", nfc("José"), nfc("Núñez"), EMAIL, PHONE)
    bundle.guardian("gdn-2", nfd("José"), nfd("Núñez"), EMAIL, PHONE)
    bundle.student("stu-1", "Mia", nfc("Núñez"), guardians=("gdn-1",))
    bundle.student("stu-2", "Leo", nfd("Núñez"), guardians=("gdn-2",))
    run = run_sync(bundle)
    account = Account.objects.get()
    assert (account.email, account.phone) == (EMAIL, "+12125550101")
    assert (account.given_name, account.family_name) == (nfc("José"), nfc("Núñez"))
    assert account.guardian_links.count() == 2
    assert not RunIssue.objects.filter(run=run, code__startswith="SYNC-").exists()
    assert set(Student.objects.values_list("family_name", flat=True)) == {nfc("Núñez")}


def test_the_composed_twin_of_a_decomposed_bundle_changes_nothing(run_sync, bundle):
    def family(spell):
        bundle.guardians.clear()
        bundle.students.clear()
        bundle.guardian("gdn-1", spell("José"), spell("Núñez"), EMAIL, PHONE)
        bundle.student(
            "stu-1", spell("Zoë"), spell("Núñez"), guardians=("gdn-1",), middleName=spell("Inés")
        )

    family(nfd)
    run_sync(bundle)
    student = Student.objects.get()
    assert (student.given_name, student.middle_name, student.family_name) == (
        nfc("Zoë"),
        nfc("Inés"),
        nfc("Núñez"),
    )
    entries = AuditEntry.objects.count()
    family(nfc)
    again = run_sync(bundle)
    assert again.status == "applied"
    for entity, counts in again.stats["outcome"]["counts"].items():
        changes = [counts.get(k, 0) for k in ("created", "updated", "archived", "reactivated")]
        assert changes == [0, 0, 0, 0], entity
    assert AuditEntry.objects.count() == entries


def test_a_hidden_character_is_reported_and_left_out(run_sync, bundle):
    bundle.guardian("gdn-1", "Ann\u202efdp.exe", "Lee", EMAIL, PHONE)
    bundle.student("stu-1", "Mia\u200b", "Lee\u2066", guardians=("gdn-1",))
    run = run_sync(bundle)
    assert Account.objects.get().given_name == "Annfdp.exe"
    student = Student.objects.get()
    assert (student.given_name, student.family_name) == ("Mia", "Lee")
    issues = RunIssue.objects.filter(run=run, code="OR-VALUE-HIDDEN-CHARACTER")
    assert issues.count() == 3
    where = {(i.sourced_id, i.detail["column"]) for i in issues}
    assert where == {("gdn-1", "givenName"), ("stu-1", "givenName"), ("stu-1", "familyName")}
    issue = issues.get(sourced_id="gdn-1")
    assert issue.severity == "warning" and issue.detail["file"] == "users.csv"
    assert isinstance(issue.detail["line"], int)
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in issue.message


def test_an_account_stored_decomposed_is_the_same_person(run_sync, bundle):
    """An account entered by hand before names were normalised (the migration rewrites these;
    the comparison must not depend on it)."""
    kept = Account.objects.create(
        given_name=nfd("José"),
        family_name=nfd("Núñez"),
        email=EMAIL,
        phone="+12125550101",
        password="!",
        origin=Origin.MANUAL,
    )
    bundle.guardian("gdn-1", nfc("José"), nfc("Núñez"), EMAIL, PHONE)
    bundle.student("stu-1", "Mia", nfc("Núñez"), guardians=("gdn-1",))
    run = run_sync(bundle)
    assert Account.objects.get() == kept
    assert kept.guardian_links.count() == 1
    assert not RunIssue.objects.filter(run=run, code__endswith="-TAKEN").exists()


def test_a_school_entered_by_hand_is_adopted_whatever_its_case_spaces_or_form(
    run_sync, bundle, district
):
    from rollbook.directory.models import School

    typed = School.objects.create(district=district, name=nfd("  SCHOOL   sch-1 "))
    bundle.student("stu-1", "Mia", "Lopez")
    run_sync(bundle)
    typed.refresh_from_db()
    assert typed.sourced_id == "sch-1"
    assert School.objects.filter(district=district).count() == 1


def test_a_search_typed_in_either_form_finds_the_name(district):
    from rollbook.directory.models import School
    from rollbook.web.listing import student_search

    school = School.objects.create(district=district, name="Escuela")
    Student.objects.create(
        district=district, school=school, given_name=nfc("José"), family_name=nfc("Núñez")
    )
    for typed in (nfc("núñez"), nfd("Núñez"), nfd("josé")):
        assert Student.objects.filter(student_search(typed, district)).count() == 1, typed
