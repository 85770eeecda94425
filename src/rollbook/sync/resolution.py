"""Identity resolution on Arrow tables: the founding rules of ``identity.py``, decided for a
million people without a Python record per person.

Records are taken in sourcedId order and grouped by their key (name, email and phone; a
record with neither email nor phone is a group of its own). Only the groups that have a
candidate account — an existing account with exactly their key, or accounts their records
were on before — are looked at one by one; every other group gets a new account. Contested
emails and phones are then given out field by field: to an existing account that holds it,
else to the first group in the order "existing account, then staff, then lowest sourcedId".

``tests/sync/identity_reference.py`` keeps the first, record-by-record version of these
rules; ``tests/sync/test_resolution.py`` holds the two equal, decision for decision.
"""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.oneroster.checks import arange, marked, scattered

from .identity import Identity, KnownAccount, Lookup

_FIELDS = ("email", "phone")
_KEY = ("given_key", "family_key", "email", "phone")


def _encoded(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Codes 1, 2, … for the column's distinct values (0 for none), and the values."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column)
    return pc.fill_null(pc.add(encoded.indices.cast(pa.int64()), 1), 0), encoded.dictionary


def _paired(a: pa.Array, b: pa.Array, b_size: int) -> pa.Array:
    """One integer per (a, b), for codes ``b`` of 0 … ``b_size``."""
    return pc.add(pc.multiply(a, b_size + 1), b)


class _Groups:
    """The groups of one resolution, as columns; Python only for the few looked at.

    A group is the records with equal keys (names, email and phone): every key column is
    coded by its distinct values, the codes paired into one integer, and the groups numbered
    in the order of their first record (the records are in sourcedId order). A record with
    neither email nor phone is a group of its own."""

    def __init__(self, people: pa.Table):
        self.people = people
        n = people.num_rows
        self.codes, self.values = {}, {}
        for name in _KEY:
            self.codes[name], self.values[name] = _encoded(people[name])
        names, self.names = _encoded(self._names(self.codes))
        contact, self.contacts = _encoded(self._contact(self.codes))
        key = _paired(contact, names, len(self.names))
        alone = pc.and_(pc.equal(self.codes["email"], 0), pc.equal(self.codes["phone"], 0))
        beyond = (len(self.contacts) + 1) * (len(self.names) + 1)
        key = pc.if_else(alone, pc.add(arange(n), beyond), key)
        self.of, self.keys = _encoded(key)
        self.of = pc.subtract(self.of, 1)  # groups 0, 1, … in the order of their first record
        seen = pc.cumulative_max(self.of)
        first = (
            pc.indices_nonzero(
                pc.greater(
                    self.of, pa.concat_arrays([pa.array([-1], pa.int64()), seen.slice(0, n - 1)])
                )
            )
            if n
            else pa.array([], pa.uint64())
        )
        self.count = len(self.keys)
        if len(first) != self.count:  # not numbered by first appearance: never seen, but sure
            raise AssertionError("dictionary codes out of order of appearance")
        head = people.take(first)
        self.first_id = head["sourced_id"].combine_chunks()
        self.given_name = head["given_name"].combine_chunks()
        self.family_name = head["family_name"].combine_chunks()
        self.wanted = {name: self.codes[name].take(first) for name in _FIELDS}
        self.staff = marked(self.of.filter(pc.fill_null(people["is_staff"], False)), self.count)

    def _names(self, codes: dict[str, pa.Array]) -> pa.Array:
        return _paired(codes["given_key"], codes["family_key"], len(self.values["family_key"]))

    def _contact(self, codes: dict[str, pa.Array]) -> pa.Array:
        return _paired(codes["email"], codes["phone"], len(self.values["phone"]))

    def value(self, name: str, codes: pa.Array) -> pa.Array:
        """The emails or phones of these codes (null for 0)."""
        return self.values[name].take(pc.subtract(pc.if_else(pc.equal(codes, 0), None, codes), 1))

    def code_of(self, name: str, values: list) -> pa.Array:
        """The codes of these values (0 for none; null for a value no record has)."""
        at = pc.index_in(pa.array(values, pa.string()), value_set=self.values[name])
        codes = pc.add(at.cast(pa.int64()), 1)
        return pc.if_else(pa.array([v is None for v in values], pa.bool_()), 0, codes)

    def group_of(self, keys: list[tuple]) -> list[int | None]:
        """The group of each key (given_key, family_key, email, phone), None where none has it."""
        if not keys:
            return []
        codes = {name: self.code_of(name, [k[i] for k in keys]) for i, name in enumerate(_KEY)}
        names = pc.add(pc.index_in(self._names(codes), value_set=self.names).cast(pa.int64()), 1)
        contact = pc.index_in(self._contact(codes), value_set=self.contacts).cast(pa.int64())
        key = _paired(pc.add(contact, 1), names, len(self.names))
        return pc.index_in(key, value_set=self.keys).to_pylist()

    def members(self, groups: list[int]) -> dict[int, list[dict]]:
        """The records of these groups (sourcedId order), by group."""
        if not groups:
            return {}
        hit = pc.is_in(self.of, value_set=pa.array(sorted(set(groups)), pa.int64()))
        rows = self.people.filter(hit).select(["sourced_id", "given_name", "family_name"])
        found: dict[int, list[dict]] = defaultdict(list)
        for g, row in zip(self.of.filter(hit).to_pylist(), rows.to_pylist(), strict=True):
            found[g].append(row)
        return found


def resolve(
    changed: pa.Table,
    state: dict[str, tuple[int, bool]],
    archived: set[str],
    lookup: Lookup,
    identity: Identity | None = None,
    manual: set[int] = frozenset(),
) -> Identity:
    """Decide the account of every changed person record.

    Args:
        changed: person records created, updated or reactivated by this run, normalised
            (``identity.people_from``'s table).
        state: person sourcedId → (account id, active) for every record the source delivered
            before that resolving them looks at.
        archived: person sourcedIds this run archives.
        lookup: active accounts holding given emails or phones.
        identity: where to add results (conflicts from normalisation may already be there).
        manual: accounts entered by hand; the sync may give them roles (continuity) but
            never re-describes them.
    """
    identity = identity or Identity()
    people = by_sourced_id(changed)
    groups = _Groups(people)
    emails, phones = (groups.values[name].drop_null() for name in _FIELDS)
    known = list(lookup(emails, phones)) if (len(emails) or len(phones)) else []

    targets: dict[int, tuple[int, str]] = {}  # group → (account, how) for the few looked at
    claimed: set[int] = set()
    _exact_matches(groups, known, state, targets, claimed)
    if state:  # nothing to continue on a source's first sync
        _continuity(groups, state, archived, manual, targets, claimed)
    target = _targets(groups.count, targets)

    granted = _assign_identifiers(groups, target, targets, known, claimed, identity)
    _record(identity, groups, target, targets, granted, state)
    identity.counts["identifiers_withheld"] = sum(
        1 for c in identity.conflicts if c["code"].endswith("-TAKEN")
    )
    return identity


def by_sourced_id(people: pa.Table) -> pa.Table:
    """``people`` in sourcedId order: the table itself when it is in that order already (a
    sort copies every column: 1.65M people at L), else a sorted copy. A caller that sorts
    before :func:`resolve` and lets the unsorted table go holds one copy, not two."""
    ids = people["sourced_id"]
    n = len(ids)
    if n < 2 or pc.all(pc.less_equal(ids.slice(0, n - 1), ids.slice(1))).as_py():
        return people
    return people.sort_by("sourced_id")


def _exact_matches(groups, known, state, targets, claimed) -> None:
    """1. An existing account that is exactly this person (one person, one account)."""
    if not known:
        return
    keys = [(a.key.given_name, a.key.family_name, a.key.email, a.key.phone) for a in known]
    by_group: dict[int, KnownAccount] = {}
    for g, account in zip(groups.group_of(keys), known, strict=True):
        if g is not None:
            by_group[g] = account  # the last of equal keys, as a dict built in order keeps
    hits = sorted(by_group)
    members = groups.members(hits) if state else {}
    for g in hits:
        match = by_group[g]
        if match.id in claimed:
            continue
        before = {state[r["sourced_id"]][0] for r in members.get(g, ()) if r["sourced_id"] in state}
        targets[g] = (match.id, "same" if before == {match.id} else "matched")
        claimed.add(match.id)


def _continuity(groups, state, archived, manual, targets, claimed) -> None:
    """2. An account whose records all moved together follows them."""
    staying: dict[int, set[str]] = defaultdict(set)
    changed = set(groups.people["sourced_id"].to_pylist())
    for sid, (account, active) in state.items():
        if active and sid not in changed and sid not in archived:
            staying[account].add(sid)
    known_before = pc.is_in(
        groups.people["sourced_id"], value_set=pa.array(list(state), pa.string())
    )
    candidates = pc.unique(groups.of.filter(known_before)).to_pylist()
    members = groups.members(candidates)
    for g in sorted(candidates):
        if g in targets:
            continue
        previous = sorted(
            {state[r["sourced_id"]][0] for r in members[g] if r["sourced_id"] in state}
        )
        for account in previous:
            if account not in claimed and account not in manual and not staying.get(account):
                targets[g] = (account, "kept")
                claimed.add(account)
                break


def _targets(count: int, targets: dict[int, tuple[int, str]]) -> pa.Array:
    """3. Every group's account: the one decided, else a new one (-1, -2, … in group order)."""
    is_decided = marked(pa.array(sorted(targets), pa.int64()), count)
    new = pc.invert(is_decided)
    refs = pc.negate(pc.cumulative_sum(pc.cast(new, pa.int64())))
    chosen = pa.array([targets[g][0] for g in sorted(targets)], pa.int64())
    return pc.replace_with_mask(refs, is_decided, chosen)


def _assign_identifiers(groups, target, targets, known, claimed, identity) -> dict[str, pa.Array]:
    """Give each group its email and phone unless someone else holds or wins them; returns
    field → what each group is given (null where nothing or withheld)."""
    reused = {account for account, how in targets.values() if how in ("matched", "same")}
    outside = {a.id for a in known if a.foreign}
    names = {a.id: f"{a.given_name} {a.family_name}".strip() for a in known}
    holders: dict[str, dict[str, int]] = {name: {} for name in _FIELDS}
    for account in known:  # accounts this run does not re-describe keep what they hold
        if account.id in claimed and account.id not in reused:
            continue  # re-described in place: it competes like the others
        for name in _FIELDS:
            value = getattr(account, name)
            if value:
                holders[name][value] = account.id
    # Who goes first: an existing account, then staff, then the lowest sourcedId (the groups
    # are numbered in sourcedId order of their first record).
    rank = pc.add(
        pc.multiply(pc.cast(pc.less_equal(target, 0), pa.int64()), 2),
        pc.cast(pc.invert(groups.staff), pa.int64()),
    )
    everyone = arange(groups.count)
    order = pc.sort_indices(
        pa.table({"rank": rank, "group": everyone}),
        [("rank", "ascending"), ("group", "ascending")],
    )
    place = scattered(everyone, order, groups.count, 0)  # place[order[i]] = i
    granted, withheld = {}, []
    for index, name in enumerate(_FIELDS):
        given, lost = _give(groups, name, target, place, holders[name])
        granted[name] = given
        # Each field's tables (~0.2 GB at a million students) are freed: their pages handed
        # back before the next field's, or the allocator keeps them beside the next ones.
        pa.default_memory_pool().release_unused()
        withheld += [(row["place"], index, name, row) for row in lost]
    withheld.sort(key=lambda item: (item[0], item[1]))
    members = groups.members([row["group"] for *_, row in withheld])
    for _, _, name, row in withheld:
        holder = row["holder"]
        if holder in outside:  # a person of another district: neither named nor linked
            holder_account, holder_name = None, "a person of another district"
        elif holder > 0:
            holder_account = holder
            holder_name = f"another person, {names.get(holder) or 'an existing account'}"
        else:
            holder_account, holder_name = None, f"another person ({row['holder_sourced_id']})"
        value = row["value"]
        for p in members[row["group"]]:
            sid = p["sourced_id"]
            identity.withheld_people.add(sid)
            identity.conflicts.append(
                {
                    "code": f"SYNC-{name.upper()}-TAKEN",
                    "field": name,
                    "value": value,
                    "person_sourced_id": sid,
                    "holder_account": holder_account,
                    "holder_sourced_id": row["holder_sourced_id"],
                    "message": f"the {name} {value} of {sid} ({p['given_name']} "
                    f"{p['family_name']}) belongs to {holder_name}"
                    f"; the account was made without it. If they are the same "
                    f"person, make name, email and phone agree in the SIS.",
                }
            )
    return granted


def _give(groups, name, target, place, holders: dict[str, int]):
    """One field given out: what each group gets (null where nothing), and the groups it is
    withheld from. Values are the field's codes until the end."""
    wanted = groups.wanted[name]
    wants = pc.indices_nonzero(pc.not_equal(wanted, 0))
    table = pa.table(
        {
            "group": wants.cast(pa.int64()),
            "value": wanted.take(wants),
            "target": target.take(wants),
            "place": place.take(wants),
        }
    ).sort_by([("place", "ascending")])
    values = table["value"].combine_chunks()
    holder = pa.nulls(len(values), pa.int64())
    if holders:
        held_codes = groups.code_of(name, list(holders))
        accounts = pa.array(list(holders.values()), pa.int64())
        present = pc.is_valid(held_codes)
        holder = pc.take(
            accounts.filter(present), pc.index_in(values, value_set=held_codes.filter(present))
        )
    # A value nobody holds goes to the first group that wants it.
    firsts = table.select(["value", "place"]).group_by("value").aggregate([("place", "min")])
    first_place = pc.take(firsts["place_min"], pc.index_in(values, value_set=firsts["value"]))
    gets = pc.if_else(
        pc.is_valid(holder),
        pc.equal(table["target"], holder),
        pc.equal(table["place"], first_place),
    )
    winners = table.filter(gets)
    given = groups.value(
        name,
        scattered(
            winners["value"].combine_chunks(), winners["group"].combine_chunks(), groups.count, 0
        ),
    )
    lost = table.filter(pc.invert(gets))
    if not lost.num_rows:
        return given, []
    # Who holds it when it is withheld: the holding account (and the record of this run that
    # took it on that account, if it came first), else the group that won it.
    win_at = pc.index_in(lost["value"], value_set=winners["value"])
    win_place = pc.take(winners["place"], win_at)
    win_group = pc.take(winners["group"], win_at)
    win_sid = pc.take(groups.first_id, win_group)
    win_target = pc.take(target, win_group)
    lost_holder = holder.filter(pc.invert(gets))
    lost_values = groups.value(name, lost["value"].combine_chunks())
    rows = []
    for row, value, held_by, w_place, w_sid, w_target in zip(
        lost.select(["group", "place"]).to_pylist(),
        lost_values.to_pylist(),
        lost_holder.to_pylist(),
        win_place.to_pylist(),
        win_sid.to_pylist(),
        win_target.to_pylist(),
        strict=True,
    ):
        row["value"] = value
        if held_by is not None:
            came_first = w_place is not None and w_place < row["place"]
            row |= {"holder": held_by, "holder_sourced_id": w_sid if came_first else None}
        else:
            row |= {"holder": w_target, "holder_sourced_id": w_sid}
        rows.append(row)
    return given, rows


def _record(identity, groups, target, targets, granted, state) -> None:
    """5. The accounts to create and update, and every record's account."""
    created = pc.less(target, 0)
    new = pa.table(
        {
            "ref": target,
            "given_name": groups.given_name,
            "family_name": groups.family_name,
            "email": granted["email"],
            "phone": granted["phone"],
        }
    ).filter(created)
    identity.new_accounts = new
    email, phone = granted["email"], granted["phone"]
    for g in sorted(targets):
        account, how = targets[g]
        identity.counts[f"accounts_{how}"] += 1
        if how == "kept":
            identity.account_updates.append(
                (
                    account,
                    groups.given_name[g].as_py(),
                    groups.family_name[g].as_py(),
                    email[g].as_py(),
                    phone[g].as_py(),
                )
            )
    if new.num_rows:
        identity.counts["accounts_created"] += new.num_rows
    order = pc.sort_indices(groups.of)  # stable: by group, then sourcedId
    sids = groups.people["sourced_id"].take(order)
    account = pc.take(target, groups.of.take(order))
    previous = pa.nulls(len(order), pa.int64())
    if state:
        before = pa.array(list(state), pa.string())
        accounts = pa.array([a for a, _ in state.values()], pa.int64())
        previous = pc.take(accounts, pc.index_in(sids, value_set=before))
        moved = pc.and_(pc.is_valid(previous), pc.not_equal(previous, account))
        if people_moved := pc.sum(pc.fill_null(moved, False)).as_py():
            identity.counts["people_moved"] += people_moved
    identity.person_account = pa.table(
        {"sourced_id": sids, "account": account, "previous_account": previous}
    )
