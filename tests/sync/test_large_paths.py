"""The rules again, with every "many rows" path of the sync taken however few rows there are:
the lookups a first sync of a district takes (one read of all accounts, one scan for the rows
just created, one query for accounts regaining a role) must decide exactly as the small ones."""

import pytest

from rollbook.sync import accounts, apply, claims

from . import test_rules as rules


@pytest.fixture(autouse=True)
def always_the_large_path(monkeypatch):
    monkeypatch.setattr(claims, "MANY", 0)
    monkeypatch.setattr(accounts, "MANY_ROLES", 0)
    monkeypatch.setattr(apply, "MANY_CREATED", 0)


test_exact_match_keeps_the_account = (
    rules.test_an_existing_guardian_keeps_the_old_account_on_an_exact_match
)
test_near_match_is_withheld = rules.test_a_near_match_gets_a_new_account_without_the_taken_email
test_deactivated_and_back = rules.test_a_guardian_left_with_no_role_is_deactivated_and_comes_back
test_resync = rules.test_resync_updates_archives_and_reactivates
test_teacher_parent = rules.test_a_teacher_who_is_a_parent_is_one_account_with_two_roles
test_splits_off = rules.test_a_person_who_splits_off_takes_their_links_along
