"""The guardian links number people by their row in users.csv and compare integers: they must
be exactly the links, and the findings, of a plain reading of the rule, whatever the ids
(agents and roles of people outside users.csv, pairs declared twice or from both sides, roles
of several groups, a user listed as its own agent)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from rollbook.oneroster import vocab
from rollbook.oneroster.findings import Findings
from rollbook.oneroster.people import guardian_links

PEOPLE = [f"p{i}" for i in range(7)]
GHOSTS = ["ghost1", "ghost2"]  # in no users.csv row ("" neither: an empty list item)
ROLES = ["student", "parent", "guardian", "relative", "teacher", "aide", None]

users_rows = st.lists(
    st.tuples(
        st.sampled_from(ROLES),
        st.one_of(st.none(), st.lists(st.sampled_from(PEOPLE + GHOSTS + [""]), max_size=4)),
    ),
    min_size=1,
    max_size=len(PEOPLE),
)
role_rows = st.lists(st.tuples(st.sampled_from(PEOPLE + GHOSTS), st.sampled_from(ROLES)))


def group(role):
    return None if role is None else vocab.ROLE_GROUP.get(role, "staff")


def plain(users, roles):
    """The rule read row by row (docs/oneroster-reader.md, "Derived tables")."""
    sids = [f"p{i}" for i in range(len(users))]
    students = {u for u, r in roles if group(r) == "student"}
    guardians = {u for u, r in roles if group(r) == "guardian"}
    known = {u for u, _ in roles}
    pairs, not_guardian = {}, []
    for row, (sid, (_, agents)) in enumerate(zip(sids, users, strict=True)):
        for agent in agents or []:
            unknown = agent not in known
            forward = sid in students and (agent in guardians or unknown)
            backward = not forward and sid in guardians and (agent in students or unknown)
            if forward or backward:
                key = (sid, agent) if forward else (agent, sid)
                pairs.setdefault(key, set()).add(forward)
            elif not unknown and agent in sids and sid in known:
                not_guardian.append((row + 2, sid, agent))
    links = [
        {
            "student_sourced_id": s,
            "guardian_sourced_id": g,
            "declared_by": "both" if len(by) == 2 else ("student" if True in by else "guardian"),
        }
        for (s, g), by in pairs.items()
    ]
    return links, not_guardian


def read(users, roles, with_rows):
    sids = [f"p{i}" for i in range(len(users))]
    table = pa.table(
        {
            "sourced_id": sids,
            "agent_sourced_ids": pa.array([a for _, a in users], pa.list_(pa.string())),
            "line": pa.array(range(2, len(users) + 2), pa.int32()),
        }
    )
    person_roles = pa.table(
        {
            "user_sourced_id": pa.array([u for u, _ in roles], pa.string()),
            "role": pa.array([r for _, r in roles], pa.string()),
        }
    )
    rows = pc.index_in(person_roles["user_sourced_id"], value_set=table["sourced_id"])
    # as the reference check leaves them: the rows of the agents that are not empty
    agents = pc.list_flatten(table["agent_sourced_ids"])
    agents = agents.filter(pc.fill_null(pc.not_equal(agents, ""), False))
    agent_rows = pc.index_in(agents, value_set=table["sourced_id"])
    findings = Findings()
    out = guardian_links(
        table,
        person_roles,
        {"users": "users.csv"},
        findings,
        rows if with_rows else None,
        agent_rows if with_rows else None,
    )
    found = [
        (f.line, f.sourced_id, f.message.split("agent ")[1].split(" is not")[0].strip("'"))
        for f in findings.all()
    ]
    assert findings.counts().get("OR-AGENT-NOT-GUARDIAN", 0) == len(found)
    return out.to_pylist(), found


@settings(max_examples=400, deadline=None)
@given(users_rows, role_rows, st.booleans())
def test_links_and_findings_are_those_of_the_plain_rule_1_2(users, roles, with_rows):
    assert read(users, roles, with_rows) == plain(users, roles)


@settings(max_examples=200, deadline=None)
@given(users_rows)
def test_links_and_findings_are_those_of_the_plain_rule_1_1(users):
    """1.1: the people's roles are the users' own."""
    roles = [(f"p{i}", role) for i, (role, _) in enumerate(users)]
    assert read(users, roles, False) == plain(users, roles)


def test_a_pair_declared_from_both_sides_is_one_link_in_first_declaration_order():
    users = [
        ("parent", ["p1"]),
        ("student", ["p0", "p2", "ghost1"]),
        ("parent", ["p1", "p3"]),
        ("student", None),
    ]
    roles = [(f"p{i}", r) for i, (r, _) in enumerate(users)]
    links, found = read(users, roles, True)
    assert [
        (x["student_sourced_id"], x["guardian_sourced_id"], x["declared_by"]) for x in links
    ] == [
        ("p1", "p0", "both"),
        ("p1", "p2", "both"),
        ("p1", "ghost1", "student"),
        ("p3", "p2", "guardian"),
    ]
    assert found == []
