"""The longest value the directory stores, per column: longer values are findings when the
bundle is read, so that a sync never fails halfway through on PostgreSQL (whose columns are
bounded; SQLite's are not, which would make the two databases differ).

The numbers mirror the ``max_length`` of the fields the sync writes (``directory/models.py``,
``sync/models.py``); ``tests/oneroster/test_limits.py`` fails when they drift apart. Lengths
are counted in characters, as PostgreSQL counts them. Every check is one vectorised pass,
and a column whose longest value in bytes fits is passed with one ``max``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .csvread import LINE
from .findings import Findings
from .schema import FileSpec

#: sourcedIds (the rows' own and every reference): SyncRecord.sourced_id and the directory's
#: ``sourced_id`` / ``*_sourced_id`` fields.
MAX_SOURCED_ID = 255
#: entity -> column -> longest value the directory stores.
STORED: dict[str, dict[str, int]] = {
    "orgs": {"name": 255, "identifier": 255},  # School
    "academic_sessions": {"title": 255, "type": 40},  # AcademicSession.title, .kind
    "courses": {"title": 255, "course_code": 255},  # Course.title, .code
    "classes": {"title": 255, "class_code": 255, "class_type": 40},  # SchoolClass
    "users": {  # Student, Account
        "given_name": 255,
        "family_name": 255,
        "middle_name": 255,
        "preferred_given_name": 255,
        "preferred_family_name": 255,
        "identifier": 255,
        "email": 320,
        "grades": 16,  # Student.grade holds one grade
    },
    "enrollments": {"role": 40},  # ClassMembership.role
}
_ID_KINDS = ("id", "ref", "refs")


def limit_of(spec: FileSpec, column: str) -> int | None:
    """The longest value of ``column`` the directory stores (None: not stored, or unbounded)."""
    col = next((c for c in spec.columns if c.name == column), None)
    if col is not None and col.kind in _ID_KINDS:
        return MAX_SOURCED_ID
    return STORED.get(spec.entity, {}).get(column)


def _too_long(values: pa.ChunkedArray, limit: int) -> pa.ChunkedArray | pa.Array | None:
    """Rows with a value (or, for lists, an item) over ``limit`` characters; None: none."""
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        items = pc.list_flatten(values)
        if not len(items) or (pc.max(pc.binary_length(items)).as_py() or 0) <= limit:
            return None
        rows = pc.list_parent_indices(values).filter(
            pc.fill_null(pc.greater(pc.utf8_length(items), limit), False)
        )
        index = pc.cumulative_sum(pc.fill_null(pa.nulls(len(values), pa.int64()), 1))
        return pc.is_in(pc.subtract(index, 1), value_set=pc.unique(rows).cast(pa.int64()))
    if not pa.types.is_string(values.type) or values.null_count == len(values):
        return None
    if (pc.max(pc.binary_length(values)).as_py() or 0) <= limit:
        return None
    return pc.fill_null(pc.greater(pc.utf8_length(values), limit), False)


def check_lengths(table: pa.Table, spec: FileSpec, display: str, findings: Findings) -> pa.Array:
    """Report the rows holding a value longer than the directory stores; returns the mask of
    those rows (rejected: error ``OR-VALUE-TOO-LONG``)."""
    rejected = pc.fill_null(pa.nulls(table.num_rows, pa.bool_()), False)
    if not table.num_rows:
        return rejected
    for col in spec.columns:
        limit = limit_of(spec, col.name)
        if limit is None or col.name not in table.column_names:
            continue
        mask = _too_long(table[col.name], limit)
        if mask is None or not pc.any(mask).as_py():
            continue
        rejected = pc.or_(rejected, mask)
        total = pc.sum(mask.cast(pa.int64())).as_py() or 0
        idx = pc.indices_nonzero(mask).slice(0, findings.max_instances)
        lines = table[LINE].take(idx).to_pylist()
        sids = table["sourced_id"].take(idx).to_pylist()
        what = "an item of " if pa.types.is_list(table[col.name].type) else ""
        rows = [
            (
                line,
                sid,
                f"{display} line {line}: {what}{col.header} is longer than the {limit} "
                "characters the directory stores; the row was rejected.",
            )
            for line, sid in zip(lines, sids, strict=True)
        ]
        findings.add_rows("OR-VALUE-TOO-LONG", total, rows, file=display, column=col.header)
    return rejected
