"""Migration 0007: stored names rewritten in NFC, hidden characters removed, each change audited."""

from __future__ import annotations

import importlib
import unicodedata

import pytest
from django.apps import apps

from rollbook.directory.models import Account, AuditEntry, Origin, Student

pytestmark = pytest.mark.django_db

migration = importlib.import_module("rollbook.directory.migrations.0007_names_in_nfc")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def account(given: str, family: str, email: str) -> Account:
    return Account.objects.create(
        given_name=given, family_name=family, email=email, password="!", origin=Origin.MANUAL
    )


def test_stored_names_are_rewritten_and_audited(school):
    jose = account(nfd("José"), nfd("Núñez"), "jose@example.com")
    ann = account("Ann\u202efdp.exe", "Lee", "ann@example.com")
    plain = account("Bob", "Lee", "bob@example.com")
    composed = account(nfc("Zoë"), nfc("Müller"), "zoe@example.com")
    zoe = Student.objects.create(
        district=school.district,
        school=school,
        given_name=nfd("Zoë"),
        middle_name=nfd("Inés"),
        family_name="Lee\u2066",
        preferred_given_name="\u200bZo",
        preferred_family_name=nfc("Müller"),
    )
    leo = Student.objects.create(
        district=school.district, school=school, given_name="Leo", family_name=nfc("Núñez")
    )

    changed = migration.normalise_names(apps, None, batch=2)  # batches of two rows

    assert changed == {"account": 2, "student": 1}
    for row in (jose, ann, plain, composed, zoe, leo):
        row.refresh_from_db()
    assert (jose.given_name, jose.family_name) == (nfc("José"), nfc("Núñez"))
    assert (ann.given_name, ann.family_name) == ("Annfdp.exe", "Lee")
    assert (zoe.given_name, zoe.middle_name, zoe.family_name) == (nfc("Zoë"), nfc("Inés"), "Lee")
    assert (zoe.preferred_given_name, zoe.preferred_family_name) == ("Zo", nfc("Müller"))
    entries = AuditEntry.objects.filter(actor_label="Rollbook upgrade")
    assert {(e.object_type, e.object_id) for e in entries} == {
        ("account", jose.pk),
        ("account", ann.pk),
        ("student", zoe.pk),
    }
    ann_entry = entries.get(object_type="account", object_id=ann.pk)
    assert ann_entry.before == {"given_name": "Ann\u202efdp.exe"}
    assert ann_entry.after == {"given_name": "Annfdp.exe"}
    assert ann_entry.action == "update" and ann_entry.district_id is None
    zoe_entry = entries.get(object_type="student")
    assert zoe_entry.district_id == school.district_id
    assert set(zoe_entry.after) == {
        "given_name",
        "middle_name",
        "family_name",
        "preferred_given_name",
    }

    assert migration.normalise_names(apps, None) == {"account": 0, "student": 0}
    assert AuditEntry.objects.count() == 3
