"""Apply, people: accounts created, re-described, followed and (de)activated.

The decisions were made in the plan (``identity.py``); this module writes them:

- new accounts, and accounts re-described in place, with identifiers moved in two steps so
  that two accounts never hold one email or phone, even for a moment;
- a person who moved to another account takes every role, guardian link and class membership
  of theirs along — the old account keeps no access to their students;
- an account left with no active role is deactivated (never deleted); one that regains a role is
  reactivated, without any identifier that someone else holds meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection

from rollbook.directory.models import Account, ClassMembership, GuardianLink, StaffRole

from . import bulk, claims
from .models import RunIssue
from .plan import rows as _rows

if TYPE_CHECKING:
    from .apply import Writer

IDENTIFIERS = ("email", "phone")
DETAILS = ("given_name", "family_name", "email", "phone")
ROLE_TABLES = (StaffRole, GuardianLink, ClassMembership)


def _in(column: str, values: list) -> tuple[str, list]:
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _select_ids(sql: str, params: list) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [r[0] for r in cursor.fetchall()]


def _chunks(values: list, size: int = 900):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def apply_people(writer: Writer) -> None:
    # Identifiers another run took since the plan are withheld now (claims.py).
    claims.recheck(writer)
    identity = writer.plan.identity
    run = writer.run
    table = Account._meta.db_table
    updates = identity["account_updates"]
    # 1. Re-described accounts give up their identifiers first, then take the new ones.
    current = _details([r for r in updates["account"].to_pylist()])
    releasing = [
        pk
        for pk, row in zip(updates["account"].to_pylist(), _rows(updates), strict=True)
        if any(current[pk][n] != row[n] for n in IDENTIFIERS)
    ]
    for chunk in _chunks(releasing):
        where, params = _in("id", chunk)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET email = NULL, phone = NULL WHERE {where}", params)
    # 2. New accounts.
    new = identity["new_accounts"]
    if new.num_rows:
        bulk.insert_many(
            table,
            new.select(list(DETAILS)),
            {
                "password": "!",
                "is_active": True,
                "origin": "synced",
                "created_by_run_id": run.pk,
                "created_at": writer.now,
                "updated_at": writer.now,
                "last_login": None,
                "deactivated_at": None,
            },
            existing=writer.maps["person"].num_rows,
        )
        ids = _select_ids(
            f"SELECT id FROM {table} WHERE created_by_run_id = %s ORDER BY id", [run.pk]
        )
        if len(ids) != new.num_rows:
            raise RuntimeError("accounts created do not match the plan")  # never expected
        refs = pa.table({"ref": new["ref"], "id": pa.array(ids, pa.int64())})
        writer.new_accounts = ids
        writer.note(
            "create",
            "account",
            None,
            after={"count": len(ids)},
            note=f"{len(ids)} accounts created by sync run {run.pk}",
        )
    else:
        refs = pa.table({"ref": pa.array([], pa.int64()), "id": pa.array([], pa.int64())})
    changed = []
    for row in _rows(updates):
        before = {n: current[row["account"]][n] for n in DETAILS}
        after = {n: row[n] for n in DETAILS}
        if before != after:
            changed.append(row)
            writer.note("update", "account", row["account"], before, after)
    if changed:
        data = pa.Table.from_pylist(changed).rename_columns(
            ["id" if c == "account" else c for c in updates.column_names]
        )
        bulk.update(table, data.select(["id", *DETAILS]), constants={"updated_at": writer.now})
    # 3. Person records → accounts, remembered in the source's state.
    person_plan = writer.plan.entities["person"]
    delivered = pa.concat_tables(
        [
            t.select(["sourced_id", "fingerprint"])
            for t in (
                person_plan.create,
                person_plan.update,
                person_plan.reactivate,
                identity["rechecked"],
            )
        ]
    )
    resolved = identity["person_account"]
    # A new account's negative reference → its id (existing accounts are kept as they are).
    new_id = refs["id"].take(pc.index_in(resolved["account"], value_set=refs["ref"]))
    accounts = pc.coalesce(new_id, resolved["account"]).combine_chunks()
    mapping = pa.table({"sourced_id": resolved["sourced_id"], "local_id": accounts})
    writer.remember("person", mapping)
    # Only the people who were on another account before (never on a first sync) moved.
    moved = pc.fill_null(pc.not_equal(resolved["previous_account"], accounts), False)
    for sid, before, after in zip(
        resolved["sourced_id"].filter(moved).to_pylist(),
        resolved["previous_account"].filter(moved).to_pylist(),
        accounts.filter(moved).to_pylist(),
        strict=True,
    ):
        writer.moved[sid] = (before, after)
    state = delivered.join(mapping, "sourced_id", use_threads=False)
    withheld = pc.is_in(state["sourced_id"], identity["withheld"]["sourced_id"])
    is_new = pc.is_in(state["sourced_id"], person_plan.create["sourced_id"])
    for new in (True, False):
        part = pc.equal(is_new, new)
        writer.record_state("person", state.filter(part), withheld=withheld.filter(part), new=new)
    if person_plan.archive.num_rows:
        writer.record_state(
            "person",
            person_plan.archive.append_column(
                "fingerprint", pa.array([0] * person_plan.archive.num_rows, pa.int64())
            ),
            active=False,
        )
    writer.outcome.identity = dict(writer.plan.summary.get("identity", {}))
    writer.outcome.identity["people_archived"] = person_plan.archive.num_rows
    writer.outcome.counts["person"] = person_plan.counts()
    for row in _rows(identity["conflicts"]):
        writer.issues.append(
            RunIssue(
                run=run,
                code=row["code"],
                severity="warning",
                entity="person",
                sourced_id=row["person_sourced_id"],
                account_id=row["holder_account"],
                message=row["message"],
                detail={
                    "field": row["field"],
                    "value": row["value"],
                    "holder_sourced_id": row["holder_sourced_id"],
                },
            )
        )


def _details(ids: list[int]) -> dict[int, dict]:
    found = {}
    for chunk in _chunks(ids):
        for a in Account.objects.filter(pk__in=chunk).values("pk", *DETAILS):
            found[a.pop("pk")] = a
    return found


ROLE_ENTITIES = {
    StaffRole: "staff_role",
    GuardianLink: "guardian_link",
    ClassMembership: "enrollment",
}


def follow_moved_people(writer: Writer) -> None:
    """A person now on another account takes their roles, links and memberships along."""
    moves = {(sid, b): a for sid, (b, a) in writer.moved.items()}
    if not moves:
        return
    previous = sorted({b for _, b in moves})
    for model in ROLE_TABLES:
        table = model._meta.db_table
        found: list[tuple[int, str, int]] = []
        for chunk in _chunks(previous):  # through the account index, not a scan
            where, params = _in("account_id", chunk)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, person_sourced_id, account_id FROM {table} "
                    f"WHERE source_id = %s AND {where}",
                    [writer.source.pk, *params],
                )
                found += cursor.fetchall()
        by_target: dict[int, list[int]] = {}
        for pk, sid, before in found:
            after = moves.get((sid, before))
            if after is None:
                continue
            by_target.setdefault(after, []).append(pk)
            writer.note(
                "move",
                model._meta.model_name,
                pk,
                {"account": before},
                {"account": after},
                note=f"SIS person {sid} is now account {after}",
            )
        for after, ids in by_target.items():
            bulk.update(
                table,
                pa.table({"id": pa.array(ids, pa.int64())}),
                constants={"account_id": after, "last_run_id": writer.run.pk},
            )
            writer.touch(ROLE_ENTITIES[model], "gained", ids)


def _has_no_role(alias: str = "a") -> str:
    checks = [
        f"NOT EXISTS (SELECT 1 FROM {m._meta.db_table} r WHERE r.account_id = {alias}.id "
        "AND r.status = 'active')"
        for m in ROLE_TABLES
    ]
    checks.append(
        "NOT EXISTS (SELECT 1 FROM directory_administratorrole r WHERE "
        f"r.account_id = {alias}.id AND r.status = 'active')"
    )
    return " AND ".join(checks)


MANY_ROLES = 20_000  # role rows: above this, one query and a filter here


def _accounts_of(table: str, ids: pa.ChunkedArray, extra: str = "") -> set[int]:
    """The accounts of these role rows (and ``extra`` conditions on role ``r``, account ``a``)."""
    found: set[int] = set()
    if extra and len(ids) > MANY_ROLES:
        # Millions of roles made by a first sync: one query for the rows meeting the
        # conditions (few: inactive accounts), then only those among ``ids``.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT r.id, r.account_id FROM {table} r JOIN directory_account a ON "
                f"a.id = r.account_id WHERE r.account_id IS NOT NULL {extra}"
            )
            rows = cursor.fetchall()
        among = pc.is_in(pa.array([r[0] for r in rows], pa.int64()), value_set=ids).to_pylist()
        return {account for (_, account), keep in zip(rows, among, strict=True) if keep}
    for chunk in _chunks(sorted(set(ids.to_pylist()))):
        where, params = _in("r.id", chunk)
        found.update(
            _select_ids(
                f"SELECT DISTINCT r.account_id FROM {table} r JOIN directory_account a ON "
                f"a.id = r.account_id WHERE {where} {extra}",
                params,
            )
        )
    return found


def _candidates(writer: Writer) -> tuple[set[int], set[int]]:
    """Accounts that may have lost their last role, and inactive ones that gained one."""
    losing: set[int] = set()
    gaining: set[int] = set()
    for model, entity in ROLE_ENTITIES.items():
        losing |= _accounts_of(model._meta.db_table, writer.touched_ids(entity, "lost"))
        gaining |= _accounts_of(
            model._meta.db_table,
            writer.touched_ids(entity, "gained"),
            "AND r.status = 'active' AND NOT a.is_active",
        )
    losing.update(before for before, _ in writer.moved.values())
    # A new account whose every role was skipped has none.
    new = pa.array(writer.new_accounts, pa.int64())
    given = pa.chunked_array(writer.accounts_given_roles, pa.int64())
    losing.update(new.filter(pc.invert(pc.is_in(new, value_set=given))).to_pylist())
    return losing, gaining


def settle_activity(writer: Writer) -> None:
    """Deactivate accounts left with no active role; reactivate those that regained one."""
    losing, gaining = _candidates(writer)
    deactivate: list[int] = []
    for chunk in _chunks(sorted(losing)):
        where, params = _in("a.id", chunk)
        deactivate += _select_ids(
            f"SELECT a.id FROM directory_account a WHERE {where} AND "
            f"a.is_active AND {_has_no_role()}",
            params,
        )
    bulk.update(
        Account._meta.db_table,
        pa.table({"id": pa.array(deactivate, pa.int64())}),
        constants={"is_active": False, "deactivated_at": writer.now},
    )
    for pk in deactivate:
        writer.note(
            "deactivate",
            "account",
            pk,
            {"is_active": True},
            {"is_active": False},
            note="no active role left",
        )
    reactivated = 0
    for account in Account.objects.filter(pk__in=sorted(gaining)):
        before = {"is_active": False, "email": account.email, "phone": account.phone}
        for name in IDENTIFIERS:
            value = getattr(account, name)
            if value and Account.objects.filter(is_active=True, **{name: value}).exists():
                writer.issues.append(
                    RunIssue(
                        run=writer.run,
                        code=f"SYNC-{name.upper()}-TAKEN",
                        entity="account",
                        account=account,
                        detail={"field": name},
                        message=f"account {account.pk} was reactivated without its {name} "
                        f"{value}: another active account uses it now.",
                    )
                )
                setattr(account, name, None)
        account.is_active, account.deactivated_at = True, None
        account.save(update_fields=["is_active", "deactivated_at", *IDENTIFIERS])
        writer.note(
            "reactivate",
            "account",
            account.pk,
            before,
            {"is_active": True, "email": account.email, "phone": account.phone},
        )
        reactivated += 1
    writer.outcome.identity["accounts_deactivated"] = len(deactivate)
    writer.outcome.identity["accounts_reactivated"] = reactivated
