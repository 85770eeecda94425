"""The tenancy invariant as a property (decision 0008), on the real database:

    whatever district 1's bundles say — hostile ones naming district 2's people exactly, or
    with their emails and phones under other names — no account that holds an active role in
    district 2 changes, and the only roles such an account gains are district 1's own roles
    of SIS people whose name, email and phone equal the account's.

Syncs run in a transaction that is rolled back after each example. CI runs this on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import itertools
import os

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollbook.directory.audit import Actor
from rollbook.directory.contacts import PersonKey, normalize_email, normalize_phone
from rollbook.directory.models import (
    Account,
    District,
    GuardianLink,
    School,
    StaffRole,
    Student,
)
from rollbook.readiness.services import update_guardian_contacts
from rollbook.sync import services

from .bundles import Bundle
from .test_properties import IDENTITIES

pytestmark = pytest.mark.django_db(transaction=False)

# District 2's people: a synced parent, a synced teacher, a parent entered by hand. The pool
# district 1 draws from holds them exactly, with formatting changes, and with one identifier
# under another name.
PAT = ("Pat", "Parent", "pat@example.com", "(212) 555-0147")
TOM = ("Tom", "Teacher", "tom@example.com", "(212) 555-0148")
MO = ("Mo", "Manual", "mo@example.com", "(212) 555-0149")
HOSTILE = [
    PAT,
    ("PAT", " parent", "Pat@Example.com", "212-555-0147"),
    ("Eve", "Takeover", "pat@example.com", "(212) 555-0147"),
    ("Eve", "Takeover", "eve@evil.example", "(212) 555-0147"),
    TOM,
    ("Tom", "Teacher", "tom@example.com", ""),
    MO,
    ("Mo", "Manual", "mo2@example.com", "(212) 555-0149"),
    *IDENTITIES[:4],
]
PEOPLE = [f"p-{i}" for i in range(4)]
_folders = itertools.count()


class Rollback(Exception):
    pass


@st.composite
def hostile_bundles(draw) -> Bundle:
    bundle = Bundle(schools=["d1-sch"])
    identity_of = {sid: draw(st.sampled_from(HOSTILE)) for sid in PEOPLE}
    staff = draw(st.sets(st.sampled_from(PEOPLE), max_size=2))
    guardians_of = {
        sid: draw(st.sets(st.sampled_from(PEOPLE), max_size=2))
        for sid in draw(st.sets(st.sampled_from(["s-1", "s-2", "s-3"]), min_size=1))
    }
    used = set().union(*guardians_of.values())
    for person in sorted(used | staff):
        given_name, family, email, phone = identity_of[person]
        add = bundle.teacher if person in staff else bundle.guardian
        add(person, given_name, family, email, phone, school="d1-sch")
    for sid, guardians in sorted(guardians_of.items()):
        bundle.student(
            sid,
            sid,
            "Kid",
            school="d1-sch",
            guardians=tuple(sorted(g for g in guardians if g not in staff)),
        )
    return bundle


def _district_two(tmp_path) -> District:
    two = District.objects.create(name="District Two")
    b = Bundle(schools=["d2-sch"])
    b.guardian("d2-pat", *PAT, school="d2-sch")
    b.teacher("d2-tom", *TOM, school="d2-sch")
    b.student("d2-kid", "Kid", "Parent", school="d2-sch", guardians=("d2-pat",))
    source = services.get_source(two)
    folder = b.write(tmp_path / f"d2-{next(_folders)}")
    assert services.sync_bundle(source, folder, Actor(label="d2"), approve=True).status == (
        "applied"
    )
    school = School.objects.get(district=two, sourced_id="d2-sch")
    kid = Student.objects.create(district=two, school=school, given_name="Hand", family_name="M")
    mo = Account.objects.create(
        given_name=MO[0], family_name=MO[1], email=MO[2], phone="+12125550149"
    )
    GuardianLink.objects.create(account=mo, student=kid)
    return two


def _accounts_of(district: District) -> dict[int, dict]:
    ids = set(
        GuardianLink.objects.filter(student__district=district, status="active").values_list(
            "account_id", flat=True
        )
    ) | set(
        StaffRole.objects.filter(school__district=district, status="active").values_list(
            "account_id", flat=True
        )
    )
    return {
        a["id"]: a
        for a in Account.objects.filter(pk__in=ids).values(
            "id", "given_name", "family_name", "email", "phone", "is_active", "password"
        )
    }


def _roles(district: District, accounts) -> set[tuple]:
    links = GuardianLink.objects.filter(
        account__in=accounts, student__district=district, status="active"
    ).values_list("id", "account_id", "student_id")
    staff = StaffRole.objects.filter(
        account__in=accounts, school__district=district, status="active"
    ).values_list("id", "account_id", "school_id")
    return {("link", *r) for r in links} | {("staff", *r) for r in staff}


def _key(given, family, email, phone) -> PersonKey:
    return PersonKey.of(given, family, normalize_email(email), normalize_phone(phone, "US"))


SETTINGS = settings(
    max_examples=int(os.environ.get("ROLLBOOK_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(st.lists(hostile_bundles(), min_size=1, max_size=3), st.booleans())
def test_district_one_never_changes_district_two_s_people(tmp_path, db, settings, steps, fix):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    try:
        with transaction.atomic():
            two = _district_two(tmp_path)
            one = District.objects.create(name="District One")
            before = _accounts_of(two)
            roles_in_two = _roles(two, list(before))
            source = services.get_source(one)
            for step in steps:
                folder = step.write(tmp_path / f"d1-{next(_folders)}")
                if fix:  # the self-check's fix, for every near match it offers
                    update_guardian_contacts(one, folder, Actor(label="fix"))
                services.sync_bundle(source, folder, Actor(label="d1"), approve=True)
            # District 2's accounts: not one field changed, district 2's roles all there.
            after = Account.objects.filter(pk__in=list(before)).values(
                "id", "given_name", "family_name", "email", "phone", "is_active", "password"
            )
            assert {a["id"]: a for a in after} == before
            assert _roles(two, list(before)) == roles_in_two
            # Any district-1 role they hold is an exact match of the last bundle's person.
            last = steps[-1]
            rows = {r["sourcedId"]: r for r in last.guardians + last.staff}
            for model in (GuardianLink, StaffRole):
                for role in model.objects.filter(
                    account__in=list(before), status="active", source=source
                ):
                    account = before[role.account_id]
                    row = rows[role.person_sourced_id]
                    want = _key(row["givenName"], row["familyName"], row["email"], row["phone"])
                    got = PersonKey.of(
                        account["given_name"],
                        account["family_name"],
                        account["email"],
                        account["phone"],
                    )
                    assert got == want, (role.person_sourced_id, got, want)
            raise Rollback
    except Rollback:
        pass
