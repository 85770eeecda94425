"""Stage 4, apply: a plan written into the directory in one database transaction.

Each entity is written the same way, from a small spec: creations in bulk, updates of the
SIS-owned fields only, archives and reactivations as status changes — never a delete. Every
change is tied to the run (``last_run`` on the object, an audit entry, the source's state).
Local data — history, manual records, anything not in a spec's ``fields`` — is never written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from django.db import models, transaction
from django.utils import timezone

from rollbook.directory import audit
from rollbook.directory.models import (
    AcademicSession,
    AuditEntry,
    ClassMembership,
    Course,
    GuardianLink,
    SchoolClass,
    StaffRole,
    Status,
    Student,
)
from rollbook.directory.models import School as SchoolModel

from . import accounts
from .models import RunIssue, SyncRecord, SyncRun
from .plan import Plan
from .plan import rows as _rows
from .read import ENTITIES

BATCH = 5000


@dataclass(frozen=True)
class Spec:
    """How one entity's records map onto a directory table."""

    model: type[models.Model]
    fields: dict[str, str]  # model field ← incoming column (SIS-owned fields)
    refs: dict[str, tuple[str, str]] = field(default_factory=dict)  # fk ← (entity, column)
    required: tuple[str, ...] = ()  # refs without which the row cannot be written
    one_of: tuple[str, ...] = ()  # at least one of these refs must resolve
    extra: dict[str, str] = field(default_factory=dict)  # model field ← context key


SPECS: dict[str, Spec] = {
    "school": Spec(
        SchoolModel,
        {"name": "name", "identifier": "identifier"},
        extra={"district_id": "district_id"},
    ),
    "session": Spec(
        AcademicSession,
        {
            "title": "title",
            "kind": "kind",
            "start_date": "start_date",
            "end_date": "end_date",
            "school_year": "school_year",
        },
        refs={"parent_id": ("session", "parent_sourced_id")},
        extra={"district_id": "district_id"},
    ),
    "course": Spec(
        Course,
        {"title": "title", "code": "code"},
        refs={"school_id": ("school", "school_sourced_id")},
        extra={"district_id": "district_id"},
    ),
    "class": Spec(
        SchoolClass,
        {"title": "title", "class_code": "class_code", "class_type": "class_type"},
        refs={
            "school_id": ("school", "school_sourced_id"),
            "course_id": ("course", "course_sourced_id"),
        },
        required=("school_id",),
    ),
    "student": Spec(
        Student,
        {
            "given_name": "given_name",
            "middle_name": "middle_name",
            "family_name": "family_name",
            "preferred_given_name": "preferred_given_name",
            "preferred_family_name": "preferred_family_name",
            "grade": "grade",
            "sis_identifier": "identifier",
            "birth_date": "birth_date",
        },
        refs={"school_id": ("school", "school_sourced_id")},
        required=("school_id",),
        extra={"district_id": "district_id", "origin": "synced"},
    ),
    "staff_role": Spec(
        StaffRole,
        {"role": "role", "person_sourced_id": "person_sourced_id"},
        refs={
            "account_id": ("person", "person_sourced_id"),
            "school_id": ("school", "school_sourced_id"),
        },
        required=("account_id", "school_id"),
    ),
    "guardian_link": Spec(
        GuardianLink,
        {"relationship": "relationship", "person_sourced_id": "person_sourced_id"},
        refs={
            "account_id": ("person", "person_sourced_id"),
            "student_id": ("student", "student_sourced_id"),
        },
        required=("account_id", "student_id"),
    ),
    "enrollment": Spec(
        ClassMembership,
        {
            "role": "role",
            "is_primary": "is_primary",
            "begin_date": "begin_date",
            "end_date": "end_date",
            "person_sourced_id": "user_sourced_id",
        },
        refs={
            "school_class_id": ("class", "class_sourced_id"),
            "student_id": ("student", "user_sourced_id"),
            "account_id": ("person", "user_sourced_id"),
        },
        required=("school_class_id",),
        one_of=("student_id", "account_id"),
    ),
}


@dataclass
class Outcome:
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    identity: dict[str, int] = field(default_factory=dict)
    issues: int = 0


