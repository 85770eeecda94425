"""The audit log: every change is tied to the person or the sync run that made it."""

from __future__ import annotations

import datetime as dt
import getpass
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import models

from .models import Account, AuditEntry, District


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in account, a sync run, or a named operator (the CLI)."""

    account: Account | None = None
    run: Any = None  # rollbook.sync.models.SyncRun
    label: str = ""

    @classmethod
    def command_line(cls) -> Actor:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(label=f"command line (user {user})")

    def describe(self) -> str:
        if self.account is not None:
            return self.account.name
        if self.run is not None:
            return f"sync run {self.run.pk}"
        return self.label


def json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The object's concrete field values as JSON-safe data (foreign keys as ids)."""
    names = fields or [f.attname for f in obj._meta.concrete_fields if f.attname != "password"]
    return {name: json_value(getattr(obj, name)) for name in names}


def entry(
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    district: District | int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
) -> AuditEntry:
    """Build (not save) one audit entry; save many at once with :func:`record`."""
    district_id = district.pk if isinstance(district, District) else district
    return AuditEntry(
        actor=actor.account,
        actor_label=actor.label,
        run=actor.run,
        district_id=district_id,
        action=action,
        object_type=object_type or (obj._meta.model_name if obj is not None else ""),
        object_id=object_id if object_id is not None else (obj.pk if obj is not None else None),
        before=before,
        after=after,
        note=note,
    )


def change(
    actor: Actor,
    action: str,
    obj: models.Model,
    values: dict[str, Any],
    *,
    district: District | int | None = None,
) -> None:
    """Set ``values`` on ``obj``, save those fields, and record the change with its before
    and after (the common case of one person changing a few fields of one record)."""
    fields = list(values)
    before = snapshot(obj, fields)
    for name, value in values.items():
        setattr(obj, name, value)
    obj.save(update_fields=fields)
    record(
        [entry(actor, action, obj, district=district, before=before, after=snapshot(obj, fields))]
    )


def record(entries: Iterable[AuditEntry], batch_size: int = 2000) -> int:
    """Save audit entries in bulk; returns how many were written."""
    items = list(entries)
    AuditEntry.objects.bulk_create(items, batch_size=batch_size)
    return len(items)


# --- Reading the log: an entry in an administrator's words -----------------------------------
#
# What is stored stays as it is (field names, ids, JSON); these helpers only say it in words:
# "Grade: 03 → 04", names instead of ids, never a dict. A stored field that has no label here
# is not shown (it is internal: ids, time stamps, fingerprints).

FIELD_LABELS = {
    "given_name": "Given name",
    "middle_name": "Middle name",
    "family_name": "Family name",
    "preferred_given_name": "Preferred given name",
    "preferred_family_name": "Preferred family name",
    "grade": "Grade",
    "birth_date": "Birth date",
    "sis_identifier": "Student number",
    "identifier": "Identifier",
    "school_id": "School",
    "school": "School",
    "status": "Status",
    "origin": "Origin",
    "email": "Email",
    "phone": "Phone",
    "is_active": "Account",
    "account": "Account",
    "account_id": "Account",
    "student": "Student",
    "student_id": "Student",
    "relationship": "Relationship",
    "role": "Role",
    "is_primary": "Primary teacher",
    "begin_date": "Begins",
    "end_date": "Ends",
    "school_class_id": "Class",
    "name": "Name",
    "title": "Title",
    "class_code": "Class code",
}
#: Fields that name another record, and where :class:`Names` keeps the names of that kind.
REFERENCES = {
    "school_id": "schools",
    "school": "schools",
    "account": "accounts",
    "account_id": "accounts",
    "student": "students",
    "student_id": "students",
    "merged_into": "students",
    "merged_from": "students",
    "school_class_id": "classes",
}
UNNAMED = {
    "schools": "another school",
    "accounts": "another account",
    "students": "another student",
    "classes": "another class",
}
DATES = {"birth_date", "begin_date", "end_date"}
TIMES = {"archived_at", "deactivated_at", "chosen_at", "until"}
STATUS_WORDS = {"active": "Active", "archived": "Archived", "merged": "Merged"}
ORIGIN_WORDS = {"manual": "Entered by hand", "synced": "From the SIS"}
#: What each kind of record is called (a run's creation counts "students", "accounts"…).
RECORD_WORDS = {
    "student": ("student", "students"),
    "account": ("account", "accounts"),
    "guardianlink": ("guardian link", "guardian links"),
    "classmembership": ("class membership", "class memberships"),
    "staffrole": ("staff role", "staff roles"),
    "school": ("school", "schools"),
    "schoolclass": ("class", "classes"),
    "course": ("course", "courses"),
    "academicsession": ("term", "terms"),
    "administratorrole": ("administrator role", "administrator roles"),
}
VERBS = {
    "create": "created",
    "update": "changed",
    "archive": "archived",
    "unarchive": "unarchived",
    "reactivate": "reactivated",
    "deactivate": "deactivated",
    "adopt": "adopted by the sync",
    "merge": "merged",
    "unmerge": "merge undone",
    "move": "given to another account",
    "keep_by_hand": "kept by hand",
    "update_contacts": "contact details set to the SIS values",
    "invite": "invited",
    "grant": "given",
    "send-password-link": "sent a link to choose a password",
    "set-password": "password chosen",
    "sign-in locked out": "sign-in locked out",
    "sign-in unlocked": "sign-in unlocked",
    "confirm_adoption": "confirmed to be a student of the SIS",
    "cancel_adoption": "adoption cancelled",
    "rename": "renamed",
}
# A note is shown as written only when it is a sentence for people: never one naming records
# by id, holding a dict, or an "(s)".
_NOT_FOR_PEOPLE = re.compile(
    r"[{}]|\(s\)|\b(?:student|account|merge|adoption|link|run|person|records?) \d|_"
)


