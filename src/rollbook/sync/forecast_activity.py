"""The foreseen apply's last step: which accounts the run leaves without any role
(deactivated) and which regain one (reactivated, without an identifier another active account
holds) — ``accounts.settle_activity``, worked out from the rows the run would write and the
directory's rows of the accounts concerned. A mixin of ``forecast.Forecast``."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection

from rollbook.directory.models import Account, Status

from . import claims
from .accounts import DETAILS, IDENTIFIERS
from .specs import SPECS

ROLES = ("staff_role", "guardian_link", "enrollment")
MANY = 20_000  # accounts: above this, read the inactive ones once rather than by chunks


def _chunks(values: list, size: int = 900):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _existing(accounts: pa.ChunkedArray) -> list[int]:
    """The distinct existing accounts (ids above 0) among these."""
    distinct = pc.unique(accounts.combine_chunks()).drop_null()
    return distinct.filter(pc.greater(distinct, 0)).to_pylist()


def _marks(values: list) -> str:
    return ", ".join(["%s"] * len(values))


class Activity:
    """Accounts' activity after the run (mixed into ``forecast.Forecast``, whose attributes
    it reads: the rows written, archived and moved, the accounts re-described and new)."""

    def _ids(self, kind: str, entity: str) -> set[int]:
        parts = getattr(self, kind)[entity]
        return {i for part in parts for i in part["id"].to_pylist()}

    def _is_active(self, accounts: Iterable[int]) -> dict[int, bool]:
        """Whether each account is active before the run (new accounts: yes)."""
        wanted = sorted({a for a in accounts if a is not None and a not in self._active_cache})
        existing = [a for a in wanted if a > 0]
        for a in wanted:
            self._active_cache[a] = a < 0
        if len(existing) > MANY:
            inactive = {
                r[0] for r in _fetch("SELECT id FROM directory_account WHERE NOT is_active", [])
            }
            for a in existing:
                self._active_cache[a] = a not in inactive
        else:
            for chunk in _chunks(existing):
                for pk, active in _fetch(
                    f"SELECT id, is_active FROM directory_account WHERE id IN ({_marks(chunk)})",
                    chunk,
                ):
                    self._active_cache[pk] = bool(active)
        return self._active_cache

    def _rows_on(self, entity: str, accounts: set[int]) -> list[tuple[int, bool, bool]]:
        """(account, active, of this source) of every row of ``entity`` on these accounts
        once the run is done."""
        found: list[tuple[int, bool, bool]] = []
        wanted = pa.array(sorted(accounts), pa.int64())
        for part in self.created[entity] + self.rewritten[entity]:
            mine = part.filter(pc.fill_null(pc.is_in(part["account_id"], wanted), False))
            found += [(a, True, True) for a in mine["account_id"].to_pylist()]
        moved = self.moved_rows[entity]
        found += [(a, s == Status.ACTIVE, True) for a, s in moved.values() if a in accounts]
        written = self._ids("rewritten", entity)
        existing = sorted(a for a in accounts if a > 0)
        for chunk in _chunks(existing):
            for pk, account, status, source in _fetch(
                f"SELECT id, account_id, status, source_id FROM {SPECS[entity].table} "
                f"WHERE account_id IN ({_marks(chunk)})",
                chunk,
            ):
                if pk in written or pk in moved:
                    continue
                active = status == Status.ACTIVE and pk not in self.archived[entity]
                found.append((account, active, source is not None and source == self.source.pk))
        return found

    def _with_role(self, accounts: set[int]) -> set[int]:
        """The accounts that hold an active role once the run is done."""
        holding: set[int] = set()
        for entity in ROLES:
            holding |= {a for a, active, _ in self._rows_on(entity, accounts) if active}
        existing = sorted(a for a in accounts if a > 0)
        for chunk in _chunks(existing):
            holding |= {
                r[0]
                for r in _fetch(
                    "SELECT account_id FROM directory_administratorrole WHERE status = 'active' "
                    f"AND account_id IN ({_marks(chunk)})",
                    chunk,
                )
            }
        return holding

    def _account_of_rows(self, entity: str, ids: list[int]) -> set[int]:
        """The accounts of these (existing) rows once people have moved."""
        moved = self.moved_rows[entity]
        found = {moved[i][0] for i in ids if i in moved}
        rest = sorted(i for i in ids if i not in moved)
        for chunk in _chunks(rest):
            found |= {
                r[0]
                for r in _fetch(
                    f"SELECT account_id FROM {SPECS[entity].table} WHERE account_id IS NOT NULL "
                    f"AND id IN ({_marks(chunk)})",
                    chunk,
                )
            }
        return found

    def _candidates(self) -> tuple[set[int], set[int]]:
        losing: set[int] = set()
        gaining: set[int] = set()
        for entity in ROLES:
            losing |= self._account_of_rows(entity, self.touched_ids(entity, "lost").to_pylist())
            # Only existing accounts can regain a role: the new ones (negative: on a first
            # sync all 1.65M accounts at L) never become Python objects.
            gained: set[int] = set()
            for part in self.created[entity]:
                gained.update(_existing(part["account_id"]))
            for part in self.rewritten[entity]:
                gained.update(_existing(part.filter(part["reactivated"])["account_id"]))
            gained |= {
                a for a, s in self.moved_rows[entity].values() if s == Status.ACTIVE and a > 0
            }
            active = self._is_active(gained)
            gaining |= {a for a in gained if not active[a]}
        losing.update(before for before, _ in self.moved.values())
        new = pa.array(self.new_accounts, pa.int64())
        given = pa.chunked_array(self.accounts_given_roles, pa.int64())
        losing.update(new.filter(pc.invert(pc.is_in(new, value_set=given))).to_pylist())
        return losing, gaining

    def settle_activity(self) -> None:
        """``accounts.settle_activity``: accounts left without a role are deactivated, those
        regaining one reactivated without an identifier another active account holds."""
        losing, gaining = self._candidates()
        active = self._is_active(losing)
        holding = self._with_role({a for a in losing if active[a]})
        self.deactivated = {a for a in losing if active[a] and a not in holding}
        taken = self._holders(gaining)
        for pk in sorted(gaining):
            details = dict(self._current(pk))
            for name in IDENTIFIERS:
                value = details.get(name)
                if value and taken.get((name, value)):
                    self.more_issues += 1
                    details[name] = None
            for name in IDENTIFIERS:
                if details.get(name):
                    taken.setdefault((name, details[name]), set()).add(pk)
            self.reactivated[pk] = details
        self.outcome.identity["accounts_deactivated"] = len(self.deactivated)
        self.outcome.identity["accounts_reactivated"] = len(gaining)

    def _current(self, pk: int) -> dict:
        if pk in self.details:
            return self.details[pk]
        row = Account.objects.filter(pk=pk).values(*DETAILS).first()
        return row or {}

    def _holders(self, accounts: set[int]) -> dict[tuple[str, str], set[int]]:
        """(field, value) → the active accounts holding it once accounts are written and
        deactivated, for the identifiers of ``accounts``."""
        wanted = {
            (n, v) for a in accounts for n, v in self._current(a).items() if n in IDENTIFIERS and v
        }
        if not wanted:
            return {}
        found: dict[tuple[str, str], set[int]] = {}
        table = claims.holders(
            [v for n, v in wanted if n == "email"], [v for n, v in wanted if n == "phone"]
        )
        for row in table.to_pylist():
            pk = row["local_id"]
            if pk in self.details or pk in self.deactivated:
                continue  # re-described (below) or no longer active
            for name in IDENTIFIERS:
                if (name, row[name]) in wanted:
                    found.setdefault((name, row[name]), set()).add(pk)
        described = [a for a in self.details if a not in self.deactivated]
        active = self._is_active(described)
        details = [(pk, self.details[pk]) for pk in described if active[pk]]
        new = self.new_table
        holds = pc.or_(
            *(
                pc.fill_null(
                    pc.is_in(new[name], pa.array([v for n, v in wanted if n == name], pa.string())),
                    False,
                )
                for name in IDENTIFIERS
            )
        )
        details += [
            (row["ref"], row)
            for row in new.filter(holds).to_pylist()
            if row["ref"] not in self.deactivated
        ]
        for pk, row in details:
            for name in IDENTIFIERS:
                value = row.get(name)
                if value and (name, value) in wanted:
                    found.setdefault((name, value), set()).add(pk)
        return found
