"""Dates no calendar has, stored before the reader refused them, set to null (audited).

Until issue 16 a OneRoster date of year 0 (``0000-01-01``) was stored as it was on SQLite,
which then failed to read it back: every export, and every later sync (the corrected bundle
included), ended in a traceback. PostgreSQL never holds year 0 or a day like February 30, but
a date before year 1 or after 9999 would fail in Python the same way. The reader now refuses
such dates (``OR-VALUE-DATE-IMPOSSIBLE``); this repairs a directory that already holds one.

Each such value is set to null, never the row deleted, with one audit entry per row (the
stored text before, null after, by "Rollbook upgrade"). So that the next sync fills it in —
even from the very bundle that was last applied — the row's fingerprint of its SIS fields is
cleared (the sync then sees the row as changed) and its source forgets its last bundle's
digests (the sync then does not skip the same bundle). The values are read as text (SQLite would otherwise parse them, and fail): on
SQLite only candidates (outside 0001-01-01..9999-12-31, not 10 characters, a day past 28 or a
month past 12) are checked in Python, on PostgreSQL the range alone. Reversing the migration
leaves the dates as they are (the audit entries say what they were).

Column lists are copied here, not imported: a migration must mean the same thing when the
code changes later.
"""

from __future__ import annotations

import datetime as dt

from django.db import migrations

#: model -> (date fields, SQL giving the row's district, SQL joins that expression needs)
TARGETS = {
    "student": (("birth_date",), "t.district_id", ""),
    "academicsession": (("start_date", "end_date"), "t.district_id", ""),
    "classmembership": (
        ("begin_date", "end_date"),
        "s.district_id",
        "JOIN directory_schoolclass c ON c.id = t.school_class_id "
        "JOIN directory_school s ON s.id = c.school_id",
    ),
}
ACTOR_LABEL = "Rollbook upgrade"
NOTE = (
    "a date no calendar has (year 0, or a day like February 30) was stored before the "
    "reader refused such dates; set to null, the next sync of a corrected bundle fills it in"
)
BATCH = 2000


def is_calendar_date(text: str) -> bool:
    """Whether ``text`` is an ISO date Python can hold."""
    try:
        dt.date.fromisoformat(text[:10])
    except ValueError:
        return False
    return len(text) >= 10


def _candidates(cursor, vendor: str, table: str, field: str, district: str, joins: str):
    if vendor == "sqlite":
        text = f"(t.{field} || '')"
        odd = (
            f"{text} < '0001-01-01' OR {text} > '9999-12-31' OR length({text}) != 10 "
            f"OR substr({text}, 9, 2) > '28' OR substr({text}, 6, 2) > '12'"
        )
    else:
        text = f"CAST(t.{field} AS TEXT)"
        odd = f"t.{field} < DATE '0001-01-01' OR t.{field} > DATE '9999-12-31'"
    cursor.execute(
        f"SELECT t.id, {text}, {district}, t.source_id FROM {table} t {joins} "
        f"WHERE t.{field} IS NOT NULL AND ({odd}) ORDER BY t.id"
    )
    for pk, value, district_id, source_id in cursor.fetchall():
        if vendor != "sqlite" or not is_calendar_date(value):
            yield pk, value, district_id, source_id


def repair_dates(apps, schema_editor) -> dict[str, int]:
    """Set every stored date no calendar has to null; returns the rows changed per model."""
    audit_entry = apps.get_model("directory", "AuditEntry")
    connection = schema_editor.connection
    vendor = connection.vendor
    changed: dict[str, int] = {}
    sources: set[int] = set()
    for model_name, (fields, district, joins) in TARGETS.items():
        table = apps.get_model("directory", model_name)._meta.db_table
        bad: dict[int, dict[str, str]] = {}
        districts: dict[int, int | None] = {}
        with connection.cursor() as cursor:
            for field in fields:
                for pk, value, district_id, source_id in _candidates(
                    cursor, vendor, table, field, district, joins
                ):
                    bad.setdefault(pk, {})[field] = value
                    districts[pk] = district_id
                    if source_id is not None:
                        sources.add(source_id)
            for pk, before in bad.items():
                sets = ", ".join(f"{field} = NULL" for field in [*before, "sis_fingerprint"])
                cursor.execute(f"UPDATE {table} SET {sets} WHERE id = %s", [pk])
        audit_entry.objects.bulk_create(
            [
                audit_entry(
                    actor_label=ACTOR_LABEL,
                    district_id=districts[pk],
                    action="update",
                    object_type=model_name,
                    object_id=pk,
                    before=before,
                    after=dict.fromkeys(before),
                    note=NOTE,
                )
                for pk, before in bad.items()
            ],
            batch_size=BATCH,
        )
        changed[model_name] = len(bad)
    if sources:
        # The records digest (sync 0011) exists when this runs after it (or is called later).
        known = {f.name for f in apps.get_model("sync", "SyncSource")._meta.get_fields()}
        digests = [d for d in ("last_bundle_digest", "last_records_digest") if d in known]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE sync_syncsource SET {', '.join(f'{d} = %s' for d in digests)}"
                f" WHERE id IN ({', '.join(['%s'] * len(sources))})",
                [""] * len(digests) + sorted(sources),
            )
    return changed


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0008_district_time_zone"),
        ("sync", "0007_schedules"),
    ]

    operations = [
        migrations.RunPython(repair_dates, migrations.RunPython.noop, elidable=True),
    ]
