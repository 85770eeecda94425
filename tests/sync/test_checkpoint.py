"""A large apply's write-ahead log copied beside the work after its commit (sync/checkpoint.py),
on the real SQLite database, committed as a sync from the command line is."""

import sqlite3

import pytest
from django.db import connection

from rollbook.directory.audit import Actor
from rollbook.directory.models import Student
from rollbook.oneroster.generator import generate_bundle
from rollbook.sync import checkpoint, pipeline, services
from rollbook.sync.models import SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle") / "b"
    generate_bundle(folder, students=120)
    return folder


def _autocheckpoint() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        return cursor.fetchone()[0]


def _students_in_database_file() -> int:
    """The students the database file itself holds, the log left aside (read-only)."""
    path = connection.settings_dict["NAME"]
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as raw:
        return raw.execute("SELECT count(*) FROM directory_student").fetchone()[0]


def test_a_large_apply_copies_its_log_on_its_own_thread(
    tmp_path, district, settings, generated, monkeypatch
):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    monkeypatch.setattr(checkpoint, "ROWS", 1)  # 120 students are "many" here
    run = services.sync_bundle(
        services.get_source(district), generated, Actor(label="t"), approve=True
    )
    assert run.status == SyncRun.Status.APPLIED
    if connection.vendor != "sqlite":
        assert "checkpoint" not in run.report.timings  # PostgreSQL: nothing changes
        return
    assert run.report.timings["checkpoint"] >= 0
    assert _autocheckpoint() == checkpoint.AUTOCHECKPOINT  # the setting is back
    # The commit's pages are in the database file, not only in the log.
    assert _students_in_database_file() == 120


def test_a_small_apply_is_copied_by_its_commit_as_before(tmp_path, district, settings, generated):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    run = services.sync_bundle(
        services.get_source(district), generated, Actor(label="t"), approve=True
    )
    assert run.status == SyncRun.Status.APPLIED
    assert "checkpoint" not in run.report.timings
    if connection.vendor == "sqlite":
        assert _autocheckpoint() == checkpoint.AUTOCHECKPOINT


def test_an_apply_that_fails_gives_the_setting_back(
    tmp_path, district, settings, generated, monkeypatch
):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    settings.ROLLBOOK_HOME = tmp_path / "home"
    monkeypatch.setattr(checkpoint, "ROWS", 1)
    held = []
    real_hold = checkpoint.LaterCheckpoint.hold

    def hold_then_fail(self, rows_written):
        real_hold(self, rows_written)
        held.append(_autocheckpoint())
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(checkpoint.LaterCheckpoint, "hold", hold_then_fail)
    with pytest.raises(RuntimeError):
        services.sync_bundle(
            services.get_source(district), generated, Actor(label="t"), approve=True
        )
    assert held == [0]  # held inside the transaction
    assert _autocheckpoint() == checkpoint.AUTOCHECKPOINT  # and given back after the failure
    assert not Student.objects.exists()  # nothing committed
    assert pipeline.SyncRun.objects.get().status == SyncRun.Status.FAILED
