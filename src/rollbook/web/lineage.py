"""Where a student or an account comes from, and its audit trail, in an administrator's words:
"Created by sync run 12 on 3 Dec 2026 from users.csv line 4,081", "Archived by Dana Whitfield
on 3 Dec 2026", "Grade: 03 → 04".

A sync records its creations as one audit entry per entity and run (decision 0004), stamped
with the run's time — the time it also gives the rows it creates. The run that created a synced
record is therefore the latest creation entry of the record's source at or before the record's
creation time: one indexed look-up (``object_type``, ``object_id`` null), no entry per record.
The line of users.csv comes from the run's plan, or what is kept of it (``sync/lines.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.urls import reverse

from rollbook.directory import audit
from rollbook.directory.models import Account, AuditEntry, GuardianLink, StaffRole, Student
from rollbook.sync import lines

from .scope import Scope


@dataclass(frozen=True)
class Sentence:
    """A sentence with links: ``parts`` are (text, address or "")."""

    parts: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return "".join(text for text, _ in self.parts)


@dataclass(frozen=True)
class Row:
    """A line of the audit trail, with the address of its sync run when the reader may open
    the run's page (district administrators)."""

    line: audit.Line
    run_url: str = ""


def _run_url(scope: Scope, district_id: int | None, run_id: int | None) -> str:
    if run_id is None or district_id is None or not scope.administers_district(district_id):
        return ""
    return reverse("web:district-run", args=[district_id, run_id])


def _by(scope: Scope, e: AuditEntry) -> tuple[str, str]:
    """Who made an entry, as a part of a sentence (a sync run links to its page)."""
    return audit.author(e), _run_url(scope, e.district_id, e.run_id)


def _from_where(e: AuditEntry, entity: str = "", sourced_ids: Iterable[str] = ()) -> str:
    """The file a created person or student was read from: OneRoster's users.csv, and its
    line when the run's plan (or what is kept of it) says which (the first of the records
    ``sourced_ids`` of ``entity`` that the run created). A REST source's bundle is a file
    Rollbook wrote: its lines are not cited."""
    source = e.run.source if e.run_id else None
    if source is None:
        return ""
    if source.is_rest:
        return " from the SIS's OneRoster API"
    found = lines.lines_of(e.run, entity, sourced_ids) if entity else {}
    return f" from users.csv line {min(found.values()):,}" if found else " from users.csv"


def creation(obj: Student, object_type: str = "student") -> AuditEntry | None:
    """The entry of the sync run that created a synced record (see the module's docstring)."""
    if obj.source_id is None or obj.created_at is None:
        return None
    return (
        AuditEntry.objects.filter(
            object_type=object_type,
            object_id__isnull=True,
            action="create",
            run__source_id=obj.source_id,
            at__lte=obj.created_at,
        )
        .select_related("run__source")
        .order_by("-at", "-pk")
        .first()
    )


def _status_sentence(scope: Scope, e: AuditEntry | None, verb: str, tail: str = "") -> Sentence:
    if e is None:
        return Sentence(((f"{verb}{tail}", ""),))
    note = audit.plain_note(e.note)
    return Sentence(
        (
            (f"{verb}{tail} by ", ""),
            _by(scope, e),
            (f" on {audit.when(e.at, False)}" + (f": {note}" if note else ""), ""),
        )
    )


