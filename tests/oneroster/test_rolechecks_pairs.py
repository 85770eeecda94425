"""The user-and-org rules of roles.csv compare (user, org) pairs as integer codes: they must
find exactly the rows a plain reading of the rule finds, whatever the ids (unknown users,
orgs outside orgs.csv, repeated roles, tobedeleted rows)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from rollbook.oneroster.findings import Findings
from rollbook.oneroster.rolechecks import check_people_rules

USERS = [f"u{i}" for i in range(6)]
ORGS = ["sch-a", "sch-b", "dist", "elsewhere"]

role_rows = st.lists(
    st.tuples(
        st.sampled_from(USERS + ["ghost"]),  # a user not in users.csv
        st.sampled_from(ORGS),
        st.sampled_from(["primary", "secondary", None]),
        st.sampled_from([None, "tobedeleted"]),
    ),
    max_size=25,
)
primaries = st.lists(st.sampled_from(ORGS + [None]), min_size=6, max_size=6)


def _tables(roles: list[tuple], primary: list[str | None]) -> dict[str, pa.Table]:
    n = len(roles)
    return {
        "users": pa.table(
            {
                "sourced_id": USERS,
                "primary_org_sourced_id": pa.array(primary, pa.string()),
                "line": pa.array(range(2, 2 + len(USERS)), pa.int32()),
            }
        ),
        "roles": pa.table(
            {
                "sourced_id": [f"r{i}" for i in range(n)],
                "user_sourced_id": pa.array([r[0] for r in roles], pa.string()),
                "org_sourced_id": pa.array([r[1] for r in roles], pa.string()),
                "role_type": pa.array([r[2] for r in roles], pa.string()),
                "status": pa.array([r[3] for r in roles], pa.string()),
                "user_profile_sourced_id": pa.nulls(n, pa.string()),
                "line": pa.array(range(2, 2 + n), pa.int32()),
            }
        ),
    }


def _findings(roles, primary, by_row: bool = False) -> Findings:
    """``by_row``: the reader's way, users numbered by their row in users.csv (null: none)."""
    found = Findings()
    modes = {"users": "bulk", "roles": "bulk"}
    files = {"users": "users.csv", "roles": "roles.csv", "courses": "courses.csv"}
    tables = _tables(roles, primary)
    rows = None
    if by_row:
        users = tables["users"]["sourced_id"]
        rows = pc.index_in(tables["roles"]["user_sourced_id"], value_set=users)
    check_people_rules(tables, modes, files, "1.2", found, role_rows=rows)
    return found


@settings(max_examples=300, deadline=None)
@given(role_rows, primaries, st.booleans())
def test_the_pair_rules_find_what_a_plain_reading_finds(roles, primary, by_row):
    found = _findings(roles, primary, by_row)
    # One primary role per user and org: every live primary role after the first of its pair.
    seen: set[tuple[str, str]] = set()
    twice = []
    for i, (user, org, kind, status) in enumerate(roles):
        if kind == "primary" and status != "tobedeleted":
            if (user, org) in seen:
                twice.append(i + 2)
            seen.add((user, org))
    # A user's primary org is an org where the user holds a role (users with no role at all
    # are another rule's finding).
    held = {(r[0], r[1]) for r in roles}
    has_role = {r[0] for r in roles}
    lacking = [
        i + 2
        for i, (user, org) in enumerate(zip(USERS, primary, strict=True))
        if user in has_role and org is not None and (user, org) not in held
    ]
    assert found.counts().get("OR-ROLE-PRIMARY-TWICE", 0) == len(twice)
    assert found.counts().get("OR-USER-PRIMARY-ORG", 0) == len(lacking)
    lines = {
        code: sorted(f.line for f in found.all() if f.code == code)
        for code in ("OR-ROLE-PRIMARY-TWICE", "OR-USER-PRIMARY-ORG")
    }
    assert lines["OR-ROLE-PRIMARY-TWICE"] == twice[: len(lines["OR-ROLE-PRIMARY-TWICE"])]
    assert lines["OR-USER-PRIMARY-ORG"] == lacking[: len(lines["OR-USER-PRIMARY-ORG"])]
