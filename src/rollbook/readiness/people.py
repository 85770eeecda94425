"""The SIS's people as the self-check sees them: normalised exactly as the sync normalises
them, with their roles counted, and compared with the directory's existing guardians.

Nothing here touches the database; ``services.py`` brings the directory's rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.directory.contacts import PersonKey
from rollbook.oneroster.checks import scattered
from rollbook.sync.identity import normalised
from rollbook.sync.read import keep_rows


@dataclass(slots=True)
class SisPerson:
    """One SIS person record (a staff member or a guardian), normalised."""

    sourced_id: str
    given_name: str
    family_name: str
    email: str | None
    phone: str | None
    raw_email: str
    raw_phone: str
    email_bad: bool
    phone_bad: bool
    is_staff: bool
    children: int  # guardian links to students of this bundle
    staff_roles: int
    key: PersonKey

    @property
    def is_guardian(self) -> bool:
        return self.children > 0

    @property
    def roles(self) -> str:
        parts = []
        if self.staff_roles or self.is_staff:
            parts.append(f"staff ({self.staff_roles} role{'s' * (self.staff_roles != 1)})")
        if self.children:
            parts.append(f"guardian of {self.children} student{'s' * (self.children != 1)}")
        return ", ".join(parts) or "no role"

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def row(self) -> dict:
        return {
            "sourced_id": self.sourced_id,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email or self.raw_email,
            "phone": self.phone or self.raw_phone,
            "roles": self.roles,
        }


@dataclass
class SisPeople:
    people: list[SisPerson]
    by_id: dict[str, SisPerson] = field(default_factory=dict)
    by_email: dict[str, list[SisPerson]] = field(default_factory=lambda: defaultdict(list))
    by_phone: dict[str, list[SisPerson]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        for p in self.people:
            self.by_id[p.sourced_id] = p
            if p.email:
                self.by_email[p.email].append(p)
            if p.phone:
                self.by_phone[p.phone].append(p)


def _counted(people: pa.ChunkedArray | pa.Array, named: pa.ChunkedArray) -> pa.Array:
    """For each of ``people`` (sourcedIds), how many values of ``named`` name it."""
    counted = pc.value_counts(pc.index_in(named, value_set=people).drop_null())
    return scattered(counted.field("counts"), counted.field("values"), len(people), 0)


def sis_table(persons: pa.Table, links: pa.Table, staff_roles: pa.Table, region: str) -> pa.Table:
    """Every person record the bundle delivers (not marked tobedeleted), normalised exactly as
    the sync normalises it, with its guardian links and staff roles counted: one Arrow table,
    so that a million people cost columns, not Python objects. In the bundle's order (the plan
    takes its rows as they are); :func:`people_of` orders what it lists."""
    # keep_rows: no copy of a table none of whose rows is marked tobedeleted (the usual case)
    persons = keep_rows(persons, pc.invert(persons["deleted"]))
    links = keep_rows(links, pc.invert(links["deleted"]))
    staff_roles = keep_rows(staff_roles, pc.invert(staff_roles["deleted"]))
    norm = normalised(persons, region)  # the sync's own (sync/identity.py)
    ids = persons["sourced_id"].combine_chunks()
    return pa.table(
        {
            "sourced_id": ids,
            "given_name": norm["given_name"],
            "family_name": norm["family_name"],
            "given_key": norm["given_key"],
            "family_key": norm["family_key"],
            "email": norm["email"],
            "phone": norm["phone"],
            "raw_email": pc.utf8_trim_whitespace(pc.fill_null(persons["email"], "")),
            "raw_phone": pc.utf8_trim_whitespace(pc.fill_null(persons["phone"], "")),
            "email_bad": norm["email_bad"],
            "phone_bad": norm["phone_bad"],
            "is_staff": persons["is_staff"],
            "children": _counted(ids, links["person_sourced_id"]),
            "staff_roles": _counted(ids, staff_roles["person_sourced_id"]),
        }
    )


#: SisPerson's fields but its key, as the SIS table names them.
_PERSON = (
    "sourced_id",
    "given_name",
    "family_name",
    "email",
    "phone",
    "raw_email",
    "raw_phone",
    "email_bad",
    "phone_bad",
    "is_staff",
    "children",
    "staff_roles",
)
_FLAGS = ("email_bad", "phone_bad", "is_staff")


def people_of(table: pa.Table) -> SisPeople:
    """Python records for a part of the SIS table, in sourcedId order (column by column: no
    dict per row)."""
    table = table.sort_by("sourced_id")
    columns = [
        (pc.fill_null(table[name], False) if name in _FLAGS else table[name]).to_pylist()
        for name in _PERSON
    ]
    given, family = table["given_key"].to_pylist(), table["family_key"].to_pylist()
    keys = zip(given, family, columns[3], columns[4], strict=True)
    rows = zip(*columns, strict=True)
    people = [SisPerson(*row, PersonKey(*key)) for row, key in zip(rows, keys, strict=True)]
    return SisPeople(people)


def _repeated(values: pa.ChunkedArray) -> pa.Array:
    counted = pc.value_counts(values.combine_chunks().drop_null())
    return counted.field("values").filter(pc.greater(counted.field("counts"), 1))


def sharing(table: pa.Table) -> pa.Table:
    """The records that share their email or their phone with another record."""
    mask = pc.or_(
        pc.is_in(table["email"], _repeated(table["email"])),
        pc.is_in(table["phone"], _repeated(table["phone"])),
    )
    return table.filter(pc.fill_null(mask, False))


def holding(table: pa.Table, emails: set[str], phones: set[str]) -> pa.Table:
    """The records whose email or phone is one of these."""
    mask = pc.or_(
        pc.is_in(table["email"], pa.array(sorted(emails), pa.string())),
        pc.is_in(table["phone"], pa.array(sorted(phones), pa.string())),
    )
    return table.filter(pc.fill_null(mask, False))


def with_ids(table: pa.Table, ids: set[str]) -> pa.Table:
    return table.filter(pc.is_in(table["sourced_id"], pa.array(sorted(ids), pa.string())))


# --- people with several roles --------------------------------------------------------------


def role_groups(people: SisPeople) -> list[list[SisPerson]]:
    """SIS records that share an email or a phone, as connected groups of two or more (a
    couple sharing a family email is such a group, as is a teacher who is also a parent)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for index in (people.by_email, people.by_phone):
        for members in index.values():
            if len(members) < 2:
                continue
            for p in members:
                parent.setdefault(p.sourced_id, p.sourced_id)
            root = find(members[0].sourced_id)
            for other in members[1:]:
                r = find(other.sourced_id)
                if r != root:
                    parent[r] = root
    groups: dict[str, list[SisPerson]] = defaultdict(list)
    for sid in parent:
        groups[find(sid)].append(people.by_id[sid])
    result = []
    for members in groups.values():
        unique = {p.sourced_id: p for p in members}
        if len(unique) > 1:
            result.append(sorted(unique.values(), key=lambda p: p.sourced_id))
    return sorted(result, key=lambda g: g[0].sourced_id)


