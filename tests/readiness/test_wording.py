"""The self-check report's words: every finding says what it counts, in the right number."""

from rollbook.readiness.report import CODES
from rollbook.readiness.wording import (
    LABELS,
    PREDICTION,
    UNITS,
    counted,
    entity,
    label,
    plural,
    rows_counted,
    verdict,
)


def test_every_finding_says_what_it_counts():
    assert set(UNITS) == set(CODES)
    assert counted("CHECK-EXISTING-STUDENTS", 1) == "1 student"
    assert counted("CHECK-MULTI-ROLE-ONE-ACCOUNT", 1204) == "1,204 people"
    assert counted("CHECK-SIGN-IN-CONFLICT", 1) == "1 email or phone"
    assert rows_counted("CHECK-MULTI-ROLE-SPLIT", 6) == "6 SIS records"


def test_plurals_and_kinds_of_record():
    assert plural(0, "student") == "0 students"
    assert plural(1, "person", "people") == "1 person"
    assert entity("guardian_link", 3) == "3 guardian links"
    assert entity("staff_role", 1) == "1 staff role"
    assert entity("class", 2) == "2 classes"


def test_no_label_is_a_key():
    assert all("_" not in words for words in LABELS.values())
    assert label("sourced_id") == "SIS id" and label("some_new_key") == "Some new key"
    assert all("_" not in words for items in PREDICTION.values() for _, words in items)


def test_the_verdict_counts_in_the_right_number():
    one = {"students_created": 1, "accounts_created": 1, "accounts_reused": 1}
    data = {"can_sync": True, "prediction": one | {"students_left_untouched": 1}}
    assert verdict(data) == (
        "The sync can run. It will create 1 student and 1 account, use 1 existing account "
        "again, and leave 1 student entered by hand as it is."
    )
    assert verdict({"can_sync": False, "prediction": {}}).startswith("The sync cannot run")
