"""Manual roster entry: a simple CSV of students and up to two guardians each.

This is how schools got their "existing families" before they switched to a sync. The whole
file is checked first; one bad row means nothing is imported, and every problem is reported
with its line, column and the fix.

Columns (header names, any order; only the first three are required)::

    student_given_name, student_family_name, grade, student_birth_date, student_number, school,
    guardian1_given_name, guardian1_family_name, guardian1_email, guardian1_phone,
    guardian1_relationship, and the same five for guardian2_.

``school`` (a school's id or exact name) overrides the school given on the command line.
Names are stored in Unicode NFC with whitespace folded; a name that holds an invisible
character (a text-direction control, a zero-width space: ``contacts.HIDDEN_CHARACTERS``) is a
problem of its line and column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from rollbook.errors import UserError

from . import audit, counts
from .contacts import (
    ContactError,
    PersonKey,
    check_name,
    clean_name,
    name_key,
    normalize_email,
    normalize_phone,
)
from .models import Account, District, GuardianLink, Origin, School, Student
from .services import IdentityConflict, Person, find_account

STUDENT_COLUMNS = [
    "student_given_name",
    "student_family_name",
    "grade",
    "student_birth_date",
    "student_number",
    "school",
]
GUARDIAN_FIELDS = ["given_name", "family_name", "email", "phone", "relationship"]
GUARDIAN_SLOTS = ("guardian1", "guardian2")
KNOWN_COLUMNS = STUDENT_COLUMNS + [f"{g}_{f}" for g in GUARDIAN_SLOTS for f in GUARDIAN_FIELDS]
REQUIRED_COLUMNS = ["student_given_name", "student_family_name", "grade"]
RELATIONSHIPS = {"parent", "guardian", "relative"}
# OneRoster's grade vocabulary (CEDS), plus the spellings people type by hand.
GRADES = {"IT", "PR", "PK", "TK", "KG", "PS", "UG", "Other"} | {f"{n:02d}" for n in range(1, 14)}
GRADE_ALIASES = {"K": "KG", "PREK": "PK", "PRE-K": "PK"}


@dataclass(frozen=True)
class RowProblem:
    line: int
    column: str
    column_number: int
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}"
        if self.column:
            where += f", column {self.column_number} ({self.column})"
        return f"{where}: {self.message}"


class RosterImportError(UserError):
    """The file cannot be imported; nothing was changed."""

    def __init__(self, path: str, problems: list[RowProblem]):
        self.path = path
        self.problems = problems
        shown = "\n".join(f"  {path}: {p}" for p in problems[:50])
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"{len(problems)} problem(s) in {path}; nothing was imported.\n{shown}{more}"
        )


@dataclass
class GuardianEntry:
    person: Person
    relationship: str
    line: int
    slot: str


@dataclass
class StudentEntry:
    line: int
    school: School
    given_name: str
    family_name: str
    grade: str
    birth_date: dt.date | None
    student_number: str
    guardians: list[GuardianEntry] = field(default_factory=list)


@dataclass
class ImportResult:
    students_created: int = 0
    accounts_created: int = 0
    accounts_reused: int = 0
    guardian_links_created: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def normalize_grade(value: str) -> str | None:
    text = value.strip()
    upper = text.upper()
    if upper in GRADE_ALIASES:
        return GRADE_ALIASES[upper]
    if text.isdigit() and 1 <= int(text) <= 13:
        return f"{int(text):02d}"
    if text in GRADES:
        return text
    matches = [g for g in GRADES if g.upper() == upper]
    return matches[0] if matches else None


class _Reader:
    """Checks every row and collects problems instead of stopping at the first."""

    def __init__(self, district: District, default_school: School | None):
        self.district = district
        self.default_school = default_school
        self.problems: list[RowProblem] = []
        self.schools = {str(s.pk): s for s in district.schools.all()}
        self.schools_by_name = {name_key(s.name): s for s in district.schools.all()}
        self.columns: dict[str, int] = {}

    def problem(self, line: int, column: str, message: str) -> None:
        number = self.columns.get(column, 0) + 1 if column else 0
        self.problems.append(RowProblem(line, column, number, message))

    def check_header(self, header: list[str]) -> bool:
        names = [h.strip().lstrip("\ufeff") for h in header]
        self.columns = {name: i for i, name in enumerate(names)}
        for i, name in enumerate(names):
            if name not in KNOWN_COLUMNS:
                self.problems.append(
                    RowProblem(
                        1,
                        name,
                        i + 1,
                        f"unknown column '{name}'; the columns are: {', '.join(KNOWN_COLUMNS)}",
                    )
                )
        for name in REQUIRED_COLUMNS:
            if name not in self.columns:
                self.problems.append(RowProblem(1, name, 0, f"the column '{name}' is missing"))
        if "school" not in self.columns and self.default_school is None:
            self.problems.append(
                RowProblem(
                    1, "school", 0, "no school given: add a 'school' column or use --school ID"
                )
            )
        return not self.problems

    def name(self, line: int, column: str, value: str | None) -> str:
        """The name in ``column``, cleaned; a problem when it holds a hidden character."""
        try:
            check_name(value)
        except ContactError as exc:
            self.problem(line, column, str(exc))
        return clean_name(value)

    def row(self, line: int, values: dict[str, str]) -> StudentEntry | None:
        before = len(self.problems)
        given = self.name(line, "student_given_name", values.get("student_given_name"))
        family = self.name(line, "student_family_name", values.get("student_family_name"))
        if not given:
            self.problem(line, "student_given_name", "the student's given name is empty")
        if not family:
            self.problem(line, "student_family_name", "the student's family name is empty")
        grade_text = values.get("grade", "").strip()
        grade = normalize_grade(grade_text)
        if grade is None:
            self.problem(
                line,
                "grade",
                f"'{grade_text}' is not a grade; use KG, PK, 1 to 12 (or 01 to 12), or Other",
            )
        birth_date = None
        birth_text = values.get("student_birth_date", "").strip()
        if birth_text:
            try:
                birth_date = dt.date.fromisoformat(birth_text)
            except ValueError:
                self.problem(
                    line,
                    "student_birth_date",
                    f"'{birth_text}' is not a date; write it as YYYY-MM-DD",
                )
        school = self.default_school
        school_text = values.get("school", "").strip()
        if school_text:
            school = self.schools.get(school_text) or self.schools_by_name.get(
                name_key(school_text)
            )
            if school is None:
                self.problem(
                    line,
                    "school",
                    f"no school '{school_text}' in district {self.district.name}; "
                    "use a school's id or exact name",
                )
        elif school is None:
            self.problem(line, "school", "the school is empty and no --school was given")
        guardians = [g for slot in GUARDIAN_SLOTS if (g := self.guardian(line, slot, values))]
        if len(self.problems) > before:
            return None
        return StudentEntry(
            line,
            school,
            given,
            family,
            grade,
            birth_date,
            values.get("student_number", "").strip(),
            guardians,
        )

    def guardian(self, line: int, slot: str, values: dict[str, str]) -> GuardianEntry | None:
        raw = {f: values.get(f"{slot}_{f}", "").strip() for f in GUARDIAN_FIELDS}
        if not any(raw.values()):
            return None
        before = len(self.problems)
        names = {f: self.name(line, f"{slot}_{f}", raw[f]) for f in ("given_name", "family_name")}
        for name_field in ("given_name", "family_name"):
            if not raw[name_field]:
                self.problem(
                    line,
                    f"{slot}_{name_field}",
                    f"{slot} has contact details but no {name_field.replace('_', ' ')}",
                )
        if not raw["email"] and not raw["phone"]:
            self.problem(line, f"{slot}_email", f"{slot} needs an email or a phone")
        relationship = (raw["relationship"] or "parent").lower()
        if relationship not in RELATIONSHIPS:
            self.problem(
                line,
                f"{slot}_relationship",
                f"'{raw['relationship']}' is not a relationship; use parent, guardian or relative",
            )
        email = phone = None
        try:
            email = normalize_email(raw["email"])
        except ContactError as exc:
            self.problem(line, f"{slot}_email", str(exc))
        try:
            phone = normalize_phone(raw["phone"], self.district.default_region)
        except ContactError as exc:
            self.problem(line, f"{slot}_phone", str(exc))
        if len(self.problems) > before:
            return None
        person = Person(names["given_name"], names["family_name"], email, phone)
        return GuardianEntry(person, relationship, line, slot)


def read_roster(
    text: str, path: str, district: District, school: School | None
) -> list[StudentEntry]:
    """Check the whole file; returns the entries or raises RosterImportError."""
    reader = _Reader(district, school)
    rows = csv.reader(io.StringIO(text))
    try:
        header = next(rows)
    except StopIteration:
        raise RosterImportError(path, [RowProblem(1, "", 0, "the file is empty")]) from None
    if not reader.check_header(header):
        raise RosterImportError(path, reader.problems)
    entries: list[StudentEntry] = []
    names = list(reader.columns)
    try:
        for values in rows:
            line = rows.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(names):
                reader.problem(
                    line,
                    "",
                    f"this row has {len(values)} fields, the header has "
                    f"{len(names)}; check for a missing or extra comma",
                )
                continue
            entry = reader.row(line, dict(zip(names, values, strict=True)))
            if entry is not None:
                entries.append(entry)
    except csv.Error as exc:
        reader.problem(rows.line_num, "", f"the CSV cannot be read here: {exc}")
    _check_identities(entries, reader)
    if reader.problems:
        raise RosterImportError(path, reader.problems)
    if not entries:
        raise RosterImportError(path, [RowProblem(2, "", 0, "the file has no students")])
    return entries


def _check_identities(entries: list[StudentEntry], reader: _Reader) -> None:
    """Two different people may not share an email or phone, in the file or the directory."""
    holders: dict[tuple[str, str], tuple[PersonKey, int]] = {}
    for entry in entries:
        for g in entry.guardians:
            for kind, value in (("email", g.person.email), ("phone", g.person.phone)):
                if not value:
                    continue
                seen = holders.setdefault((kind, value), (g.person.key, g.line))
                if seen[0] != g.person.key:
                    reader.problem(
                        g.line,
                        f"{g.slot}_{kind}",
                        f"the {kind} {value} is also given on line {seen[1]} for a person with "
                        "another name, email or phone; one person must be written the same way "
                        "every time, and two people cannot share a sign-in",
                    )
            try:
                find_account(g.person)
            except IdentityConflict as exc:
                reader.problem(
                    g.line, f"{g.slot}_email" if g.person.email else f"{g.slot}_phone", str(exc)
                )


@transaction.atomic
def import_roster(
    path: Path, district: District, school: School | None, actor: audit.Actor
) -> ImportResult:
    """Import a manual roster file, all or nothing."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV"
        ) from None
    entries = read_roster(text, str(path), district, school)
    return apply_roster(entries, district, actor)


