"""Properties of the sync over random small districts, on the real database.

People are drawn from a small pool of identities that share emails and phones on purpose, so
that merges, splits and identifier conflicts happen often.
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollbook.directory.audit import Actor
from rollbook.directory.contacts import PersonKey, normalize_email, normalize_phone
from rollbook.directory.models import Account, GuardianLink, StaffRole, Student
from rollbook.sync import services
from rollbook.sync.models import RunIssue, SyncRecord

from .bundles import Bundle

pytestmark = pytest.mark.django_db(transaction=False)

IDENTITIES = [
    ("Ana", "Lopez", "ana@example.com", "(212) 555-0101"),
    ("ana", "LOPEZ", "Ana@example.com", "212-555-0101"),  # the same person, other formatting
    ("Ana", "Lopez", "ana@example.com", "(212) 555-0102"),  # another phone
    ("Bea", "Lopez", "ana@example.com", ""),  # another person, same email
    ("Carl", "Ng", "", "(415) 555-0103"),
    ("Dee", "Ng", "", ""),  # no contact details
    ("Dee", "Ng", "", ""),
    ("Eli", "Stone", "eli@example.com", "(415) 555-0103"),  # phone shared with Carl
]
STUDENTS = [f"stu-{i}" for i in range(5)]
PEOPLE = [f"p-{i}" for i in range(6)]


@st.composite
def districts(draw) -> Bundle:
    bundle = Bundle()
    identity_of = {sid: draw(st.sampled_from(IDENTITIES)) for sid in PEOPLE}
    staff = draw(st.sets(st.sampled_from(PEOPLE), max_size=3))
    guardians_of = {}
    # At least one student: an empty file means "no data", which archives nothing.
    for sid in draw(st.sets(st.sampled_from(STUDENTS), min_size=1, max_size=5)):
        guardians_of[sid] = draw(st.sets(st.sampled_from(PEOPLE), max_size=2))
    used = set().union(*guardians_of.values()) if guardians_of else set()
    for person in sorted(used | staff):
        given_name, family, email, phone = identity_of[person]
        if person in staff:
            bundle.teacher(person, given_name, family, email, phone)
        else:
            bundle.guardian(person, given_name, family, email, phone)
    for sid, guardians in sorted(guardians_of.items()):
        bundle.student(
            sid,
            sid.title(),
            "Kid",
            grade=draw(st.sampled_from(["01", "02"])),
            guardians=tuple(sorted(g for g in guardians if g not in staff)),
        )
    return bundle


_folders = itertools.count()


class Rollback(Exception):
    pass


def _sync(tmp_path, source, bundle: Bundle):
    folder = bundle.write(tmp_path / f"p-{next(_folders)}")
    return services.sync_bundle(source, folder, Actor(label="property"), approve=True)


def view(source) -> dict:
    """The synced directory of a source, archived records aside, in SIS terms."""
    people = defaultdict(set)
    for sid, account in SyncRecord.objects.filter(
        source=source, entity="person", active=True
    ).values_list("sourced_id", "local_id"):
        people[account].add(sid)
    accounts = {a.pk: a for a in Account.objects.filter(pk__in=list(people))}
    return {
        "students": {
            (s.sourced_id, s.given_name, s.grade)
            for s in Student.objects.filter(source=source, status="active")
        },
        "links": set(
            GuardianLink.objects.filter(source=source, status="active").values_list(
                "person_sourced_id", "student__sourced_id"
            )
        ),
        "staff": set(
            StaffRole.objects.filter(source=source, status="active").values_list(
                "person_sourced_id", "role"
            )
        ),
        "partition": {frozenset(sids) for sids in people.values()},
        "names": {
            frozenset(sids): (accounts[a].given_name.casefold(), accounts[a].family_name.casefold())
            for a, sids in people.items()
        },
    }


def expected_key(bundle: Bundle, sid: str) -> PersonKey:
    row = next(r for r in bundle.guardians + bundle.staff if r["sourcedId"] == sid)
    return PersonKey.of(
        row["givenName"],
        row["familyName"],
        normalize_email(row["email"]),
        normalize_phone(row["phone"], "US"),
    )


def check_roles_belong_to_their_people(source, bundle: Bundle, run) -> None:
    withheld = set(
        RunIssue.objects.filter(run=run, code__endswith="-TAKEN").values_list(
            "sourced_id", flat=True
        )
    )
    roles = list(
        StaffRole.objects.filter(source=source, status="active").select_related("account")
    ) + list(GuardianLink.objects.filter(source=source, status="active").select_related("account"))
    for role in roles:
        want = expected_key(bundle, role.person_sourced_id)
        got = PersonKey.of(
            role.account.given_name,
            role.account.family_name,
            role.account.email,
            role.account.phone,
        )
        if role.person_sourced_id in withheld:
            assert (got.given_name, got.family_name) == (want.given_name, want.family_name)
            assert got.email in (want.email, None) and got.phone in (want.phone, None)
        else:
            assert got == want, (role.person_sourced_id, got, want)
        assert role.account.is_active


def check_identifiers_unique() -> None:
    for name in ("email", "phone"):
        values = list(
            Account.objects.filter(is_active=True)
            .exclude(**{f"{name}__isnull": True})
            .values_list(name, flat=True)
        )
        assert len(values) == len(set(values))


SETTINGS = settings(
    max_examples=int(os.environ.get("ROLLBOOK_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(districts())
def test_syncing_the_same_bundle_twice_changes_nothing_the_second_time(
    tmp_path, district, settings, bundle
):
    settings.ROLLBOOK_HOME = tmp_path
    try:
        with transaction.atomic():
            source = services.get_source(district, "prop-idem")
            first = _sync(tmp_path, source, bundle)
            assert first.status == "applied"
            before = view(source)
            source.last_bundle_digest = source.last_records_digest = (
                ""  # exported again: not skipped
            )
            source.save()
            second = _sync(tmp_path, source, bundle)
            assert second.status == "applied"
            counts = second.stats.get("outcome", {}).get("counts", {})
            assert counts
            for entity, c in counts.items():
                changes = [c.get(k, 0) for k in ("created", "updated", "archived", "reactivated")]
                assert changes == [0, 0, 0, 0], (entity, c)
            assert view(source) == before
            check_roles_belong_to_their_people(source, bundle, second)
            raise Rollback
    except Rollback:
        pass


@SETTINGS
@given(districts(), districts())
def test_a_then_b_leaves_what_b_alone_would(tmp_path, district, settings, a, b):
    settings.ROLLBOOK_HOME = tmp_path
    results = []
    for steps in ((a, b), (b,)):
        try:
            with transaction.atomic():
                source = services.get_source(district, "prop-ab")
                for step in steps:
                    run = _sync(tmp_path, source, step)
                    if run.status == "skipped":
                        run = source.runs.filter(status="applied").order_by("-pk").first()
                results.append(view(source))
                check_roles_belong_to_their_people(source, b, run)
                check_identifiers_unique()
                raise Rollback
        except Rollback:
            pass
    after_a_then_b, b_alone = results
    for part in ("students", "links", "staff", "partition", "names"):
        assert after_a_then_b[part] == b_alone[part], part


@SETTINGS
@given(st.lists(districts(), min_size=1, max_size=3))
def test_no_sequence_of_syncs_modifies_a_manual_record(tmp_path, school, settings, steps):
    settings.ROLLBOOK_HOME = tmp_path
    try:
        with transaction.atomic():
            kid = Student.objects.create(
                district=school.district,
                school=school,
                given_name="Stu-1",
                family_name="Kid",
                grade="01",
            )
            parent = Account.objects.create(
                given_name="Ana",
                family_name="Lopez",
                email="ana@example.com",
                phone="+12125550101",
                password="!",
            )
            link = GuardianLink.objects.create(account=parent, student=kid)
            snapshot = [
                (m.__class__, m.pk, list(m.__class__.objects.filter(pk=m.pk).values()))
                for m in (kid, link)
            ]
            source = services.get_source(school.district, "prop-manual")
            for step in steps:
                _sync(tmp_path, source, step)
            for model, pk, rows in snapshot:
                assert list(model.objects.filter(pk=pk).values()) == rows
            parent.refresh_from_db()
            assert (parent.given_name, parent.email, parent.phone) == (
                "Ana",
                "ana@example.com",
                "+12125550101",
            )
            raise Rollback
    except Rollback:
        pass
