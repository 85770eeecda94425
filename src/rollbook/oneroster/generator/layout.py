"""OneRoster CSV layouts (column orders per version) and the manifest (SPEC-NOTES §1.2–§1.5)."""

from __future__ import annotations

VERSIONS = ("1.1", "1.2")

_HEAD = ["sourcedId", "status", "dateLastModified"]

COLUMNS_COMMON: dict[str, list[str]] = {
    "orgs": _HEAD + ["name", "type", "identifier", "parentSourcedId"],
    "academicSessions": _HEAD
    + ["title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"],
    "courses": _HEAD
    + [
        "schoolYearSourcedId",
        "title",
        "courseCode",
        "grades",
        "orgSourcedId",
        "subjects",
        "subjectCodes",
    ],
    "classes": _HEAD
    + [
        "title",
        "grades",
        "courseSourcedId",
        "classCode",
        "classType",
        "location",
        "schoolSourcedId",
        "termSourcedIds",
        "subjects",
        "subjectCodes",
        "periods",
    ],
    "enrollments": _HEAD
    + [
        "classSourcedId",
        "schoolSourcedId",
        "userSourcedId",
        "role",
        "primary",
        "beginDate",
        "endDate",
    ],
    "demographics": _HEAD
    + [
        "birthDate",
        "sex",
        "americanIndianOrAlaskaNative",
        "asian",
        "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander",
        "white",
        "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity",
        "countryOfBirthCode",
        "stateOfBirthAbbreviation",
        "cityOfBirth",
        "publicSchoolResidenceStatus",
    ],
}

USERS_11 = _HEAD + [
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
]

# OneRoster 1.2.1 layout (the 1.2 June-2022 text had an extra resourceSourcedIds column).
USERS_12 = _HEAD + [
    "enabledUser",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
    "userMasterIdentifier",
    "preferredGivenName",
    "preferredMiddleName",
    "preferredFamilyName",
    "primaryOrgSourcedId",
    "pronouns",
]

ROLES_12 = _HEAD + [
    "userSourcedId",
    "roleType",
    "role",
    "beginDate",
    "endDate",
    "orgSourcedId",
    "userProfileSourcedId",
]

MANIFEST_FILES_11 = [
    "academicSessions",
    "categories",
    "classes",
    "classResources",
    "courses",
    "courseResources",
    "demographics",
    "enrollments",
    "lineItems",
    "orgs",
    "resources",
    "results",
    "users",
]
MANIFEST_FILES_12 = MANIFEST_FILES_11 + [
    "roles",
    "userProfiles",
    "userResources",
    "scoreScales",
    "lineItemScoreScales",
    "resultScoreScales",
    "lineItemLearningObjectiveIds",
    "resultLearningObjectiveIds",
]

SYSTEM_NAME = "Rollbook generator"

# Write order: referenced files before the files that reference them.
WRITE_ORDER = [
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "roles",
    "enrollments",
    "demographics",
]


def columns(version: str, name: str) -> list[str]:
    """Return the normative column order of ``name``.csv for OneRoster ``version``."""
    if version not in VERSIONS:
        raise ValueError(f"unsupported OneRoster version {version!r}")
    if name == "users":
        return list(USERS_11 if version == "1.1" else USERS_12)
    if name == "roles":
        if version == "1.1":
            raise ValueError("roles.csv does not exist in OneRoster 1.1")
        return list(ROLES_12)
    return list(COLUMNS_COMMON[name])


def data_files(version: str) -> list[str]:
    """Return the files the generator writes for ``version`` (without ``manifest``)."""
    return [f for f in WRITE_ORDER if version == "1.2" or f != "roles"]


def manifest_rows(version: str, modes: dict[str, str]) -> list[tuple[str, str]]:
    """Return manifest ``(propertyName, value)`` rows; files missing from ``modes`` are absent."""
    files = MANIFEST_FILES_11 if version == "1.1" else MANIFEST_FILES_12
    rows = [("manifest.version", "1.0"), ("oneroster.version", version)]
    rows += [(f"file.{f}", modes.get(f, "absent")) for f in files]
    rows += [("source.systemName", SYSTEM_NAME), ("source.systemCode", "rollbook-generator")]
    return rows
