import json

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.models import Student

from .bundles import Bundle

pytestmark = pytest.mark.django_db
runner = CliRunner()


def test_plan_then_approve_from_the_command_line(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    folder = Bundle().student("stu-1", "Mia", "Lopez").write(tmp_path / "b")
    result = runner.invoke(
        app, ["sync", str(folder), "--district", str(district.pk), "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["status"] == "planned"
    assert run["stats"]["plan"]["counts"]["student"]["created"] == 1
    assert Student.objects.count() == 0
    shown = runner.invoke(app, ["run", "show", str(run["id"])])
    assert "What this run will do" in shown.output and "rollbook run approve" in shown.output
    approved = runner.invoke(app, ["run", "approve", str(run["id"]), "--json"])
    assert json.loads(approved.stdout)["status"] == "applied"
    assert Student.objects.count() == 1
    listed = json.loads(runner.invoke(app, ["runs", "--json"]).output)
    assert [r["status"] for r in listed] == ["applied"]


def test_first_sync_is_held_without_approve(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    folder = Bundle().student("stu-1", "Mia", "Lopez").write(tmp_path / "b")
    result = runner.invoke(app, ["sync", str(folder), "--district", str(district.pk)])
    assert result.exit_code == 3  # held: cron can tell
    assert "Held for approval" in result.output and "first sync" in result.output


def test_bad_thresholds_and_unknown_runs_are_clear_errors(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    folder = Bundle().student("stu-1", "Mia", "Lopez").write(tmp_path / "b")
    result = runner.invoke(
        app, ["sync", str(folder), "--district", str(district.pk), "--archive-threshold", "5"]
    )
    assert "a share between 0 and 1" in str(result.exception)
    result = runner.invoke(app, ["run", "show", "999"])
    assert "no sync run 999" in str(result.exception)


def test_a_bundle_with_errors_fails_and_changes_nothing(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    b = Bundle().student("stu-1", "Mia", "Lopez")
    b.enroll("enr-1", "cls-missing", "stu-1")
    folder = b.write(tmp_path / "b")
    (folder / "users.csv").write_text((folder / "users.csv").read_text() + "\n,,,,\n")
    result = runner.invoke(
        app, ["sync", str(folder), "--district", str(district.pk), "--approve", "--json"]
    )
    run = json.loads(result.stdout)
    assert result.exit_code == 1 and run["status"] == "failed"
    assert run["issues"] and Student.objects.count() == 0


def test_a_plan_can_be_listed_record_by_record(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    folder = (
        Bundle()
        .student("stu-1", "Mia", "Lopez")
        .student("stu-2", "=cmd()", "X")
        .write(tmp_path / "b")
    )
    run = json.loads(
        runner.invoke(
            app, ["sync", str(folder), "--district", str(district.pk), "--dry-run", "--json"]
        ).stdout
    )
    shown = runner.invoke(app, ["run", "plan", str(run["id"]), "--entity", "student"])
    assert "stu-1" in shown.output and "2 in all" in shown.output
    target = tmp_path / "plan.csv"
    runner.invoke(app, ["run", "plan", str(run["id"]), "--csv", str(target)])
    text = target.read_text()
    assert "stu-2" in text and "'=cmd()" in text
    bad = runner.invoke(app, ["run", "plan", str(run["id"]), "--entity", "nothing"])
    assert "no 'nothing'" in str(bad.exception)


def test_exit_codes_say_what_happened(tmp_path, district, settings, monkeypatch):
    """0 applied, skipped or planned (a dry run); 3 held; 1 failed; 2 bad input — the codes
    of the real command (``rollbook.cli.main``) as cron sees them."""
    import sys

    from rollbook.cli import main

    def code(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["rollbook", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        return exit_.value.code or 0

    settings.ROLLBOOK_HOME = tmp_path
    folder = Bundle().student("stu-1", "Mia", "Lopez").write(tmp_path / "b")
    args = ["sync", str(folder), "--district", str(district.pk)]
    assert code(*args, "--dry-run") == 0  # planned, even though a real run would be held
    held = runner.invoke(app, [*args, "--json"])
    assert held.exit_code == 3 and json.loads(held.stdout)["status"] == "held"
    assert code(*args) == 3
    run_id = str(json.loads(held.stdout)["id"])
    approved = runner.invoke(app, ["run", "approve", run_id, "--json"])
    assert approved.exit_code == 0 and json.loads(approved.stdout)["status"] == "applied"
    skipped = runner.invoke(app, [*args, "--json"])  # byte-identical to the applied one
    assert skipped.exit_code == 0 and json.loads(skipped.stdout)["status"] == "skipped"
    bigger = Bundle().student("stu-1", "Mia", "Lopez").student("stu-2", "Leo", "Park")
    assert code("sync", str(bigger.write(tmp_path / "c")), "--district", str(district.pk)) == 0
    broken = Bundle().student("stu-1", "Mia", "Lopez")
    broken.enroll("enr-1", "cls-missing", "stu-1")
    bad = broken.write(tmp_path / "d")
    (bad / "users.csv").write_text((bad / "users.csv").read_text() + "\n,,,,\n")
    assert code("sync", str(bad), "--district", str(district.pk)) == 1
    assert code("sync", str(tmp_path / "missing"), "--district", str(district.pk)) == 2
    assert code("sync", str(folder), "--district", "999999") == 2
    assert code("run", "approve", run_id) == 2  # applied already: refused
