"""Rules of the 1.2.1 CSV binding about roles, profiles and school years (across files).

- one primary role per user and org (§3.18 roles.csv `roleType`);
- a user's primary org is an org where the user holds a role (§3.22 users.csv
  `primaryOrgSourcedId`: "a user can have one or more roles in one or more orgs and so
  identification of the primary org is now required");
- a role's user profile belongs to the role's own user (§3.18, §3.20);
- a course's school year is an academic session of type `schoolYear` (§3.7);
- a 1.2 bulk users.csv comes with roles.csv (§3.22 "an implicit dependency on the roles.csv
  file"; Appendix A).

Every check is a set operation over whole columns; Python only words the first findings.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from .checks import marked, report_at
from .findings import Findings

_SEP = "\x1f"  # joins two sourcedIds into one key (a GUID never holds it)
Tables = dict[str, pa.Table]
#: (entity, canonical column, spec header) -> the column as the file spells it
Header = Callable[[str, str, str], str]


def check_people_rules(
    tables: dict[str, pa.Table],
    modes: dict[str, str],
    files: dict[str, str],
    version: str,
    findings: Findings,
    spelled: dict[str, dict[str, str]] | None = None,
    role_rows: pa.Array | pa.ChunkedArray | None = None,
) -> None:
    """Report the rules above (see the module docstring). ``role_rows``: the row in users.csv
    of each roles.csv row's user (null: none), if the caller has it."""

    def header(entity: str, name: str, default: str) -> str:
        return (spelled or {}).get(entity, {}).get(name, default)

    _course_school_year(tables, files, findings, header)
    if version != "1.2":
        return
    _users_need_roles(modes, files, findings)
    roles = tables.get("roles")
    if roles is None or not roles.num_rows:
        return
    if role_rows is not None and len(role_rows) != roles.num_rows:
        role_rows = None
    _one_primary_per_org(roles, files, findings, header, role_rows)
    _primary_org_has_role(tables, modes, files, findings, header, role_rows)
    _profile_of_own_user(tables, files, findings, header)


