"""The planner's statistics after a sync's bulk load (sync/statistics.py), on the real database
(SQLite, or PostgreSQL with DATABASE_URL), committed as a sync from the command line is."""

import threading

import pytest
from django.db import connection

from rollbook.directory.audit import Actor
from rollbook.oneroster.generator import generate_bundle
from rollbook.sync import services, statistics
from rollbook.sync.models import SyncRun, SyncSource

pytestmark = pytest.mark.django_db(transaction=True)

STUDENTS, ENROLLMENTS = "directory_student", "directory_classmembership"


@pytest.fixture
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle") / "b"
    generate_bundle(folder, students=300)
    return folder


@pytest.fixture
def first(tmp_path, district, settings, generated):
    """A district after its first sync of a generated bundle."""
    settings.ROLLBOOK_HOME = tmp_path / "home"
    source = services.get_source(district)
    run = services.sync_bundle(source, generated, Actor(label="test"), approve=True)
    assert run.status == SyncRun.Status.APPLIED
    return run


def _again(source: SyncSource, folder) -> SyncRun:
    """The same bundle synced again as a new delivery (not skipped as byte-identical)."""
    SyncSource.objects.filter(pk=source.pk).update(last_bundle_digest="", last_records_digest="")
    source.refresh_from_db()
    run = services.sync_bundle(source, folder, Actor(label="test"), approve=True)
    assert run.status == SyncRun.Status.APPLIED
    return run


def _fetch(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _execute(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _stat_rows(table: str) -> list[tuple]:
    """SQLite: the table's rows in sqlite_stat1. PostgreSQL: its columns in pg_stats."""
    if connection.vendor == "sqlite":
        return _fetch("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = %s ORDER BY idx", [table])
    return _fetch(
        "SELECT attname FROM pg_stats WHERE schemaname = current_schema() AND tablename = %s",
        [table],
    )


def _analyses(table: str) -> int:
    """PostgreSQL: how many times the table was analyzed by hand."""
    _fetch("SELECT pg_stat_clear_snapshot()")
    return _fetch("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = %s", [table])[0][0]


def test_a_first_sync_analyzes_the_tables_it_loaded(first):
    assert first.report.timings["statistics"] >= 0
    for table in (STUDENTS, ENROLLMENTS):
        assert _stat_rows(table), f"{table} has no statistics"
    if connection.vendor == "sqlite":
        counted = _fetch("SELECT stat FROM sqlite_stat1 WHERE tbl = %s", [STUDENTS])
        assert {int(stat.split()[0]) for (stat,) in counted} == {300}
    else:
        (tuples,) = _fetch("SELECT reltuples FROM pg_class WHERE relname = %s", [STUDENTS])[0]
        assert tuples == 300
        assert _analyses(STUDENTS) >= 1 and _analyses(ENROLLMENTS) >= 1


def test_a_no_change_resync_does_not_analyze_again(first, generated):
    if connection.vendor == "sqlite":  # a mark no ANALYZE of the table would leave
        _execute("UPDATE sqlite_stat1 SET stat = '777 1 1' WHERE tbl = %s", [STUDENTS])
        before = _stat_rows(STUDENTS)
    else:
        before = _analyses(STUDENTS), _analyses(ENROLLMENTS)
    run = _again(first.source, generated)
    assert run.report.counts["student"]["unchanged"] == 300
    assert "statistics" not in run.report.timings
    if connection.vendor == "sqlite":
        assert _stat_rows(STUDENTS) == before
    else:
        assert (_analyses(STUDENTS), _analyses(ENROLLMENTS)) == before


def test_the_rule_many_rows_written_or_no_statistics(first):
    # 300 students counted: 50 + 10 % = 80 rows written make the table stale.
    assert statistics.stale({STUDENTS: 79}) == {}
    assert list(statistics.stale({STUDENTS: 80})) == [STUDENTS]
    assert statistics.stale({}, statistics.sync_tables()) == {}  # all analyzed, or empty


def test_a_database_never_analyzed_is_analyzed_by_its_next_sync(first, generated):
    """A database from before statistics were refreshed: the next sync does it, even one that
    writes nothing."""
    if connection.vendor == "sqlite":
        _execute("DELETE FROM sqlite_stat1")
    else:
        if not _fetch("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0][0]:
            pytest.skip("removing PostgreSQL's statistics needs a superuser")
        _execute(
            "DELETE FROM pg_statistic WHERE starelid IN (%s::regclass, %s::regclass)",
            [STUDENTS, ENROLLMENTS],
        )
    assert not _stat_rows(STUDENTS)
    run = _again(first.source, generated)
    assert "statistics" in run.report.timings
    assert _stat_rows(STUDENTS) and _stat_rows(ENROLLMENTS)


def test_a_failure_to_analyze_never_fails_the_run(first, generated, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no statistics today")

    monkeypatch.setattr(statistics, "_counted", broken)
    run = _again(first.source, generated)
    assert run.status == SyncRun.Status.APPLIED and "statistics" not in run.report.timings


def test_a_table_another_connection_holds_is_skipped_not_waited_for(first, monkeypatch):
    """Another run analyzing the table (PostgreSQL), or writing (SQLite: one writer at a
    time): the table is skipped after a short wait, and the waits are put back as they were."""
    monkeypatch.setattr(statistics, "WAIT_SECONDS", 0.2)
    locked, release = threading.Event(), threading.Event()

    def hold():
        from django.db import connections

        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                if other.vendor == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")
                else:
                    cursor.execute("BEGIN")
                    cursor.execute(f"LOCK TABLE {STUDENTS} IN SHARE UPDATE EXCLUSIVE MODE")
                locked.set()
                release.wait(30)
                cursor.execute("ROLLBACK")
        finally:
            other.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        before = _wait_setting()
        done = statistics.refresh({STUDENTS: 10_000, ENROLLMENTS: 10_000})
        assert STUDENTS in done["skipped"]
        if connection.vendor == "postgresql":
            assert done["analyzed"] == [ENROLLMENTS]  # not locked: analyzed
        assert done["seconds"] < 5
        assert _wait_setting() == before
    finally:
        release.set()
        holder.join()


def _wait_setting():
    if connection.vendor == "sqlite":
        return _fetch("PRAGMA busy_timeout")[0][0]
    return _fetch("SHOW lock_timeout")[0][0]
