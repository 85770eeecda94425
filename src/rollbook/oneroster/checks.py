"""Cross-file checks: references between files, org types of schools, users without roles.

Every check is a set operation over whole columns (``is_in`` against the sourcedIds of the
target file). References are only checked against files the bundle holds in **bulk** mode: a
delta file is not the whole set, so a missing target may already be in the directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .csvread import LINE
from .findings import Findings
from .threads import side_by_side


@dataclass(frozen=True)
class Ref:
    """A reference column and the file it points into."""

    code: str
    source: str  # entity holding the reference
    column: str  # canonical column
    header: str  # CSV header, for findings
    target: str  # entity referred to
    reject: bool = False


REFS: tuple[Ref, ...] = (
    Ref(
        "OR-REF-ENROLLMENT-CLASS",
        "enrollments",
        "class_sourced_id",
        "classSourcedId",
        "classes",
        reject=True,
    ),
    Ref(
        "OR-REF-ENROLLMENT-USER",
        "enrollments",
        "user_sourced_id",
        "userSourcedId",
        "users",
        reject=True,
    ),
    Ref("OR-REF-ENROLLMENT-SCHOOL", "enrollments", "school_sourced_id", "schoolSourcedId", "orgs"),
    Ref("OR-REF-CLASS-COURSE", "classes", "course_sourced_id", "courseSourcedId", "courses"),
    Ref("OR-REF-CLASS-SCHOOL", "classes", "school_sourced_id", "schoolSourcedId", "orgs"),
    Ref("OR-REF-CLASS-TERM", "classes", "term_sourced_ids", "termSourcedIds", "academic_sessions"),
    Ref("OR-REF-COURSE-ORG", "courses", "org_sourced_id", "orgSourcedId", "orgs"),
    Ref(
        "OR-REF-COURSE-SCHOOLYEAR",
        "courses",
        "school_year_sourced_id",
        "schoolYearSourcedId",
        "academic_sessions",
    ),
    Ref("OR-REF-ORG-PARENT", "orgs", "parent_sourced_id", "parentSourcedId", "orgs"),
    Ref(
        "OR-REF-SESSION-PARENT",
        "academic_sessions",
        "parent_sourced_id",
        "parentSourcedId",
        "academic_sessions",
    ),
    Ref("OR-REF-USER-ORG", "users", "org_sourced_ids", "orgSourcedIds", "orgs"),
    Ref("OR-REF-USER-ORG", "users", "primary_org_sourced_id", "primaryOrgSourcedId", "orgs"),
    Ref("OR-REF-USER-AGENT", "users", "agent_sourced_ids", "agentSourcedIds", "users"),
    Ref("OR-REF-ROLE-USER", "roles", "user_sourced_id", "userSourcedId", "users", reject=True),
    Ref("OR-REF-ROLE-ORG", "roles", "org_sourced_id", "orgSourcedId", "orgs", reject=True),
    Ref(
        "OR-REF-ROLE-PROFILE",
        "roles",
        "user_profile_sourced_id",
        "userProfileSourcedId",
        "user_profiles",
    ),
    Ref("OR-REF-DEMOGRAPHICS-USER", "demographics", "sourced_id", "sourcedId", "users"),
    Ref("OR-REF-PROFILE-USER", "user_profiles", "user_sourced_id", "userSourcedId", "users"),
)


def arange(n: int) -> pa.Array:
    """0..n-1 as int64 (pyarrow only)."""
    return pc.subtract(pc.cumulative_sum(pc.fill_null(pa.nulls(n, pa.int64()), 1)), 1)


def report_at(
    findings: Findings,
    code: str,
    table: pa.Table,
    idx: pa.Array,
    values: pa.Array,
    file: str,
    column: str,
    message: Callable[[object], str],
) -> None:
    """Report rows ``idx`` of ``table`` (first few worded, all counted)."""
    total = len(idx)
    if not total:
        return
    n = findings.max_instances
    first = idx.slice(0, n)
    lines = table[LINE].take(first).to_pylist()
    sids = table["sourced_id"].take(first).to_pylist()
    vals = values.slice(0, n).to_pylist()
    rows = (
        (ln, sid, f"{file} line {ln}: {message(v)}")
        for ln, sid, v in zip(lines, sids, vals, strict=True)
    )
    findings.add_rows(code, total, rows, file=file, column=column)


def flat_refs(table: pa.Table, column: str) -> tuple[pa.Array, pa.Array]:
    """(row index, referenced id) for a single or list reference column, nulls dropped."""
    col = table[column].combine_chunks() if table.num_rows else pa.array([], pa.string())
    if pa.types.is_list(col.type):
        parents = pc.list_parent_indices(col).cast(pa.int64())
        values = pc.list_flatten(col)
    else:
        parents, values = arange(len(col)), col
    keep = pc.and_(pc.is_valid(values), pc.not_equal(pc.fill_null(values, ""), ""))
    return parents.filter(keep), values.filter(keep)


def _dangling(
    table: pa.Table,
    column: str,
    flat: tuple[pa.Array, pa.Array] | None,
    ids: pa.ChunkedArray,
    rows: list[pa.Array | pa.ChunkedArray] | None = None,
) -> tuple[pa.Array, pa.Array]:
    """(row index, value) of the references in ``column`` that are not in ``ids``.

    A single-value column is tested in place (no flattened copy of the column: on a 7M-row
    enrollments file the copies cost ~0.3 GB per reference column); only the dangling rows
    are materialised. The target ids are hashed chunk by chunk (no combined copy). ``rows``
    (single-value columns): receives the row in the target of each reference (null: none).
    """
    if flat is not None:  # list column, already flattened
        rows, values = flat
        missing = pc.invert(pc.is_in(values, value_set=ids))
        return rows.filter(missing), values.filter(missing)
    col = table[column]
    if rows is not None:
        rows.append(pc.index_in(col, value_set=ids))
        missing = pc.and_(pc.not_equal(col, ""), pc.is_null(rows[-1]))
    else:
        missing = pc.and_(pc.not_equal(col, ""), pc.invert(pc.is_in(col, value_set=ids)))
    idx = pc.indices_nonzero(pc.fill_null(missing, False)).cast(pa.int64())
    values = col.take(idx)
    return idx, values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _in_two_lanes(refs: tuple[Ref, ...], look_up: Callable[[Ref], Any]) -> list[Any]:
    """``look_up`` of every reference, on two threads, in the order of ``refs``.

    The look-ups into users.csv run one after another on one thread, the others on the
    second: each look-up hashes its target's ids, and two hashes of 2.65M user ids at once
    raised the reader's peak by ~0.2 GB at a million students."""
    lanes: tuple[list[int], list[int]] = ([], [])
    for i, ref in enumerate(refs):
        lanes[ref.target != "users"].append(i)

    def lane(indexes: list[int]) -> list[tuple[int, Any]]:
        return [(i, look_up(refs[i])) for i in indexes]

    done = dict(pair for one in side_by_side(*(partial(lane, ix) for ix in lanes)) for pair in one)
    return [done[i] for i in range(len(refs))]


