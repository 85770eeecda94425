"""The apply stage foreseen: what ``apply.apply_plan`` does with a plan, worked out from the
plan and the directory as it is, without writing a row (the self-check's prediction,
docs/self-check.md).

The apply's creations are decided by the plan alone: which rows are written is a question of
references (``Writer._values``, the same code here), and a created row has no past. What only
the directory can say — schools and students adopted, rows archived that are still active,
hand-entered guardian links of adopted students, role rows following a person who moved to
another account, accounts left without a role or regaining one, identifiers another account
holds — is read from the directory, for the few rows concerned, and combined with what the
run would write. Rows the run would create get stand-in ids (negative: never a real row's);
new accounts are the plan's own negative references.

Each step mirrors the apply's step of the same name, in the same order. The apply itself
stays the reference: ``pipeline``'s full rehearsal runs it and rolls it back, and the tests
hold the two reports equal (tests/readiness/test_forecast.py).
"""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection

from rollbook.directory.contacts import name_key
from rollbook.directory.models import Account, GuardianLink, Status
from rollbook.directory.models import School as SchoolModel

from . import claims
from .accounts import DETAILS
from .apply import Writer, _active, release_written
from .forecast_activity import ROLES, Activity, _chunks, _fetch, _marks
from .models import StudentAdoption, SyncRun
from .plan import Plan
from .plan import rows as _rows
from .progress import Progress, apply_rows
from .resolve import unresolved_issues
from .specs import SPECS

ROWS = pa.schema(
    [
        ("id", pa.int64()),
        ("account_id", pa.int64()),
        ("person_sourced_id", pa.string()),
        ("student_id", pa.int64()),
        ("reactivated", pa.bool_()),
    ]
)


