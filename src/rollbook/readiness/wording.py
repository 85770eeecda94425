"""The self-check report in a school administrator's words.

The report's data keeps its stable keys (``rollbook check --json`` and ``--csv``: scripts rely
on them). Wherever a person reads it — the web page, its CSV downloads — the keys become the
words below, and every count says what it counts, in the singular or the plural.
"""

from __future__ import annotations

from typing import Any

from .report import CODES


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 student``, ``2 students``, ``1,204 people``."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


#: What each finding's count counts (singular, plural).
UNITS: dict[str, tuple[str, str]] = {
    "CHECK-EXISTING-STUDENTS": ("student", "students"),
    "CHECK-EXISTING-STUDENT-TWINS": ("student", "students"),
    "CHECK-SCHOOL-NEAR-MATCH": ("school", "schools"),
    "CHECK-GUARDIAN-REUSED": ("account", "accounts"),
    "CHECK-GUARDIAN-NEAR-MATCH": ("guardian", "guardians"),
    "CHECK-GUARDIAN-NO-MATCH": ("guardian", "guardians"),
    "CHECK-GUARDIAN-RETURNS": ("account", "accounts"),
    "CHECK-MULTI-ROLE-ONE-ACCOUNT": ("person", "people"),
    "CHECK-STAFF-ALSO-GUARDIAN": ("staff member", "staff members"),
    "CHECK-MULTI-ROLE-SPLIT": ("group of records", "groups of records"),
    "CHECK-SIGN-IN-CONFLICT": ("email or phone", "emails and phones"),
    "CHECK-GUARDIAN-NO-CONTACT": ("guardian", "guardians"),
    "CHECK-EMAIL-MALFORMED": ("email", "emails"),
    "CHECK-PHONE-UNPARSEABLE": ("phone", "phones"),
    "CHECK-STUDENT-NO-GUARDIAN": ("student", "students"),
    "CHECK-READER-FINDINGS": ("finding", "findings"),
    "CHECK-SYNC-SKIPS": ("record", "records"),
}

#: What a finding's table rows are, where its count counts something else (groups, totals).
ROW_UNITS: dict[str, tuple[str, str]] = {
    "CHECK-MULTI-ROLE-SPLIT": ("SIS record", "SIS records"),
    "CHECK-READER-FINDINGS": ("kind of finding", "kinds of finding"),
    "CHECK-SYNC-SKIPS": ("row", "rows"),
}

#: A finding whose people are all listed by another finding of the same section: the page
#: shows them once, in the other finding's table (the columns that tell them apart).
SUBSETS = {
    "CHECK-EXISTING-STUDENT-TWINS": "CHECK-EXISTING-STUDENTS",
    "CHECK-STAFF-ALSO-GUARDIAN": "CHECK-MULTI-ROLE-ONE-ACCOUNT",
}

SEVERITY = {
    "error": "Must be fixed",
    "warning": "Fix before the first sync",
    "info": "Good to know",
}


def counted(code: str, n: int) -> str:
    """A finding's count with what it counts: ``52 students``, ``1 school``."""
    one, many = UNITS.get(code, ("row", "rows"))
    return plural(n, one, many)


def rows_counted(code: str, n: int) -> str:
    """A number of a finding's table rows: ``6 SIS records`` (of 3 groups)."""
    one, many = ROW_UNITS.get(code) or UNITS.get(code, ("row", "rows"))
    return plural(n, one, many)


#: The rows' keys, as the column headings of the page and of its CSV downloads.
LABELS = {
    "student_id": "Rollbook student number",
    "account_id": "Rollbook account number",
    "school_id": "Rollbook school number",
    "given_name": "Given name",
    "family_name": "Family name",
    "school": "School",
    "grade": "Grade",
    "birth_date": "Birth date",
    "guardian_links": "Guardian links",
    "history_records": "History records",
    "likely_sis_student": "Likely SIS student (SIS id)",
    "match": "Match",
    "score": "How alike (%)",
    "students_entered_by_hand": "Students entered by hand",
    "sis_school": "SIS school",
    "email": "Email",
    "phone": "Phone",
    "sis_sourced_id": "SIS id",
    "sourced_id": "SIS id",
    "sourced_ids": "SIS ids",
    "sis_name": "SIS name",
    "sis_roles": "Roles in the SIS",
    "roles": "Roles",
    "differs": "What differs",
    "given_name_current": "Given name now",
    "given_name_sis": "Given name in the SIS",
    "family_name_current": "Family name now",
    "family_name_sis": "Family name in the SIS",
    "email_current": "Email now",
    "email_sis": "Email in the SIS",
    "phone_current": "Phone now",
    "phone_sis": "Phone in the SIS",
    "other_candidates": "Other existing accounts like it",
    "students_linked": "Students linked",
    "fixable": "Can take the SIS values now",
    "not_fixable_because": "Why not",
    "deactivated_at": "Deactivated on",
    "archived_guardian_links": "Archived guardian links",
    "history_written": "Messages and notes written",
    "group": "Group",
    "accounts_in_group": "Accounts in the group",
    "field": "Email or phone",
    "value": "Value",
    "held_by_account": "Held by account number",
    "held_by_sis_sourced_id": "Held by SIS id",
    "held_by_name": "Held by",
    "students": "Students",
    "school_sourced_id": "School (SIS id)",
    "code": "Finding code",
    "severity": "Severity",
    "count": "How many",
    "what": "What",
    "fix": "What fixes it",
    "first_at": "First seen at",
    "entity": "Kind of record",
    "message": "Why",
}

