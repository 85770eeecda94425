"""A failed run can be tried again (issue 14): by ``rollbook run retry`` and from its page."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.models import Student
from rollbook.errors import UserError
from rollbook.sync.models import SyncRun

from .bundles import Bundle

pytestmark = pytest.mark.django_db
runner = CliRunner()


def broken(folder):
    """A bundle the reader refuses (a users row with no fields), and its repair."""
    good = Bundle().student("stu-1", "Mia", "Lopez").write(folder)
    users = good / "users.csv"
    text = users.read_text()
    users.write_text(text + "\n,,,,\n")
    return lambda: users.write_text(text)


def test_a_failed_sync_tried_again_once_the_export_is_fixed(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    repair = broken(tmp_path / "b")
    first = runner.invoke(app, ["sync", str(tmp_path / "b"), "--district", str(district.pk)])
    assert first.exit_code == 1 and isinstance(first.exception, SystemExit), first.output
    failed = SyncRun.objects.get()
    assert failed.status == "failed"
    assert f"rollbook run retry {failed.pk}" in first.output
    again = runner.invoke(app, ["run", "retry", str(failed.pk), "--json"])
    assert again.exit_code == 1 and json.loads(again.stdout)["status"] == "failed"
    second = SyncRun.objects.get(pk=json.loads(again.stdout)["id"])
    repair()
    fixed = runner.invoke(app, ["run", "retry", str(second.pk), "--json"])
    run = json.loads(fixed.stdout)
    assert fixed.exit_code == 3 and run["status"] == "held"  # a first sync, held as usual
    assert run["stats"]["retry_of"] == second.pk
    second.refresh_from_db()
    assert second.stats["retried_as"] == run["id"]
    shown = runner.invoke(app, ["run", "show", str(run["id"])])
    assert f"It tries failed run {second.pk} again." in shown.output
    assert Student.objects.count() == 0


def test_a_failed_dry_run_is_planned_again_and_nothing_applied(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    repair = broken(tmp_path / "b")
    args = ["sync", str(tmp_path / "b"), "--district", str(district.pk), "--dry-run", "--approve"]
    assert runner.invoke(app, args).exit_code == 1
    failed = SyncRun.objects.get()
    repair()
    again = runner.invoke(app, ["run", "retry", str(failed.pk), "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "planned"
    assert Student.objects.count() == 0


def test_what_cannot_be_tried_again_says_why(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    broken(tmp_path / "b")
    runner.invoke(app, ["sync", str(tmp_path / "b"), "--district", str(district.pk)])
    failed = SyncRun.objects.get()
    shutil.rmtree(tmp_path / "b")
    gone = runner.invoke(app, ["run", "retry", str(failed.pk)])
    assert isinstance(gone.exception, UserError)  # main() makes it a message, exit code 2
    assert "is no longer there" in str(gone.exception)
    Bundle().student("stu-1", "Mia", "Lopez").write(tmp_path / "c")
    held = runner.invoke(app, ["sync", str(tmp_path / "c"), "--district", str(district.pk)])
    assert held.exit_code == 3
    not_failed = runner.invoke(app, ["run", "retry", str(SyncRun.objects.latest("pk").pk)])
    assert "only a failed run can be tried again" in str(not_failed.exception)
    assert SyncRun.objects.count() == 2  # neither refusal started a run
