"""Exit codes that tell a crash from findings: 0 ok, 1 findings, 2 bad input, 70 a bug."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.crash import EXIT_INTERNAL
from tests.oneroster.conftest import BASE_11, base_files, write_bundle

runner = CliRunner()


def boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("value of a child: Ann Lee")


def crash_logs(home: Path) -> list[Path]:
    return sorted((home / "logs").glob("crash-*.log"))


def test_validate_exit_codes(tmp_path: Path) -> None:
    ok = write_bundle(tmp_path / "ok", base_files())
    bad = write_bundle(
        tmp_path / "bad", base_files(enrollments__csv=BASE_11["enrollments.csv"] + "e9,,,,,,,\n")
    )
    notes = write_bundle(tmp_path / "notes", {"notes.csv": "a,b\n1,2\n"})
    assert runner.invoke(app, ["validate", str(ok)]).exit_code == 0
    assert runner.invoke(app, ["validate", str(bad)]).exit_code == 1
    refused = runner.invoke(app, ["validate", str(notes), "--json"])
    assert refused.exit_code == 2
    assert json.loads(refused.stdout)["bundle_error_code"] == "OR-BUNDLE-NOT-ONEROSTER"
    assert runner.invoke(app, ["validate", "/dev/zero"]).exit_code == 2


def test_a_crash_in_validate_is_exit_70_with_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    settings.ROLLBOOK_HOME = tmp_path / "home"
    monkeypatch.setattr("rollbook.oneroster.cli.read_bundle", boom)
    result = runner.invoke(app, ["validate", str(write_bundle(tmp_path / "b", base_files()))])
    assert result.exit_code == EXIT_INTERNAL == 70
    assert "Internal error in rollbook validate (RuntimeError)" in result.output
    assert "Traceback" not in result.output and "Ann Lee" not in result.output
    [log] = crash_logs(tmp_path / "home")
    assert str(log) in result.output
    text = log.read_text()
    assert "Traceback" in text and "RuntimeError: value of a child: Ann Lee" in text
    assert log.stat().st_mode & 0o077 == 0  # the owner's only


@pytest.mark.django_db
def test_a_crash_in_sync_is_exit_70_and_the_run_is_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings, district
) -> None:
    """Before issue 16 such a crash ended 1 (as a failed run does) and left the run
    'reading and planning' for good."""
    from rollbook.sync.models import SyncRun
    from tests.sync.bundles import Bundle

    settings.ROLLBOOK_HOME = tmp_path / "home"
    folder = Bundle().student("stu-1", "Mia", "Lopez").write(tmp_path / "b")
    monkeypatch.setattr("rollbook.sync.services.make_plan", boom)
    result = runner.invoke(app, ["sync", str(folder), "--district", str(district.pk)])
    assert result.exit_code == 70, result.output
    assert "Traceback" not in result.output
    [run] = SyncRun.objects.all()
    assert run.status == SyncRun.Status.FAILED
    assert len(crash_logs(tmp_path / "home")) == 1


@pytest.mark.django_db
def test_a_crash_in_check_is_exit_70(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings, district
) -> None:
    from tests.sync.bundles import Bundle

    settings.ROLLBOOK_HOME = tmp_path / "home"
    folder = Bundle().student("stu-1", "Mia", "Lopez").write(tmp_path / "b")
    monkeypatch.setattr("rollbook.readiness.services.read_bundle", boom, raising=False)
    monkeypatch.setattr("rollbook.oneroster.validate._read", boom)
    result = runner.invoke(app, ["check", str(folder), "--district", str(district.pk)])
    assert result.exit_code == 70, result.output
    assert "Internal error in rollbook check" in result.output
