"""The registry of finding codes: severity in lenient and strict mode, effect, title, fix.

Every finding has a stable code (``OR-<AREA>-<WHAT>``), a severity that depends on the mode
(lenient, the default for syncing, or strict, 1EdTech conformance), the file, line, column and
sourcedId it is about, and a message that tells the district's IT admin what to fix in the SIS
export. An *error* rejects the row (or the whole file); a *warning* is applied and the row kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: How many instances of one code are kept; the total count is always kept.
MAX_INSTANCES_PER_CODE = 50


class Severity(StrEnum):
    """How bad a finding is. Errors block the sync (the row or file is rejected)."""

    ERROR = "error"
    WARNING = "warning"


class Effect(StrEnum):
    """What the reader does about a finding (the same in both modes)."""

    REJECT_ROW = "row rejected"
    REJECT_FILE = "file rejected"
    APPLIED = "applied"  # value kept, normalised or defaulted; the row is kept
    IGNORED = "ignored"  # column, file or property ignored


@dataclass(frozen=True)
class CodeSpec:
    """One registered finding code."""

    code: str
    lenient: Severity
    strict: Severity
    effect: Effect
    title: str
    fix: str

    def severity(self, strict: bool) -> Severity:
        """Severity of this code in the given mode."""
        return self.strict if strict else self.lenient


E, W = Severity.ERROR, Severity.WARNING
RR, RF, AP, IG = Effect.REJECT_ROW, Effect.REJECT_FILE, Effect.APPLIED, Effect.IGNORED

_SPECS: list[CodeSpec] = [
    # --- manifest and files -------------------------------------------------------------
    CodeSpec(
        "OR-MANIFEST-MISSING",
        W,
        E,
        AP,
        "No manifest.csv: read as OneRoster 1.0",
        "Export with OneRoster 1.1 or 1.2, which puts a manifest.csv in the zip.",
    ),
    CodeSpec(
        "OR-MANIFEST-HEADER",
        W,
        E,
        AP,
        "manifest.csv header is not `propertyName,value`",
        "Make the first line of manifest.csv exactly `propertyName,value`.",
    ),
    CodeSpec(
        "OR-MANIFEST-VERSION",
        W,
        E,
        AP,
        "oneroster.version missing or not 1.1/1.2",
        "Set `oneroster.version` to 1.1 or 1.2 in manifest.csv; the version was guessed "
        "from the file headers.",
    ),
    CodeSpec(
        "OR-MANIFEST-PROPERTY",
        W,
        E,
        IG,
        "Unknown manifest property",
        "Remove or correct the property (e.g. the typo `fiel.demographics`).",
    ),
    CodeSpec(
        "OR-MANIFEST-INCOMPLETE",
        W,
        E,
        AP,
        "A required manifest property is missing",
        "Add the missing `file.*` / `manifest.version` rows to manifest.csv.",
    ),
    CodeSpec(
        "OR-MANIFEST-MODE",
        W,
        E,
        AP,
        "File mode is not absent, bulk or delta",
        "Write `absent`, `bulk` or `delta` as the value of each `file.*` property.",
    ),
    CodeSpec(
        "OR-FILE-UNDECLARED",
        W,
        E,
        AP,
        "File present but not declared in the manifest",
        "Declare the file as bulk or delta in manifest.csv, or leave it out of the zip.",
    ),
    CodeSpec(
        "OR-FILE-MISSING",
        W,
        E,
        AP,
        "File declared bulk/delta but not in the bundle",
        "Add the file to the zip or declare it `absent`. It was treated as absent.",
    ),
    CodeSpec(
        "OR-FILE-UNKNOWN",
        W,
        E,
        IG,
        "CSV file that is not a OneRoster file",
        "Remove the file from the export or rename it to its OneRoster name.",
    ),
    CodeSpec(
        "OR-FILE-NAME-CASE",
        W,
        E,
        AP,
        "File name has the wrong letter case",
        "Rename the file with the exact OneRoster name (names are case-sensitive).",
    ),
    CodeSpec(
        "OR-FILE-NESTED",
        W,
        E,
        AP,
        "CSV files sit in a folder inside the zip",
        "Zip the CSV files themselves, not the folder that holds them.",
    ),
    CodeSpec(
        "OR-FILE-EMPTY",
        W,
        E,
        AP,
        "File has a header but no data rows",
        "Declare the file `absent` instead of sending a header-only file. An empty bulk "
        "file is treated as absent, so it deletes nothing.",
    ),
    CodeSpec(
        "OR-FILE-ENCODING",
        E,
        E,
        RF,
        "File is not UTF-8",
        "Export the file as UTF-8, or give its encoding: `--encoding cp932` (rollbook "
        "validate, sync or check), or the source's (`rollbook source edit --encoding`, or "
        "the source's settings page).",
    ),
    CodeSpec(
        "OR-FILE-NUL",
        E,
        E,
        RF,
        "File contains NUL bytes",
        "The file is binary or corrupt; export it again as plain UTF-8 CSV.",
    ),
    CodeSpec(
        "OR-FILE-TOO-LONG",
        E,
        E,
        RF,
        "A line or field is longer than the reader allows",
        "Check the export: a quote is probably not closed, or a field holds a blob.",
    ),
    CodeSpec(
        "OR-FILE-UNREADABLE",
        E,
        E,
        RF,
        "The file cannot be parsed as CSV",
        "Export the file again as RFC 4180 CSV (comma-separated, double quotes).",
    ),
    # --- headers ------------------------------------------------------------------------
    CodeSpec(
        "OR-HEADER-MISSING-KEY",
        E,
        E,
        RF,
        "A column the file cannot be used without is missing",
        "Add the column (e.g. sourcedId) to the header and the rows.",
    ),
    CodeSpec(
        "OR-HEADER-MISSING",
        W,
        E,
        AP,
        "Columns of the spec are missing from the header",
        "Export every column of the spec, even when empty; they were read as empty.",
    ),
    CodeSpec(
        "OR-HEADER-ORDER",
        W,
        E,
        AP,
        "Columns are not in the spec order",
        "Export the columns in the order of the spec; they were matched by name.",
    ),
    CodeSpec(
        "OR-HEADER-ALIAS",
        W,
        E,
        AP,
        "Misspelt, wrong-case or OneRoster 1.0 column name",
        "Rename the column to its OneRoster name; it was read under that name.",
    ),
    CodeSpec(
        "OR-HEADER-UNKNOWN",
        W,
        E,
        IG,
        "Unknown column",
        "Remove the column, or name extensions `metadata.<name>` at the right end.",
    ),
    CodeSpec(
        "OR-HEADER-EMPTY",
        W,
        E,
        IG,
        "Empty column name in the header",
        "Remove the trailing commas from the header line.",
    ),
    CodeSpec(
        "OR-HEADER-DUPLICATE",
        W,
        E,
        IG,
        "Column name appears twice",
        "Keep one column of each name; the first one was read.",
    ),
    CodeSpec(
        "OR-HEADER-METADATA-POSITION",
        W,
        E,
        AP,
        "metadata.* column not at the right end",
        "Move extension columns after all the spec columns.",
    ),
    # --- rows and values ----------------------------------------------------------------
    CodeSpec(
        "OR-ROW-FIELD-COUNT",
        E,
        E,
        RR,
        "Row has a different number of fields than the header",
        "Quote fields that contain commas; make each row match the header.",
    ),
    CodeSpec(
        "OR-ROW-KEY-MISSING",
        E,
        E,
        RR,
        "A value the row cannot be used without is empty",
        "Fill in the value (sourcedId, the user/class of an enrollment, the role...).",
    ),
    CodeSpec(
        "OR-ROW-REQUIRED",
        W,
        E,
        AP,
        "A required value is empty",
        "Fill in the value in the SIS; the row was kept with the value empty.",
    ),
    CodeSpec(
        "OR-ROW-DUPLICATE-ID",
        E,
        E,
        RR,
        "sourcedId used by more than one row",
        "Give each record its own sourcedId; only the first row was kept.",
    ),
    CodeSpec(
        "OR-VALUE-GUID",
        W,
        E,
        AP,
        "Identifier has characters the spec does not allow",
        "Use only letters, digits and . - _ / @ in sourcedIds (under 256 characters).",
    ),
    CodeSpec(
        "OR-VALUE-CASE",
        W,
        E,
        AP,
        "Vocabulary value in the wrong letter case",
        "Write vocabulary values exactly as the spec does (e.g. `scheduled`, `true`).",
    ),
    CodeSpec(
        "OR-VALUE-ENUM",
        W,
        E,
        AP,
        "Value not in the spec vocabulary",
        "Use a value of the spec vocabulary or an `ext:` extension; it was kept as is.",
    ),
    CodeSpec(
        "OR-VALUE-ROLE",
        E,
        E,
        RR,
        "Role or role type not understood",
        "Use a role of the spec vocabulary; the row was rejected because the person's "
        "place cannot be known.",
    ),
    CodeSpec(
        "OR-VALUE-INACTIVE",
        W,
        E,
        AP,
        "status `inactive` (removed in 1.1)",
        "Write `tobedeleted`; `inactive` was read as `tobedeleted`.",
    ),
    CodeSpec(
        "OR-VALUE-DATE",
        W,
        E,
        AP,
        "Date is not YYYY-MM-DD",
        "Write dates as YYYY-MM-DD; the value was ignored (or its date part kept).",
    ),
    CodeSpec(
        "OR-VALUE-DATETIME",
        W,
        E,
        AP,
        "dateLastModified is not ISO 8601 UTC",
        "Write YYYY-MM-DDTHH:MM:SS.sssZ; the value was read leniently or ignored.",
    ),
    CodeSpec(
        "OR-VALUE-EMAIL",
        W,
        W,
        AP,
        "E-mail address does not look like one",
        "Correct the e-mail address in the SIS; messages cannot reach it.",
    ),
    CodeSpec(
        "OR-VALUE-HIDDEN-CHARACTER",
        W,
        W,
        AP,
        "Name holds invisible text-direction or zero-width characters",
        "Retype the name in the SIS (such characters come along when a name is pasted from "
        "another program; a right-to-left override makes `Ann\\u202Efdp.exe` show as "
        "`Annexe.pdf`); they were removed.",
    ),
    CodeSpec(
        "OR-VALUE-LIST-SPACES",
        W,
        W,  # not a rule of the standard: a warning in strict too
        AP,
        "Spaces around list items",
        "Write lists as `a,b,c` without spaces; the spaces were removed.",
    ),
    CodeSpec(
        "OR-VALUE-DATE-ORDER",
        W,
        W,  # not a rule of the standard: a warning in strict too
        AP,
        "End date before start date",
        "Correct the dates in the SIS (the end date is exclusive).",
    ),
    # --- bulk / delta -------------------------------------------------------------------
    CodeSpec(
        "OR-BULK-HAS-STATUS",
        W,
        E,
        AP,
        "Bulk file rows carry status/dateLastModified",
        "Leave status and dateLastModified empty in bulk files (or declare the file "
        "delta). The row status was honoured.",
    ),
    CodeSpec(
        "OR-DELTA-NO-STATUS",
        W,
        E,
        AP,
        "Delta row without status or dateLastModified",
        "Fill status and dateLastModified on every row of a delta file; the row was "
        "read as active.",
    ),
    CodeSpec(
        "OR-BULK-INCOMPLETE",
        W,
        E,
        AP,
        "Bulk file refers to a file the bundle lacks",
        "A bulk set must contain every file it refers to; add it. References were not "
        "checked and will be resolved against the directory.",
    ),
    # --- cross-file ---------------------------------------------------------------------
    CodeSpec(
        "OR-REF-ENROLLMENT-CLASS",
        E,
        E,
        RR,
        "Enrollment refers to an unknown class",
        "Export the class or drop the enrollment.",
    ),
    CodeSpec(
        "OR-REF-ENROLLMENT-USER",
        E,
        E,
        RR,
        "Enrollment refers to an unknown user",
        "Export the user or drop the enrollment.",
    ),
    CodeSpec(
        "OR-REF-ENROLLMENT-SCHOOL",
        W,
        E,
        AP,
        "Enrollment refers to an unknown school",
        "Use the sourcedId of the class's school (an org of type school).",
    ),
    CodeSpec(
        "OR-REF-CLASS-COURSE",
        W,
        E,
        AP,
        "Class refers to an unknown course",
        "Export the course (courses.csv) or correct courseSourcedId.",
    ),
    CodeSpec(
        "OR-REF-CLASS-SCHOOL",
        W,
        E,
        AP,
        "Class refers to an unknown school",
        "Export the school in orgs.csv or correct schoolSourcedId.",
    ),
    CodeSpec(
        "OR-REF-CLASS-TERM",
        W,
        E,
        AP,
        "Class refers to an unknown term",
        "Export the term in academicSessions.csv or correct termSourcedIds.",
    ),
    CodeSpec(
        "OR-REF-COURSE-ORG",
        W,
        E,
        AP,
        "Course refers to an unknown org",
        "Export the org or correct orgSourcedId.",
    ),
    CodeSpec(
        "OR-REF-COURSE-SCHOOLYEAR",
        W,
        E,
        AP,
        "Course refers to an unknown school year",
        "Export the academic session or correct schoolYearSourcedId.",
    ),
    CodeSpec(
        "OR-REF-ORG-PARENT",
        W,
        E,
        AP,
        "Org refers to an unknown parent org",
        "Export the parent org or correct parentSourcedId.",
    ),
    CodeSpec(
        "OR-REF-SESSION-PARENT",
        W,
        E,
        AP,
        "Academic session refers to an unknown parent",
        "Export the parent session or correct parentSourcedId.",
    ),
    CodeSpec(
        "OR-REF-USER-ORG",
        W,
        E,
        AP,
        "User refers to an unknown org",
        "Export the org or correct orgSourcedIds / primaryOrgSourcedId; the link was dropped.",
    ),
    CodeSpec(
        "OR-REF-USER-AGENT",
        W,
        E,
        AP,
        "User lists an unknown agent",
        "Export the related user or correct agentSourcedIds; the link was dropped.",
    ),
    CodeSpec(
        "OR-REF-ROLE-USER",
        E,
        E,
        RR,
        "Role refers to an unknown user",
        "Export the user or drop the role row.",
    ),
    CodeSpec(
        "OR-REF-ROLE-ORG",
        E,
        E,
        RR,
        "Role refers to an unknown org",
        "Export the org or correct orgSourcedId.",
    ),
    CodeSpec(
        "OR-REF-DEMOGRAPHICS-USER",
        W,
        E,
        AP,
        "Demographics for an unknown user",
        "demographics.sourcedId must equal the user's sourcedId.",
    ),
    CodeSpec(
        "OR-REF-PROFILE-USER",
        W,
        E,
        AP,
        "User profile for an unknown user",
        "Export the user or correct userSourcedId.",
    ),
    CodeSpec(
        "OR-AGENT-NOT-GUARDIAN",
        W,
        W,  # not a rule of the standard: a warning in strict too
        IG,
        "Agent link that is not student-guardian",
        "agentSourcedIds should link students and their parents/guardians; this link "
        "(e.g. student to teacher) was not used.",
    ),
    CodeSpec(
        "OR-ROLE-ORG-TYPE",
        W,
        W,  # not a rule of the standard: a warning in strict too
        AP,
        "Role does not fit the org type",
        "Attach the role to an org of the right type (e.g. siteAdministrator to a school).",
    ),
    CodeSpec(
        "OR-SCHOOL-NOT-SCHOOL",
        W,
        E,
        AP,
        "schoolSourcedId is an org that is not a school",
        "Point schoolSourcedId at an org of type `school`.",
    ),
    CodeSpec(
        "OR-USER-NO-ROLE",
        W,
        E,
        AP,
        "User has no role (1.2: no roles.csv row)",
        "Give every user at least one role row in roles.csv.",
    ),
]
from .rulecodes import RULE_SPECS  # noqa: E402 - it needs CodeSpec, defined above

_SPECS += RULE_SPECS
CODES: dict[str, CodeSpec] = {s.code: s for s in _SPECS}
