"""The directory's rules that live in the database, checked against the real backend."""

import pytest
from django.db import IntegrityError, transaction

from rollbook.directory.models import (
    Account,
    AdministratorRole,
    AuditEntry,
    ClassMembership,
    GuardianLink,
    Origin,
    SchoolClass,
    Student,
)
from rollbook.sync.models import SyncSource

pytestmark = pytest.mark.django_db


def refused(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def account(**kw):
    fields = {"given_name": "Ana", "family_name": "Lopez", "password": "!"} | kw
    return Account.objects.create(**fields)


def test_an_email_signs_in_at_most_one_active_account():
    account(email="ana@example.org")
    refused(lambda: account(given_name="Other", email="ana@example.org"))


def test_a_phone_signs_in_at_most_one_active_account():
    account(phone="+12125550123")
    refused(lambda: account(given_name="Other", phone="+12125550123"))


def test_an_inactive_account_may_keep_an_email_that_someone_active_now_uses():
    old = account(email="ana@example.org", is_active=False)
    new = account(email="ana@example.org")
    assert old.pk != new.pk
    refused(lambda: Account.objects.filter(pk=old.pk).update(is_active=True))


def test_accounts_without_email_or_phone_do_not_collide():
    account()
    account()
    assert Account.objects.filter(email__isnull=True).count() == 2


def test_emails_are_stored_normalised():
    refused(lambda: account(email="Ana@Example.org"))
    refused(lambda: account(email=" ana@example.org"))
    refused(lambda: account(email=""))


def test_phones_are_stored_as_e164():
    refused(lambda: account(phone="212-555-0123"))


def test_one_object_per_source_and_sourced_id(district, school):
    source = SyncSource.objects.create(district=district, name="SIS")
    Student.objects.create(
        district=district,
        school=school,
        given_name="A",
        family_name="B",
        origin=Origin.SYNCED,
        source=source,
        sourced_id="stu-1",
    )
    refused(
        lambda: Student.objects.create(
            district=district,
            school=school,
            given_name="C",
            family_name="D",
            origin=Origin.SYNCED,
            source=source,
            sourced_id="stu-1",
        )
    )
    other = SyncSource.objects.create(district=district, name="Other SIS")
    Student.objects.create(
        district=district,
        school=school,
        given_name="A",
        family_name="B",
        origin=Origin.SYNCED,
        source=other,
        sourced_id="stu-1",
    )


def test_provenance_is_all_or_nothing(district, school):
    refused(
        lambda: Student.objects.create(
            district=district,
            school=school,
            given_name="A",
            family_name="B",
            origin=Origin.MANUAL,
            sourced_id="stu-1",
        )
    )


def test_manual_students_have_no_source_and_synced_ones_have_one(district, school):
    source = SyncSource.objects.create(district=district, name="SIS")
    refused(
        lambda: Student.objects.create(
            district=district, school=school, given_name="A", family_name="B", origin=Origin.SYNCED
        )
    )
    refused(
        lambda: Student.objects.create(
            district=district,
            school=school,
            given_name="A",
            family_name="B",
            origin=Origin.MANUAL,
            source=source,
            sourced_id="x",
        )
    )


def test_a_manual_guardian_link_is_not_duplicated(district, school):
    student = Student.objects.create(
        district=district, school=school, given_name="A", family_name="B"
    )
    parent = account(email="p@example.org")
    GuardianLink.objects.create(account=parent, student=student)
    refused(lambda: GuardianLink.objects.create(account=parent, student=student))


def test_a_class_membership_is_a_student_or_a_staff_member_not_both(district, school):
    student = Student.objects.create(
        district=district, school=school, given_name="A", family_name="B"
    )
    teacher = account(email="t@example.org")
    cls = SchoolClass.objects.create(school=school, title="Math 1")
    ClassMembership.objects.create(school_class=cls, student=student)
    ClassMembership.objects.create(school_class=cls, account=teacher, role="teacher")
    refused(lambda: ClassMembership.objects.create(school_class=cls))
    refused(
        lambda: ClassMembership.objects.create(school_class=cls, student=student, account=teacher)
    )


def test_an_audit_entry_always_says_who(district):
    refused(lambda: AuditEntry.objects.create(action="update", object_type="student"))
    AuditEntry.objects.create(action="update", object_type="student", actor_label="cli")


def test_administrator_roles_are_unique_per_district_and_per_school(district, school):
    admin = account(email="admin@example.org")
    AdministratorRole.objects.create(account=admin, district=district)
    refused(lambda: AdministratorRole.objects.create(account=admin, district=district))
    AdministratorRole.objects.create(account=admin, district=district, school=school)
    refused(
        lambda: AdministratorRole.objects.create(account=admin, district=district, school=school)
    )


def test_people_are_never_deleted_while_they_have_roles(district, school):
    student = Student.objects.create(
        district=district, school=school, given_name="A", family_name="B"
    )
    parent = account(email="p@example.org")
    GuardianLink.objects.create(account=parent, student=student)
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        parent.delete()
