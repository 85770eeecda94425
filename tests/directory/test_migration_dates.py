"""Migration 0009 and the reader: a date no calendar has never bricks a district again.

Before issue 16 a birth date of year 0 validated, synced on SQLite, and then every export and
every later sync — the corrected bundle included — ended in a traceback. Now the reader
refuses the bundle (OR-VALUE-DATE-IMPOSSIBLE), and migration 0009 repairs a directory that
already holds such a date (set to null, audited).
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from rollbook.directory import export
from rollbook.directory.audit import Actor
from rollbook.directory.models import AuditEntry, Student
from rollbook.sync import services
from rollbook.sync.models import SyncRun
from tests.sync.bundles import Bundle

pytestmark = pytest.mark.django_db

migration = importlib.import_module("rollbook.directory.migrations.0009_dates_no_calendar_has")
EDITOR = SimpleNamespace(connection=connection)


@pytest.fixture
def sync(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    source = services.get_source(district)
    count = iter(range(100))

    def run(bundle: Bundle) -> SyncRun:
        folder = bundle.write(tmp_path / f"bundle-{next(count)}")
        return services.sync_bundle(source, folder, Actor(label="test"), approve=True)

    return run


def family(birth: str) -> Bundle:
    bundle = Bundle().guardian("g1", "Bob", "Lee").klass("c1").enroll("e1", "c1", "s1")
    return bundle.student("s1", "Ann", "Lee", guardians=("g1",), birthDate=birth)


@pytest.mark.parametrize("birth", ["0000-01-01", "2020-02-30", "2021-02-29", "2020-13-01"])
def test_a_date_no_calendar_has_is_refused_and_never_stored(sync, birth: str) -> None:
    first = sync(family("2015-04-01"))
    assert first.status == SyncRun.Status.APPLIED
    run = sync(family(birth))
    assert run.status == SyncRun.Status.FAILED
    assert run.stats["findings"]["OR-VALUE-DATE-IMPOSSIBLE"] == 1
    assert run.issues.filter(code="OR-VALUE-DATE-IMPOSSIBLE").exists()
    ann = Student.objects.get(sourced_id="s1")
    assert str(ann.birth_date) == "2015-04-01"  # not erased, not replaced


def _store_raw(table: str, field: str, value: str, pk: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {field} = %s WHERE id = %s", [value, pk])


def test_a_bricked_sqlite_directory_is_repaired(sync) -> None:
    """The issue's case on SQLite: year 0 stored, export and sync crash; the migration
    repairs it, audited, and the corrected bundle then syncs."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL cannot hold year 0 (see the test below)")
    assert sync(family("2015-04-01")).status == SyncRun.Status.APPLIED
    ann = Student.objects.get(sourced_id="s1")
    membership = ann.memberships.get()
    session_pks = list(ann.district.sessions.values_list("pk", flat=True))
    _store_raw("directory_student", "birth_date", "0000-01-01", ann.pk)  # as the old reader did
    _store_raw("directory_classmembership", "begin_date", "2021-02-29", membership.pk)
    with pytest.raises(ValueError):  # bricked: no export, no sync
        list(export.student_records(ann.district))
    with pytest.raises(ValueError):
        Student.objects.get(pk=ann.pk)

    changed = migration.repair_dates(apps, EDITOR)

    assert changed == {"student": 1, "academicsession": 0, "classmembership": 1}
    assert [r["birth_date"] for r in export.student_records(ann.district)] == [None]
    membership.refresh_from_db()
    assert membership.begin_date is None
    entries = AuditEntry.objects.filter(actor_label="Rollbook upgrade").order_by("object_type")
    assert [(e.object_type, e.before, e.after, e.district_id) for e in entries] == [
        ("classmembership", {"begin_date": "2021-02-29"}, {"begin_date": None}, ann.district_id),
        ("student", {"birth_date": "0000-01-01"}, {"birth_date": None}, ann.district_id),
    ]
    assert sync(family("2015-04-01")).status == SyncRun.Status.APPLIED
    ann.refresh_from_db()
    assert str(ann.birth_date) == "2015-04-01"
    assert session_pks == list(ann.district.sessions.values_list("pk", flat=True))


def test_dates_python_cannot_hold_are_repaired_on_postgresql(sync) -> None:
    """PostgreSQL holds dates before year 1 (BC) and after 9999, which Python cannot read."""
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL range check")
    assert sync(family("2015-04-01")).status == SyncRun.Status.APPLIED
    ann = Student.objects.get(sourced_id="s1")
    _store_raw("directory_student", "birth_date", "0001-06-01 BC", ann.pk)
    with pytest.raises(Exception):  # noqa: B017 - psycopg's own error for a BC date
        list(export.student_records(ann.district))

    assert migration.repair_dates(apps, EDITOR)["student"] == 1
    assert [r["birth_date"] for r in export.student_records(ann.district)] == [None]


def test_valid_dates_are_left_alone(sync) -> None:
    assert sync(family("2016-02-29")).status == SyncRun.Status.APPLIED
    assert migration.repair_dates(apps, EDITOR) == {
        "student": 0,
        "academicsession": 0,
        "classmembership": 0,
    }
    assert str(Student.objects.get(sourced_id="s1").birth_date) == "2016-02-29"
    assert not AuditEntry.objects.filter(actor_label="Rollbook upgrade").exists()
