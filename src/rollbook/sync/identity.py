"""Who is who: SIS person records (staff and guardians) resolved into accounts.

The founding rules, exactly:

1. Person records whose name, email and phone are the same (formatting aside, see
   ``directory/contacts.py``) are **one account** with several roles. Any difference: separate
   accounts. A record with neither email nor phone is never merged with another record: a
   shared name is no evidence of a shared person.
2. **Continuity.** An account keeps its records while they stay together: when every record of
   an account changes the same way, the account is updated in place. An existing account
   (manual or synced) is reused only when its name, email and phone equal the record's.
3. **Identifier conflicts.** An email or phone held by an active account that is not this
   person is withheld from this person, and the conflict is recorded. When several people of
   one run want the same identifier, it goes to an existing account first, then staff before
   guardians, then the lowest sourcedId; the others are created without it. A person with a
   withheld identifier is resolved again at every sync, so it is attached as soon as it is free.

Only records that changed are resolved; the rest keep their accounts. The result is data
(Arrow tables) that the apply stage writes; this module reads the directory only through the
``lookup`` function it is given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.directory.contacts import PersonKey
from rollbook.directory.contacts_bulk import (
    clean_names,
    name_keys,
    normalize_emails,
    normalize_phones,
)


@dataclass(frozen=True)
class KnownAccount:
    """An active account as the directory has it now. ``foreign``: it holds an active role in
    another district — it may be matched exactly, never re-described, and is not named in a
    conflict (decision 0008)."""

    id: int
    given_name: str
    family_name: str
    email: str | None
    phone: str | None
    foreign: bool = False

    @property
    def key(self) -> PersonKey:
        return PersonKey.of(self.given_name, self.family_name, self.email, self.phone)


#: lookup(emails, phones) → active accounts holding any of them.
Lookup = Callable[[set[str], set[str]], Iterable[KnownAccount]]


@dataclass(slots=True)
class Person:
    sourced_id: str
    given_name: str
    family_name: str
    email: str | None
    phone: str | None
    is_staff: bool
    key: PersonKey = None  # type: ignore[assignment]  # computed when not given

    def __post_init__(self) -> None:
        if self.key is None:
            self.key = PersonKey.of(self.given_name, self.family_name, self.email, self.phone)

    @property
    def group_key(self) -> object:
        if self.email is None and self.phone is None:
            return ("alone", self.sourced_id)
        return self.key


@dataclass(slots=True)
class Group:
    people: list[Person]
    target: int | None = None  # existing account id, or a negative reference to a new one
    how: str = ""  # kept | updated | matched | created
    email: str | None = None
    phone: str | None = None

    @property
    def first(self) -> Person:
        return self.people[0]

    @property
    def group_key_value(self) -> object:
        return self.first.group_key


@dataclass
class Identity:
    person_account: list[tuple[str, int, int | None]] = field(default_factory=list)
    new_accounts: list[tuple[int, str, str, str | None, str | None]] = field(default_factory=list)
    account_updates: list[tuple[int, str, str, str | None, str | None]] = field(
        default_factory=list
    )
    conflicts: list[dict] = field(default_factory=list)
    withheld_people: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def tables(self) -> dict[str, pa.Table]:
        return {
            "person_account": pa.table(
                {
                    "sourced_id": pa.array([r[0] for r in self.person_account], pa.string()),
                    "account": pa.array([r[1] for r in self.person_account], pa.int64()),
                    "previous_account": pa.array([r[2] for r in self.person_account], pa.int64()),
                }
            ),
            "new_accounts": _account_table(self.new_accounts, "ref"),
            "account_updates": _account_table(self.account_updates, "account"),
            "conflicts": pa.Table.from_pylist(self.conflicts, schema=CONFLICT_SCHEMA),
            "withheld": pa.table(
                {"sourced_id": pa.array(sorted(self.withheld_people), pa.string())}
            ),
        }


CONFLICT_SCHEMA = pa.schema(
    [
        ("code", pa.string()),
        ("field", pa.string()),
        ("value", pa.string()),
        ("person_sourced_id", pa.string()),
        ("holder_account", pa.int64()),
        ("holder_sourced_id", pa.string()),
        ("message", pa.string()),
    ]
)


def _account_table(rows, id_name: str) -> pa.Table:
    return pa.table(
        {
            id_name: pa.array([r[0] for r in rows], pa.int64()),
            "given_name": pa.array([r[1] for r in rows], pa.string()),
            "family_name": pa.array([r[2] for r in rows], pa.string()),
            "email": pa.array([r[3] for r in rows], pa.string()),
            "phone": pa.array([r[4] for r in rows], pa.string()),
        }
    )


def _shared_strings(values: pa.Array | pa.ChunkedArray) -> list:
    """The values as Python strings, one object per distinct value: names repeat (a few
    thousand distinct among 1.6M people), and one string each would cost ~0.3 GB more."""
    distinct = pc.unique(values)
    objects = distinct.to_pylist()
    return [objects[i] for i in pc.index_in(values, value_set=distinct).to_pylist()]


@dataclass
class Normalised:
    """Person records normalised already — the self-check's table of the SIS's people
    (readiness/people.py ``sis_table``), made by the same functions from the same values — so
    that the plan takes them instead of normalising 1.6M people a second time. ``table``: a
    ``sourced_id`` column and :data:`NORMALISED`."""

    region: str
    table: pa.Table

    def rows(self, table: pa.Table, region: str) -> pa.Table | None:
        """``table``'s records normalised, in its order; None when one of them is not here
        (or the region differs): they are then normalised as usual."""
        if region != self.region or not table.num_rows:
            return None
        mine = self.table["sourced_id"]
        if len(mine) == table.num_rows and pc.all(pc.equal(mine, table["sourced_id"])).as_py():
            return self.table  # the same records in the same order (a first sync's)
        at = pc.index_in(table["sourced_id"], value_set=self.table["sourced_id"].combine_chunks())
        return None if at.null_count else self.table.take(at)


#: What a normalised person table holds beside ``sourced_id``.
NORMALISED = (
    "given_name",
    "family_name",
    "given_key",
    "family_key",
    "email",
    "phone",
    "email_bad",
    "phone_bad",
)


def normalised(table: pa.Table, region: str) -> dict[str, pa.Array | pa.ChunkedArray]:
    """:data:`NORMALISED` of each person record: names cleaned and keyed, emails and phones
    normalised (None where unusable, marked ``*_bad``)."""
    emails, bad_emails = normalize_emails(table["email"])
    phones, bad_phones = normalize_phones(table["phone"], region)
    return {
        "given_name": clean_names(table["given_name"]),
        "family_name": clean_names(table["family_name"]),
        "given_key": name_keys(table["given_name"]),
        "family_key": name_keys(table["family_name"]),
        "email": emails,
        "phone": phones,
        "email_bad": bad_emails,
        "phone_bad": bad_phones,
    }


def people_from(
    table: pa.Table, region: str, identity: Identity, done: Normalised | None = None
) -> list[Person]:
    """Normalise changed person records; unusable emails and phones are recorded, not used.
    ``done``: records normalised already, taken where they hold every one of ``table``'s."""
    taken = done.rows(table, region) if done is not None else None
    norm = normalised(table, region) if taken is None else {n: taken[n] for n in NORMALISED}
    emails, bad_emails = norm["email"], norm["email_bad"]
    phones, bad_phones = norm["phone"], norm["phone_bad"]
    for bad, name in ((bad_emails, "email"), (bad_phones, "phone")):
        rejected = table.filter(bad)
        for sid, raw in zip(
            rejected["sourced_id"].to_pylist(), rejected[name].to_pylist(), strict=True
        ):
            identity.conflicts.append(
                {
                    "code": f"SYNC-{name.upper()}-UNUSABLE",
                    "field": name,
                    "value": raw,
                    "person_sourced_id": sid,
                    "holder_account": None,
                    "holder_sourced_id": None,
                    "message": f"the {name} '{raw}' of {sid} is not a valid {name}; the account "
                    "was made without it. Correct it in the SIS.",
                }
            )
    columns = zip(
        table["sourced_id"].to_pylist(),
        _shared_strings(norm["given_name"]),
        _shared_strings(norm["family_name"]),
        emails.to_pylist(),
        phones.to_pylist(),
        table["is_staff"].to_pylist(),
        _shared_strings(norm["given_key"]),
        _shared_strings(norm["family_key"]),
        strict=True,
    )
    return [
        Person(
            sid,
            given,
            family,
            email,
            phone,
            bool(staff),
            PersonKey(given_key, family_key, email, phone),
        )
        for sid, given, family, email, phone, staff, given_key, family_key in columns
    ]