def check_references(
    tables: dict[str, pa.Table],
    modes: dict[str, str],
    files: dict[str, str],
    findings: Findings,
    spelled: dict[str, dict[str, str]] | None = None,
    rows_of: dict[tuple[str, str], pa.Array | pa.ChunkedArray] | None = None,
) -> dict[str, pa.Array]:
    """Report dangling references; return per entity the mask of rows to reject.

    The references are looked up on two threads (each lookup hashes its target's ids); the
    findings are then reported in the order of ``REFS``. ``spelled``: per entity, canonical
    column -> the column as the file spells it (findings name that). ``rows_of``: for each
    (entity, single-value column) key it holds, receives the row in the target of each
    reference (null: none; rows before any is rejected), when the target was checked."""

    def look_up(ref: Ref) -> tuple[str, pa.Array | None, pa.Array | None]:
        src = tables.get(ref.source)
        if src is None or not src.num_rows:
            return "skip", None, None
        flat = None
        if pa.types.is_list(src.schema.field(ref.column).type):
            flat = flat_refs(src, ref.column)
            if not len(flat[1]):
                return "skip", None, None
        elif not pc.any(pc.not_equal(src[ref.column], "")).as_py():  # only nulls / empties
            return "skip", None, None
        target_mode = modes.get(ref.target, "absent")
        if target_mode == "delta":
            return "skip", None, None
        if target_mode == "absent":
            return "absent", None, None
        key = (ref.source, ref.column)
        rows: list[pa.Array | pa.ChunkedArray] | None = None
        if rows_of is not None and key in rows_of and flat is None:
            rows = []
        out = _dangling(src, ref.column, flat, tables[ref.target]["sourced_id"], rows)
        if rows and rows_of is not None:
            rows_of[key] = rows[0]
        return "checked", *out

    outcomes = _in_two_lanes(REFS, look_up)
    rejects: dict[str, pa.Array] = {}
    incomplete: set[tuple[str, str]] = set()
    for ref, (outcome, bad_rows, bad_vals) in zip(REFS, outcomes, strict=True):
        if outcome == "skip":
            continue
        src = tables[ref.source]
        ref = replace(ref, header=(spelled or {}).get(ref.source, {}).get(ref.column, ref.header))
        if outcome == "absent":
            key = (ref.source, ref.target)
            if modes.get(ref.source) == "bulk" and key not in incomplete:
                incomplete.add(key)
                findings.add(
                    "OR-BULK-INCOMPLETE",
                    f"{files[ref.source]} (bulk) refers to "
                    f"{files.get(ref.target, ref.target)} in {ref.header}, but that file is not "
                    "in the bundle; the references were not checked.",
                    file=files[ref.source],
                    column=ref.header,
                )
            continue
        target_file = files.get(ref.target, ref.target)
        then = "; the row was rejected." if ref.reject else "."
        report_at(
            findings,
            ref.code,
            src,
            bad_rows,
            bad_vals,
            files[ref.source],
            ref.header,
            lambda v, h=ref.header, tf=target_file, t=then: f"{h} {v!r} is not in {tf}{t}",
        )
        if ref.reject and len(bad_rows):
            mask = pc.is_in(arange(src.num_rows), value_set=bad_rows)
            prev = rejects.get(ref.source)
            rejects[ref.source] = mask if prev is None else pc.or_(prev, mask)
    return rejects


