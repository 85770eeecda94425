"""The self-check report's findings as the page shows them: tables in words (names linked to
their pages, no internal keys), a page of rows at a time, and the summary of what to fix.

The report's rows keep their stable keys (docs/self-check.md); this module only decides how a
person reads them. The CSV downloads carry every row and every column, headed in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from rollbook.readiness.wording import SUBSETS, cell, label, plural, rows_counted

PAGE_ROWS = 25

#: Pairs of name keys shown as one name, with the column's heading.
NAMES = [
    ("given_name", "family_name", "Name"),
    ("given_name_current", "family_name_current", "Name now"),
    ("given_name_sis", "family_name_sis", "Name in the SIS"),
]
#: Keys the page folds into another column (the CSV keeps them).
FOLDED = {
    "student_id",
    "account_id",
    "school_id",
    "held_by_account",
    "held_by_sis_sourced_id",
    "not_fixable_because",
}


@dataclass
class Cell:
    text: str
    href: str = ""
    lines: list[str] = field(default_factory=list)  # more lines under the text
    action: str = ""  # a link to a fix offered for this row
    action_href: str = ""
    wide: bool = False  # prose: a column wide enough to read


@dataclass
class Table:
    code: str
    headings: list[str]
    rows: list[list[Cell]]
    page: int
    pages: int
    first: int  # the first row's position, from 1
    last: int
    total: int
    title: str = ""
    widths: list[str] = field(default_factory=list)  # the columns' shares, when laid out
    only: str = ""  # the code of a subset shown instead of every row
    only_title: str = ""

    @property
    def range(self) -> str:
        rows = rows_counted(self.only or self.code, self.total)
        return rows if self.total <= PAGE_ROWS else f"{self.first:,}–{self.last:,} of {rows}"

    def query(self, page: int | None = None) -> str:
        """The query string of a page of this table (the same filter)."""
        query = {"code": self.code}
        if self.only:
            query["only"] = self.only
        if page and page > 1:
            query["page"] = str(page)
        return "?" + urlencode(query)

    @property
    def previous(self) -> str:
        return self.query(self.page - 1) if self.page > 1 else ""

    @property
    def next(self) -> str:
        return self.query(self.page + 1) if self.page < self.pages else ""

    @property
    def every_row(self) -> str:
        return "?" + urlencode({"code": self.code})


def _keys(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))


def _name(row: dict, given: str, family: str) -> str:
    return " ".join(str(row.get(k) or "").strip() for k in (given, family)).strip()


class Links:
    """The pages a row's cells link to: the person's, the school's, the fix's."""

    def __init__(self, district_pk: int, job_pk: int):
        self.fix = reverse("web:district-check-fix", args=[district_pk, job_pk, "contacts"])

    @staticmethod
    def student(pk) -> str:
        return reverse("web:student", args=[pk]) if pk else ""

    @staticmethod
    def account(pk) -> str:
        return reverse("web:account", args=[pk]) if pk else ""

    @staticmethod
    def school(pk) -> str:
        return reverse("web:school-overview", args=[pk]) if pk else ""


def _side_by_side(links: Links) -> list[tuple[str, Any]]:
    """An existing guardian and the SIS person it resembles, field by field, one above the
    other in two columns (a dozen narrow columns would not be readable)."""

    def now(row: dict) -> Cell:
        name = _name(row, "given_name_current", "family_name_current")
        students = int(row.get("students_linked") or 0)
        lines = [
            row.get("email_current") or "(no email)",
            row.get("phone_current") or "(no phone)",
            f"guardian of {plural(students, 'student')} entered by hand",
        ]
        others = int(row.get("other_candidates") or 0)
        if others:
            lines.append(f"{plural(others, 'other existing account')} like it")
        return Cell(name, links.account(row.get("account_id")), lines)

    def sis(row: dict) -> Cell:
        lines = [
            row.get("email_sis") or "(no email)",
            row.get("phone_sis") or "(no phone)",
            f"SIS id {row.get('sis_sourced_id')}",
            cell("sis_roles", row.get("sis_roles")),
        ]
        return Cell(_name(row, "given_name_sis", "family_name_sis"), lines=lines)

    return [
        ("Guardian now", now),
        ("In the SIS", sis),
        (label("differs"), lambda r: Cell(cell("differs", r.get("differs")))),
        (label("fixable"), lambda r: _fixable(r, links)),
    ]


#: Findings laid out in their own way, with their columns' widths.
LAYOUTS = {"CHECK-GUARDIAN-NEAR-MATCH": (_side_by_side, ["30%", "30%", "10%", "30%"])}


def _columns(keys: list[str], links: Links) -> list[tuple[str, Any]]:
    """(heading, row → Cell) for the keys of one finding's rows, in their order."""
    columns: list[tuple[str, Any]] = []
    used: set[str] = set(FOLDED)
    for key in keys:
        if key in used:
            continue
        pair = next(((g, f, h) for g, f, h in NAMES if key in (g, f) and g in keys), None)
        if pair:
            given, family, heading = pair
            used |= {given, family}
            columns.append((heading, _name_cell(given, family, keys, links)))
        elif key == "school" and "school_id" in keys:
            columns.append(
                (
                    "School",
                    lambda r: Cell(
                        cell("school", r.get("school")), links.school(r.get("school_id"))
                    ),
                )
            )
        elif key == "held_by_name":
            columns.append(("Held by", _holder))
        elif key == "fixable":
            columns.append((label("fixable"), lambda r: _fixable(r, links)))
        else:
            columns.append((label(key), lambda r, k=key: Cell(cell(k, r.get(k)))))
        used.add(key)
    return columns


