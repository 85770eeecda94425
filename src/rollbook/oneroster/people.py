"""Derived tables about people: who holds which role at which org, and who is whose guardian.

- ``user_roles``: 1.1 ``users.role`` + ``orgSourcedIds`` and 1.2 ``roles.csv`` +
  ``primaryOrgSourcedId`` become the same rows, with roles in the 1.2 vocabulary (1.1
  ``administrator`` becomes site/district/system administrator by the org's type).
- ``guardian_links``: ``agentSourcedIds`` read from either side (a student listing guardians
  or a guardian listing students), one row per (student, guardian) pair.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from . import vocab
from .checks import arange, marked, report_at
from .csvread import LINE
from .findings import Findings

USER_ROLES_SCHEMA = pa.schema(
    [
        ("user_sourced_id", pa.string()),
        ("org_sourced_id", pa.string()),
        ("role", pa.string()),
        ("role_group", pa.string()),
        ("role_type", pa.string()),
        ("is_primary_org", pa.bool_()),
        ("begin_date", pa.date32()),
        ("end_date", pa.date32()),
        ("status", pa.string()),
        ("role_sourced_id", pa.string()),
        ("line", pa.int32()),
    ]
)
GUARDIAN_LINKS_SCHEMA = pa.schema(
    [
        ("student_sourced_id", pa.string()),
        ("guardian_sourced_id", pa.string()),
        ("declared_by", pa.string()),
    ]
)


def _map(values: pa.Array, mapping: dict[str, str]) -> pa.Array:
    keys = pa.array(list(mapping), pa.string())
    return pc.take(
        pa.array(list(mapping.values()), pa.string()), pc.index_in(values, value_set=keys)
    )


def _keep(table: pa.Table, mask: pa.Array | pa.ChunkedArray) -> pa.Table:
    """``table.filter(mask)``, without copying the table when every row is kept."""
    mask = pc.fill_null(mask, False)
    return table if pc.all(mask).as_py() else table.filter(mask)


def _first_of_pairs(keys: pa.Array, by_student: pa.Array) -> tuple[pa.Array, pa.Array] | None:
    """The first occurrence of each (student, guardian) pair, or None when no pair occurs
    twice: (row indexes in declaration order, ``both`` flags).

    ``keys``: one int64 per row, equal exactly when both ids are (the people's codes);
    ``by_student``: the row was declared by the student.

    Sort the keys, then compare neighbours (a group-by's hash table cost ~0.5 GB at L scale;
    sorting the id strings ~3x as long as the integers when the rows are not in id order).
    The sort is stable, so the first row of each run is the pair's first occurrence; rows come
    in the order of first occurrences (declaration order, as when no pair repeats), and a pair
    declared from both sides is flagged ``both``.
    """
    order = pc.sort_indices(keys)
    n = len(order)
    ordered = keys.take(order)
    same = pc.fill_null(pc.equal(ordered.slice(1), ordered.slice(0, n - 1)), False)
    del ordered
    if not pc.any(same).as_py():
        return None
    starts = pc.indices_nonzero(
        pa.concat_arrays([pa.array([True]), pc.invert(same).combine_chunks()])
    ).cast(pa.int64())
    del same
    # rows declared by the student, counted per run: `both` when 0 < count < run length
    by = by_student.take(order).cast(pa.int64())
    ends = pa.concat_arrays([starts.slice(1), pa.array([n], pa.int64())])
    cum = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(by).combine_chunks()])
    del by
    count = pc.subtract(pc.take(cum, ends), pc.take(cum, starts))
    both = pc.and_(pc.greater(count, 0), pc.less(count, pc.subtract(ends, starts)))
    del cum, count, ends
    first = pc.take(order, starts)
    del order, starts
    back = pc.sort_indices(first)
    return pc.take(first, back), pc.take(both, back)


def _role_group(role: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Group of each role (null role -> null). Worked out on the distinct roles, then
    spread with one ``take`` (no full-length intermediate copies)."""
    uniq = pc.unique(role)
    group = pc.if_else(
        pc.is_null(uniq), None, pc.coalesce(_map(uniq, vocab.ROLE_GROUP), pa.scalar("staff"))
    )
    return pc.take(group, pc.index_in(role, value_set=uniq))


def user_roles(
    users: pa.Table,
    roles: pa.Table | None,
    orgs: pa.Table,
    orgs_mode: str,
    version: str,
    files: dict[str, str],
    findings: Findings,
    role_rows: pa.Array | pa.ChunkedArray | None = None,
) -> pa.Table:
    """Build the user-org-role rows (see module docstring). ``role_rows`` (1.2): the row in
    ``users`` of each role's user, if the caller has it."""
    if version != "1.2":
        org_lists = users["org_sourced_ids"].combine_chunks() if users.num_rows else None
        parents, org_ids = (
            (
                pc.list_parent_indices(org_lists).cast(pa.int64()),
                pc.list_flatten(org_lists),
            )
            if org_lists is not None
            else (pa.array([], pa.int64()), pa.array([], pa.string()))
        )
        first = (
            pc.list_element(org_lists, 0) if org_lists is not None else pa.array([], pa.string())
        )
        del org_lists
        n = len(parents)
        t = pa.table(
            {
                "user_sourced_id": users["sourced_id"].take(parents),
                "org_sourced_id": org_ids,
                "role": users["role"].take(parents),
                "role_type": pa.array(["primary"] * 0, pa.string())
                if not n
                else pc.fill_null(pa.nulls(n, pa.string()), "primary"),
                "is_primary_org": pc.equal(org_ids, pc.take(first, parents)),
                "begin_date": pa.nulls(n, pa.date32()),
                "end_date": pa.nulls(n, pa.date32()),
                "status": users["status"].take(parents),
                "role_sourced_id": pa.nulls(n, pa.string()),
                "line": users[LINE].take(parents),
            }
        )
        del parents, first  # the table holds what it needs
        t = _keep(t, pc.is_valid(t["org_sourced_id"]))
    else:
        r = roles if roles is not None else None
        if r is None or not r.num_rows:
            return USER_ROLES_SCHEMA.empty_table()
        at = role_rows
        if at is None or len(at) != r.num_rows:
            at = pc.index_in(r["user_sourced_id"], value_set=users["sourced_id"])
        primary_org = users["primary_org_sourced_id"].take(at)
        n = r.num_rows
        t = pa.table(
            {
                "user_sourced_id": r["user_sourced_id"],
                "org_sourced_id": r["org_sourced_id"],
                "role": r["role"],
                "role_type": r["role_type"],
                "is_primary_org": pc.fill_null(pc.equal(r["org_sourced_id"], primary_org), False),
                "begin_date": r["begin_date"],
                "end_date": r["end_date"],
                "status": r["status"],
                "role_sourced_id": r["sourced_id"],
                "line": r[LINE],
            }
        )
    pa.default_memory_pool().release_unused()  # see validate._release
    if orgs_mode == "bulk":  # dangling orgs were reported by the reference checks
        t = _keep(t, pc.is_in(t["org_sourced_id"], value_set=orgs["sourced_id"].combine_chunks()))
    # org type of each row (null when the org is not in this bundle)
    org_at = pc.index_in(t["org_sourced_id"], value_set=orgs["sourced_id"].combine_chunks())
    t = t.append_column("_org_type", pc.take(orgs["type"].combine_chunks(), org_at))
    admin = pc.fill_null(pc.equal(t["role"], "administrator"), False)
    role = t["role"]
    if pc.any(admin).as_py():
        by_type = pc.coalesce(
            _map(t["_org_type"], vocab.ADMINISTRATOR_BY_ORG_TYPE),
            pa.scalar(vocab.ADMINISTRATOR_DEFAULT),
        )
        role = pc.if_else(admin, by_type, role)
        del by_type
    t = t.set_column(t.schema.get_field_index("role"), "role", role)
    bad = None
    for r_name, allowed in vocab.ROLE_ORG_TYPES.items():
        m = pc.and_(
            pc.equal(role, r_name),
            pc.invert(pc.is_in(t["_org_type"], value_set=pa.array(sorted(allowed)))),
        )
        m = pc.and_(m, pc.is_valid(t["_org_type"]))
        bad = m if bad is None else pc.or_(bad, m)
    if bad is not None and t.num_rows:
        idx = pc.indices_nonzero(pc.fill_null(bad, False))
        sub = t.take(idx)
        desc = pc.binary_join_element_wise(
            sub["role"], sub["org_sourced_id"], sub["_org_type"], "|"
        )
        report_view = t.append_column("sourced_id", t["user_sourced_id"])
        report_at(
            findings,
            "OR-ROLE-ORG-TYPE",
            report_view,
            idx,
            desc,
            files.get("roles" if version == "1.2" else "users", ""),
            "role",
            lambda v: "role {!r} at org {!r}, which is of type {!r}.".format(*str(v).split("|")),
        )
    pa.default_memory_pool().release_unused()
    t = t.append_column("role_group", _role_group(role))
    return t.select(USER_ROLES_SCHEMA.names).cast(USER_ROLES_SCHEMA)


def guardian_links(
    users: pa.Table,
    person_roles: pa.Table,
    files: dict[str, str],
    findings: Findings,
    role_rows: pa.Array | pa.ChunkedArray | None = None,
    agent_rows: pa.Array | pa.ChunkedArray | None = None,
) -> pa.Table:
    """Student-guardian pairs from agentSourcedIds on either side, de-duplicated.

    ``person_roles`` has columns user_sourced_id and role (normalised) for every known role;
    ``role_rows``: the row in ``users`` of each of its user ids (null: not in users.csv), when
    the caller has it; ``agent_rows`` the same for the agents that are not empty, in order
    (the reference check's look-up: no second hash table of the users' ids).

    People are numbered by their row in users.csv (its sourcedIds are unique: the reader
    rejected repeats), so the sides of every agent and the pairs' de-duplication are integer
    work; the ids are looked up as strings twice (the agents and the roles' users, in users'
    sourcedIds), never once per question. Ids outside users.csv (an agent missing from it, a
    role of a user a delta users.csv lacks) are looked at as strings, among themselves.
    """
    if not users.num_rows:
        return GUARDIAN_LINKS_SCHEMA.empty_table()
    agents = users["agent_sourced_ids"]  # chunked: the parent indices are still global
    parents = pc.list_parent_indices(agents).cast(pa.int64())
    agent = pc.list_flatten(agents)
    keep = pc.is_valid(agent)
    parents, agent = parents.filter(keep), agent.filter(keep)
    del keep
    if not len(agent):
        return GUARDIAN_LINKS_SCHEMA.empty_table()
    sid = users["sourced_id"]
    people = person_roles["user_sourced_id"]
    if role_rows is None:
        role_rows = arange(len(sid)) if people.equals(sid) else pc.index_in(people, sid)
    group = _role_group(person_roles["role"])
    is_student, is_guardian = pc.equal(group, "student"), pc.equal(group, "guardian")
    # per user row: whether the user has a role (a student's, a guardian's)
    u_student, u_guardian, u_known = (
        marked(role_rows if m is None else role_rows.filter(m), users.num_rows)
        for m in (is_student, is_guardian, None)
    )
    agent_row = _agent_rows(agent, sid, agent_rows)
    b_student = pc.fill_null(u_student.take(agent_row), False)
    b_guardian = pc.fill_null(u_guardian.take(agent_row), False)
    is_known = pc.fill_null(u_known.take(agent_row), False)
    outside = pc.and_(pc.is_null(role_rows), pc.is_valid(people))
    if agent_row.null_count and pc.any(outside).as_py():  # people outside users.csv
        away = pc.is_null(agent_row)
        them = agent.filter(away)
        b_student, b_guardian, is_known = (
            pc.replace_with_mask(
                flags,
                away,
                pc.fill_null(
                    pc.is_in(them, value_set=people.filter(pc.and_(outside, m))), False
                ).combine_chunks(),
            )
            for flags, m in (
                (b_student, is_student),
                (b_guardian, is_guardian),
                (is_known, outside),
            )
        )
        del away, them
    del is_student, is_guardian, outside, group
    a_student = u_student.take(parents)
    a_guardian = u_guardian.take(parents)
    del u_student, u_guardian
    b_unknown = pc.invert(is_known)
    forward = pc.and_(a_student, pc.or_(b_guardian, b_unknown))
    backward = pc.and_(pc.and_(a_guardian, pc.invert(forward)), pc.or_(b_student, b_unknown))
    del a_student, a_guardian, b_student, b_guardian, is_known
    neither = pc.invert(pc.or_(pc.or_(forward, backward), b_unknown))
    del b_unknown
    neither = pc.and_(neither, pc.is_valid(agent_row))  # an agent who is a user
    if pc.any(neither).as_py():
        # 1.2: a user with no role in this bundle (roles.csv a delta) is no side yet; the
        # sync settles its links against what the source delivered before (sync/resolve.py)
        neither = pc.and_(neither, u_known.take(parents))
    del u_known
    idx = parents.filter(neither)
    report_at(
        findings,
        "OR-AGENT-NOT-GUARDIAN",
        users,
        idx,
        agent.filter(neither),
        files.get("users", ""),
        "agentSourcedIds",
        lambda v: (
            f"agent {v!r} is not a student-guardian pair with this user (e.g. a "
            "student whose agent is a teacher); the link was not used."
        ),
    )
    del idx, neither
    pa.default_memory_pool().release_unused()  # freed hash tables (see validate._release)
    used = pc.or_(forward, backward)
    if not pc.all(used).as_py():  # keep only the pairs, before materialising anything
        parents, agent, forward = parents.filter(used), agent.filter(used), forward.filter(used)
        agent_row = agent_row.filter(used)
    del used, backward
    if not len(agent):
        return GUARDIAN_LINKS_SCHEMA.empty_table()
    keys = _pair_keys(parents, agent, agent_row, forward, users.num_rows)
    runs = _first_of_pairs(keys, forward)
    del keys
    both = None
    if runs is not None:  # keep the first row of each pair before any id is copied
        first, both = runs
        del runs
        parents, agent_row, forward = (
            parents.take(first),
            agent_row.take(first),
            forward.take(first),
        )
        agent = agent.take(first)
        del first
    # the ids are taken from users.csv by row; only agents outside it from the agents
    forward, agent_row, parents = (
        x.combine_chunks() if isinstance(x, pa.ChunkedArray) else x
        for x in (forward, agent_row, parents)
    )
    away = pc.is_null(agent_row)
    outside = agent.filter(away) if agent_row.null_count else None
    if isinstance(outside, pa.ChunkedArray):
        outside = outside.combine_chunks()
    del agent
    whole = outside is not None  # replace_with_mask takes arrays only
    student = _ids(sid, pc.if_else(forward, parents, agent_row), whole)
    guardian = _ids(sid, pc.if_else(forward, agent_row, parents), whole)
    del parents, agent_row
    if outside is not None:  # the agent is the student where the user declared backwards
        fwd = forward.filter(away)
        student = pc.replace_with_mask(
            student, pc.and_(away, pc.invert(forward)), outside.filter(pc.invert(fwd))
        )
        guardian = pc.replace_with_mask(guardian, pc.and_(away, forward), outside.filter(fwd))
        del fwd, outside
    declared = pc.if_else(forward, pa.scalar("student"), pa.scalar("guardian"))
    if both is not None:
        declared = pc.if_else(both, pa.scalar("both"), declared)
    out = pa.table(
        {"student_sourced_id": student, "guardian_sourced_id": guardian, "declared_by": declared}
    )
    del student, guardian, declared, forward, both
    return out.combine_chunks().cast(GUARDIAN_LINKS_SCHEMA)


def _ids(sid: pa.ChunkedArray, rows: pa.Array, whole: bool) -> pa.Array | pa.ChunkedArray:
    """The sourcedIds of users.csv rows ``rows`` (null row: null); ``whole``: as one array
    (a copy when the take gives chunks, so only when asked)."""
    ids = sid.take(rows)
    return ids.combine_chunks() if whole and isinstance(ids, pa.ChunkedArray) else ids


def _agent_rows(
    agent: pa.Array | pa.ChunkedArray,
    sid: pa.ChunkedArray,
    known: pa.Array | pa.ChunkedArray | None,
) -> pa.Array:
    """The row in users.csv of each agent (null: none), from ``known`` (the rows of the
    non-empty agents) when it fits, else looked up."""
    if known is not None:
        known = known.combine_chunks() if isinstance(known, pa.ChunkedArray) else known
        filled = pc.not_equal(agent, "")
        filled = filled.combine_chunks() if isinstance(filled, pa.ChunkedArray) else filled
        if (pc.sum(filled.cast(pa.int64())).as_py() or 0) == len(known):
            if len(known) == len(agent):
                return known
            return pc.replace_with_mask(pa.nulls(len(agent), known.type), filled, known)
    rows = pc.index_in(agent, value_set=sid)
    return rows.combine_chunks() if isinstance(rows, pa.ChunkedArray) else rows


def _pair_keys(
    parents: pa.Array,
    agent: pa.Array | pa.ChunkedArray,
    agent_row: pa.Array | pa.ChunkedArray,
    forward: pa.Array | pa.ChunkedArray,
    n_users: int,
) -> pa.Array:
    """(student, guardian) of each pair as one int64, equal exactly when both ids are.

    A person is its row in users.csv; an agent outside users.csv is ``n_users`` + its number
    among the distinct such agents (never a row's number: its id is in no row)."""
    code = agent_row.cast(pa.int64())
    code = code.combine_chunks() if isinstance(code, pa.ChunkedArray) else code
    if code.null_count:
        away = pc.is_null(code)
        number = pc.dictionary_encode(agent.filter(away))
        if isinstance(number, pa.ChunkedArray):
            number = number.unify_dictionaries().combine_chunks()
        code = pc.replace_with_mask(code, away, pc.add(number.indices.cast(pa.int64()), n_users))
    span = pa.scalar(n_users + len(code), pa.int64())  # more than any code
    student = pc.if_else(forward, parents, code)
    guardian = pc.if_else(forward, code, parents)
    return pc.add(pc.multiply(student, span), guardian)