def plain_note(note: str) -> str:
    """A stored note when it is a sentence for people, else "" (it names records by id, or
    holds a dict)."""
    return note if note and not _NOT_FOR_PEOPLE.search(note) else ""


def plural(count: int, one: str, many: str | None = None) -> str:
    """``3 students``, ``1 student``, ``2,000 students``."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


@dataclass
class Names:
    """The names a page may show, by kind and id — the page looks them up inside the reader's
    scope, so that an entry never names anyone the reader may not see — and ``objects``: what
    the page calls each record its trail covers (``("guardianlink", 7)``: "Guardian link to
    Pat Parent"; the page's own record: "")."""

    schools: dict[int, str] = field(default_factory=dict)
    accounts: dict[int, str] = field(default_factory=dict)
    students: dict[int, str] = field(default_factory=dict)
    classes: dict[int, str] = field(default_factory=dict)
    objects: dict[tuple[str, int | None], str] = field(default_factory=dict)

    def of(self, kind: str, pk: Any) -> str:
        try:
            found = getattr(self, kind).get(int(pk))
        except (TypeError, ValueError):
            found = None
        return found or UNNAMED[kind]


@dataclass(frozen=True)
class Change:
    """One field of an entry: "Grade: 03 → 04", or "Grade: 03" for a value recorded alone."""

    label: str
    before: str | None
    after: str | None

    def __str__(self) -> str:
        if self.before is None or self.after is None:
            return f"{self.label}: {self.after if self.before is None else self.before}"
        return f"{self.label}: {self.before} → {self.after}"


@dataclass(frozen=True)
class Line:
    """An audit entry as a page shows it."""

    at: dt.datetime
    who: str
    run_id: int | None
    what: str
    changes: tuple[Change, ...] = ()
    note: str = ""


def references(entries: Iterable[AuditEntry]) -> dict[str, set[int]]:
    """The ids of other records the entries name, by kind (``schools``, ``accounts``,
    ``students``, ``classes``): what a page looks up to fill :class:`Names`."""
    found: dict[str, set[int]] = {kind: set() for kind in UNNAMED}
    for e in entries:
        for values in (e.before, e.after):
            for key, value in (values or {}).items() if isinstance(values, dict) else ():
                if key in REFERENCES and isinstance(value, int) and not isinstance(value, bool):
                    found[REFERENCES[key]].add(value)
    return found


def author(e: AuditEntry) -> str:
    """Who made the change: a person's name, a sync run, or the command line's label."""
    if e.actor_id is not None:
        return e.actor.name
    if e.run_id is not None:
        return f"sync run {e.run_id}"
    return e.actor_label or "Rollbook"


def when(value: Any, with_time: bool = True) -> str:
    """A stored date or time (ISO text) as people read it: "3 Dec 2026 14:05", in the time
    zone active (the page sets the district's)."""
    from django.utils import timezone
    from django.utils.dateformat import format as date_format

    try:
        if isinstance(value, str):
            value = (
                dt.datetime.fromisoformat(value)
                if "T" in value or " " in value
                else (dt.date.fromisoformat(value))
            )
    except ValueError:
        return str(value)
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return date_format(value, "j M Y H:i" if with_time else "j M Y")
    if isinstance(value, dt.date):
        return date_format(value, "j M Y")
    return str(value)


def words(key: str, value: Any, names: Names) -> str:
    """A stored value in words: a name for an id, "Archived" for ``archived``, a date."""
    if value is None or value == "":
        return "—"
    if key in REFERENCES:
        return names.of(REFERENCES[key], value)
    if key == "status":
        return STATUS_WORDS.get(str(value), str(value).capitalize())
    if key == "origin":
        return ORIGIN_WORDS.get(str(value), str(value))
    if key == "is_active":
        return "Active" if value else "Deactivated"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if key in DATES:
        return when(value, with_time=False)
    if key in TIMES:
        return when(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def changes(e: AuditEntry, names: Names, keys: Iterable[str] | None = None) -> tuple[Change, ...]:
    """The entry's labelled fields, before → after (a creation: the values it was given)."""
    before = e.before if isinstance(e.before, dict) else {}
    after = e.after if isinstance(e.after, dict) else {}
    shown = []
    for key in keys if keys is not None else dict.fromkeys([*after, *before]):
        if key not in FIELD_LABELS or key not in after:
            continue  # a value only before (what an adoption replaced) is not a change
        label, now = FIELD_LABELS[key], words(key, after[key], names)
        if key in before:
            shown.append(Change(label, words(key, before[key], names), now))
        elif not (e.action == "create" and after[key] in (None, "")):
            shown.append(Change(label, None, now))
    return tuple(shown)


def _merge_words(after: dict) -> str:
    moved = [
        plural(after[key], one)
        for key, one in (
            ("history", "history record"),
            ("links_moved", "guardian link"),
            ("memberships_moved", "class membership"),
        )
        if after.get(key)
    ]
    if not moved:
        return "nothing else to move onto this student"
    listed = f"{', '.join(moved[:-1])} and {moved[-1]}" if len(moved) > 1 else moved[0]
    return f"{listed} moved onto this student"


def _special(e: AuditEntry, names: Names) -> tuple[str, str, tuple[Change, ...]] | None:
    """The entries whose meaning is in their values, said in a sentence: (what, note,
    changes), or None for the general reading."""
    before = e.before if isinstance(e.before, dict) else {}
    after = e.after if isinstance(e.after, dict) else {}
    one, many = RECORD_WORDS.get(e.object_type, ("record", "records"))
    if e.action == "create" and e.object_id is None and "count" in after:
        count = int(after["count"] or 0)
        return (
            "Created",
            f"one of the {plural(count, one, many)} {author(e)} created; the run's plan lists "
            "each one",
            (),
        )
    if e.action == "merge" and "merged_into" in after:
        return f"Merged into {names.of('students', after['merged_into'])}", "", ()
    if e.action == "merge" and "merged_from" in after:
        old = names.of("students", after["merged_from"])
        return f"{old} merged into this student", _merge_words(after), ()
    if e.action == "unmerge" and "merged_from" in before:
        return f"Merge of {names.of('students', before['merged_from'])} undone", "", ()
    if e.action == "adopt":
        sid = after.get("sourced_id")
        note = f"SIS id {sid}: " if sid else ""
        what = "history and guardians kept" if e.object_type == "student" else "students kept"
        return "Adopted by the sync", note + what, changes(e, names, ["origin"])
    if e.action == "confirm_adoption":
        sid = after.get("sourced_id")
        return (
            f"Confirmed to be SIS student {sid}" if sid else VERBS[e.action].capitalize(),
            "the first sync adopts this student instead of creating another",
            (),
        )
    if e.action == "keep_by_hand":
        by, at = after.get("kept_by"), after.get("chosen_at")
        chosen = f"chosen by {by}" if by else "chosen"
        on = f" on {when(at, False)}" if at else ""
        note = f"{chosen}{on}: the SIS does not list this guardian"
        return "", note, changes(e, names, ["student"])
    if e.action == "archive" and e.object_type == "guardianlink" and len(after) > 1:
        during = "in a merge" if "merge" in after else "when the sync adopted the student"
        if "folded_into" in after:
            return "", f"{during}: the same guardian was linked already", ()
        return "", f"{during}: the SIS does not list this guardian", ()
    if e.action == "sign-in locked out":
        failures, address = after.get("failures"), after.get("ip_address")
        tries = plural(int(failures), "failed sign-in") if failures else "failed sign-ins"
        return "", f"after {tries}{f' from {address}' if address else ''}", ()
    if e.action == "sign-in unlocked":
        places = words("locked_from", before.get("locked_from"), names)
        until = when(before["until"]) if before.get("until") else ""
        return "", f"it was locked out from {places}{f' until {until}' if until else ''}", ()
    if e.object_type == "administratorrole" and after.get("district_id") is not None:
        school = after.get("school_id")
        role = (
            f"school administrator of {names.of('schools', school)}"
            if school
            else "district administrator"
        )
        if e.action in ("invite", "grant"):
            return f"{VERBS[e.action].capitalize()} as {role}", "", ()
        return f"{role.capitalize()}: {VERBS.get(e.action, e.action)}", "", ()
    return None


def read(e: AuditEntry, names: Names) -> Line:
    """One audit entry in an administrator's words (``e.actor`` selected with it)."""
    verb = VERBS.get(e.action, e.action.replace("_", " ").replace("-", " "))
    subject = names.objects.get((e.object_type, e.object_id))
    if subject is None:
        subject = RECORD_WORDS.get(e.object_type, ("record",))[0].capitalize()
    special = _special(e, names)
    if special is not None:
        what, note, shown = special
        what = what or (f"{subject}: {verb}" if subject else verb.capitalize())
    else:
        what = f"{subject}: {verb}" if subject else verb.capitalize()
        shown = changes(e, names)
        note = plain_note(e.note)
    return Line(e.at, author(e), e.run_id, what, shown, note)