class Forecast(Activity, Writer):
    """One plan's apply, foreseen. Use :func:`foresee`; then read ``outcome`` and the
    directory-after questions (:meth:`schools`, :meth:`reused`, :meth:`names`, ...)."""

    def __init__(self, run: SyncRun, plan: Plan, states: dict[str, pa.Table]):
        super().__init__(run, plan, states)
        self.next_id = {e: -1 for e in SPECS}
        # The role rows this run writes: created (stand-in ids) and updated or reactivated.
        self.created: dict[str, list[pa.Table]] = {e: [] for e in ROLES}
        self.rewritten: dict[str, list[pa.Table]] = {e: [] for e in ROLES}
        self.archived: dict[str, set[int]] = {e: set() for e in ROLES}
        self.moved_rows: dict[str, dict[int, tuple[int, str]]] = {e: {} for e in ROLES}
        self.details: dict[int, dict] = {}  # re-described account → its name, email, phone
        self.new_table: pa.Table | None = None  # the new accounts (plan's negative refs)
        self.deactivated: set[int] = set()
        self.reactivated: dict[int, dict] = {}  # account → its identifiers once reactivated
        self.schools_written: list[tuple[list[int], list[str], list[str]]] = []
        self.schools_archived: set[int] = set()
        self.adopted_schools: set[int] = set()
        self.adopted_students: dict[int, int] = {}  # student → its adoption
        self.more_issues = 0  # issues other than the skipped rows (only counted)
        self._active_cache: dict[int, bool] = {}

    # --- rows the run writes ------------------------------------------------------------

    def _stand_ins(self, entity: str, n: int) -> pa.Array:
        first = self.next_id[entity]
        self.next_id[entity] = first - n
        return pa.array(range(first, first - n, -1), pa.int64())

    def _role_rows(self, ids, values: pa.Table, reactivated: bool) -> pa.Table:
        n = values.num_rows
        return pa.table(
            {
                "id": ids,
                "account_id": values["account_id"],
                "person_sourced_id": values["person_sourced_id"],
                "student_id": values["student_id"]
                if "student_id" in values.column_names
                else pa.nulls(n, pa.int64()),
                "reactivated": pa.array([reactivated] * n, pa.bool_()),
            }
        ).cast(ROWS)

    def write_entity(self, entity: str) -> None:
        spec, plan = SPECS[entity], self.plan.entities[entity]
        counts = {
            "created": 0,
            "updated": 0,
            "reactivated": 0,
            "archived": 0,
            "unchanged": plan.unchanged,
            "skipped": plan.skipped,
        }
        creating = plan.create
        if entity == "school":
            creating = self._adopt_schools(creating, counts)
        elif entity == "student":
            creating = self._adopt_students(creating, counts)
        values, kept, skipped = self._values(spec, creating)
        self._skip(entity, spec, skipped)
        counts["skipped"] += skipped.num_rows
        if values.num_rows:
            ids = self._stand_ins(entity, values.num_rows)
            if "account_id" in values.column_names:
                given = pc.unique(values["account_id"].combine_chunks()).drop_null()
                self.accounts_given_roles.append(given.cast(pa.int64()))
            if entity in ROLES:
                self.created[entity].append(self._role_rows(ids, values, False))
            if entity == "school":
                self.schools_written.append(
                    (ids.to_pylist(), kept["sourced_id"].to_pylist(), values["name"].to_pylist())
                )
            self.remember(entity, pa.table({"sourced_id": kept["sourced_id"], "local_id": ids}))
            self.touch(entity, "gained", ids)
            counts["created"] = values.num_rows
        counts["updated"] = self._update(entity, spec, plan.update, reactivate=False)
        counts["reactivated"] = self._update(entity, spec, plan.reactivate, reactivate=True)
        counts["archived"] = self._archive(entity, spec, plan.archive)
        self.outcome.counts[entity] = counts

    def _update(self, entity, spec, table: pa.Table, reactivate: bool) -> int:
        if table.num_rows == 0:
            return 0
        values, kept, skipped = self._values(spec, table)
        self._skip(entity, spec, skipped)
        ids = kept["local_id"]
        if entity in ROLES:
            self.rewritten[entity].append(self._role_rows(ids, values, reactivate))
        if entity == "school":
            self.schools_written.append(
                (ids.to_pylist(), kept["sourced_id"].to_pylist(), values["name"].to_pylist())
            )
        if reactivate:
            self.touch(entity, "gained", ids)
        return values.num_rows

    def _archive(self, entity, spec, table: pa.Table) -> int:
        if table.num_rows == 0:
            return 0
        active = _active(spec.table, table["local_id"].to_pylist())
        self.touch(entity, "lost", active)
        if entity in ROLES:
            self.archived[entity].update(active)
        if entity == "school":
            self.schools_archived.update(active)
        return len(active)

    def link_sessions_and_terms(self) -> None:
        """Nothing the report reads: the parents of sessions and the terms of classes."""

    # --- adoption (adoption.py) ---------------------------------------------------------

    def _adopt_schools(self, table: pa.Table, counts: dict) -> pa.Table:
        manual: dict[str, list[int]] = {}
        for pk, name in SchoolModel.objects.filter(
            district_id=self.district_id, source__isnull=True
        ).values_list("pk", "name"):
            manual.setdefault(name_key(name), []).append(pk)
        adopted = []
        for row in _rows(table.select(["sourced_id", "name"])):
            candidates = manual.get(name_key(row["name"]), [])
            if len(candidates) == 1:
                adopted.append((candidates.pop(), row["sourced_id"], row["name"]))
        if not adopted:
            return table
        ids, sids, names = (list(c) for c in zip(*adopted, strict=True))
        self.schools_written.append((ids, sids, names))
        self.adopted_schools.update(ids)
        self.remember(
            "school",
            pa.table({"sourced_id": pa.array(sids, pa.string()), "local_id": pa.array(ids)}),
        )
        counts["adopted"] = len(adopted)
        return table.filter(pc.invert(pc.is_in(table["sourced_id"], pa.array(sids, pa.string()))))

    def _adopt_students(self, table: pa.Table, counts: dict) -> pa.Table:
        if self.source.pk is None:  # a source made by this run has no adoptions
            return table
        pending = {
            sid: (adoption, student)
            for adoption, student, sid in StudentAdoption.objects.filter(
                source=self.source,
                status=StudentAdoption.Status.PENDING,
                student__origin="manual",
                student__source__isnull=True,
                student__district_id=self.district_id,
            )
            .exclude(student__status="merged")
            .values_list("pk", "student_id", "sourced_id")
        }
        if not pending or table.num_rows == 0:
            return table
        chosen = table.filter(pc.is_in(table["sourced_id"], pa.array(sorted(pending), pa.string())))
        values, kept, _ = self._values(SPECS["student"], chosen)
        if values.num_rows == 0:
            return table
        sids = kept["sourced_id"].to_pylist()
        ids = [pending[s][1] for s in sids]
        self.remember(
            "student",
            pa.table({"sourced_id": pa.array(sids, pa.string()), "local_id": pa.array(ids)}),
        )
        self.touch("student", "gained", ids)
        self.adopted_students = {pending[s][1]: pending[s][0] for s in sids}
        counts["adopted"] = len(sids)
        return table.filter(pc.invert(pc.is_in(table["sourced_id"], pa.array(sids, pa.string()))))

    def settle_guardians(self) -> None:
        """``adoption.settle_guardians``: the adopted students' hand-entered links, folded,
        archived or kept by hand."""
        if not self.adopted_students:
            return
        kept_by = dict(
            StudentAdoption.objects.filter(pk__in=list(self.adopted_students.values())).values_list(
                "student_id", "kept_guardians"
            )
        )
        students = sorted(self.adopted_students)
        sis: set[tuple[int, int]] = set()
        by_hand: list[tuple[int, int, int]] = []
        written = self._ids("rewritten", "guardian_link")
        for chunk in _chunks(students):
            for pk, student, account, source in (
                GuardianLink.objects.filter(student_id__in=chunk, status=Status.ACTIVE)
                .order_by("pk")
                .values_list("pk", "student_id", "account_id", "source_id")
            ):
                if source is None:
                    by_hand.append((pk, student, account))
                elif pk not in written and pk not in self.archived["guardian_link"]:
                    sis.add((student, account))
        wanted = pa.array(students, pa.int64())
        for part in self.created["guardian_link"] + self.rewritten["guardian_link"]:
            mine = part.filter(pc.fill_null(pc.is_in(part["student_id"], wanted), False))
            sis.update(
                zip(mine["student_id"].to_pylist(), mine["account_id"].to_pylist(), strict=True)
            )
        archived, counts = [], {"folded": 0, "hand_entered_archived": 0, "kept_by_hand": 0}
        for pk, student, account in by_hand:
            if (student, account) in sis:
                archived.append(pk)
                counts["folded"] += 1
            elif account in set(kept_by.get(student) or ()):
                counts["kept_by_hand"] += 1
            else:
                archived.append(pk)
                counts["hand_entered_archived"] += 1
        self.archived["guardian_link"].update(archived)
        self.touch("guardian_link", "lost", archived)
        self.outcome.counts.setdefault("guardian_link", {}).update(counts)

    # --- people (accounts.py) -----------------------------------------------------------

    def apply_people(self) -> None:
        """``accounts.apply_people``: identifiers checked again, people → accounts."""
        # The apply checks again the identifiers the plan gives, for accounts other runs
        # committed since the plan (claims.py). On SQLite the forecast reads the snapshot the
        # plan read, where no account holds an identifier the plan gave (the plan withheld
        # those): the check would find none, and costs reading every identifier (~6 s at L).
        if connection.vendor != "sqlite":
            claims.recheck(self)
        identity = self.plan.identity
        for row in _rows(identity["account_updates"]):
            self.details[row["account"]] = {n: row[n] for n in DETAILS}
        new = identity["new_accounts"]
        self.new_table = new  # millions on a first sync: looked up by value when needed
        self.new_accounts = new["ref"].to_pylist()
        resolved = identity["person_account"]
        accounts = resolved["account"].combine_chunks()
        self.remember(
            "person", pa.table({"sourced_id": resolved["sourced_id"], "local_id": accounts})
        )
        moved = pc.fill_null(pc.not_equal(resolved["previous_account"], accounts), False)
        for sid, before, after in zip(
            resolved["sourced_id"].filter(moved).to_pylist(),
            resolved["previous_account"].filter(moved).to_pylist(),
            accounts.filter(moved).to_pylist(),
            strict=True,
        ):
            self.moved[sid] = (before, after)
        person_plan = self.plan.entities["person"]
        self.outcome.identity = dict(self.plan.summary.get("identity", {}))
        self.outcome.identity["people_archived"] = person_plan.archive.num_rows
        self.outcome.counts["person"] = person_plan.counts()
        self.more_issues += identity["conflicts"].num_rows

    def follow_moved_people(self) -> None:
        """``accounts.follow_moved_people``: the rows of people now on another account."""
        moves = {(sid, b): a for sid, (b, a) in self.moved.items()}
        if not moves:
            return
        previous = sorted({b for _, b in moves})
        keys = pa.array([f"{sid}\x1f{b}" for sid, b in moves], pa.string())
        for entity in ROLES:
            # Rows this run wrote for a person who moved name the person's account before the
            # run (``Writer.ids_of`` finds the state's first): they follow the person too.
            gained = []
            for kind in ("created", "rewritten"):
                parts = getattr(self, kind)[entity]
                for i, part in enumerate(parts):
                    key = pc.binary_join_element_wise(
                        part["person_sourced_id"], pc.cast(part["account_id"], pa.string()), "\x1f"
                    )
                    hit = pc.fill_null(pc.is_in(key, value_set=keys), False).combine_chunks()
                    if not pc.any(hit).as_py():
                        continue
                    mine = part.filter(hit)
                    afters = [
                        moves[(sid, before)]
                        for sid, before in zip(
                            mine["person_sourced_id"].to_pylist(),
                            mine["account_id"].to_pylist(),
                            strict=True,
                        )
                    ]
                    account = pc.replace_with_mask(
                        part["account_id"].combine_chunks(), hit, pa.array(afters, pa.int64())
                    )
                    index = part.schema.get_field_index("account_id")
                    parts[i] = part.set_column(index, "account_id", account)
                    gained += mine["id"].to_pylist()
            table, written = SPECS[entity].table, self._ids("rewritten", entity)
            moved = self.moved_rows[entity]
            for chunk in _chunks(previous):
                for pk, sid, before, status in _fetch(
                    f"SELECT id, person_sourced_id, account_id, status FROM {table} "
                    f"WHERE source_id = %s AND account_id IN ({_marks(chunk)})",
                    [self.source.pk, *chunk],
                ):
                    after = moves.get((sid, before))
                    # A row this run rewrote is on its person's account already.
                    if after is None or pk in written:
                        continue
                    archived = pk in self.archived[entity]
                    moved[pk] = (after, Status.ARCHIVED if archived else status)
            if moved or gained:
                self.touch(entity, "gained", sorted(moved) + gained)

    def finish(self) -> None:
        self.issues.extend(unresolved_issues(self.run, self.plan))
        self.outcome.issues = len(self.issues) + self.more_issues
        # What the report's questions no longer need (a first sync's millions of ids): the
        # ids of every entity and the class enrollments.
        self.maps, self.touched, self.accounts_given_roles = {}, {}, []
        self.created["enrollment"], self.rewritten["enrollment"] = [], []
        self._active_cache = {}

    # --- the directory after the run, as the report asks --------------------------------

    def skips(self) -> list[dict]:
        return [
            {"entity": i.entity, "sourced_id": i.sourced_id, "message": i.message}
            for i in self.issues
            if i.code == "SYNC-REFERENCE-MISSING"
        ]

    def schools(self) -> dict[int, tuple[str, str]]:
        """The source's active schools after the run: id → (sourcedId, name)."""
        found: dict[int, tuple[str, str, bool]] = {}
        if self.source.pk is not None:
            for pk, sid, name, status in SchoolModel.objects.filter(
                source_id=self.source.pk
            ).values_list("pk", "sourced_id", "name", "status"):
                found[pk] = (sid, name, status == Status.ACTIVE)
        for ids, sids, names in self.schools_written:
            for pk, sid, name in zip(ids, sids, names, strict=True):
                found[pk] = (sid, name, True)
        return {
            pk: (sid, name)
            for pk, (sid, name, active) in found.items()
            if active and pk not in self.schools_archived
        }

    def reused(self, accounts: set[int]) -> set[int]:
        """Which of these accounts hold an active staff role or guardian link of the source
        after the run."""
        return {
            a
            for entity in ("guardian_link", "staff_role")
            for a, active, mine in self._rows_on(entity, accounts)
            if active and mine
        }

    def names(self, accounts: set[int]) -> dict[int, str]:
        """The accounts' names after the run (as ``Account.name``)."""
        found = {
            a.pk: a.name
            for a in Account.objects.filter(pk__in=sorted(a for a in accounts if a > 0))
        }
        new = self.new_table.filter(
            pc.is_in(self.new_table["ref"], pa.array([a for a in accounts if a < 0], pa.int64()))
        )
        described = {r["ref"]: r for r in new.to_pylist()} | self.details
        for pk in accounts:
            if pk in described:
                d = described[pk]
                found[pk] = Account(given_name=d["given_name"], family_name=d["family_name"]).name
        return found


def foresee(
    run: SyncRun, plan: Plan, states: dict[str, pa.Table], progress: Progress | None = None
) -> Forecast:
    """What ``apply.apply_plan(run, plan, states)`` would do, nothing written. ``run``: an
    unsaved run of the source (which may be unsaved too: a source the sync would create)."""
    progress = progress or Progress()
    forecast = Forecast(run, plan, states)
    seconds = forecast.outcome.seconds
    rows = apply_rows(plan)
    progress.update(0, total=sum(rows.values()))

    def step(name: str, work, *args) -> None:
        started = time.perf_counter()
        progress.update(step=name)
        work(*args)
        seconds[name] = round(time.perf_counter() - started, 3)
        progress.advance(rows.get(name, 0))

    for entity in ("school", "session", "course", "class", "student"):
        step(entity, forecast.write_entity, entity)
    step("accounts", forecast.apply_people)
    for entity in ROLES:
        step(entity, forecast.write_entity, entity)
        release_written(plan, entity)
    step("adopted students' guardians", forecast.settle_guardians)
    step("people moved", forecast.follow_moved_people)
    step("accounts' activity", forecast.settle_activity)
    step("records and audit", forecast.finish)
    return forecast
