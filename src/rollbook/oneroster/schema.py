"""Column layouts of the OneRoster rostering CSV files (1.0, 1.1, 1.2 / 1.2.1).

Each column has its CSV header name, the canonical (version-independent) name used in the
internal model, a kind that says how it is checked and typed, and the header aliases that
real exports use (misspellings, wrong case, OneRoster 1.0 names).
"""

from __future__ import annotations

from dataclasses import dataclass

V10, V11, V12 = "1.0", "1.1", "1.2"
ALL = frozenset({V10, V11, V12})
UP_TO_11 = frozenset({V10, V11})
ONLY_12 = frozenset({V12})

#: Column kinds: id (the row's sourcedId), ref (one sourcedId), refs (list of sourcedIds),
#: text, name (a person's name: Unicode NFC, hidden characters removed), list (list of
#: strings), date, datetime, year, bool, enum, status, email.
KINDS = frozenset(
    {
        "id",
        "ref",
        "refs",
        "text",
        "name",
        "list",
        "date",
        "datetime",
        "year",
        "bool",
        "enum",
        "status",
        "email",
    }
)


@dataclass(frozen=True)
class Column:
    """One column of a OneRoster CSV file."""

    header: str
    name: str
    kind: str = "text"
    required: bool = False
    key: bool = False  # the row is rejected when empty
    vocab: str | None = None
    versions: frozenset[str] = ALL
    aliases: tuple[str, ...] = ()
    optional_header: bool = False  # absent from the header without a finding


@dataclass(frozen=True)
class FileSpec:
    """One rostering file."""

    entity: str  # canonical name of the model table, e.g. "academic_sessions"
    filename: str  # e.g. "academicSessions.csv"
    columns: tuple[Column, ...]
    versions: frozenset[str] = ALL

    @property
    def manifest_key(self) -> str:
        """`file.<name>` property of the manifest."""
        return "file." + self.filename.removesuffix(".csv")

    def columns_for(self, version: str) -> list[Column]:
        """The columns of this file in ``version``, in spec order."""
        return [c for c in self.columns if version in c.versions]

    def all_names(self) -> list[str]:
        """Canonical names of every column in any version."""
        return [c.name for c in self.columns]


def _base(key_aliases: tuple[str, ...] = ()) -> tuple[Column, ...]:
    return (
        Column("sourcedId", "sourced_id", "id", required=True, key=True, aliases=key_aliases),
        Column("status", "status", "status"),
        Column("dateLastModified", "date_last_modified", "datetime", aliases=("dataLastModified",)),
    )


ORGS = FileSpec(
    "orgs",
    "orgs.csv",
    _base()
    + (
        Column("name", "name", required=True),
        Column("type", "type", "enum", required=True, vocab="org_type"),
        Column("identifier", "identifier"),
        Column("parentSourcedId", "parent_sourced_id", "ref"),
    ),
)

ACADEMIC_SESSIONS = FileSpec(
    "academic_sessions",
    "academicSessions.csv",
    _base()
    + (
        Column("title", "title", required=True),
        Column("type", "type", "enum", required=True, vocab="session_type"),
        Column("startDate", "start_date", "date", required=True),
        Column("endDate", "end_date", "date", required=True),
        Column("parentSourcedId", "parent_sourced_id", "ref"),
        Column("schoolYear", "school_year", "year", required=True),
    ),
)

COURSES = FileSpec(
    "courses",
    "courses.csv",
    _base()
    + (
        Column("schoolYearSourcedId", "school_year_sourced_id", "ref", aliases=("schoolYearId",)),
        Column("title", "title", required=True),
        Column("courseCode", "course_code"),
        Column("grades", "grades", "list", aliases=("grade",)),
        Column("orgSourcedId", "org_sourced_id", "ref", required=True),
        Column("subjects", "subjects", "list"),
        Column("subjectCodes", "subject_codes", "list"),
    ),
)

CLASSES = FileSpec(
    "classes",
    "classes.csv",
    _base()
    + (
        Column("title", "title", required=True),
        Column("grades", "grades", "list", aliases=("grade",)),
        Column("courseSourcedId", "course_sourced_id", "ref", required=True),
        Column("classCode", "class_code"),
        Column("classType", "class_type", "enum", required=True, vocab="class_type"),
        Column("location", "location"),
        Column("schoolSourcedId", "school_sourced_id", "ref", required=True),
        Column(
            "termSourcedIds", "term_sourced_ids", "refs", required=True, aliases=("termSourcedId",)
        ),
        Column("subjects", "subjects", "list"),
        Column("subjectCodes", "subject_codes", "list"),
        Column("periods", "periods", "list"),
    ),
)

ENROLLMENTS = FileSpec(
    "enrollments",
    "enrollments.csv",
    _base()
    + (
        Column("classSourcedId", "class_sourced_id", "ref", required=True, key=True),
        Column("schoolSourcedId", "school_sourced_id", "ref", required=True),
        Column("userSourcedId", "user_sourced_id", "ref", required=True, key=True),
        Column("role", "role", "enum", required=True, key=True, vocab="enrollment_role"),
        Column("primary", "primary", "bool"),
        Column("beginDate", "begin_date", "date"),
        Column("endDate", "end_date", "date"),
    ),
)

