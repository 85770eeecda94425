"""The rules again, with every "many rows" path of the sync taken however few rows there are:
the lookups a first sync of a district takes (one read of all accounts, one scan for the rows
just created, one query for accounts regaining a role) must decide exactly as the small ones."""

import pyarrow as pa
import pytest

from rollbook.directory import tenancy as district_tenancy
from rollbook.sync import accounts, apply, bulk, claims, forecast_activity, known
from tests.readiness import test_forecast as forecasts

from . import test_rules as rules
from . import test_tenancy as tenancy
from .test_tenancy import two_districts  # noqa: F401 - the fixture of the tenancy tests

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def always_the_large_path(monkeypatch):
    monkeypatch.setattr(claims, "MANY", 0)
    monkeypatch.setattr(claims, "ACCOUNTS_PER_VALUE", 10**9)
    monkeypatch.setattr(accounts, "MANY_ROLES", 0)
    monkeypatch.setattr(apply, "MANY_CREATED", 0)
    monkeypatch.setattr(forecast_activity, "MANY", 0)
    monkeypatch.setattr(district_tenancy, "MANY", 0)
    monkeypatch.setattr(known, "FEW", 0)
    monkeypatch.setattr(bulk, "MANY_ROWS", 0)  # every first load rebuilds its indexes


test_exact_match_keeps_the_account = (
    rules.test_an_existing_guardian_keeps_the_old_account_on_an_exact_match
)
test_near_match_is_withheld = rules.test_a_near_match_gets_a_new_account_without_the_taken_email
test_deactivated_and_back = rules.test_a_guardian_left_with_no_role_is_deactivated_and_comes_back
test_resync = rules.test_resync_updates_archives_and_reactivates
test_class_terms = rules.test_each_class_keeps_exactly_its_terms_through_updates_and_returns
test_teacher_parent = rules.test_a_teacher_who_is_a_parent_is_one_account_with_two_roles
test_splits_off = rules.test_a_person_who_splits_off_takes_their_links_along
test_other_district_exact = tenancy.test_an_exact_match_only_adds_the_district_s_own_role
test_other_district_renamed = (
    tenancy.test_a_renamed_sis_person_never_re_describes_another_district_s_account
)
test_other_district_manual = tenancy.test_a_manual_account_of_another_district_is_never_re_described
# The self-check's forecast against the sync, with its own large reads.
test_forecast_people_moved = forecasts.test_people_moved_archived_and_back
test_forecast_demo_next_day = forecasts.test_the_demo_district_and_its_next_day


def test_holders_are_the_same_accounts_whichever_way_they_are_found(monkeypatch):
    """One read of every account (each looked up in the wanted values, or the values hashed)
    finds what a query per 900 values finds."""
    from rollbook.directory.models import Account

    for i, (email, phone, active) in enumerate(
        [("a@x.org", None, True), (None, "+12025550101", True), ("b@x.org", None, False)]
        + [(f"m{i}@x.org", None, True) for i in range(5)]
    ):
        Account.objects.create(
            given_name=f"G{i}", family_name="F", email=email, phone=phone, is_active=active
        )
    cases = [
        ({"a@x.org", "b@x.org", "zz@x.org"}, {"+12025550101"}),  # fewer values than accounts
        ({"a@x.org", "m3@x.org"} | {f"n{i}@x.org" for i in range(20)}, set()),  # more values
        (set(), set()),
    ]
    for emails, phones in cases:
        monkeypatch.setattr(claims, "MANY", 10**9)
        by_query = claims.holders(emails, phones).to_pylist()
        monkeypatch.setattr(claims, "MANY", 0)
        by_reading = claims.holders(emails, phones).to_pylist()
        as_arrays = claims.holders(
            pa.array(sorted(emails), pa.string()), pa.array(sorted(phones), pa.string())
        )
        assert as_arrays.to_pylist() == by_reading
        assert sorted(by_reading, key=str) == sorted(by_query, key=str)
        assert {r["email"] for r in by_query} - {None} <= emails
    assert [r["email"] for r in claims.holders(*cases[0]).to_pylist()].count("a@x.org") == 1


def test_an_existing_guardian_without_a_phone_keeps_the_old_account(
    run_sync, bundle, school, actor
):
    """The large lookup read an account's missing phone as the text "NULL" on SQLite: the
    exact match then failed, and the guardian got a second account without the email."""
    from rollbook.directory.models import Account, GuardianLink
    from rollbook.directory.services import Person, add_staff

    kept, _ = add_staff(
        school, Person.parse("Ana", "Lopez", "ana@example.com", None, "US"), "aide", actor
    )
    rules.family(bundle, phone="")
    run = run_sync(bundle)
    assert GuardianLink.objects.get().account == kept
    assert Account.objects.filter(email="ana@example.com").count() == 1
    assert run.stats["outcome"]["identity"]["accounts_matched"] == 1
