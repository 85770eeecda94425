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

Only records that changed are resolved; the rest keep their accounts. This module holds the
rules' data (normalised people, known accounts, the decisions); ``resolution.py`` decides, on
Arrow tables, reading the directory only through the ``lookup`` function it is given. The
result is data (Arrow tables) that the apply stage writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
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


#: lookup(emails, phones) → active accounts holding any of them (the values: distinct
#: strings, as Arrow arrays).
Lookup = Callable[[pa.Array, pa.Array], Iterable[KnownAccount]]


@dataclass
class Identity:
    """What resolution decided (``resolution.resolve``): every record's account, the accounts
    to create (``ref`` negative) and to update, and the emails and phones withheld."""

    person_account: pa.Table | None = None  # sourced_id, account, previous_account
    new_accounts: pa.Table | None = None  # ref, given_name, family_name, email, phone
    account_updates: list[tuple[int, str, str, str | None, str | None]] = field(
        default_factory=list
    )
    conflicts: list[dict] = field(default_factory=list)
    withheld_people: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def tables(self) -> dict[str, pa.Table]:
        return {
            "person_account": self.person_account
            if self.person_account is not None
            else PERSON_ACCOUNT_SCHEMA.empty_table(),
            "new_accounts": self.new_accounts
            if self.new_accounts is not None
            else _account_table([], "ref"),
            "account_updates": _account_table(self.account_updates, "account"),
            "conflicts": pa.Table.from_pylist(self.conflicts, schema=CONFLICT_SCHEMA),
            "withheld": pa.table(
                {"sourced_id": pa.array(sorted(self.withheld_people), pa.string())}
            ),
        }


PERSON_ACCOUNT_SCHEMA = pa.schema(
    [("sourced_id", pa.string()), ("account", pa.int64()), ("previous_account", pa.int64())]
)


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
) -> pa.Table:
    """Normalise changed person records (a table of ``PEOPLE_SCHEMA``); unusable emails and
    phones are recorded, not used.
    ``done``: records normalised already, taken where they hold every one of ``table``'s."""
    taken = done.rows(table, region) if done is not None else None
    norm = normalised(table, region) if taken is None else {n: taken[n] for n in NORMALISED}
    for bad, name in ((norm["email_bad"], "email"), (norm["phone_bad"], "phone")):
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
    return pa.table(
        {
            "sourced_id": table["sourced_id"],
            **{name: norm[name] for name in ("given_name", "family_name", "email", "phone")},
            "is_staff": pc.fill_null(table["is_staff"], False),
            "given_key": norm["given_key"],
            "family_key": norm["family_key"],
        }
    ).cast(PEOPLE_SCHEMA)


#: The columns of a people table (``people_from``'s), which resolution takes.
PEOPLE_SCHEMA = pa.schema(
    [
        ("sourced_id", pa.string()),
        ("given_name", pa.string()),
        ("family_name", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("is_staff", pa.bool_()),
        ("given_key", pa.string()),
        ("family_key", pa.string()),
    ]
)