def check_school_types(
    tables: dict[str, pa.Table], files: dict[str, str], findings: Findings
) -> None:
    """schoolSourcedId of classes and enrollments must be an org of type school."""
    orgs = tables.get("orgs")
    if orgs is None or not orgs.num_rows:
        return
    not_school = orgs.filter(pc.fill_null(pc.not_equal(orgs["type"], "school"), False))
    if not not_school.num_rows:
        return
    kinds = dict(
        zip(not_school["sourced_id"].to_pylist(), not_school["type"].to_pylist(), strict=True)
    )
    for entity in ("classes", "enrollments"):
        t = tables.get(entity)
        if t is None or not t.num_rows:
            continue
        idx = pc.indices_nonzero(
            pc.fill_null(
                pc.is_in(t["school_sourced_id"], value_set=not_school["sourced_id"]), False
            )
        )
        vals = t["school_sourced_id"].take(idx)
        report_at(
            findings,
            "OR-SCHOOL-NOT-SCHOOL",
            t,
            idx,
            vals,
            files[entity],
            "schoolSourcedId",
            lambda v, k=kinds: (
                f"schoolSourcedId {v!r} is an org of type {k.get(v)!r}, not a school."
            ),
        )


def check_users_have_roles(
    tables: dict[str, pa.Table],
    modes: dict[str, str],
    files: dict[str, str],
    findings: Findings,
    role_rows: pa.Array | pa.ChunkedArray | None = None,
) -> None:
    """1.2: every user needs a roles.csv row (checked when roles.csv is bulk).

    ``role_rows``: the row in users.csv of each role's user (null: none), if the caller has
    it; users are then tested by row number, not by id."""
    users, roles = tables.get("users"), tables.get("roles")
    if users is None or roles is None or modes.get("roles") != "bulk" or not users.num_rows:
        return
    if role_rows is not None and len(role_rows) == roles.num_rows:
        held = pc.is_in(arange(users.num_rows), value_set=role_rows.drop_null())
    else:
        held = pc.is_in(users["sourced_id"], value_set=roles["user_sourced_id"])
    lacking = pc.invert(held)
    idx = pc.indices_nonzero(lacking)
    report_at(
        findings,
        "OR-USER-NO-ROLE",
        users,
        idx,
        users["sourced_id"].take(idx),
        files["users"],
        "sourcedId",
        lambda v: f"user {v!r} has no row in roles.csv, so no school or role.",
    )