def resolve(
    changed: list[Person],
    state: dict[str, tuple[int, bool]],
    archived: set[str],
    lookup: Lookup,
    identity: Identity | None = None,
    manual: set[int] = frozenset(),
) -> Identity:
    """Decide the account of every changed person record.

    Args:
        changed: person records created, updated or reactivated by this run (normalised).
        state: person sourcedId → (account id, active) for every record the source delivered
            before.
        archived: person sourcedIds this run archives.
        lookup: active accounts holding given emails or phones.
        identity: where to add results (conflicts from normalisation may already be there).
        manual: accounts entered by hand; the sync may give them roles (continuity) but
            never re-describes them.
    """
    identity = identity or Identity()
    changed_ids = {p.sourced_id for p in changed} if state else set()
    # Records that stay on each account whatever this run does: active, unchanged, not archived.
    staying: dict[int, set[str]] = defaultdict(set)
    for sid, (account, active) in state.items():
        if active and sid not in changed_ids and sid not in archived:
            staying[account].add(sid)

    groups: dict[object, Group] = {}
    for person in sorted(changed, key=attrgetter("sourced_id")):
        key = person.group_key
        group = groups.get(key)
        if group is None:
            groups[key] = Group([person])
        else:
            group.people.append(person)
    # People were taken in sourcedId order: the groups are in the order of their first one.
    ordered = list(groups.values())

    claimed: set[int] = set()
    # 1. An existing account that is exactly this person (one person, one account). The
    # people of a group share email and phone (both are part of the key).
    wanted_emails = {p.email for p in changed if p.email}
    wanted_phones = {p.phone for p in changed if p.phone}
    known = list(lookup(wanted_emails, wanted_phones)) if (wanted_emails or wanted_phones) else []
    del wanted_emails, wanted_phones  # millions on a first sync
    by_key = {a.key: a for a in known}
    for group in ordered if by_key else ():  # no existing account holds any of them
        if group.target is None and isinstance(group.group_key_value, PersonKey):
            match = by_key.get(group.group_key_value)
            if match is not None and match.id not in claimed:
                before = {state[p.sourced_id][0] for p in group.people if p.sourced_id in state}
                group.target = match.id
                group.how = "same" if before == {match.id} else "matched"
                claimed.add(match.id)

    # 2. Continuity: an account whose records all moved together follows them.
    for group in ordered if state else ():  # nothing to continue on a source's first sync
        if group.target is not None:
            continue
        previous = sorted({state[p.sourced_id][0] for p in group.people if p.sourced_id in state})
        for account in previous:
            if account not in claimed and account not in manual and not staying.get(account):
                group.target, group.how = account, "kept"
                claimed.add(account)
                break

    # 3. Everyone else gets a new account.
    next_ref = -1
    for group in ordered:
        if group.target is None:
            group.target, group.how = next_ref, "created"
            next_ref -= 1

    _assign_identifiers(ordered, known, claimed, identity)

    for group in ordered:
        person = group.first
        if group.how == "created":
            identity.new_accounts.append(
                (group.target, person.given_name, person.family_name, group.email, group.phone)
            )
        elif group.how == "kept":
            identity.account_updates.append(
                (group.target, person.given_name, person.family_name, group.email, group.phone)
            )
        identity.counts[f"accounts_{group.how}"] += 1
        for p in group.people:
            previous = state.get(p.sourced_id, (None, False))[0]
            identity.person_account.append((p.sourced_id, group.target, previous))
            if previous is not None and previous != group.target:
                identity.counts["people_moved"] += 1
    identity.counts["identifiers_withheld"] = sum(
        1 for c in identity.conflicts if c["code"].endswith("-TAKEN")
    )
    return identity