def differing_fields(a: SisPerson, b: SisPerson) -> list[str]:
    out = []
    if (a.key.given_name, a.key.family_name) != (b.key.given_name, b.key.family_name):
        out.append("name")
    if a.email != b.email:
        out.append("email")
    if a.phone != b.phone:
        out.append("phone")
    return out


# --- existing guardians ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExistingGuardian:
    id: int
    given_name: str
    family_name: str
    email: str | None
    phone: str | None
    students: int

    @property
    def key(self) -> PersonKey:
        return PersonKey.of(self.given_name, self.family_name, self.email, self.phone)


@dataclass
class GuardianComparison:
    reused: list[tuple[ExistingGuardian, SisPerson]]
    near: list[dict]  # one row per account, field by field
    unmatched: list[ExistingGuardian]


def _closeness(account: ExistingGuardian, person: SisPerson) -> tuple:
    same = 3 - len(_differs(account, person))
    return (-same, not person.is_guardian, person.sourced_id)


def _differs(account: ExistingGuardian, person: SisPerson) -> list[str]:
    key = account.key
    out = []
    if (key.given_name, key.family_name) != (person.key.given_name, person.key.family_name):
        out.append("name")
    if account.email != person.email:
        out.append("email")
    if account.phone != person.phone:
        out.append("phone")
    return out