def apply_roster(
    entries: list[StudentEntry], district: District, actor: audit.Actor
) -> ImportResult:
    result = ImportResult()
    kept = counts.hold([district.pk])  # the district's overview counts (counts.py)
    students = Student.objects.bulk_create(
        [
            Student(
                district=district,
                school=e.school,
                given_name=e.given_name,
                family_name=e.family_name,
                grade=e.grade,
                birth_date=e.birth_date,
                sis_identifier=e.student_number,
                origin=Origin.MANUAL,
            )
            for e in entries
        ],
        batch_size=1000,
    )
    result.students_created = len(students)
    accounts: dict[PersonKey, Account] = {}
    new_accounts: list[Account] = []
    for e in entries:
        for g in e.guardians:
            if g.person.key in accounts:
                continue
            existing = find_account(g.person)
            if existing is not None:
                accounts[g.person.key] = existing
                result.accounts_reused += 1
            else:
                account = Account(
                    given_name=g.person.given_name,
                    family_name=g.person.family_name,
                    email=g.person.email,
                    phone=g.person.phone,
                    password="!",
                    origin=Origin.MANUAL,
                )
                accounts[g.person.key] = account
                new_accounts.append(account)
    Account.objects.bulk_create(new_accounts, batch_size=1000)
    result.accounts_created = len(new_accounts)
    links = []
    for student, e in zip(students, entries, strict=True):
        seen = set()
        for g in e.guardians:
            account = accounts[g.person.key]
            if account.pk in seen:
                continue
            seen.add(account.pk)
            links.append(
                GuardianLink(account=account, student=student, relationship=g.relationship)
            )
    GuardianLink.objects.bulk_create(links, batch_size=1000)
    result.guardian_links_created = len(links)
    if kept:  # new students are active; each linked account a guardian, if not already
        linked = {link.account_id for link in links}
        already = counts.guardians_among(district.pk, linked, {link.pk for link in links})
        counts.add(district.pk, students_active=len(students), guardians=len(linked) - already)
    note = "manual roster import"
    audit.record(
        [
            audit.entry(actor, "create", s, district=district, after=audit.snapshot(s), note=note)
            for s in students
        ]
        + [
            audit.entry(actor, "create", a, district=district, after=audit.snapshot(a), note=note)
            for a in new_accounts
        ]
        + [
            audit.entry(
                actor, "create", link, district=district, after=audit.snapshot(link), note=note
            )
            for link in links
        ]
    )
    return result
