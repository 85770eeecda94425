"""The directory's commands, in-process on the test database and end to end as a user runs
them (a fresh SQLite home in a temporary folder)."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.models import Account, Student

runner = CliRunner()


def roster(tmp_path, text):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return path


@pytest.mark.django_db
def test_roster_import_reports_counts_as_json(tmp_path, school):
    path = roster(
        tmp_path,
        "student_given_name,student_family_name,grade,guardian1_given_name,"
        "guardian1_family_name,guardian1_email\nMia,Garcia,3,Luis,Garcia,l@example.com\n",
    )
    result = runner.invoke(
        app, ["roster", "import", str(path), "--school", str(school.pk), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "imported": True,
        "students_created": 1,
        "accounts_created": 1,
        "accounts_reused": 0,
        "guardian_links_created": 1,
    }


@pytest.mark.django_db
def test_roster_import_problems_as_json_and_nothing_imported(tmp_path, school):
    path = roster(
        tmp_path,
        "student_given_name,student_family_name,grade,guardian1_given_name,"
        "guardian1_family_name,guardian1_email\nMia,Garcia,3,Luis,Garcia,l@\n",
    )
    result = runner.invoke(
        app, ["roster", "import", str(path), "--school", str(school.pk), "--json"]
    )
    assert result.exit_code == 2
    problems = json.loads(result.output)["problems"]
    assert [(p["line"], p["column"], p["column_name"]) for p in problems] == [
        (2, 6, "guardian1_email")
    ]
    assert Student.objects.count() == 0


@pytest.mark.django_db
def test_export_accounts_lists_every_role(tmp_path, school, actor):
    from rollbook.directory.services import Person, add_staff

    add_staff(school, Person.parse("Luis", "Garcia", "l@example.com", None, "US"), "teacher", actor)
    path = roster(
        tmp_path,
        "student_given_name,student_family_name,grade,guardian1_given_name,"
        "guardian1_family_name,guardian1_email\nMia,Garcia,3,Luis,Garcia,l@example.com\n",
    )
    assert (
        runner.invoke(app, ["roster", "import", str(path), "--school", str(school.pk)]).exit_code
        == 0
    )
    result = runner.invoke(app, ["export", "accounts", "--format", "json"])
    assert result.exit_code == 0, result.output
    (luis,) = json.loads(result.output)
    assert (luis["name"], luis["email"], luis["phone"]) == ("Luis Garcia", "l@example.com", None)
    assert sorted((r["kind"], r.get("role") or r.get("relationship")) for r in luis["roles"]) == [
        ("guardian", "parent"),
        ("staff", "teacher"),
    ]
    guardian = next(r for r in luis["roles"] if r["kind"] == "guardian")
    assert guardian["student"]["name"] == "Mia Garcia"
    assert guardian["sourced_ids"] == []


@pytest.mark.django_db
def test_export_csv_neutralises_formulas(school):
    Account.objects.create(
        given_name="=HYPERLINK(1)", family_name="X", password="!", phone="+12125550123"
    )
    result = runner.invoke(app, ["export", "accounts", "--format", "csv"])
    assert result.exit_code == 0
    assert "'=HYPERLINK(1)" in result.output
    assert "'+12125550123" in result.output


def run(home, *args, check=True):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["ROLLBOOK_HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-m", "rollbook", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_end_to_end_init_import_export(tmp_path):
    home = tmp_path / "home"
    out = run(
        home,
        "init",
        "--no-input",
        "--district-name",
        "Lakeside",
        "--admin-email",
        "Admin@Lakeside.example.org",
        "--admin-password",
        "a-long-passphrase",
        "--json",
    )
    assert json.loads(out.stdout)["administrator"] == "admin@lakeside.example.org"
    with sqlite3.connect(home / "rollbook.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    bad = roster(tmp_path, "student_given_name,student_family_name,grade\nMia,Garcia,3\n")
    proc = run(home, "roster", "import", str(bad), "--school", "99", check=False)
    assert proc.returncode == 2
    assert "no school with id 99" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run(home, "export", "accounts", "--format", "json")
    (admin,) = json.loads(proc.stdout)
    assert admin["roles"][0]["kind"] == "administrator"


def test_init_without_input_names_what_is_missing(tmp_path):
    proc = run(tmp_path / "home", "init", "--no-input", "--district-name", "X", check=False)
    assert proc.returncode == 2
    assert "Administrator email is required with --no-input" in proc.stderr


def test_init_refuses_a_weak_password_without_traceback(tmp_path):
    proc = run(
        tmp_path / "home",
        "init",
        "--no-input",
        "--district-name",
        "X",
        "--admin-email",
        "a@example.org",
        "--admin-password",
        "123",
        check=False,
    )
    assert proc.returncode == 2
    assert "too short" in proc.stderr and "Traceback" not in proc.stderr


def test_commands_on_a_database_not_set_up_say_what_to_run(tmp_path):
    proc = run(tmp_path / "home", "export", "districts", check=False)
    assert proc.returncode == 2
    assert "not set up yet; run 'rollbook init' first" in proc.stderr
    assert "Traceback" not in proc.stderr
    run(tmp_path / "home", "migrate")
    assert run(tmp_path / "home", "export", "districts").stdout.strip() == "[]"
