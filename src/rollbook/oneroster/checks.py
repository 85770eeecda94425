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


def scattered(values: pa.Array, at: pa.Array, n: int, empty) -> pa.Array:
    """``n`` values: ``values[i]`` at row ``at[i]``, ``empty`` elsewhere (one scatter, no
    hash table of the row numbers)."""
    if not len(at) or not n:
        return pc.fill_null(pa.nulls(n, values.type), empty)
    return pc.fill_null(pc.scatter(values, at.cast(pa.int64()), max_index=n - 1), empty)


def marked(rows: pa.Array | pa.ChunkedArray, n: int) -> pa.Array:
    """``n`` flags, true at each row number in ``rows`` (nulls and repeats allowed)."""
    rows = rows.drop_null()
    rows = rows.combine_chunks() if isinstance(rows, pa.ChunkedArray) else rows
    return scattered(pc.is_valid(rows), rows, n, False)


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


#: A reference column flattened: (the row of each id, computed when asked; the ids).
Flat = tuple[Callable[[], pa.Array | pa.ChunkedArray], pa.Array | pa.ChunkedArray]


def flat_refs(table: pa.Table, column: str) -> Flat:
    """(row index, referenced id) for a single or list reference column, nulls and empty
    items dropped.

    The column's chunks are flattened in place (no combined copy of the column: ~0.1 GB for
    the users' agentSourcedIds at a million students), the ids are not copied when none is
    dropped, and the row indexes (global) are only worked out when asked: for the few
    dangling references."""
    col = table[column] if table.num_rows else pa.array([], pa.string())
    if pa.types.is_list(col.type):
        values = pc.list_flatten(col)

        def parents() -> pa.Array | pa.ChunkedArray:
            return pc.list_parent_indices(col).cast(pa.int64())
    else:
        values = col

        def parents() -> pa.Array | pa.ChunkedArray:
            return arange(len(col))

    keep = pc.and_(pc.is_valid(values), pc.not_equal(pc.fill_null(values, ""), ""))
    if pc.all(keep).as_py() is not False:
        return parents, values
    return (lambda: parents().filter(keep)), values.filter(keep)


def _dangling(
    table: pa.Table,
    column: str,
    flat: Flat | None,
    ids: pa.ChunkedArray | None,
    at: pa.Array | pa.ChunkedArray | None = None,
) -> tuple[pa.Array, pa.Array]:
    """(row index, value) of the references in ``column`` that are not in ``ids``.

    A single-value column is tested in place (no flattened copy of the column: on a 7M-row
    enrollments file the copies cost ~0.3 GB per reference column); only the dangling rows
    are materialised. The target ids are hashed chunk by chunk (no combined copy). ``at``:
    the row in the target of each reference (null: none), when already looked up.
    """
    if flat is not None:  # list column, already flattened
        rows, values = flat
        found = pc.is_valid(at) if at is not None else pc.is_in(values, value_set=ids)
        # one chunk (a few bits a row): the ids' and the look-up's chunks may differ
        missing = pc.invert(found)
        missing = missing.combine_chunks() if isinstance(missing, pa.ChunkedArray) else missing
        if not pc.any(missing).as_py():
            return pa.array([], pa.int64()), pa.array([], pa.string())
        bad = values.filter(missing)
        bad = bad.combine_chunks() if isinstance(bad, pa.ChunkedArray) else bad
        return rows().filter(missing), bad
    col = table[column]
    if at is not None:
        missing = pc.and_(pc.not_equal(col, ""), pc.is_null(at))
    else:
        missing = pc.and_(pc.not_equal(col, ""), pc.invert(pc.is_in(col, value_set=ids)))
    idx = pc.indices_nonzero(pc.fill_null(missing, False)).cast(pa.int64())
    values = col.take(idx)
    return idx, values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _in_two_lanes(
    refs: tuple[Ref, ...],
    look_up: Callable[[Ref], Any],
    look_up_users: Callable[[list[int]], list[tuple[int, Any]]],
) -> list[Any]:
    """The look-ups of every reference, on two threads, in the order of ``refs``.

    The references into users.csv are looked up together on one thread
    (``look_up_users``, given their indexes), the others one by one on the second: each
    look-up hashes its target's ids, and two hashes of 2.65M user ids at once raised the
    reader's peak by ~0.2 GB at a million students."""
    to_users = [i for i, ref in enumerate(refs) if ref.target == "users"]
    others = [i for i, ref in enumerate(refs) if ref.target != "users"]

    def lane(indexes: list[int]) -> list[tuple[int, Any]]:
        return [(i, look_up(refs[i])) for i in indexes]

    lanes = side_by_side(partial(look_up_users, to_users), partial(lane, others))
    done = dict(pair for one in lanes for pair in one)
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
    (entity, column) key it holds, of a reference into users.csv, receives the row in
    users.csv of each reference (null: none; rows before any is rejected; a list column's
    non-empty items in order), when users.csv was checked."""

    def prepare(ref: Ref) -> tuple[str, Flat | None]:
        """Whether ``ref`` is checked ("skip", "absent", "checked"); a list column's
        (row, id) pairs, flattened."""
        src = tables.get(ref.source)
        if src is None or not src.num_rows:
            return "skip", None
        flat = None
        if pa.types.is_list(src.schema.field(ref.column).type):
            flat = flat_refs(src, ref.column)
            if not len(flat[1]):
                return "skip", None
        elif not pc.any(pc.not_equal(src[ref.column], "")).as_py():  # only nulls / empties
            return "skip", None
        target_mode = modes.get(ref.target, "absent")
        if target_mode == "delta":
            return "skip", None
        if target_mode == "absent":
            return "absent", None
        return "checked", flat

    def look_up(ref: Ref) -> tuple[str, pa.Array | None, pa.Array | None]:
        outcome, flat = prepare(ref)
        if outcome != "checked":
            return outcome, None, None
        ids = tables[ref.target]["sourced_id"]
        return "checked", *_dangling(tables[ref.source], ref.column, flat, ids)

    def look_up_users(indexes: list[int]) -> list[tuple[int, Any]]:
        """Every reference into users.csv in one look-up: users' sourcedIds are hashed once,
        not once per referring column (~0.4-0.7 s each at a million students)."""
        ready = {i: prepare(REFS[i]) for i in indexes}
        done: dict[int, Any] = {i: (o, None, None) for i, (o, _) in ready.items() if o != "checked"}
        probes = [(i, flat) for i, (o, flat) in ready.items() if o == "checked"]
        parts = [
            flat[1] if flat is not None else tables[REFS[i].source][REFS[i].column]
            for i, flat in probes
        ]
        chunks = [c for p in parts for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
        if probes:
            ids = tables["users"]["sourced_id"]
            at = pc.index_in(pa.chunked_array(chunks, pa.string()), value_set=ids)
            del chunks
            start = 0
            for (i, flat), part in zip(probes, parts, strict=True):
                ref, mine = REFS[i], at.slice(start, len(part))
                start += len(part)
                done[i] = ("checked", *_dangling(tables[ref.source], ref.column, flat, None, mine))
                if rows_of is not None and (ref.source, ref.column) in rows_of:
                    # a copy: a slice would keep every reference's rows (one buffer) alive
                    rows_of[(ref.source, ref.column)] = pc.take(mine, arange(len(mine)))
            del at
        return [(i, done[i]) for i in indexes]

    outcomes = _in_two_lanes(REFS, look_up, look_up_users)
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
            mask = marked(bad_rows, src.num_rows)
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
        held = marked(role_rows, users.num_rows)
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
