"""The self-check and its fixes from the command line."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.models import Account, AuditEntry, Student

from .conftest import manual_guardian, manual_student

pytestmark = pytest.mark.django_db
runner = CliRunner()


@pytest.fixture
def prepared(write, bundle, sis_school, school):
    kid = manual_student(sis_school, "Mia", "Lopez")
    manual_student(school, "Noah", "Kim")
    manual_student(school, "Old", "One", status="archived")
    old = manual_guardian(kid, "Ben", "Lopez", "ben@example.com", "+12125550199")
    manual_guardian(kid, "Ana", "Lopez", "ana@example.com", "+12125550100")
    bundle.guardian("gdn-2", "Ben", "Lopez", "ben@example.com", "=cmd|' /C calc'!A0")
    bundle.guardian("gdn-3", "Ana", "Lopez", "ana@example.com", "(212) 555-0103")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-2", "gdn-3"))
    return write(bundle), old


def test_check_json_lists_every_finding_and_changes_nothing(prepared, district):
    folder, _ = prepared
    before = (Student.objects.count(), Account.objects.count(), AuditEntry.objects.count())
    result = runner.invoke(app, ["check", str(folder), "--district", str(district.pk), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["can_sync"] is True
    codes = {f["code"]: f["count"] for s in report["sections"].values() for f in s["findings"]}
    assert codes["CHECK-EXISTING-STUDENTS"] == 1
    assert codes["CHECK-GUARDIAN-NEAR-MATCH"] == 2
    assert codes["CHECK-PHONE-UNPARSEABLE"] == 1
    assert report["prediction"]["students_created"] == 1
    assert report["prediction"]["students_left_untouched"] == 2
    assert (Student.objects.count(), Account.objects.count(), AuditEntry.objects.count()) == before


def test_check_terminal_report_and_csv(prepared, district, tmp_path):
    folder, _ = prepared
    out = tmp_path / "csv"
    result = runner.invoke(
        app, ["check", str(folder), "--district", str(district.pk), "--csv", str(out)]
    )
    assert result.exit_code == 0, result.output
    for text in ("Existing families", "CHECK-EXISTING-STUDENTS", "Prediction", "Verdict"):
        assert text in result.output
    with (out / "check-phone-unparseable.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["phone"] == "'=cmd|' /C calc'!A0"  # neutralised against formula injection
    with (out / "check-existing-students.csv").open() as handle:
        assert [r["given_name"] for r in csv.DictReader(handle)] == ["Mia"]


def test_archive_existing_students(prepared, district, sis_school, school):
    result = runner.invoke(
        app,
        ["students", "archive", "--district", str(district.pk), "--school", str(sis_school.pk)],
        input="y\n",
    )
    assert result.exit_code == 0, result.output
    assert "1 active student(s)" in result.output
    assert Student.objects.get(given_name="Mia").status == "archived"
    assert Student.objects.get(given_name="Noah").status == "active"
    result = runner.invoke(
        app, ["students", "archive", "--district", str(district.pk), "--yes", "--json"]
    )
    assert json.loads(result.stdout) == {"archived": 1}
    assert not Student.objects.filter(status="active").exists()
    entries = AuditEntry.objects.filter(action="archive", object_type="student")
    assert entries.count() == 2 and all(e.actor_label.startswith("command line") for e in entries)


def test_archive_refuses_unknown_school_and_origin(district, school):
    result = runner.invoke(
        app, ["students", "archive", "--district", str(district.pk), "--school", "999", "--yes"]
    )
    assert "no school 999" in str(result.exception)
    result = runner.invoke(
        app, ["students", "archive", "--district", str(district.pk), "--origin", "synced"]
    )
    assert "--origin manual" in str(result.exception)


def test_update_contacts_from_the_command_line(prepared, district):
    folder, old = prepared
    # The SIS phone of gdn-2 is not valid: the fix is refused with the reason.
    result = runner.invoke(
        app,
        [
            "guardians",
            "update-contacts",
            str(folder),
            "--district",
            str(district.pk),
            "--account",
            str(old.pk),
            "--yes",
        ],
    )
    assert "not valid" in str(result.exception)
    command = ["guardians", "update-contacts", str(folder), "--district", str(district.pk)]
    result = runner.invoke(app, [*command, "--all"], input="n\n")
    assert (
        result.exit_code == 1
        and "+12125550100" in result.output
        and "+12125550103" in result.output
    )
    ana = Account.objects.get(email="ana@example.com")
    assert ana.phone == "+12125550100"  # declined: nothing changed
    result = runner.invoke(app, [*command, "--all"], input="y\n")
    assert result.exit_code == 0 and "Updated the contact details of 1 account" in result.output
    ana.refresh_from_db()
    assert ana.phone == "+12125550103"
    old.refresh_from_db()
    assert old.phone == "+12125550199"  # not fixable, untouched
    result = runner.invoke(app, [*command, "--all"])
    assert result.exit_code == 0 and "Nothing to update" in result.output
