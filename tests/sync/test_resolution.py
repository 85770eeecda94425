"""Identity resolution on Arrow tables (``sync/resolution.py``) decides exactly what the first,
record-by-record version of the founding rules decides (``identity_reference.py``): the same
account for every record, the same accounts created and updated, the same emails and phones
withheld with the same holders and messages, in the same order — on random directories where
names, emails and phones collide far more often than in any district."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollbook.directory.contacts import name_key
from rollbook.sync import identity, resolution

from . import identity_reference as reference

GIVEN = ["Ana", "ana", "Raj", "Kim", "José", "Jose\u0301", "Lee"]
FAMILY = ["Lopez", "Patel", "Lee"]
EMAILS = [None, "a@x.org", "b@x.org", "c@x.org", "d@x.org"]
PHONES = [None, "+12025550101", "+12025550102", "+12025550103"]


@st.composite
def scenarios(draw):
    n = draw(st.integers(0, 14))
    sids = sorted(draw(st.sets(st.integers(0, 60), min_size=n, max_size=n)), reverse=True)
    people = [
        {
            "sourced_id": f"p-{sid:03d}",
            "given_name": draw(st.sampled_from(GIVEN)),
            "family_name": draw(st.sampled_from(FAMILY)),
            "email": draw(st.sampled_from(EMAILS)),
            "phone": draw(st.sampled_from(PHONES)),
            "is_staff": draw(st.booleans()),
        }
        for sid in draw(st.permutations(sids))
    ]
    for p in people:
        p["given_key"], p["family_key"] = name_key(p["given_name"]), name_key(p["family_name"])
    table = pa.Table.from_pylist(people, schema=identity.PEOPLE_SCHEMA)
    # Records delivered before: some of the changed ones, and others that stay (or not).
    accounts = st.integers(1, 8)
    state = {}
    for p in people:
        if draw(st.booleans()):
            state[p["sourced_id"]] = (draw(accounts), draw(st.booleans()))
    for i in range(draw(st.integers(0, 4))):
        state[f"s-{i}"] = (draw(accounts), draw(st.booleans()))
    archived = {sid for sid in state if sid.startswith("s-") and draw(st.booleans())}
    known = []
    for account in sorted(draw(st.sets(st.integers(1, 8), max_size=5))):
        # Half of them exactly a record of this run (or another account), to be matched.
        like = draw(st.sampled_from([None, *people, *[vars(a) for a in known]]))
        if like is not None and (like["email"] or like["phone"]):
            values = [like[f] for f in ("given_name", "family_name", "email", "phone")]
        else:
            values = [draw(st.sampled_from(pool)) for pool in (GIVEN, FAMILY, EMAILS, PHONES)]
        known.append(identity.KnownAccount(account, *values, draw(st.booleans())))
    manual = draw(st.sets(st.integers(1, 8), max_size=3))
    return table, state, archived, known, manual


def lookup_of(known):
    def lookup(emails, phones):  # the reference gives sets, resolution Arrow arrays
        if isinstance(emails, pa.Array):
            emails, phones = set(emails.to_pylist()), set(phones.to_pylist())
        return [a for a in known if a.email in emails or a.phone in phones]

    return lookup


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_tables_decide_what_the_records_decide(scenario):
    table, state, archived, known, manual = scenario
    expected = reference.resolve(
        reference.people_of(table), state, archived, lookup_of(known), manual=manual
    )
    got = resolution.resolve(table, state, archived, lookup_of(known), manual=manual)
    tables = got.tables()
    assert [tuple(r.values()) for r in tables["person_account"].to_pylist()] == (
        expected.person_account
    )
    assert [tuple(r.values()) for r in tables["new_accounts"].to_pylist()] == (
        expected.new_accounts
    )
    assert got.account_updates == expected.account_updates
    assert got.conflicts == expected.conflicts
    assert got.withheld_people == expected.withheld_people
    assert dict(got.counts) == dict(expected.counts)


def test_no_people_no_decisions():
    got = resolution.resolve(identity.PEOPLE_SCHEMA.empty_table(), {}, set(), lookup_of([]))
    assert got.tables()["person_account"].num_rows == 0
    assert dict(got.counts) == {"identifiers_withheld": 0}


def test_people_in_sourced_id_order_are_not_copied_to_be_sorted():
    """Resolution takes people in sourcedId order; a table already in it is taken as it is
    (a sort copies every column: 1.65M people at L), any other is sorted."""
    ids = ["p-2", "p-10", "p-1", "p-3"]  # bytewise: p-1 < p-10 < p-2 < p-3
    table = pa.table({"sourced_id": ids, "n": list(range(len(ids)))})
    ordered = resolution.by_sourced_id(table)
    assert ordered["sourced_id"].to_pylist() == ["p-1", "p-10", "p-2", "p-3"]
    assert ordered["n"].to_pylist() == [2, 1, 0, 3]
    assert resolution.by_sourced_id(ordered) is ordered
    one = table.slice(0, 1)
    assert resolution.by_sourced_id(one) is one
    two_chunks = pa.concat_tables([ordered.slice(0, 2), ordered.slice(2)])
    assert resolution.by_sourced_id(two_chunks) is two_chunks
