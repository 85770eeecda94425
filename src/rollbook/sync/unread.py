"""What the sync does not read of the reader's model, dropped before the records are made.

The reader keeps every column of every file (``rollbook validate`` and the self-check's data
quality findings are made from them); the sync's records (``read.py``) use a part. At 1M
students the rest is ~0.26 GB, held beside the records while they are made unless dropped.
"""

from __future__ import annotations

import pyarrow as pa

from rollbook.oneroster.csvread import LINE
from rollbook.oneroster.model import ReadResult

#: The reader's columns the sync never reads when every file is the whole set (a delta's
#: files are read for more: ``delta.py``). Dropped before the records are made, so that they
#: are not held beside them.
UNREAD = {
    "users": (
        "date_last_modified",
        "enabled_user",
        "username",
        "user_ids",
        "password",
        "user_master_identifier",
        "resource_sourced_ids",
        "preferred_middle_name",
        "primary_org_sourced_id",
        "pronouns",
        "agent_sourced_ids",
    ),
    "enrollments": ("date_last_modified",),
    "classes": ("date_last_modified", "grades", "location", "subjects", "subject_codes", "periods"),
    "courses": ("date_last_modified", "grades", "subjects", "subject_codes"),
}
#: Reader tables the sync reads only for a delta (``delta.py``): emptied otherwise.
READ_FOR_DELTAS = ("roles", "user_profiles")


def drop_unread(result: ReadResult) -> None:
    """Drop from ``result``'s model, in place, what the sync will not read: the columns in
    ``UNREAD``, the ``metadata.*`` extension columns, the user roles' dates and types, the
    guardian links' ``declared_by``, the demographics but the birth dates, and the 1.2
    ``roles`` table (``user_roles`` holds what the sync reads of it). Nothing is dropped when
    users (or 1.2 roles) are a delta, which the sync settles against earlier deliveries with
    more of the model (``delta.defer``; a delta of other files reads none of these). The
    reader's findings are made already; the caller holds the result only to make the
    records."""
    model = result.model
    people_files = ("users", "roles") if result.version == "1.2" else ("users",)
    if any(model.modes.get(file) != "bulk" for file in people_files):
        return  # a delta of people: delta.py reads their roles' types and agents

    def without(table: pa.Table, names) -> pa.Table:
        drop = [c for c in table.column_names if c in names or c.startswith("metadata.")]
        return table.drop_columns(drop) if drop else table

    for name, table in model.tables.items():
        if name in READ_FOR_DELTAS:
            model.tables[name] = table.slice(0, 0)
        elif name == "demographics":
            model.tables[name] = table.select(
                [c for c in ("sourced_id", "status", "birth_date", LINE) if c in table.column_names]
            )
        else:
            model.tables[name] = without(table, UNREAD.get(name, ()))
    model.user_roles = without(model.user_roles, ("role_type", "begin_date", "end_date"))
    model.guardian_links = without(model.guardian_links, ("declared_by",))
    pa.default_memory_pool().release_unused()
