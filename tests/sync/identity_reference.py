"""The identity resolution as it was written first, one Python record per person: the
reference that ``rollbook.sync.identity.resolve`` (on Arrow tables) must equal, decision for
decision (test_identity_tables.py). Not used by the sync."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from operator import attrgetter

import pyarrow as pa

from rollbook.directory.contacts import PersonKey
from rollbook.sync.identity import KnownAccount, Lookup


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


def people_of(table: pa.Table) -> list[Person]:
    """The records of a people table (``identity.people_from``'s) as Python records."""
    return [
        Person(
            r["sourced_id"],
            r["given_name"],
            r["family_name"],
            r["email"],
            r["phone"],
            bool(r["is_staff"]),
            PersonKey(r["given_key"], r["family_key"], r["email"], r["phone"]),
        )
        for r in table.to_pylist()
    ]


@dataclass
class Decisions:
    """What the reference decided, as plain lists."""

    person_account: list[tuple[str, int, int | None]]
    new_accounts: list[tuple]
    account_updates: list[tuple]
    conflicts: list[dict]
    withheld_people: set[str]
    counts: dict[str, int]


def resolve(
    changed: list[Person],
    state: dict[str, tuple[int, bool]],
    archived: set[str],
    lookup: Lookup,
    identity: Decisions | None = None,
    manual: set[int] = frozenset(),
) -> Decisions:
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
    identity = identity or Decisions([], [], [], [], set(), defaultdict(int))
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
    groups: list[Group], known: list[KnownAccount], claimed: set[int], identity: Decisions
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