class Writer:
    """Applies one plan for one run. Use :func:`apply_plan`."""

    def __init__(self, run: SyncRun, plan: Plan, states: dict[str, dict[str, tuple]]):
        self.run = run
        self.source = run.source
        self.plan = plan
        self.now = timezone.now()
        self.actor = audit.Actor(run=run)
        self.district_id = self.source.district_id
        # sourcedId → local id, for every record the source ever delivered (and new ones).
        self.ids: dict[str, dict[str, int]] = {
            e: {sid: row[0] for sid, row in states.get(e, {}).items()} for e in ENTITIES
        }
        self.records: list[SyncRecord] = []
        self.audit: list[AuditEntry] = []
        self.issues: list[RunIssue] = []
        self.moved: dict[str, tuple[int | None, int]] = {}  # person → (before, after)
        self.outcome = Outcome()

    # --- generic entity writing --------------------------------------------------------

    def _values(self, spec: Spec, row: dict[str, Any]) -> dict[str, Any] | None:
        values = {name: row[column] for name, column in spec.fields.items()}
        for name, (entity, column) in spec.refs.items():
            key = row.get(column)
            values[name] = self.ids[entity].get(key) if key else None
        for name, context in spec.extra.items():
            values[name] = self.district_id if context == "district_id" else context
        if any(values[name] is None for name in spec.required):
            return None
        if spec.one_of and all(values[name] is None for name in spec.one_of):
            return None
        if spec.one_of:  # a student's enrollment never points at an account, and vice versa
            keep = next(name for name in spec.one_of if values[name] is not None)
            for name in spec.one_of:
                if name != keep:
                    values[name] = None
        return values

    def _skip(self, entity: str, row: dict, spec: Spec) -> None:
        names = [n for n in spec.required if self._ref_missing(spec, n, row)]
        if not names and spec.one_of:
            names = [spec.one_of[0]]
        missing = [spec.refs[n][1] for n in names]
        self.issues.append(
            RunIssue(
                run=self.run,
                code="SYNC-REFERENCE-MISSING",
                severity="warning",
                entity=entity,
                sourced_id=row["sourced_id"],
                message=f"{entity} {row['sourced_id']} was not written: "
                f"{', '.join(f'{m} {row.get(m)!r}' for m in missing)} is not in the "
                "directory. Export the record it refers to, or correct the reference.",
            )
        )

    def _ref_missing(self, spec: Spec, name: str, row: dict) -> bool:
        entity, column = spec.refs[name]
        return self.ids[entity].get(row.get(column)) is None

    def write_entity(self, entity: str) -> None:
        spec = SPECS[entity]
        plan = self.plan.entities[entity]
        counts = {
            "created": 0,
            "updated": 0,
            "reactivated": 0,
            "archived": 0,
            "unchanged": plan.unchanged,
            "skipped": 0,
        }
        model_name = spec.model._meta.model_name
        # Creations.
        new_objects, new_rows = [], []
        for row in _rows(plan.create):
            values = self._values(spec, row)
            if values is None:
                self._skip(entity, row, spec)
                counts["skipped"] += 1
                continue
            new_objects.append(
                spec.model(
                    **values,
                    source=self.source,
                    sourced_id=row["sourced_id"],
                    last_run=self.run,
                    status=Status.ACTIVE,
                )
            )
            new_rows.append(row)
        spec.model.objects.bulk_create(new_objects, batch_size=BATCH)
        for obj, row in zip(new_objects, new_rows, strict=True):
            self.ids[entity][row["sourced_id"]] = obj.pk
            self._record(entity, row, obj.pk)
            self.audit.append(
                audit.entry(
                    self.actor,
                    "create",
                    object_type=model_name,
                    object_id=obj.pk,
                    district=self.district_id,
                )
            )
        counts["created"] = len(new_objects)
        # Updates and reactivations: SIS-owned fields, status, last run.
        for action, table in (("update", plan.update), ("reactivate", plan.reactivate)):
            rows = [r for r in _rows(table)]
            changed = self._update(entity, spec, rows, reactivate=action == "reactivate")
            counts["updated" if action == "update" else "reactivated"] = changed
        # Archives: status only.
        counts["archived"] = self._archive(entity, spec, plan.archive)
        self.outcome.counts[entity] = counts

    def _update(self, entity: str, spec: Spec, rows: list[dict], reactivate: bool) -> int:
        if not rows:
            return 0
        names = list(spec.fields) + list(spec.refs) + ["status"]
        current = {
            obj.pk: obj
            for chunk in _chunks([r["local_id"] for r in rows])
            for obj in spec.model.objects.filter(pk__in=chunk)
        }
        changed_objects = []
        for row in rows:
            obj = current.get(row["local_id"])
            values = self._values(spec, row)
            if obj is None or values is None:
                self._skip(entity, row, spec)
                continue
            values["status"] = Status.ACTIVE
            before, after = {}, {}
            for name in names:
                if name in values and getattr(obj, name) != values[name]:
                    before[name] = audit.json_value(getattr(obj, name))
                    after[name] = audit.json_value(values[name])
                    setattr(obj, name, values[name])
            obj.last_run = self.run
            changed_objects.append(obj)
            self._record(entity, row, obj.pk)
            self.audit.append(
                audit.entry(
                    self.actor,
                    "reactivate" if reactivate else "update",
                    object_type=spec.model._meta.model_name,
                    object_id=obj.pk,
                    district=self.district_id,
                    before=before or None,
                    after=after or None,
                )
            )
        spec.model.objects.bulk_update(changed_objects, names + ["last_run"], batch_size=BATCH)
        return len(changed_objects)

    def _archive(self, entity: str, spec: Spec, table: pa.Table) -> int:
        rows = list(_rows(table))
        if not rows:
            return 0
        ids = [r["local_id"] for r in rows]
        archived = 0
        for chunk in _chunks(ids):
            qs = spec.model.objects.filter(pk__in=chunk, status=Status.ACTIVE)
            chunk_ids = list(qs.values_list("pk", flat=True))
            fields = {"status": Status.ARCHIVED, "last_run": self.run}
            if spec.model is Student:
                fields["archived_at"] = self.now
            spec.model.objects.filter(pk__in=chunk_ids).update(**fields)
            archived += len(chunk_ids)
            self.audit.extend(
                audit.entry(
                    self.actor,
                    "archive",
                    object_type=spec.model._meta.model_name,
                    object_id=pk,
                    district=self.district_id,
                    before={"status": "active"},
                    after={"status": "archived"},
                )
                for pk in chunk_ids
            )
        for row in rows:
            self.records.append(
                SyncRecord(
                    source=self.source,
                    entity=entity,
                    sourced_id=row["sourced_id"],
                    fingerprint=0,
                    local_id=row["local_id"],
                    active=False,
                    last_run=self.run,
                )
            )
        return archived

    def _record(
        self,
        entity: str,
        row: dict,
        local_id: int,
        fingerprint: int | None = None,
        withheld: bool = False,
    ):
        self.records.append(
            SyncRecord(
                source=self.source,
                entity=entity,
                sourced_id=row["sourced_id"],
                fingerprint=row["fingerprint"] if fingerprint is None else fingerprint,
                local_id=local_id,
                active=True,
                withheld=withheld,
                last_run=self.run,
            )
        )

    # --- special cases ------------------------------------------------------------------

    def link_sessions_and_terms(self) -> None:
        """Parents of sessions and terms of classes: references inside one delivery."""
        sessions = self.plan.entities["session"]
        for table in (sessions.create, sessions.update, sessions.reactivate):
            for row in _rows(table):
                parent = self.ids["session"].get(row.get("parent_sourced_id") or "")
                AcademicSession.objects.filter(pk=self.ids["session"][row["sourced_id"]]).update(
                    parent_id=parent
                )
        classes = self.plan.entities["class"]
        through = SchoolClass.terms.through
        links, touched = [], []
        for table in (classes.create, classes.update, classes.reactivate):
            for row in _rows(table):
                pk = self.ids["class"].get(row["sourced_id"])
                if pk is None:
                    continue
                touched.append(pk)
                for term in filter(None, (row.get("term_sourced_ids") or "").split(",")):
                    if (term_id := self.ids["session"].get(term)) is not None:
                        links.append(through(schoolclass_id=pk, academicsession_id=term_id))
        for chunk in _chunks(touched):
            through.objects.filter(schoolclass_id__in=chunk).delete()  # a link table, not data
        through.objects.bulk_create(links, batch_size=BATCH, ignore_conflicts=True)

    def finish(self) -> None:
        SyncRecord.objects.bulk_create(
            self.records,
            batch_size=BATCH,
            update_conflicts=True,
            unique_fields=["source", "entity", "sourced_id"],
            update_fields=["fingerprint", "local_id", "active", "withheld", "last_run"],
        )
        audit.record(self.audit, batch_size=BATCH)
        RunIssue.objects.bulk_create(self.issues, batch_size=BATCH)
        self.outcome.issues = len(self.issues)


def apply_plan(run: SyncRun, plan: Plan, states: dict[str, dict[str, tuple]]) -> Outcome:
    """Write the plan in one transaction; anything going wrong leaves the directory as it was."""
    with transaction.atomic():
        writer = Writer(run, plan, states)
        for entity in ("school", "session", "course", "class", "student"):
            writer.write_entity(entity)
        writer.link_sessions_and_terms()
        accounts.apply_people(writer)
        for entity in ("staff_role", "guardian_link", "enrollment"):
            writer.write_entity(entity)
        accounts.follow_moved_people(writer)
        accounts.settle_activity(writer)
        writer.finish()
        return writer.outcome


def _chunks(values: list, size: int = 900):
    for i in range(0, len(values), size):
        yield values[i : i + size]