#: The kinds of record the sync writes, in words.
ENTITIES = {
    "student": "student",
    "person": "person",
    "account": "account",
    "guardian_link": "guardian link",
    "staff_role": "staff role",
    "enrollment": "class enrollment",
    "class": "class",
    "course": "course",
    "school": "school",
    "academic_session": "school term",
}

ENTITIES_PLURAL = {
    "person": "people",
    "class": "classes",
}


def entity(name: str, n: int | None = None) -> str:
    """A kind of record in words; with ``n``, counted (``3 guardian links``)."""
    one = ENTITIES.get(name, name.replace("_", " "))
    if n is None:
        return one
    return plural(n, one, ENTITIES_PLURAL.get(name))


def label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def cell(key: str, value: Any) -> str:
    """A value as a person reads it: nothing for None, yes/no, lists joined, kinds of record
    and severities in words."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "; ".join(cell(key, v) for v in value)
    if key == "entity":
        return entity(str(value))
    return str(value)


#: The prediction, in groups, each number with what it counts.
PREDICTION: dict[str, list[tuple[str, str]]] = {
    "Students": [
        ("students_created", "created from the SIS"),
        ("students_adopted", "entered by hand and confirmed as SIS students (adopted)"),
        ("students_updated", "updated"),
        ("students_archived", "archived"),
        ("students_left_untouched", "entered by hand, left as they are"),
        ("students_entered_by_hand_in_syncing_schools", "entered by hand in schools that sync"),
    ],
    "Accounts": [
        ("accounts_created", "created"),
        ("accounts_reused", "existing accounts used again (exact match)"),
        ("existing_guardian_accounts_reused", "existing guardian accounts used again"),
        ("accounts_kept", "kept as they are"),
        ("people_split", "people who become several accounts"),
        ("accounts_from_split", "accounts those people become"),
    ],
    "Roles and classes": [
        ("roles_added", "roles added (staff roles and guardian links)"),
        ("staff_roles_added", "staff roles added"),
        ("guardian_links_added", "guardian links added"),
        ("class_enrollments_added", "class enrollments added"),
    ],
    "Withheld, skipped, adopted": [
        ("identifiers_withheld", "emails and phones withheld"),
        ("records_skipped", "records skipped"),
        ("schools_adopted", "schools entered by hand, adopted"),
        ("adopted_guardian_links_folded", "hand-entered guardian links folded into the SIS's"),
        ("adopted_guardian_links_archived", "hand-entered guardian links archived"),
        ("adopted_guardian_links_kept_by_hand", "hand-entered guardian links kept by choice"),
    ],
}


def prediction(values: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The prediction's groups with their numbers; keys not named above go last, in words."""
    named = {key for items in PREDICTION.values() for key, _ in items}
    groups = [
        (title, [(words, _number(values[key])) for key, words in items if key in values])
        for title, items in PREDICTION.items()
    ]
    rest = [(label(k), _number(v)) for k, v in values.items() if k not in named]
    if rest:
        groups.append(("Other", rest))
    return [(title, items) for title, items in groups if items]


def _number(value: Any) -> str:
    return (
        f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else cell("", value)
    )


def verdict(data: dict[str, Any]) -> str:
    """The report's verdict in one sentence, every count in the right number."""
    if not data["can_sync"]:
        return (
            "The sync cannot run: the bundle has errors (listed under Data quality). Fix them in "
            "the SIS export and run the self-check again."
        )
    p = data["prediction"]
    parts = [
        f"The sync can run. It will create {plural(p.get('students_created', 0), 'student')} "
        f"and {plural(p.get('accounts_created', 0), 'account')}, use "
        f"{plural(p.get('accounts_reused', 0), 'existing account')} again, and leave "
        f"{plural(p.get('students_left_untouched', 0), 'student')} entered by hand as "
        f"{'it is' if p.get('students_left_untouched', 0) == 1 else 'they are'}."
    ]
    if p.get("records_skipped"):
        parts.append(f"It will skip {plural(p['records_skipped'], 'record')} (see Data quality).")
    return " ".join(parts)


def to_fix(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings to act on before the first sync (warnings and errors), most serious
    first, in the report's order otherwise."""
    order = {"error": 0, "warning": 1}
    chosen = [f for f in findings if f["severity"] in order]
    return sorted(chosen, key=lambda f: order[f["severity"]])


def severity_of(code: str) -> str:
    return CODES[code].severity if code in CODES else "info"