def _rank(group: Group) -> int:
    """Who wins a contested identifier: an existing account, then staff, then the lowest
    sourcedId. Only the first two, as one small integer: groups are sorted stably and are
    already in the order of their first person's sourcedId (their people are in id order)."""
    existing = group.target is not None and group.target > 0
    people = group.people
    staff = people[0].is_staff if len(people) == 1 else any(p.is_staff for p in people)
    return 2 * (not existing) + (not staff)


def _assign_identifiers(
    groups: list[Group], known: list[KnownAccount], claimed: set[int], identity: Identity
) -> None:
    """Give each group its email and phone unless someone else holds or wins them."""
    # Accounts this run does not re-describe keep what they hold.
    holders: dict[tuple[str, str], tuple[int, str | None]] = {}
    reused = {g.target for g in groups if g.how in ("matched", "same")}
    outside = {a.id for a in known if a.foreign}
    names = {a.id: f"{a.given_name} {a.family_name}".strip() for a in known}
    for account in known:
        if account.id in claimed and account.id not in reused:
            continue  # re-described in place: it competes like the others
        for name in ("email", "phone"):
            value = getattr(account, name)
            if value:
                holders[(name, value)] = (account.id, None)
    for group in sorted(groups, key=_rank):  # stable: ties stay in sourcedId order
        person = group.first
        for name in ("email", "phone"):
            value = getattr(person, name)
            if not value:
                continue
            holder = holders.get((name, value))
            if holder is None or holder[0] == group.target:
                holders[(name, value)] = (group.target, person.sourced_id)
                setattr(group, name, value)
                continue
            if holder[0] in outside:  # a person of another district: neither named nor linked
                holder_account, holder_name = None, "a person of another district"
            elif holder[0] > 0:
                holder_account = holder[0]
                holder_name = f"another person, {names.get(holder[0]) or 'an existing account'}"
            else:
                holder_account, holder_name = None, f"another person ({holder[1]})"
            for p in group.people:
                identity.withheld_people.add(p.sourced_id)
                identity.conflicts.append(
                    {
                        "code": f"SYNC-{name.upper()}-TAKEN",
                        "field": name,
                        "value": value,
                        "person_sourced_id": p.sourced_id,
                        "holder_account": holder_account,
                        "holder_sourced_id": holder[1],
                        "message": f"the {name} {value} of {p.sourced_id} ({p.given_name} "
                        f"{p.family_name}) belongs to {holder_name}"
                        f"; the account was made without it. If they are the same "
                        f"person, make name, email and phone agree in the SIS.",
                    }
                )
