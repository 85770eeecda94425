"""The self-check's report: findings with stable codes, the prediction, and its outputs.

Every finding names its code, how many people or records it concerns, every one of them (in the
JSON and CSV outputs), why it matters and what fixes it. The codes are stable: scripts and the
web app rely on them. docs/self-check.md describes each one.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollbook.csvsafe import safe_row

#: Sections, in the order of the founding guideline.
SECTIONS = {
    "existing_families": "Existing families",
    "existing_guardians": "Existing guardians",
    "multiple_roles": "People with several roles",
    "sign_in_conflicts": "Sign-in conflicts",
    "contactability": "Contactability",
    "data_quality": "Data quality",
}


@dataclass(frozen=True)
class Code:
    section: str
    severity: str  # info | warning | error
    title: str
    why: str
    action: str


CODES: dict[str, Code] = {
    "CHECK-EXISTING-STUDENTS": Code(
        "existing_families",
        "warning",
        "Students entered before the sync, in schools that will sync",
        "The first sync never touches students that exist before it: it creates the SIS "
        "students beside them, so each of these children would be listed twice.",
        "Archive them before the first sync: 'rollbook students archive --district ID "
        "--origin manual' (or the Self-check tab's button). After the sync, the merge "
        "process moves their history onto the new students. If their guardians' old "
        "information is no longer wanted, use Remove Guardians (District or School page → "
        "Directory → select the students → Actions → Remove Guardians).",
    ),
    "CHECK-EXISTING-STUDENT-TWINS": Code(
        "existing_families",
        "info",
        "Existing students who look like an incoming SIS student",
        "The merge process's own matcher (names that survive nicknames, accents and typos; "
        "school, grade, birth date, guardian contacts) finds an SIS student for them: they "
        "are candidates for the merge after the first sync, which carries their history over "
        "(the 'match' column is the bucket the merge will show).",
        "Archive them now; merge them after the first sync ('rollbook merge suggest').",
    ),
    "CHECK-SCHOOL-NEAR-MATCH": Code(
        "existing_families",
        "warning",
        "Schools entered by hand whose name is nearly an SIS school's",
        "The first sync adopts a school entered by hand only when its name is exactly the SIS "
        "school's (case and spaces aside). This one's name differs a little, so the sync will "
        "create the SIS school as a second school, and the students entered by hand stay in "
        "this one: every such child would be listed in two schools.",
        "If it is the same school, rename it to exactly the SIS name before the first sync "
        "('rollbook schools rename SCHOOL_ID \"SIS NAME\" --district ID'); the sync then "
        "adopts it. If it is another school, nothing to do.",
    ),
    "CHECK-GUARDIAN-REUSED": Code(
        "existing_guardians",
        "info",
        "Existing guardian accounts the first sync will keep using",
        "Their name, email and phone equal an SIS guardian's: the sync gives the SIS roles "
        "to the account the family already uses.",
        "Nothing to do.",
    ),
    "CHECK-GUARDIAN-NEAR-MATCH": Code(
        "existing_guardians",
        "warning",
        "Existing guardians who will get a second account",
        "The same email or phone as an SIS guardian, or the same name and email, but not "
        "all three equal: the sync reuses an account only on an exact match, so it will "
        "create a new account beside this one (and withhold an email or phone that this "
        "account still holds).",
        "Update the account's contact details to the SIS values before the first sync "
        "('rollbook guardians update-contacts BUNDLE --district ID --all', or one account "
        "with --account ID), or correct the SIS if the account is right.",
    ),
    "CHECK-GUARDIAN-NO-MATCH": Code(
        "existing_guardians",
        "info",
        "Existing guardians the SIS does not know",
        "No SIS guardian has this account's email, phone or name: the sync leaves the "
        "account and its links to the existing students as they are.",
        "If the old guardian information is no longer wanted, use Remove Guardians on the "
        "existing students (District or School page → Directory → Actions).",
    ),
    "CHECK-GUARDIAN-RETURNS": Code(
        "existing_guardians",
        "info",
        "Removed guardians the SIS brings back as new accounts",
        "These accounts were deactivated when their guardian links were removed (Remove "
        "Guardians, or an earlier sync). The SIS lists a person with the same email or phone: "
        "the sync gives that person a new account. The old account stays deactivated with its "
        "history (archived links, messages it wrote); none of it moves to the new account.",
        "Nothing, if the removal was intended: the family comes back from the SIS with a "
        "fresh account. Know that the old account's history is not carried over to it.",
    ),
    "CHECK-MULTI-ROLE-ONE-ACCOUNT": Code(
        "multiple_roles",
        "info",
        "People with several roles who will have one account",
        "These SIS records share name, email and phone, or one record holds a staff role and "
        "a guardian role: they become one account holding every role (a teacher who is also "
        "a parent). A single record with several roles of one kind (a parent of several "
        "children) is one account too; those are counted, not listed.",
        "Nothing to do.",
    ),
    "CHECK-STAFF-ALSO-GUARDIAN": Code(
        "multiple_roles",
        "info",
        "Staff whose guardian role will share their staff account",
        "The staff record and the guardian record have the same name, email and phone: one "
        "account holds both roles.",
        "Nothing to do if that is wanted. Staff who want separate staff and guardian "
        "accounts need a different email on each role in the SIS.",
    ),
    "CHECK-MULTI-ROLE-SPLIT": Code(
        "multiple_roles",
        "warning",
        "People with several roles who will have several accounts",
        "These SIS records share an email or a phone but differ in name, email or phone: "
        "the sync makes separate accounts, and only one of them can sign in with the "
        "shared email or phone.",
        "Make name, email and phone the same on every role of the person in the SIS (the "
        "'differs' column says which field), or give different people different emails.",
    ),
    "CHECK-SIGN-IN-CONFLICT": Code(
        "sign_in_conflicts",
        "warning",
        "Emails and phones the first sync will withhold",
        "The email or phone already belongs to another person (an existing account, or an "
        "SIS person who wins it by the documented rule): the account is created without it "
        "so that nobody can sign in as someone else.",
        "If they are the same person, make name, email and phone agree; otherwise correct "
        "the SIS. The sync attaches a withheld identifier as soon as it is free.",
    ),
    "CHECK-GUARDIAN-NO-CONTACT": Code(
        "contactability",
        "warning",
        "Guardians with neither email nor phone",
        "The platform cannot reach them, and a record without email or phone is never "
        "recognised as an existing account.",
        "Add an email or a phone in the SIS.",
    ),
    "CHECK-EMAIL-MALFORMED": Code(
        "contactability",
        "warning",
        "Emails that are not valid",
        "The account is created without the email.",
        "Correct the email in the SIS.",
    ),
    "CHECK-PHONE-UNPARSEABLE": Code(
        "contactability",
        "warning",
        "Phones that are not valid for the district's region",
        "The account is created without the phone.",
        "Correct the phone in the SIS, or write it with its country code (+…).",
    ),
    "CHECK-STUDENT-NO-GUARDIAN": Code(
        "contactability",
        "info",
        "Students with no guardian",
        "No family can be reached for these students.",
        "Add the guardians (agents) in the SIS export.",
    ),
    "CHECK-READER-FINDINGS": Code(
        "data_quality",
        "info",
        "What the CSV reader found",
        "Rows with errors are not synced; warnings are synced as described.",
        "'rollbook validate BUNDLE' lists every finding with its file, line and column.",
    ),
    "CHECK-SYNC-SKIPS": Code(
        "data_quality",
        "warning",
        "Records the sync will skip",
        "They point at a record the bundle does not deliver (a class, a student, a school): "
        "the sync records them on the run and writes the rest.",
        "Export the missing records too, or correct the references.",
    ),
}


@dataclass
class Finding:
    code: str
    rows: list[dict[str, Any]]
    count: int | None = None  # defaults to len(rows)
    summary: str = ""
    unlisted: int = 0  # records the finding counts in its summary but does not list

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown self-check code {self.code}")
        if self.count is None:
            self.count = len(self.rows)

    @property
    def info(self) -> Code:
        return CODES[self.code]

    def as_dict(self) -> dict[str, Any]:
        code = self.info
        return {
            "code": self.code,
            "section": code.section,
            "severity": code.severity,
            "title": code.title,
            "count": self.count,
            "summary": self.summary,
            "why": code.why,
            "action": code.action,
            "unlisted": self.unlisted,
            "rows": self.rows,
        }


@dataclass
class Report:
    district_id: int
    bundle: str
    can_sync: bool
    findings: list[Finding] = field(default_factory=list)
    prediction: dict[str, Any] = field(default_factory=dict)
    outcome: dict[str, Any] = field(default_factory=dict)  # the rehearsal's full outcome
    verdict: str = ""
    seconds: float = 0.0

    def add(self, code: str, rows: list[dict[str, Any]], **extra: Any) -> None:
        """Add a finding when there is something to say."""
        if rows or extra.get("count") or extra.get("unlisted"):
            self.findings.append(Finding(code, rows, **extra))

    def finding(self, code: str) -> Finding | None:
        return next((f for f in self.findings if f.code == code), None)

    def count(self, code: str) -> int:
        found = self.finding(code)
        return found.count if found else 0

    def sections(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {key: [] for key in SECTIONS}
        for f in self.findings:
            grouped[f.info.section].append(f)
        return grouped

    def as_dict(self) -> dict[str, Any]:
        return {
            "district_id": self.district_id,
            "bundle": self.bundle,
            "can_sync": self.can_sync,
            "verdict": self.verdict,
            "prediction": self.prediction,
            "sync_outcome": self.outcome,
            "sections": {
                key: {"title": SECTIONS[key], "findings": [f.as_dict() for f in items]}
                for key, items in self.sections().items()
            },
            "seconds": round(self.seconds, 3),
        }

    def to_json(self) -> str:
        """Indented, with each affected person's row on one line: a report at district scale
        lists millions of rows, which indented one value per line would make several times
        larger (and Python's indenting encoder is the slow one)."""
        data = self.as_dict()
        rows: list[list[dict[str, Any]]] = []
        for section in data["sections"].values():
            for finding in section["findings"]:
                rows.append(finding["rows"])
                finding["rows"] = f"\x00rows-{len(rows) - 1}\x00"
        skeleton = json.dumps(data, indent=2, ensure_ascii=False, default=str)
        line = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
        parts = re.split(r'"\\u0000rows-(\d+)\\u0000"', skeleton)
        out = parts[:1]
        for index, after in zip(parts[1::2], parts[2::2], strict=True):
            items = rows[int(index)]
            out.append("[\n" + ",\n".join(line(r) for r in items) + "\n]" if items else "[]")
            out.append(after)
        return "".join(out)

    def write_csv(self, folder: Path) -> list[Path]:
        """One CSV per finding, every row, cells neutralised against formula injection."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for f in self.findings:
            path = folder / f"{f.code.lower()}.csv"
            columns = list(dict.fromkeys(k for row in f.rows for k in row)) or ["count"]
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                for row in f.rows or [{"count": f.count}]:
                    writer.writerow(safe_row({k: _cell(v) for k, v in row.items()}))
            written.append(path)
        return written


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return value