USERS = FileSpec(
    "users",
    "users.csv",
    _base()
    + (
        Column("enabledUser", "enabled_user", "bool", required=True),
        Column("orgSourcedIds", "org_sourced_ids", "refs", required=True, versions=UP_TO_11),
        Column(
            "role", "role", "enum", required=True, key=True, vocab="user_role", versions=UP_TO_11
        ),
        Column("username", "username", required=True),
        Column("userIds", "user_ids", "list", aliases=("userId",)),
        Column("givenName", "given_name", "name", required=True),
        Column("familyName", "family_name", "name", required=True),
        Column("middleName", "middle_name", "name"),
        Column("identifier", "identifier"),
        Column("email", "email", "email"),
        Column("sms", "sms"),
        Column("phone", "phone"),
        Column("agentSourcedIds", "agent_sourced_ids", "refs", aliases=("agents",)),
        Column("grades", "grades", "list", aliases=("grade",)),
        Column("password", "password"),
        Column("userMasterIdentifier", "user_master_identifier", versions=ONLY_12),
        Column(
            "resourceSourcedIds",
            "resource_sourced_ids",
            "refs",
            versions=ONLY_12,
            optional_header=True,
        ),
        Column(
            "preferredGivenName",
            "preferred_given_name",
            "name",
            versions=ONLY_12,
            aliases=("prefferedGivenName", "preferredFirstName"),
        ),
        Column(
            "preferredMiddleName",
            "preferred_middle_name",
            "name",
            versions=ONLY_12,
            aliases=("prefferedMiddleName",),
        ),
        Column(
            "preferredFamilyName",
            "preferred_family_name",
            "name",
            versions=ONLY_12,
            aliases=("prefferedFamilyName", "preferredLastName"),
        ),
        Column("primaryOrgSourcedId", "primary_org_sourced_id", "ref", versions=ONLY_12),
        Column("pronouns", "pronouns", versions=ONLY_12),
    ),
)

ROLES = FileSpec(
    "roles",
    "roles.csv",
    _base()
    + (
        Column("userSourcedId", "user_sourced_id", "ref", required=True, key=True),
        Column("roleType", "role_type", "enum", required=True, key=True, vocab="role_type"),
        Column("role", "role", "enum", required=True, key=True, vocab="role"),
        Column("beginDate", "begin_date", "date"),
        Column("endDate", "end_date", "date"),
        Column("orgSourcedId", "org_sourced_id", "ref", required=True, key=True),
        Column("userProfileSourcedId", "user_profile_sourced_id", "ref"),
    ),
    versions=ONLY_12,
)

USER_PROFILES = FileSpec(
    "user_profiles",
    "userProfiles.csv",
    _base()
    + (
        Column("userSourcedId", "user_sourced_id", "ref", required=True, key=True),
        Column("profileType", "profile_type", required=True),
        Column("vendorId", "vendor_id", required=True),
        Column("applicationId", "application_id"),
        Column("description", "description"),
        Column("credentialType", "credential_type", required=True),
        Column("username", "username", required=True),
        Column("password", "password"),
    ),
    versions=ONLY_12,
)

_RACE = (
    ("americanIndianOrAlaskaNative", "american_indian_or_alaska_native"),
    ("asian", "asian"),
    ("blackOrAfricanAmerican", "black_or_african_american"),
    ("nativeHawaiianOrOtherPacificIslander", "native_hawaiian_or_other_pacific_islander"),
    ("white", "white"),
    ("demographicRaceTwoOrMoreRaces", "demographic_race_two_or_more_races"),
    ("hispanicOrLatinoEthnicity", "hispanic_or_latino_ethnicity"),
)
DEMOGRAPHICS = FileSpec(
    "demographics",
    "demographics.csv",
    _base(("userSourcedId",))
    + (
        Column("birthDate", "birth_date", "date", aliases=("birthdate",)),
        Column("sex", "sex", "enum", vocab="sex"),
        *(Column(h, n, "bool") for h, n in _RACE),
        Column("countryOfBirthCode", "country_of_birth_code"),
        Column("stateOfBirthAbbreviation", "state_of_birth_abbreviation"),
        Column("cityOfBirth", "city_of_birth"),
        Column("publicSchoolResidenceStatus", "public_school_residence_status"),
    ),
)

ROSTER_FILES: tuple[FileSpec, ...] = (
    ORGS,
    ACADEMIC_SESSIONS,
    COURSES,
    CLASSES,
    USERS,
    ENROLLMENTS,
    DEMOGRAPHICS,
    ROLES,
    USER_PROFILES,
)
BY_FILENAME: dict[str, FileSpec] = {f.filename: f for f in ROSTER_FILES}
BY_ENTITY: dict[str, FileSpec] = {f.entity: f for f in ROSTER_FILES}

#: OneRoster files this reader knows but does not read (gradebook, resources).
OTHER_FILES_11 = (
    "categories",
    "classResources",
    "courseResources",
    "lineItems",
    "resources",
    "results",
)
OTHER_FILES_12 = OTHER_FILES_11 + (
    "userResources",
    "scoreScales",
    "lineItemScoreScales",
    "resultScoreScales",
    "lineItemLearningObjectiveIds",
    "resultLearningObjectiveIds",
)
#: `file.*` properties a 1.1 / 1.2 manifest must have.
MANIFEST_FILES = {
    V11: tuple(f.manifest_key for f in ROSTER_FILES if V11 in f.versions)
    + tuple("file." + n for n in OTHER_FILES_11),
    V12: tuple(f.manifest_key for f in ROSTER_FILES) + tuple("file." + n for n in OTHER_FILES_12),
}
MANIFEST_OTHER_KEYS = (
    "manifest.version",
    "oneroster.version",
    "source.systemName",
    "source.systemCode",
)
