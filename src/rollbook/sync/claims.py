"""Identifiers claimed at apply time: what the plan decided, checked again under a lock.

A plan gives an email or phone to a person when no active account held it *when the plan was
made*. Runs of other sources (another district's, on another worker) may commit accounts with
the same email or phone meanwhile. So, before writing accounts, the apply takes a lock that
serialises the writing of accounts across runs (PostgreSQL: a transaction-level advisory lock;
SQLite: the apply's transaction already holds the database's only write lock) and checks every
identifier it is about to give again: one that another account holds now is withheld, with the
same conflict a plan records (``SYNC-EMAIL-TAKEN`` / ``SYNC-PHONE-TAKEN``), and the person is
checked again at the next sync — exactly what the plan would have said had it been made now.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection

from rollbook.directory.models import Account

from . import bulk
from .identity import CONFLICT_SCHEMA

if TYPE_CHECKING:
    from .apply import Writer

ACCOUNTS_LOCK = 0x526F6C6C  # "Roll": the advisory lock of account writing
MANY = 20_000
#: Every active account is read when the values wanted are more than one per this many.
ACCOUNTS_PER_VALUE = 7
IDENTIFIERS = ("email", "phone")


def lock_accounts() -> None:
    """Serialise the writing of accounts with other runs' until this transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ACCOUNTS_LOCK])