def compare_guardians(
    existing: list[ExistingGuardian],
    people: SisPeople,
    reused_accounts: set[int] | None = None,
    holders: dict[tuple[str, str], int] | None = None,
    outside: set[int] = frozenset(),
) -> GuardianComparison:
    """Will the sync reuse each existing guardian account? Near matches field by field.

    ``reused_accounts``: the accounts the sync's plan gives SIS records to (when known; else
    an exact match of name, email and phone decides, which is the sync's rule).
    ``holders``: (field, value) → active account holding it, to say whether the fix can be
    made without taking another person's email or phone.
    ``outside``: accounts holding a role in another district, which no fix may change
    (decision 0008).
    """
    holders = holders or {}
    by_key: dict[PersonKey, SisPerson] = {}
    for p in people.people:
        if p.email or p.phone:
            by_key.setdefault(p.key, p)
    reused, near, unmatched = [], [], []
    wanted: dict[PersonKey, int] = {}  # SIS key → the first account offered to take it
    for account in sorted(existing, key=lambda a: a.id):
        exact = by_key.get(account.key) if (account.email or account.phone) else None
        if exact is not None and (reused_accounts is None or account.id in reused_accounts):
            reused.append((account, exact))
            continue
        candidates = {
            p.sourced_id: p
            for p in (
                *(people.by_email.get(account.email, []) if account.email else []),
                *(people.by_phone.get(account.phone, []) if account.phone else []),
            )
        }
        if not candidates:
            unmatched.append(account)
            continue
        best = min(candidates.values(), key=lambda p: _closeness(account, p))
        differs = _differs(account, best)
        blocked = _blocker(account, best, holders, wanted, outside)
        wanted.setdefault(best.key, account.id)
        near.append(
            {
                "account_id": account.id,
                "sis_sourced_id": best.sourced_id,
                "differs": ", ".join(differs) or "none",
                "given_name_current": account.given_name,
                "given_name_sis": best.given_name,
                "family_name_current": account.family_name,
                "family_name_sis": best.family_name,
                "email_current": account.email or "",
                "email_sis": best.email or best.raw_email,
                "phone_current": account.phone or "",
                "phone_sis": best.phone or best.raw_phone,
                "sis_roles": best.roles,
                "other_candidates": len(candidates) - 1,
                "students_linked": account.students,
                "fixable": not blocked,
                "not_fixable_because": blocked,
            }
        )
    return GuardianComparison(reused, near, unmatched)


def _blocker(
    account: ExistingGuardian,
    person: SisPerson,
    holders: dict[tuple[str, str], int],
    wanted: dict[PersonKey, int],
    outside: set[int] = frozenset(),
) -> str:
    """Why the account cannot simply take the SIS values ("" when it can).

    A fix is offered only for the same person: the same name (normalised) and no identifier
    that another account holds. Sharing one email or phone is no evidence that two people are
    one — a family shares a landline, a couple shares an email."""
    if account.id in outside:
        return (
            "this account also belongs to another district; Rollbook does not change it for "
            "this district. Make name, email and phone agree in the SIS, and the sync will "
            "reuse it"
        )
    key = account.key
    if (key.given_name, key.family_name) != (person.key.given_name, person.key.family_name):
        return (
            f"the SIS person is named {person.given_name} {person.family_name}, not "
            f"{account.given_name} {account.family_name}: they may be different people who "
            "share an email or phone. If it is the same person, correct the name in the SIS; "
            "otherwise the sync gives the SIS person an account of their own"
        )
    if person.email is None and person.phone is None:
        return (
            "the SIS record has no usable email or phone; the sync never reuses an account for it"
        )
    for name in ("email", "phone"):
        if getattr(person, f"{name}_bad"):
            raw = getattr(person, f"raw_{name}")
            return f"the SIS {name} '{raw}' is not valid; correct the SIS first"
    for name in ("email", "phone"):
        value = getattr(person, name)
        holder = holders.get((name, value)) if value else None
        if holder is not None and holder != account.id:
            if holder in outside:
                return f"the SIS {name} {value} belongs to a person of another district"
            return f"the SIS {name} {value} belongs to account {holder}"
    if person.key in wanted:
        return f"account {wanted[person.key]} resembles the same SIS person and is offered first"
    return ""
