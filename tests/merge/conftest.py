from __future__ import annotations

import datetime as dt
import itertools

import pytest

from rollbook.directory.models import (
    Account,
    ClassMembership,
    GuardianLink,
    HistoryRecord,
    School,
    SchoolClass,
    Student,
)

_sid = itertools.count(1)


@pytest.fixture
def source(district):
    from rollbook.sync.services import get_source

    return get_source(district)


@pytest.fixture
def make(district, school, source):
    """Students and families: ``make.old(...)`` entered by hand, ``make.synced(...)`` from
    the SIS."""

    class Make:
        def old(self, given, family, *, school=school, grade="03", birth=None, **extra):
            return Student.objects.create(
                district=district,
                school=school,
                given_name=given,
                family_name=family,
                grade=grade,
                birth_date=birth,
                **extra,
            )

        def synced(self, given, family, *, school=school, grade="03", birth=None, **extra):
            return Student.objects.create(
                district=district,
                school=school,
                given_name=given,
                family_name=family,
                grade=grade,
                birth_date=birth,
                origin="synced",
                source=source,
                sourced_id=f"stu-{next(_sid)}",
                **extra,
            )

        def guardian(self, student, given, family, email=None, phone=None, **link):
            account = Account.objects.filter(email=email).first() if email else None
            if account is None:
                account = Account.objects.create(
                    given_name=given, family_name=family, email=email, phone=phone
                )
            extra = (
                {"source": source, "sourced_id": f"lnk-{next(_sid)}"}
                if student.origin == "synced"
                else {}
            )
            GuardianLink.objects.create(account=account, student=student, **extra, **link)
            return account

        def history(self, student, n=3):
            for i in range(n):
                HistoryRecord.objects.create(
                    student=student,
                    kind="message" if i % 2 else "note",
                    occurred_at=dt.datetime(2025, 1, 1 + i, 8, tzinfo=dt.UTC),
                    author_name=f"Teacher {i}",
                    text=f"note {i} about {student.given_name}",
                )

        def manual_class(self, student, title="Chess club"):
            klass = SchoolClass.objects.create(school=student.school, title=title)
            ClassMembership.objects.create(school_class=klass, student=student)
            return klass

    return Make()


@pytest.fixture
def school_b(district):
    return School.objects.create(district=district, name="Roosevelt High")


def rows() -> dict[str, list[dict]]:
    """Every row a merge may touch, exactly."""
    return {
        "students": list(Student.objects.order_by("id").values()),
        "history": list(HistoryRecord.objects.order_by("id").values()),
        "links": list(GuardianLink.objects.order_by("id").values()),
        "memberships": list(ClassMembership.objects.order_by("id").values()),
        "accounts": list(Account.objects.order_by("id").values()),
    }
