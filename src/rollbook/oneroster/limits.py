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


def _joined_length(*columns: pa.ChunkedArray) -> pa.ChunkedArray:
    """Characters of the columns' values joined with one separator between each."""
    total = pc.utf8_length(columns[0])
    for column in columns[1:]:
        total = pc.add(pc.add(total, pc.utf8_length(column)), 1)
    return total


def check_joined_ids(
    user_roles: pa.Table, guardian_links: pa.Table, users_file: str, findings: Findings
) -> tuple[pa.Table, pa.Table]:
    """The ids the sync makes by joining two or three sourcedIds (a guardian link
    ``guardian|student``; a staff role without a roles.csv sourcedId ``user|org|role``) must
    fit the directory's sourcedId too: longer ones are OR-VALUE-TOO-LONG, their rows dropped."""
    out = []
    staff = pc.and_(
        pc.fill_null(pc.equal(user_roles["role_group"], "staff"), False),
        pc.is_null(user_roles["role_sourced_id"]),
    )
    for table, what, columns, where in (
        (
            user_roles,
            "a staff role, keyed by its user, org and role",
            ("user_sourced_id", "org_sourced_id", "role"),
            staff,
        ),
        (
            guardian_links,
            "a guardian link, keyed by its guardian and student",
            ("guardian_sourced_id", "student_sourced_id"),
            None,
        ),
    ):
        longest = sum((pc.max(pc.binary_length(table[c])).as_py() or 0) + 1 for c in columns)
        if not table.num_rows or longest - 1 <= MAX_SOURCED_ID:  # bytes >= characters
            out.append(table)
            continue
        long = pc.fill_null(
            pc.greater(_joined_length(*(table[c] for c in columns)), MAX_SOURCED_ID), False
        )
        if where is not None:
            long = pc.and_(long, where)
        total = pc.sum(long.cast(pa.int64())).as_py() or 0
        if not total:
            out.append(table)
            continue
        idx = pc.indices_nonzero(long).slice(0, findings.max_instances)
        first = table[columns[0]].take(idx).to_pylist()
        lines = table["line"].take(idx).to_pylist() if "line" in table.column_names else None
        rows = [
            (
                lines[i] if lines else None,
                sid,
                f"{users_file}: {what}: their sourcedIds together are longer than the "
                f"{MAX_SOURCED_ID} characters the directory stores; it was left out.",
            )
            for i, sid in enumerate(first)
        ]
        findings.add_rows("OR-VALUE-TOO-LONG", total, rows, file=users_file, column=None)
        out.append(table.filter(pc.invert(long)))
    return out[0], out[1]
