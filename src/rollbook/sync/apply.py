"""Stage 4, apply: a plan written into the directory in one database transaction.

Each entity is written the same way, from a small spec: creations in bulk, updates of the
SIS-owned fields only, archives and reactivations as status changes — never a delete. Every
change is tied to the run: ``last_run`` on the object, the source's state, and the audit log
(one entry per update, archive, reactivation and account change, with before and after; one
entry per entity for a run's creations, whose every record the saved plan lists).
Local data — history, manual records, anything not in a spec's ``fields`` — is never written.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection, transaction
from django.utils import timezone

from rollbook.directory.models import AcademicSession, SchoolClass, Student

from . import accounts, bulk
from .adoption import adopt_schools, adopt_students, settle_guardians
from .kept_state import after_apply
from .models import RunIssue, SyncRun
from .plan import STATE_SCHEMA, Plan
from .plan import rows as _rows
from .progress import Progress, apply_rows
from .read import ENTITIES, keep_rows
from .resolve import unresolved_issues
from .specs import SPECS, Spec

MANY_CREATED = 20_000  # rows just created: above this, read back by one scan
ID_MAP = pa.schema([("sourced_id", pa.string()), ("local_id", pa.int64())])


@dataclass
class Outcome:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    identity: dict[str, int] = field(default_factory=dict)
    issues: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # each step of the apply
    # What the source delivered, as the run leaves it (kept_state.py): its state, per entity.
    state: dict[str, pa.Table] = field(default_factory=dict)


class Writer:
    """Applies one plan for one run. Use :func:`apply_plan`."""

    def __init__(self, run: SyncRun, plan: Plan, states: dict[str, pa.Table]):
        self.run = run
        self.source = run.source
        self.plan = plan
        self.now = timezone.now()
        self.district_id = self.source.district_id
        # sourcedId → local id for every record the source delivered before, plus new ones.
        self.maps: dict[str, pa.Table] = {
            e: states[e].select(["sourced_id", "local_id"]).cast(ID_MAP) for e in ENTITIES
        }
        self.records: list[pa.Table] = []
        self.new_records: list[pa.Table] = []
        self.records_before = states["person"].num_rows
        self.states = states
        # Rows of each entity the run made active with a fingerprint (kept_state.py).
        self.written: dict[str, list[pa.Table]] = {e: [] for e in ENTITIES}
        self.audit: list[tuple] = []  # (action, object_type, object_id, before, after, note)
        self.issues: list[RunIssue] = []
        self.moved: dict[str, tuple[int, int]] = {}  # person → (account before, after)
        self.new_accounts: list[int] = []
        self.accounts_given_roles: list[pa.Array] = []  # chunks of account ids
        # Ids of each entity's rows created or reactivated ("gained") and archived ("lost"),
        # as Arrow arrays: a first sync gains millions (see touch and touched_ids).
        self.touched: dict[str, dict[str, list[pa.Array]]] = {  # chunks
            e: {"gained": [], "lost": []} for e in ENTITIES
        }
        self.outcome = Outcome()

    def touch(self, entity: str, kind: str, ids: Any) -> None:
        """Remember rows of ``entity`` that were gained or lost (ids: a list or Arrow)."""
        if isinstance(ids, list):
            ids = pa.array(ids, pa.int64())
        chunks = ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
        self.touched[entity][kind].extend(chunk.cast(pa.int64()) for chunk in chunks)

    def touched_ids(self, entity: str, kind: str) -> pa.ChunkedArray:
        return pa.chunked_array(self.touched[entity][kind], pa.int64())

    def wrote(self, entity: str, ids: pa.Table, delivered: pa.Table) -> None:
        """Rows of ``entity`` (``ids``: sourced_id, local_id) now active with the fingerprint
        ``delivered`` (sourced_id, fingerprint) has for them: the state the run leaves."""
        sids = ids["sourced_id"]
        if sids.equals(delivered["sourced_id"]):
            fingerprint = delivered["fingerprint"]
        else:
            where = pc.index_in(sids, value_set=delivered["sourced_id"].combine_chunks())
            fingerprint = pc.take(delivered["fingerprint"], where)
        n = ids.num_rows
        self.written[entity].append(
            pa.table(
                {
                    "sourced_id": sids,
                    "state_fingerprint": fingerprint,
                    "local_id": ids["local_id"],
                    "active": pa.repeat(True, n),
                    "withheld": pa.repeat(False, n),
                }
            )
        )

    def state_after(self) -> dict[str, pa.Table]:
        """The source's state as this run leaves it: what it read, with what it wrote."""
        state = {
            e: after_apply(self.states[e], self.written[e], self.touched[e]["lost"])
            for e in ENTITIES
            if e != "person"
        }
        records = [
            t.filter(pc.equal(t["entity"], "person"))
            .select(["sourced_id", "fingerprint", "local_id", "active", "withheld"])
            .rename_columns(STATE_SCHEMA.names)
            for t in self.records + self.new_records
        ]
        state["person"] = after_apply(self.states["person"], records, [])
        return state

    # --- references ---------------------------------------------------------------------

    def ids_of(self, entity: str, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        """Local ids of the given sourcedIds (null where unknown)."""
        known = self.maps[entity]
        index = pc.index_in(values, known["sourced_id"])
        return pc.take(known["local_id"], index)

    def remember(self, entity: str, ids: pa.Table) -> None:
        self.maps[entity] = pa.concat_tables([self.maps[entity], ids.cast(ID_MAP)])

    def _values(self, spec: Spec, table: pa.Table) -> tuple[pa.Table, pa.Table, pa.Table]:
        """Database columns of the rows that can be written, those rows, and the others."""
        columns = {name: table[column] for name, column in spec.fields.items()}
        for name, (entity, column) in spec.refs.items():
            columns[name] = self.ids_of(entity, table[column])
        ok = pa.array([True] * table.num_rows, pa.bool_())
        for name in spec.required:
            ok = pc.and_(ok, pc.is_valid(columns[name]))
        if spec.one_of:
            first, *others = spec.one_of
            ok = pc.and_(
                ok,
                pc.or_(*[pc.is_valid(columns[n]) for n in spec.one_of])
                if len(spec.one_of) > 1
                else pc.is_valid(columns[first]),
            )
            for name in others:  # a student's enrollment never points at an account
                columns[name] = pc.if_else(
                    pc.is_valid(columns[first]), pa.scalar(None, pa.int64()), columns[name]
                )
        # keep_rows: when every row can be written (the usual case), no copies of 4M rows.
        return keep_rows(pa.table(columns), ok), keep_rows(table, ok), table.filter(pc.invert(ok))

    def _skip(self, entity: str, spec: Spec, skipped: pa.Table) -> None:
        """Record why each row of ``skipped`` could not be written: the references missing."""
        if skipped.num_rows == 0:
            return
        resolved = {
            name: self.ids_of(target, skipped[column]).to_pylist()
            for name, (target, column) in spec.refs.items()
        }
        for i, row in enumerate(_rows(skipped)):
            missing = [
                f"{spec.refs[name][1]} {row[spec.refs[name][1]]!r}"
                for name in spec.required
                if resolved[name][i] is None
            ]
            if spec.one_of and all(resolved[name][i] is None for name in spec.one_of):
                column = spec.refs[spec.one_of[0]][1]
                missing.append(
                    f"{column} {row[column]!r} (no such student, staff member or guardian)"
                )
            self.issues.append(
                RunIssue(
                    run=self.run,
                    code="SYNC-REFERENCE-MISSING",
                    severity="warning",
                    entity=entity,
                    sourced_id=row["sourced_id"],
                    message=f"{entity} {row['sourced_id']} was not written: "
                    f"{', '.join(dict.fromkeys(missing))} is not in the directory. Export "
                    "that record too, or correct the reference.",
                )
            )

    def _constants(self, spec: Spec, creating: bool) -> dict[str, Any]:
        constants: dict[str, Any] = {"last_run_id": self.run.pk}
        if creating:
            constants |= {"source_id": self.source.pk, "status": "active"}
            for name, value in spec.extra.items():
                constants[name] = self.district_id if value == "district_id" else value
            constants |= {stamp: self.now for stamp in spec.stamps}
        elif "updated_at" in spec.stamps:
            constants["updated_at"] = self.now
        return constants

    def note(
        self,
        action: str,
        object_type: str,
        object_id: int | None,
        before=None,
        after=None,
        note: str = "",
    ) -> None:
        self.audit.append(
            (
                action,
                object_type,
                object_id,
                None if before is None else json.dumps(before, default=str),
                None if after is None else json.dumps(after, default=str),
                note,
            )
        )

    def record_state(
        self,
        entity: str,
        table: pa.Table,
        active: bool = True,
        withheld: pa.Array | None = None,
        new: bool = False,
    ) -> None:
        """Remember what the source delivered: ``table`` has sourced_id, fingerprint, local_id.

        ``new``: the source never delivered these records before (a plain insert suffices).
        """
        n = table.num_rows
        (self.new_records if new else self.records).append(
            pa.table(
                {
                    "entity": pa.array([entity] * n, pa.string()),
                    "sourced_id": table["sourced_id"],
                    "fingerprint": table["fingerprint"]
                    if active
                    else pa.array([0] * n, pa.int64()),
                    "local_id": table["local_id"],
                    "active": pa.array([active] * n, pa.bool_()),
                    "withheld": withheld
                    if withheld is not None
                    else pa.array([False] * n, pa.bool_()),
                }
            )
        )

    # --- writing one entity -------------------------------------------------------------

    def write_entity(self, entity: str) -> None:
        spec, plan = SPECS[entity], self.plan.entities[entity]
        counts = {
            "created": 0,
            "updated": 0,
            "reactivated": 0,
            "archived": 0,
            "unchanged": plan.unchanged,
            "skipped": plan.skipped,  # a delta's rows whose references resolved nowhere
        }
        creating = plan.create
        if entity == "school":
            creating = adopt_schools(self, creating, counts)
        elif entity == "student":
            creating = adopt_students(self, creating, counts)
        values, kept, skipped = self._values(spec, creating)
        self._skip(entity, spec, skipped)
        counts["skipped"] += skipped.num_rows
        if values.num_rows:
            values = values.append_column("sourced_id", kept["sourced_id"]).append_column(
                "sis_fingerprint", kept["fingerprint"]
            )
            after = bulk.last_id(spec.table) if values.num_rows > MANY_CREATED else None
            bulk.insert_many(
                spec.table,
                values,
                self._constants(spec, creating=True),
                existing=self.maps[entity].num_rows,
            )
            if "account_id" in values.column_names:
                given = pc.unique(values["account_id"].combine_chunks()).drop_null()
                self.accounts_given_roles.append(given.cast(pa.int64()))
            ids = self._created_ids(spec, kept["sourced_id"], after)
            self.remember(entity, ids)
            self.wrote(entity, ids, kept)
            self.touch(entity, "gained", ids["local_id"])
            self.note(
                "create",
                spec.name,
                None,
                after={"count": ids.num_rows},
                note=f"{ids.num_rows} {entity} records created by sync run "
                f"{self.run.pk}; the run's plan lists each one",
            )
            counts["created"] = ids.num_rows
        counts["updated"] = self._update(entity, spec, plan.update, reactivate=False)
        counts["reactivated"] = self._update(entity, spec, plan.reactivate, reactivate=True)
        counts["archived"] = self._archive(entity, spec, plan.archive)
        self.outcome.counts[entity] = counts

    def _created_ids(self, spec: Spec, sourced_ids: pa.ChunkedArray, after: int | None) -> pa.Table:
        """sourcedId → id of the rows just created (by sourcedId when few, else the ids
        following ``after`` in insertion order where the database vouches for it, else one
        scan)."""
        if len(sourced_ids) > MANY_CREATED:
            appended = bulk.appended_ids(spec.table, after, sourced_ids)
            if appended is not None:
                return pa.table({"sourced_id": sourced_ids, "local_id": appended}).cast(ID_MAP)
            return bulk.select_rows(
                spec.table,
                ["sourced_id", "id"],
                "source_id = %s AND last_run_id = %s",
                [self.source.pk, self.run.pk],
                ID_MAP,
            )
        values = sourced_ids.to_pylist()
        parts = [
            bulk.select(
                f"SELECT sourced_id, id FROM {spec.table} WHERE source_id = %s AND sourced_id "
                f"IN ({', '.join(['%s'] * len(chunk))})",
                [self.source.pk, *chunk],
                ID_MAP,
            )
            for chunk in (values[i : i + 900] for i in range(0, len(values), 900))
        ]
        return pa.concat_tables(parts) if parts else ID_MAP.empty_table()

    def _update(self, entity: str, spec: Spec, table: pa.Table, reactivate: bool) -> int:
        if table.num_rows == 0:
            return 0
        values, kept, skipped = self._values(spec, table)
        self._skip(entity, spec, skipped)
        names = list(values.column_names)
        values = values.append_column("id", kept["local_id"]).append_column(
            "sis_fingerprint", kept["fingerprint"]
        )
        current = _current(spec.table, ["id", "status", *names], kept["local_id"].to_pylist())
        for row in _rows(values):
            old = current.get(row["id"], {})
            before = {k: old.get(k) for k in names if _differs(old.get(k), row[k])}
            after = {k: row[k] for k in before}
            if reactivate:
                before["status"], after["status"] = old.get("status"), "active"
            self.note(
                "reactivate" if reactivate else "update",
                spec.name,
                row["id"],
                before or None,
                after or None,
            )
        constants = self._constants(spec, creating=False) | {"status": "active"}
        if spec.model is Student:
            constants["archived_at"] = None
        bulk.update(spec.table, values, constants=constants)
        self.wrote(entity, kept.select(["sourced_id", "local_id"]), kept)
        if reactivate:
            self.touch(entity, "gained", values["id"])
        return values.num_rows

    def _archive(self, entity: str, spec: Spec, table: pa.Table) -> int:
        if table.num_rows == 0:
            return 0
        active = _active(spec.table, table["local_id"].to_pylist())
        constants = {"status": "archived", "last_run_id": self.run.pk}
        if spec.model is Student:
            constants["archived_at"] = self.now
        bulk.update(spec.table, pa.table({"id": pa.array(active, pa.int64())}), constants=constants)
        self.touch(entity, "lost", active)
        for pk in active:
            self.note("archive", spec.name, pk, {"status": "active"}, {"status": "archived"})
        return len(active)

    # --- references inside one delivery ------------------------------------------------

    def link_sessions_and_terms(self) -> None:
        """Parents of sessions and terms of classes, once every record has its id."""
        sessions = self.plan.entities["session"]
        delivered = pa.concat_tables(
            [
                sessions.create,
                sessions.update.drop_columns(["local_id"]),
                sessions.reactivate.drop_columns(["local_id"]),
            ]
        )
        parents = pa.table(
            {
                "id": self.ids_of("session", delivered["sourced_id"]),
                "parent_id": self.ids_of("session", delivered["parent_sourced_id"]),
            }
        )
        bulk.update(AcademicSession._meta.db_table, parents.filter(pc.is_valid(parents["id"])))
        classes = self.plan.entities["class"]
        delivered = pa.concat_tables(
            [
                classes.create,
                classes.update.drop_columns(["local_id"]),
                classes.reactivate.drop_columns(["local_id"]),
            ]
        )
        if delivered.num_rows == 0:
            return
        class_ids = self.ids_of("class", delivered["sourced_id"])
        terms = pc.split_pattern(delivered["term_sourced_ids"], ",")
        pairs = pa.table(
            {
                "schoolclass_id": pc.take(class_ids, pc.list_parent_indices(terms)),
                "academicsession_id": self.ids_of("session", pc.list_flatten(terms)),
            }
        )
        pairs = pairs.filter(
            pc.and_(pc.is_valid(pairs["schoolclass_id"]), pc.is_valid(pairs["academicsession_id"]))
        )
        through = SchoolClass.terms.through
        # A link table, rebuilt (not data) for the classes the source had before; a class
        # created by this run has no terms yet (all of them on a first sync).
        touched = classes.update["local_id"].to_pylist()
        touched += classes.reactivate["local_id"].to_pylist()
        for start in range(0, len(touched), 900):
            through.objects.filter(schoolclass_id__in=touched[start : start + 900]).delete()
        table = through._meta.db_table
        if pairs.num_rows >= bulk.MANY_ROWS:  # a first sync's: its indexes built once after
            bulk.insert_many(table, pairs, existing=through.objects.count())
        else:
            bulk.insert(table, pairs)

    def finish(self) -> None:
        constants = {"source_id": self.source.pk, "last_run_id": self.run.pk}
        if self.new_records:
            bulk.insert_many(  # a first sync: indexes built once, after the rows
                "sync_syncrecord",
                pa.concat_tables(self.new_records),
                constants,
                existing=self.records_before,
            )
        if self.records:
            bulk.upsert(
                "sync_syncrecord",
                pa.concat_tables(self.records),
                ["source_id", "entity", "sourced_id"],
                constants,
            )
        if self.audit:
            columns = list(zip(*self.audit, strict=True))
            entries = pa.table(
                {
                    "action": pa.array(columns[0], pa.string()),
                    "object_type": pa.array(columns[1], pa.string()),
                    "object_id": pa.array(columns[2], pa.int64()),
                    "before": pa.array(columns[3], pa.string()),
                    "after": pa.array(columns[4], pa.string()),
                    "note": pa.array(columns[5], pa.string()),
                }
            )
            bulk.insert(
                "directory_auditentry",
                entries,
                {
                    "at": self.now,
                    "actor_id": None,
                    "actor_label": "",
                    "run_id": self.run.pk,
                    "district_id": self.district_id,
                },
            )
        self.issues.extend(unresolved_issues(self.run, self.plan))
        RunIssue.objects.bulk_create(self.issues, batch_size=5000)
        self.outcome.issues = len(self.issues)


def apply_plan(
    run: SyncRun, plan: Plan, states: dict[str, pa.Table], progress: Progress | None = None
) -> Outcome:
    """Write the plan in one transaction; anything going wrong leaves the directory as it was.
    ``progress``: told each step, and the plan's rows it wrote (``progress.apply_rows``)."""
    progress = progress or Progress()
    with transaction.atomic(savepoint=False):  # the caller's transaction, no savepoint
        if connection.vendor == "postgresql":
            # Check foreign keys as each statement ends (the writes come in dependency order)
            # instead of queueing millions of deferred checks until the commit.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        writer = Writer(run, plan, states)
        seconds = writer.outcome.seconds
        rows = apply_rows(plan)
        progress.update(0, total=sum(rows.values()))

        def step(name: str, work, *args) -> None:
            started = time.perf_counter()
            progress.update(step=name)
            work(*args)
            seconds[name] = round(time.perf_counter() - started, 3)
            progress.advance(rows.get(name, 0))

        for entity in ("school", "session", "course", "class", "student"):
            step(entity, writer.write_entity, entity)
        step("sessions and terms", writer.link_sessions_and_terms)
        step("accounts", accounts.apply_people, writer)
        for entity in ("staff_role", "guardian_link", "enrollment"):
            step(entity, writer.write_entity, entity)
            release_written(plan, entity)
        step("adopted students' guardians", settle_guardians, writer)
        step("people moved", accounts.follow_moved_people, writer)
        step("accounts' activity", accounts.settle_activity, writer)
        step("records and audit", writer.finish)
        started = time.perf_counter()  # not a step people wait for: Arrow only, no writes
        writer.outcome.state = writer.state_after()
        seconds["state kept"] = round(time.perf_counter() - started, 3)
        return writer.outcome


def release_written(plan: Plan, entity: str) -> None:
    """Once an entity of the plan is written, only its row counts are read again (the run's
    summary): its columns are let go — 4.5M enrollments' and 2.5M guardian links' references
    and dates, several hundred MB, no longer held through the accounts' activity and the
    records (what the records need, the writer took while writing)."""
    done = plan.entities[entity]
    plan.entities[entity] = replace(
        done,
        create=done.create.select([]),
        update=done.update.select([]),
        reactivate=done.reactivate.select([]),
    )


def _differs(old: Any, new: Any) -> bool:
    """Whether a stored value and a new one differ (SQLite returns booleans as 0/1)."""
    if isinstance(new, bool):
        return old is None or bool(old) != new
    if old in ("", None) or new in ("", None):
        return old not in ("", None) or new not in ("", None)
    return str(old) != str(new)


def _current(table: str, columns: list[str], ids: list[int]) -> dict[int, dict]:

    found: dict[int, dict] = {}
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            cursor.execute(
                f"SELECT {names} FROM {table} WHERE id IN ({', '.join(['%s'] * len(chunk))})", chunk
            )
            for row in cursor.fetchall():
                found[row[0]] = dict(zip(columns, row, strict=True))
    return found


def _active(table: str, ids: list[int]) -> list[int]:

    found: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            cursor.execute(
                f"SELECT id FROM {table} WHERE status = 'active' AND id IN "
                f"({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
            found.extend(r[0] for r in cursor.fetchall())
    return found