HOLDER_SCHEMA = pa.schema(
    [
        ("local_id", pa.int64()),
        ("given_name", pa.string()),
        ("family_name", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
    ]
)


def holders(emails: Values, phones: Values) -> pa.Table:
    """The active accounts holding any of these emails or phones (``HOLDER_SCHEMA``): a query
    per 900 values, or — above ``MANY`` values and a seventh of the active accounts, as in a
    first sync, where the queries would take minutes — one read of every active account,
    filtered here. (At L, 1.6M accounts on SQLite: the read costs ~1.4 µs an account, the
    queries ~9 µs a value; 100,000 values took 0.9 s by query, 1.9 s by reading all.) The
    values may be Arrow arrays: a first sync's 2.7M emails and phones are never Python strings."""
    wanted = {"email": _distinct(emails), "phone": _distinct(phones)}
    columns = ["id", "given_name", "family_name", "email", "phone"]
    count = sum(len(v) for v in wanted.values())
    if count > MANY and count * ACCOUNTS_PER_VALUE > Account.objects.filter(is_active=True).count():
        accounts = bulk.select_rows(Account._meta.db_table, columns, "is_active", [], HOLDER_SCHEMA)
        holds = pc.or_(*(_holding(accounts[name], values) for name, values in wanted.items()))
        return accounts.filter(holds)
    rows: dict[int, tuple] = {}
    for name, values in wanted.items():
        values = values.sort().to_pylist()
        for start in range(0, len(values), 900):
            chunk = values[start : start + 900]
            for row in Account.objects.filter(is_active=True, **{f"{name}__in": chunk}).values_list(
                *columns
            ):
                rows[row[0]] = row
    ordered = [rows[pk] for pk in sorted(rows)]
    return pa.Table.from_pylist(
        [dict(zip(HOLDER_SCHEMA.names, row, strict=True)) for row in ordered], schema=HOLDER_SCHEMA
    )


#: Emails or phones: Python strings, or an Arrow array of them.
Values = Iterable[str] | pa.Array | pa.ChunkedArray


def _distinct(values: Values) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        distinct = pc.unique(values.cast(pa.string()).drop_null())
        return distinct.combine_chunks() if isinstance(distinct, pa.ChunkedArray) else distinct
    return pa.array(set(values), pa.string())


def _holding(column: pa.ChunkedArray, values: pa.Array) -> pa.Array:
    """Which of ``column``'s values are among ``values``, hashing the fewer of the two (a new
    directory has few accounts and a first sync wants 1.6M values)."""
    if len(column) <= len(values):
        held = values.filter(pc.fill_null(pc.is_in(values, value_set=column), False))
        return pc.fill_null(pc.is_in(column, value_set=held), False)
    return pc.fill_null(pc.is_in(column, value_set=values), False)


def _held(values: dict[str, pa.Array]) -> dict[str, dict[str, int]]:
    """field → value → the active account holding it, for the given values."""
    found: dict[str, dict[str, int]] = {name: {} for name in IDENTIFIERS}
    if not sum(len(v) for v in values.values()):
        return found
    accounts = holders(values["email"], values["phone"])
    for name in IDENTIFIERS:
        hit = accounts.filter(pc.fill_null(pc.is_in(accounts[name], values[name]), False))
        found[name] = dict(zip(hit[name].to_pylist(), hit["local_id"].to_pylist(), strict=True))
    return found


def recheck(writer: Writer) -> None:
    """Withhold, before accounts are written, any identifier another account took since the
    plan was made. Changes the plan's identity tables in place (new accounts, re-described
    accounts, conflicts, withheld people)."""
    lock_accounts()
    identity = writer.plan.identity
    new, updates = identity["new_accounts"], identity["account_updates"]
    values = {
        name: pc.unique(
            pc.drop_null(pa.chunked_array(new[name].chunks + updates[name].chunks, pa.string()))
        )
        for name in IDENTIFIERS
    }
    held = _held(values)
    redescribed = set(updates["account"].to_pylist())
    people = identity["person_account"]
    conflicts, withheld = [], []
    tables = {"new_accounts": ("ref", new), "account_updates": ("account", updates)}
    for key, (id_name, table) in tables.items():
        changed = table
        for name in IDENTIFIERS:
            taken = {
                value: holder
                for value, holder in held[name].items()
                if holder not in redescribed  # a re-described account gives its own up
            }
            if not taken:
                continue
            column = changed[name]
            mine = changed[id_name]
            lose = pc.fill_null(
                pc.is_in(column, value_set=pa.array(list(taken), pa.string())), False
            )
            if key == "account_updates":  # an account keeps what it holds itself
                holder_of = pa.array([taken.get(v) for v in column.to_pylist()], pa.int64())
                lose = pc.and_(lose, pc.fill_null(pc.not_equal(holder_of, mine), True))
            if not pc.any(lose).as_py():
                continue
            for ref, value in zip(
                mine.filter(lose).to_pylist(), column.filter(lose).to_pylist(), strict=True
            ):
                sids = people.filter(pc.equal(people["account"], ref))["sourced_id"].to_pylist()
                for sid in sids:
                    withheld.append(sid)
                    conflicts.append(
                        {
                            "code": f"SYNC-{name.upper()}-TAKEN",
                            "field": name,
                            "value": value,
                            "person_sourced_id": sid,
                            "holder_account": None,
                            "holder_sourced_id": None,
                            "message": f"the {name} {value} of {sid} was taken by another "
                            "account while this run waited to be applied; the account was made "
                            "without it. It is checked again at the next sync.",
                        }
                    )
            index = changed.column_names.index(name)
            nulls = pa.nulls(changed.num_rows, pa.string())
            changed = changed.set_column(index, name, pc.if_else(lose, nulls, changed[name]))
        identity[key] = changed
    if conflicts:
        identity["conflicts"] = pa.concat_tables(
            [identity["conflicts"], pa.Table.from_pylist(conflicts, schema=CONFLICT_SCHEMA)]
        )
        before = identity["withheld"]["sourced_id"]
        identity["withheld"] = pa.table(
            {
                "sourced_id": pc.unique(
                    pa.chunked_array([*before.chunks, pa.array(withheld, pa.string())], pa.string())
                )
            }
        )
        counts = writer.plan.summary.setdefault("identity", {})
        counts["identifiers_withheld"] = counts.get("identifiers_withheld", 0) + len(conflicts)
        counts["withheld_at_apply"] = len(conflicts)
