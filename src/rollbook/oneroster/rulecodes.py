"""Finding codes for the rules of the OneRoster 1.2.1 CSV binding added in issue 16.

Kept apart from ``codes.py`` (which registers them) so that neither module grows past what
one can read; the authority for each rule is the 1.2.1 CSV binding, cited in
docs/oneroster-findings.md. Lenient keeps a warning wherever the data can still sync
safely; strict is 1EdTech conformance and nothing more.
"""

from __future__ import annotations

from .codes import AP, IG, CodeSpec, E, W

RULE_SPECS: list[CodeSpec] = [
    # --- the manifest ---------------------------------------------------------------------
    CodeSpec(
        "OR-MANIFEST-FORMAT-VERSION",
        W,
        E,
        AP,
        "manifest.version is missing or not 1.0",
        "Write `manifest.version,1.0` in manifest.csv.",
    ),
    CodeSpec(
        "OR-MANIFEST-CASE",
        W,
        E,
        AP,
        "Manifest property or value in the wrong letter case",
        "Write manifest properties and values exactly as the spec does (`file.users`, "
        "`bulk`); they were read as the spec spells them.",
    ),
    CodeSpec(
        "OR-MANIFEST-DUPLICATE",
        W,
        E,
        IG,
        "Manifest property listed more than once",
        "List each property once in manifest.csv; the first row was used.",
    ),
    # --- CSV quoting ----------------------------------------------------------------------
    CodeSpec(
        "OR-CSV-BARE-QUOTE",
        W,
        E,
        AP,
        "Double quote inside a field that is not quoted, or never closed",
        "Enclose the field in double quotes and double the quote inside it "
        '(`"5\'10"" tall"`); the quote was read as a character.',
    ),
    CodeSpec(
        "OR-CSV-AFTER-QUOTE",
        W,
        E,
        AP,
        "Text after the closing quote of a field",
        "Put the whole value inside the quotes; the text after the quote was appended.",
    ),
    CodeSpec(
        "OR-CSV-CR-IN-FIELD",
        W,
        E,
        AP,
        "Carriage return inside a quoted field",
        "Remove the line break from the value in the SIS (the spec allows no carriage "
        "return inside a field); it was kept.",
    ),
    # --- headers --------------------------------------------------------------------------
    CodeSpec(
        "OR-HEADER-CASE",
        W,
        E,
        AP,
        "Column name in the wrong letter case",
        "Write the column name exactly as the spec does (`sourcedId`, `metadata.x`); it was "
        "read under that name.",
    ),
    # --- values ---------------------------------------------------------------------------
    CodeSpec(
        "OR-VALUE-ROLE-VERSION",
        W,
        E,
        AP,
        "Role of the other OneRoster version",
        "1.2 roles.csv has no `administrator` (use districtAdministrator, siteAdministrator "
        "or systemAdministrator); a 1.1 users.csv has no 1.2-only role. It was read as the "
        "nearest role.",
    ),
    CodeSpec(
        "OR-VALUE-DATETIME-RESOLUTION",
        W,
        E,
        AP,
        "1.2 dateLastModified not exactly YYYY-MM-DDTHH:MM:SS.sssZ",
        "Write the time to the millisecond with a Z (`2024-01-31T08:05:00.000Z`); the "
        "value was read as written.",
    ),
    CodeSpec(
        "OR-VALUE-SUBJECT-CODES",
        W,
        E,
        AP,
        "subjects and subjectCodes of different lengths",
        "Give one subject code per subject, in the same order; both lists were kept.",
    ),
    # --- people and cross-file ------------------------------------------------------------
    CodeSpec(
        "OR-ROLE-PRIMARY-TWICE",
        W,
        E,
        AP,
        "More than one primary role for a user at one org",
        "Mark one role per user and org `primary`, the others `secondary`.",
    ),
    CodeSpec(
        "OR-USER-PRIMARY-ORG",
        W,
        E,
        AP,
        "Primary org where the user holds no role",
        "Set primaryOrgSourcedId to an org of one of the user's roles.csv rows, or add "
        "the role there.",
    ),
    CodeSpec(
        "OR-REF-ROLE-PROFILE",
        W,
        E,
        AP,
        "Role refers to an unknown user profile",
        "Export the profile in userProfiles.csv or correct userProfileSourcedId.",
    ),
    CodeSpec(
        "OR-ROLE-PROFILE-USER",
        W,
        E,
        IG,
        "Role refers to another user's profile",
        "Point userProfileSourcedId at a profile of the role's own user; the link was not used.",
    ),
    CodeSpec(
        "OR-COURSE-SCHOOLYEAR-TYPE",
        W,
        E,
        AP,
        "Course's school year is not a schoolYear session",
        "Point schoolYearSourcedId at an academic session of type `schoolYear`.",
    ),
]
