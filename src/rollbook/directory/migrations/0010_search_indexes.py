"""Indexes for the Directory's search (issue 18; web/search.py).

- B-tree indexes for exact terms: a student's number, a person's sourcedId on guardian links
  and staff roles, and the email and phone of inactive accounts (active ones already have
  their unique indexes).
- Name words: on SQLite an FTS5 table with the ``trigram`` tokenizer per table (students,
  accounts), external content kept exact by triggers on every insert, delete and name update,
  filled once here; on PostgreSQL the ``pg_trgm`` extension and a GIN trigram index on the
  upper-cased name columns joined by spaces.

The statements are copied here, not imported: a migration must mean the same thing when the
code changes later.
"""

from __future__ import annotations

from django.db import migrations, models

NAMES = {
    "directory_student": (
        "directory_student_names",
        "directory_student_names_trgm",
        (
            "given_name",
            "middle_name",
            "family_name",
            "preferred_given_name",
            "preferred_family_name",
        ),
    ),
    "directory_account": (
        "directory_account_names",
        "directory_account_names_trgm",
        ("given_name", "family_name"),
    ),
}


def _sqlite(table: str) -> list[str]:
    fts, _, columns = NAMES[table]
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in ("id", *columns))
    delete = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"
    insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', "
        "content_rowid='id', tokenize='trigram', columnsize=0)",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF id, {cols} ON {table} WHEN {changed} "
        f"BEGIN {delete} {insert} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def _postgresql(table: str) -> list[str]:
    _, index, columns = NAMES[table]
    text = "UPPER(" + " || ' ' || ".join(columns) + ")"
    return [f"CREATE INDEX {index} ON {table} USING gin (({text}) gin_trgm_ops)"]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table in NAMES:
        statements = _sqlite(table) if vendor == "sqlite" else _postgresql(table)
        for statement in statements:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for fts, index, _ in NAMES.values():
        if vendor == "sqlite":
            for suffix in ("ai", "ad", "au"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
            schema_editor.execute(f"DROP TABLE IF EXISTS {fts}")
        else:
            schema_editor.execute(f"DROP INDEX IF EXISTS {index}")


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0009_dates_no_calendar_has"),
        ("sync", "0010_source_encoding"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="account",
            index=models.Index(
                condition=models.Q(("email__isnull", False), ("is_active", False)),
                fields=["email"],
                name="directory_acct_email_inactive",
            ),
        ),
        migrations.AddIndex(
            model_name="account",
            index=models.Index(
                condition=models.Q(("is_active", False), ("phone__isnull", False)),
                fields=["phone"],
                name="directory_acct_phone_inactive",
            ),
        ),
        migrations.AddIndex(
            model_name="guardianlink",
            index=models.Index(fields=["person_sourced_id"], name="directory_guardian_person"),
        ),
        migrations.AddIndex(
            model_name="staffrole",
            index=models.Index(fields=["person_sourced_id"], name="directory_staff_person"),
        ),
        migrations.AddIndex(
            model_name="student",
            index=models.Index(fields=["sis_identifier"], name="directory_student_number"),
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
