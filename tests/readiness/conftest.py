from __future__ import annotations

import itertools
import json

import pytest

from rollbook.directory.audit import Actor
from rollbook.directory.models import Account, GuardianLink, School, Student

from ..sync.bundles import Bundle

_counter = itertools.count()


@pytest.fixture
def bundle() -> Bundle:
    return Bundle()


@pytest.fixture
def sis_school(district):
    """A school entered by hand with the SIS school's name: the sync adopts it."""
    return School.objects.create(district=district, name="School sch-1")


@pytest.fixture
def write(tmp_path, settings):
    settings.ROLLBOOK_HOME = tmp_path / "home"

    def write(b: Bundle):
        return b.write(tmp_path / f"bundle-{next(_counter)}")

    return write


def checked(district, folder, **kwargs):
    """The self-check's report, after holding it equal to the full rehearsal's (the sync's own
    apply, rolled back): every test that checks through here also proves the foreseen apply
    exact on its scenario."""
    from rollbook.readiness.services import run_check

    full = run_check(district, folder, full=True, **kwargs)
    report = run_check(district, folder, **kwargs)
    assert same_report(report, full)
    return report


def same_report(a, b) -> bool:
    """Two reports say the same, whole (their JSON), but for the seconds they took."""
    left, right = json.loads(a.to_json()), json.loads(b.to_json())
    left.pop("seconds"), right.pop("seconds")
    if left != right:  # say where, for the failure's message
        for key in left:
            if left[key] != right.get(key):
                print(f"reports differ in {key}:\n{left[key]}\n{right.get(key)}")
    return left == right


@pytest.fixture
def check(district, write):
    """Write a bundle and run the self-check on it (held equal to the full rehearsal)."""

    def check(b: Bundle, **kwargs):
        folder = write(b)
        report = checked(district, folder, **kwargs)
        report.folder = folder
        return report

    return check


@pytest.fixture
def sync_after(district):
    """Sync the bundle a report was made on, approved; returns the run."""
    from rollbook.sync import services

    def sync_after(report):
        source = services.get_source(district)
        return services.sync_bundle(source, report.folder, Actor(label="test"), approve=True)

    return sync_after


def manual_student(school, given, family, **extra) -> Student:
    return Student.objects.create(
        district=school.district, school=school, given_name=given, family_name=family, **extra
    )


def manual_guardian(student, given, family, email=None, phone=None) -> Account:
    account = Account.objects.create(
        given_name=given, family_name=family, email=email, phone=phone, origin="manual"
    )
    GuardianLink.objects.create(account=account, student=student)
    return account


def same_json(a, b) -> bool:
    return json.loads(json.dumps(a, sort_keys=True)) == json.loads(json.dumps(b, sort_keys=True))
