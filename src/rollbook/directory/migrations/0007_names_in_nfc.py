"""Stored names of accounts and students rewritten in Unicode NFC, hidden characters removed.

Rollbook now writes every name in NFC and without the invisible characters that change how text
displays (``directory/contacts.py``, ``HIDDEN_CHARACTERS``). Rows written before may hold a
name in another form ("José" as "e" + combining accent) or such a character; this rewrites
them, one audit entry per changed row (before and after, by "Rollbook upgrade").

Only rows with a non-ASCII character in a name can change: they are found with a regular
expression in the database (PostgreSQL's ``~``; on SQLite, Django's ``REGEXP`` function) and
read and written in batches in primary-key order, so a table of millions of ASCII names costs
one scan. Nothing else of a name changes (whitespace is kept as stored). Reversing the
migration leaves the names as they are.

The character list is copied here, not imported: a migration must mean the same thing when
the code changes later.
"""

from __future__ import annotations

import unicodedata

from django.db import migrations
from django.db.models import Q

#: Bidirectional controls, zero-width space, word joiner, zero-width no-break space.
HIDDEN_CHARACTERS = (
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u2060\ufeff"
)
_WITHOUT_HIDDEN = str.maketrans("", "", HIDDEN_CHARACTERS)
NON_ASCII = "[^\u0001-\u007f]"
FIELDS = {
    "account": ("given_name", "family_name"),
    "student": (
        "given_name",
        "middle_name",
        "family_name",
        "preferred_given_name",
        "preferred_family_name",
    ),
}
BATCH = 2000
ACTOR_LABEL = "Rollbook upgrade"
NOTE = "name written in Unicode NFC, invisible text-direction and zero-width characters removed"


def clean(value: str) -> str:
    """The name in NFC without hidden characters (ASCII names are returned as they are)."""
    if not value or value.isascii():
        return value
    return unicodedata.normalize("NFC", value.translate(_WITHOUT_HIDDEN))


def normalise_names(apps, schema_editor=None, batch: int = BATCH) -> dict[str, int]:
    """Rewrite the stored names; returns the number of rows changed per table."""
    audit_entry = apps.get_model("directory", "AuditEntry")
    changed: dict[str, int] = {}
    for model_name, fields in FIELDS.items():
        model = apps.get_model("directory", model_name)
        odd = Q()
        for name in fields:
            odd |= Q(**{f"{name}__regex": NON_ASCII})
        extra = ("district",) if model_name == "student" else ()
        rows = model.objects.filter(odd).only("pk", *fields, *extra).order_by("pk")
        last, count = 0, 0
        while chunk := list(rows.filter(pk__gt=last)[:batch]):
            last = chunk[-1].pk
            updated, entries = [], []
            for row in chunk:
                before = {name: getattr(row, name) for name in fields}
                after = {name: clean(value) for name, value in before.items()}
                diff = [name for name in fields if after[name] != before[name]]
                if not diff:
                    continue
                for name in diff:
                    setattr(row, name, after[name])
                updated.append(row)
                entries.append(
                    audit_entry(
                        actor_label=ACTOR_LABEL,
                        district_id=getattr(row, "district_id", None),
                        action="update",
                        object_type=model_name,
                        object_id=row.pk,
                        before={name: before[name] for name in diff},
                        after={name: after[name] for name in diff},
                        note=NOTE,
                    )
                )
            if updated:
                model.objects.bulk_update(updated, fields, batch_size=batch)
                audit_entry.objects.bulk_create(entries, batch_size=batch)
                count += len(updated)
        changed[model_name] = count
    return changed


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0006_student_merged_status"),
    ]

    operations = [
        migrations.RunPython(normalise_names, migrations.RunPython.noop, elidable=True),
    ]
