"""Names typed by hand: stored in Unicode NFC; hidden characters refused with where and which."""

from __future__ import annotations

import csv
import io
import unicodedata

import pytest

from rollbook.directory.contacts import ContactError
from rollbook.directory.models import Account, AuditEntry, Student
from rollbook.directory.roster_import import RosterImportError, import_roster
from rollbook.directory.services import Person, add_staff, create_administrator
from rollbook.errors import UserError

pytestmark = pytest.mark.django_db

HEADER = [
    "student_given_name",
    "student_family_name",
    "grade",
    "guardian1_given_name",
    "guardian1_family_name",
    "guardian1_email",
    "guardian1_phone",
]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def write(tmp_path, rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    path = tmp_path / "roster.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_a_direction_override_in_a_guardian_name_is_refused_with_line_and_column(
    tmp_path, school, actor
):
    path = write(
        tmp_path,
        [
            ["Mia", "Lee", "3", "Ann", "Lee", "ann@example.com", ""],
            ["Leo", "Lee", "3", "Ann\u202efdp.exe", "Lee", "ann2@example.com", ""],
        ],
    )
    with pytest.raises(RosterImportError) as caught:
        import_roster(path, school.district, school, actor)
    [problem] = caught.value.problems
    assert (problem.line, problem.column, problem.column_number) == (3, "guardian1_given_name", 4)
    message = str(caught.value)
    assert f"{path}: line 3, column 4 (guardian1_given_name)" in message
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in message
    assert "\u202e" not in message
    assert not Student.objects.exists() and not Account.objects.exists()


def test_a_zero_width_space_in_a_student_name_is_refused(tmp_path, school, actor):
    path = write(tmp_path, [["Mia", "Lee\u200b", "3", "", "", "", ""]])
    with pytest.raises(RosterImportError) as caught:
        import_roster(path, school.district, school, actor)
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (2, "student_family_name")
    assert "U+200B (ZERO WIDTH SPACE)" in problem.message


def test_two_unicode_spellings_in_a_roster_are_one_guardian_stored_composed(
    tmp_path, school, actor
):
    path = write(
        tmp_path,
        [
            [nfd("Zoë"), nfd("Núñez"), "3", nfc("José"), nfc("Núñez"), "jose@example.com", ""],
            ["Leo", nfc("Núñez"), "5", nfd("José"), nfd("Núñez"), "jose@example.com", ""],
        ],
    )
    result = import_roster(path, school.district, school, actor)
    assert (result.accounts_created, result.guardian_links_created) == (1, 2)
    account = Account.objects.get()
    assert (account.given_name, account.family_name) == (nfc("José"), nfc("Núñez"))
    zoe = Student.objects.get(grade="03")
    assert (zoe.given_name, zoe.family_name) == (nfc("Zoë"), nfc("Núñez"))


def test_a_decomposed_name_finds_the_composed_account(school, actor):
    first, _ = add_staff(
        school, Person.parse(nfc("José"), "Núñez", "jose@example.com", None, "US"), "aide", actor
    )
    again, _ = add_staff(
        school,
        Person(nfd("José"), nfd("Núñez"), "jose@example.com", None),
        "teacher",
        actor,
    )
    assert again == first


def test_services_refuse_hidden_characters_in_names(school, actor):
    with pytest.raises(ContactError, match="U\\+2067"):
        Person.parse("Ann\u2067", "Lee", "ann@example.com", None, "US")
    with pytest.raises(UserError, match="family name: .*U\\+202D"):
        add_staff(school, Person("Ann", "Lee\u202d", "ann@example.com", None), "aide", actor)
    with pytest.raises(UserError, match="administrator given name: .*U\\+FEFF"):
        create_administrator(
            school.district,
            "boss@example.com",
            "a-long-test-passphrase",
            actor,
            given_name="\ufeffBoss",
        )
    assert not Account.objects.exists()
    assert not AuditEntry.objects.exists()
