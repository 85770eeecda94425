"""The self-check compares names in Unicode NFC: two spellings that look the same never
"differ: name" (issue 13, case 6)."""

from __future__ import annotations

import unicodedata

import pytest

from rollbook.directory.models import Account

from .conftest import manual_guardian, manual_student, same_json

pytestmark = pytest.mark.django_db


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def differs(report) -> list[str]:
    return [row["differs"] for f in report.findings for row in f.rows if "differs" in row]


def test_a_decomposed_name_is_not_a_different_name(check, sync_after, bundle, sis_school):
    kid = manual_student(sis_school, "Mia", nfd("Núñez"))
    # entered by hand before names were normalised (the migration rewrites such rows)
    stored = manual_guardian(kid, nfd("José"), nfd("Núñez"), "jose@example.com", "+12125550101")
    bundle.guardian("gdn-1", nfc("José"), nfc("Núñez"), "jose@example.com", "(212) 555-0101")
    bundle.teacher("tch-1", nfd("José"), nfd("Núñez"), "jose@example.com", "(212) 555-0101")
    bundle.student("stu-1", "Mia", nfc("Núñez"), guardians=("gdn-1",))
    report = check(bundle)
    assert not any("name" in d for d in differs(report))
    assert report.count("CHECK-GUARDIAN-NEAR-MATCH") == 0
    assert report.count("CHECK-MULTI-ROLE-SPLIT") == 0
    assert report.count("CHECK-SIGN-IN-CONFLICT") == 0
    reused = report.finding("CHECK-GUARDIAN-REUSED")
    assert [r["account_id"] for r in reused.rows] == [stored.pk]
    one = report.finding("CHECK-MULTI-ROLE-ONE-ACCOUNT")
    assert [r["sourced_ids"] for r in one.rows] == ["gdn-1, tch-1"]
    run = sync_after(report)
    assert same_json(run.stats["outcome"], report.outcome)
    assert list(Account.objects.all()) == [stored]


def test_a_hidden_character_is_a_data_quality_finding(check, sync_after, bundle):
    bundle.guardian("gdn-1", "Ann\u202efdp.exe", "Lee", "ann@example.com")
    bundle.student("stu-1", "Mia", "Lee", guardians=("gdn-1",))
    report = check(bundle)
    rows = report.finding("CHECK-READER-FINDINGS").rows
    assert [(r["code"], r["severity"], r["count"]) for r in rows] == [
        ("OR-VALUE-HIDDEN-CHARACTER", "warning", 1)
    ]
    assert rows[0]["first_at"].startswith("users.csv:")
    run = sync_after(report)
    assert same_json(run.stats["outcome"], report.outcome)
    assert Account.objects.get().given_name == "Annfdp.exe"
