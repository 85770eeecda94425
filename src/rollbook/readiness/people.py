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
from rollbook.directory.contacts_bulk import (
    clean_names,
    name_keys,
    normalize_emails,
    normalize_phones,
)


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


def _counts(values: pa.ChunkedArray) -> dict[str, int]:
    if len(values) == 0:
        return {}
    counted = pc.value_counts(values.combine_chunks())
    return dict(
        zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)
    )


def sis_people(persons: pa.Table, links: pa.Table, staff_roles: pa.Table, region: str) -> SisPeople:
    """Every person record the bundle delivers (not marked tobedeleted), normalised."""
    persons = persons.filter(pc.invert(persons["deleted"]))
    links = links.filter(pc.invert(links["deleted"]))
    staff_roles = staff_roles.filter(pc.invert(staff_roles["deleted"]))
    children = _counts(links["person_sourced_id"])
    jobs = _counts(staff_roles["person_sourced_id"])
    emails, bad_emails = normalize_emails(persons["email"])
    phones, bad_phones = normalize_phones(persons["phone"], region)
    columns = zip(
        persons["sourced_id"].to_pylist(),
        clean_names(persons["given_name"]).to_pylist(),
        clean_names(persons["family_name"]).to_pylist(),
        emails.to_pylist(),
        phones.to_pylist(),
        pc.fill_null(persons["email"], "").to_pylist(),
        pc.fill_null(persons["phone"], "").to_pylist(),
        bad_emails.to_pylist(),
        bad_phones.to_pylist(),
        persons["is_staff"].to_pylist(),
        name_keys(persons["given_name"]).to_pylist(),
        name_keys(persons["family_name"]).to_pylist(),
        strict=True,
    )
    people = [
        SisPerson(
            sid,
            given,
            family,
            email,
            phone,
            raw_email.strip(),
            raw_phone.strip(),
            bool(email_bad),
            bool(phone_bad),
            bool(staff),
            children.get(sid, 0),
            jobs.get(sid, 0),
            PersonKey(gk, fk, email, phone),
        )
        for (
            sid,
            given,
            family,
            email,
            phone,
            raw_email,
            raw_phone,
            email_bad,
            phone_bad,
            staff,
            gk,
            fk,
        ) in columns
    ]
    return SisPeople(people)


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
) -> GuardianComparison:
    """Will the sync reuse each existing guardian account? Near matches field by field.

    ``reused_accounts``: the accounts the sync's plan gives SIS records to (when known; else
    an exact match of name, email and phone decides, which is the sync's rule).
    ``holders``: (field, value) → active account holding it, to say whether the fix can be
    made without taking another person's email or phone.
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
        blocked = _blocker(account, best, holders, wanted)
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
) -> str:
    """Why the account cannot simply take the SIS values ("" when it can)."""
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
            return f"the SIS {name} {value} belongs to account {holder}"
    if person.key in wanted:
        return f"account {wanted[person.key]} resembles the same SIS person and is offered first"
    return ""