def student_lineage(
    scope: Scope, student: Student, merged_into: str = ""
) -> tuple[list[Sentence], AuditEntry | None]:
    """Sentences on where the student comes from and what became of it, and the entry of the
    sync run that created it (shown in its trail too), if a run did."""
    own = AuditEntry.objects.filter(object_type="student", object_id=student.pk)
    adopted = own.filter(action="adopt").select_related("run__source").first()
    created = None
    said: list[Sentence] = []
    if student.source_id is None or adopted is not None:
        entered = own.filter(action="create").select_related("actor").order_by("at", "pk").first()
        by = f" by {audit.author(entered)}" if entered is not None else ""
        parts: list[tuple[str, str]] = [
            (f"Entered by hand{by} on {audit.when(student.created_at, False)}", "")
        ]
        if adopted is not None:
            sid = (adopted.after or {}).get("sourced_id") if isinstance(adopted.after, dict) else ""
            as_sis = f" as SIS student {sid}" if sid else ""
            parts += [("; adopted by ", ""), _by(scope, adopted)]
            where = _from_where(adopted, "student", [sid] if sid else [])
            parts.append((f" on {audit.when(adopted.at, False)}{as_sis}{where}", ""))
        said.append(Sentence(tuple(parts)))
    else:
        created = creation(student)
        if created is not None:
            where = _from_where(created, "student", [student.sourced_id])
            said.append(
                Sentence(
                    (
                        ("Created by ", ""),
                        _by(scope, created),
                        (f" on {audit.when(created.at, False)}{where}", ""),
                    )
                )
            )
        else:
            said.append(Sentence((("From the SIS", ""),)))
    done_by = {e.run_id for e in (created, adopted) if e is not None}
    if student.last_run_id and student.last_run_id not in done_by:
        run = student.last_run
        url = _run_url(scope, student.district_id, run.pk)
        when = f" on {audit.when(run.finished_at or run.created_at, False)}"
        said.append(Sentence((("Last changed by ", ""), (f"sync run {run.pk}", url), (when, ""))))
    if student.status == "archived":
        said.append(_status_sentence(scope, own.filter(action="archive").first(), "Archived"))
    elif student.status == "merged":
        tail = f" into {merged_into}" if merged_into else ""
        said.append(_status_sentence(scope, own.filter(action="merge").first(), "Merged", tail))
    return said, created


def account_lineage(scope: Scope, account: Account) -> tuple[list[Sentence], AuditEntry | None]:
    """Sentences on where the account comes from and, when deactivated, who did it; and the
    entry of the sync run that created it, if a run did."""
    own = AuditEntry.objects.filter(
        object_type="account", object_id=account.pk, district__in=scope.district_ids
    )
    said: list[Sentence] = []
    created = None
    if account.created_by_run_id is not None:
        created = (
            AuditEntry.objects.filter(
                object_type="account",
                object_id__isnull=True,
                action="create",
                run_id=account.created_by_run_id,
            )
            .select_related("run__source")
            .first()
        )
        run = account.created_by_run
        url = _run_url(scope, run.source.district_id, run.pk)
        where = (
            _from_where(created, "person", _person_ids(account, run.source_id))
            if created is not None
            else ""
        )
        said.append(
            Sentence(
                (
                    ("Created by ", ""),
                    (f"sync run {run.pk}", url),
                    (f" on {audit.when(account.created_at, False)}{where}", ""),
                )
            )
        )
    else:
        entered = own.filter(action="create").select_related("actor").order_by("at", "pk").first()
        by = f" by {audit.author(entered)}" if entered is not None else ""
        on = audit.when(account.created_at, False)
        said.append(Sentence(((f"Entered by hand{by} on {on}", ""),)))
    if not account.is_active:
        e = own.filter(action="deactivate").select_related("actor").first()
        said.append(_status_sentence(scope, e, "Deactivated"))
    return said, created


def _person_ids(account: Account, source_id: int) -> list[str]:
    """The SIS person records of a source that an account holds, by its roles and links (both
    indexed by account; the source's state is not indexed by account)."""
    ids: set[str] = set()
    for model in (StaffRole, GuardianLink):
        ids.update(
            model.objects.filter(account=account, source_id=source_id)
            .exclude(person_sourced_id=None)
            .values_list("person_sourced_id", flat=True)
            .distinct()
        )
    return sorted(ids)


def trail(scope: Scope, entries: QuerySet[AuditEntry], objects: dict, shown: int) -> list[Row]:
    """The newest ``shown`` entries in words. ``objects``: what the page calls each record
    the entries are about (see ``audit.Names``). Names of other records are looked up inside
    the scope only: an entry never names anyone the reader may not see."""
    rows = list(entries.select_related("actor")[:shown])
    refs = audit.references(rows)
    names = audit.Names(
        schools=dict(scope.schools().filter(pk__in=refs["schools"]).values_list("pk", "name")),
        accounts={a.pk: a.name for a in _named(scope.accounts(), refs["accounts"])},
        students={s.pk: s.display_name for s in _named(scope.students(), refs["students"])},
        classes=dict(scope.classes().filter(pk__in=refs["classes"]).values_list("pk", "title")),
        objects=objects,
    )
    return [Row(audit.read(e, names), _run_url(scope, e.district_id, e.run_id)) for e in rows]


def _named(queryset: QuerySet, ids: Iterable[int]) -> QuerySet:
    ids = sorted(ids)
    return queryset.filter(pk__in=ids) if ids else queryset.none()