def _name_cell(given: str, family: str, keys: list[str], links: Links):
    def render(row: dict) -> Cell:
        name = _name(row, given, family)
        if given == "given_name_sis":
            return Cell(name)
        if "student_id" in keys:
            return Cell(name, links.student(row.get("student_id")))
        if "account_id" in keys:
            return Cell(name, links.account(row.get("account_id")))
        return Cell(name)

    return render


def _holder(row: dict) -> Cell:
    name = row.get("held_by_name") or ""
    if row.get("held_by_account"):
        return Cell(name or "an existing account", Links.account(row["held_by_account"]))
    if row.get("held_by_sis_sourced_id"):
        return Cell(f"{name} (SIS id {row['held_by_sis_sourced_id']})".strip())
    return Cell(name)


def _fixable(row: dict, links: Links) -> Cell:
    if row.get("fixable"):
        return Cell(
            "yes",
            action="Update this account…",
            action_href=f"{links.fix}?account={row.get('account_id')}",
        )
    because = row.get("not_fixable_because") or ""
    return Cell(f"no: {because}" if because else "no", wide=bool(because))


def table(
    code: str,
    title: str,
    rows: list[dict],
    page: int,
    links: Links,
    only: str = "",
    only_title: str = "",
) -> Table:
    """One page of a finding's rows, in words."""
    pages = max(1, -(-len(rows) // PAGE_ROWS))
    page = min(max(1, page), pages)
    start = (page - 1) * PAGE_ROWS
    shown = rows[start : start + PAGE_ROWS]
    layout, widths = LAYOUTS.get(only or code, (None, []))
    if layout:
        columns = layout(links)
    else:  # a column empty on every row (no birth dates in this SIS) says nothing
        keys = [k for k in _keys(rows) if any(r.get(k) not in (None, "") for r in rows)]
        columns = _columns(keys, links)
    return Table(
        code=code,
        headings=[heading for heading, _ in columns],
        widths=widths,
        rows=[[render(row) for _, render in columns] for row in shown],
        page=page,
        pages=pages,
        first=start + 1,
        last=start + len(shown),
        total=len(rows),
        title=title,
        only=only,
        only_title=only_title,
    )


def csv_rows(rows: list[dict]) -> tuple[list[str], list[dict]]:
    """Every column of every row, headed in words (a heading said twice gets its key)."""
    keys = _keys(rows)
    headings: dict[str, str] = {}
    for key in keys:
        heading = label(key)
        headings[key] = heading if heading not in headings.values() else f"{heading} ({key})"
    return (
        [headings[k] for k in keys],
        [{headings[k]: cell(k, v) for k, v in row.items()} for row in rows],
    )


def page_number(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 9 else 1


def subset_of(code: str, present: set[str]) -> str:
    """The finding whose table already lists this one's rows (empty: none)."""
    parent = SUBSETS.get(code, "")
    return parent if parent in present else ""