def _key(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Two sourcedIds as one string: only for the few rows a finding words."""
    return pc.binary_join_element_wise(a, b, _SEP)


def _org_codes(*columns: pa.ChunkedArray) -> tuple[list[pa.Array], int]:
    """The org sourcedIds of ``columns`` as small integers, equal ids equal codes (null stays
    null), and how many distinct ids there are. A bundle has a few thousand orgs, so the
    vocabulary is tiny while the columns have millions of rows."""
    chunks = [chunk for column in columns for chunk in column.chunks]
    vocab = pc.unique(pa.chunked_array(chunks, columns[0].type))
    return [pc.index_in(column, value_set=vocab) for column in columns], max(len(vocab), 1)


def _pair_code(user: pa.Array | pa.ChunkedArray, org: pa.Array, orgs: int) -> pa.Array:
    """(user code, org code) as one int64: a pair compared and hashed as one integer, never
    as a joined string (at a million students the joined keys and their hash table cost
    ~0.4 GB; the integers ~0.1 GB)."""
    return pc.add(pc.multiply(pc.cast(user, pa.int64()), orgs), pc.cast(org, pa.int64()))


def _course_school_year(
    tables: Tables, files: dict[str, str], findings: Findings, header: Header
) -> None:
    courses, sessions = tables.get("courses"), tables.get("academic_sessions")
    if courses is None or sessions is None or not courses.num_rows or not sessions.num_rows:
        return
    year = courses["school_year_sourced_id"]
    if year.null_count == len(year):
        return
    at = pc.index_in(year, value_set=sessions["sourced_id"])
    kind = pc.take(sessions["type"], at)  # null where the session is not in this bundle
    idx = pc.indices_nonzero(pc.fill_null(pc.not_equal(kind, "schoolYear"), False))
    col = header("courses", "school_year_sourced_id", "schoolYearSourcedId")
    report_at(
        findings,
        "OR-COURSE-SCHOOLYEAR-TYPE",
        courses,
        idx,
        pc.binary_join_element_wise(year.take(idx), kind.take(idx), _SEP),
        files["courses"],
        col,
        lambda v: "{} {!r} is an academic session of type {!r}, not `schoolYear`.".format(
            col, *str(v).split(_SEP)
        ),
    )


def _users_need_roles(modes: dict[str, str], files: dict[str, str], findings: Findings) -> None:
    if modes.get("users") == "bulk" and modes.get("roles") == "absent":
        findings.add(
            "OR-BULK-INCOMPLETE",
            f"{files['users']} (bulk) needs roles.csv in OneRoster 1.2 (a user's schools and "
            "roles are in roles.csv), but the bundle has none; the users have no role.",
            file=files["users"],
        )


def _one_primary_per_org(
    roles: pa.Table,
    files: dict[str, str],
    findings: Findings,
    header: Header,
    role_rows: pa.Array | pa.ChunkedArray | None = None,
) -> None:
    live = pc.fill_null(pc.not_equal(roles["status"], "tobedeleted"), True)
    primary = pc.and_(pc.fill_null(pc.equal(roles["role_type"], "primary"), False), live)
    if pc.sum(primary.cast(pa.int64())).as_py() in (None, 0, 1):
        return
    rows = pc.indices_nonzero(primary)
    # (user, org) of each primary role as integer codes: users numbered by their row in
    # users.csv when every one has a row, else by their distinct ids; orgs by their own
    # small vocabulary.
    user = role_rows.take(rows) if role_rows is not None else None
    if user is None or user.null_count:
        users = roles["user_sourced_id"].take(rows)
        user = pc.index_in(users, value_set=pc.unique(users))
        del users
    (org,), orgs = _org_codes(roles["org_sourced_id"].take(rows))
    keys = _pair_code(user, org, orgs)
    del user, org
    order = pc.sort_indices(keys)  # stable: the first row of each key stays first
    ordered = keys.take(order)
    n = len(ordered)
    again = pc.fill_null(pc.equal(ordered.slice(1), ordered.slice(0, n - 1)), False)
    if not pc.any(again).as_py():
        return
    later = pc.take(pc.take(rows, order), pc.add(pc.indices_nonzero(again), 1))
    idx = pc.sort_indices(later)
    idx = pc.take(later, idx)
    col = header("roles", "role_type", "roleType")
    report_at(
        findings,
        "OR-ROLE-PRIMARY-TWICE",
        roles,
        idx,
        _key(roles["user_sourced_id"], roles["org_sourced_id"]).take(idx),
        files["roles"],
        col,
        lambda v: (
            "user {!r} already has a primary role at org {!r} (only one role per "
            "org can be primary).".format(*str(v).split(_SEP))
        ),
    )


def _primary_org_has_role(
    tables: Tables,
    modes: dict[str, str],
    files: dict[str, str],
    findings: Findings,
    header: Header,
    role_rows: pa.Array | pa.ChunkedArray | None = None,
) -> None:
    users, roles = tables["users"], tables["roles"]
    if modes.get("roles") != "bulk" or not users.num_rows:
        return  # a delta roles.csv is not every role the user holds
    primary = users["primary_org_sourced_id"]
    if primary.null_count == len(primary):
        return
    # Users numbered by their row (sourcedIds are unique: the reader rejected repeats), orgs
    # by their vocabulary; a role of a user not in users.csv has no number and matches none.
    user = role_rows
    if user is None:
        user = pc.index_in(roles["user_sourced_id"], value_set=users["sourced_id"])
    (role_org, wanted_org), _ = _org_codes(roles["org_sourced_id"], primary)
    has_role = marked(user, users.num_rows)
    # A role at its user's primary org: the role's org is the one its user's row names. Read
    # role by role through the user's row, not as a hash table of (user, org) pairs (~0.15 GB
    # at a million students, where `rollbook validate` peaked).
    at_primary = pc.fill_null(pc.equal(role_org, pc.take(wanted_org, user)), False)
    del role_org, wanted_org
    has_primary_role = marked(user.filter(at_primary), users.num_rows)
    del user, at_primary
    lacking = pc.and_(pc.and_(has_role, pc.is_valid(primary)), pc.invert(has_primary_role))
    del has_role, has_primary_role
    idx = pc.indices_nonzero(pc.fill_null(lacking, False))
    col = header("users", "primary_org_sourced_id", "primaryOrgSourcedId")
    report_at(
        findings,
        "OR-USER-PRIMARY-ORG",
        users,
        idx,
        primary.take(idx),
        files["users"],
        col,
        lambda v: f"{col} {v!r} is an org where the user has no row in roles.csv.",
    )


def _profile_of_own_user(
    tables: Tables, files: dict[str, str], findings: Findings, header: Header
) -> None:
    roles, profiles = tables["roles"], tables.get("user_profiles")
    if profiles is None or not profiles.num_rows:
        return
    wanted = roles["user_profile_sourced_id"]
    if wanted.null_count == len(wanted):
        return
    owner = pc.take(
        profiles["user_sourced_id"], pc.index_in(wanted, value_set=profiles["sourced_id"])
    )
    other = pc.fill_null(pc.not_equal(owner, roles["user_sourced_id"]), False)
    idx = pc.indices_nonzero(other)
    col = header("roles", "user_profile_sourced_id", "userProfileSourcedId")
    report_at(
        findings,
        "OR-ROLE-PROFILE-USER",
        roles,
        idx,
        pc.binary_join_element_wise(wanted.take(idx), owner.take(idx), _SEP),
        files["roles"],
        col,
        lambda v: (
            "{} {!r} is a profile of user {!r}, not of this role's user; the link "
            "was not used.".format(col, *str(v).split(_SEP))
        ),
    )
