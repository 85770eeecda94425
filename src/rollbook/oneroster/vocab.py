"""OneRoster vocabularies (enumerations) and the mappings between 1.1 and 1.2."""

from __future__ import annotations

STATUS = ("active", "tobedeleted")
BOOLEAN = ("true", "false")
ORG_TYPE = ("department", "school", "district", "local", "state", "national")
SESSION_TYPE = ("gradingPeriod", "semester", "schoolYear", "term")
CLASS_TYPE = ("homeroom", "scheduled")
ENROLLMENT_ROLE = ("administrator", "proctor", "student", "teacher")
ROLE_TYPE = ("primary", "secondary")
SEX = ("male", "female", "unspecified", "other")
#: users.csv `role` in OneRoster 1.1.
USER_ROLE_11 = (
    "administrator",
    "aide",
    "guardian",
    "parent",
    "proctor",
    "relative",
    "student",
    "teacher",
)
#: roles.csv `role` in OneRoster 1.2 (the vocabulary of the internal model).
ROLE_12 = (
    "aide",
    "counselor",
    "districtAdministrator",
    "guardian",
    "parent",
    "principal",
    "proctor",
    "relative",
    "siteAdministrator",
    "student",
    "systemAdministrator",
    "teacher",
)

VOCABS: dict[str, tuple[str, ...]] = {
    "status": STATUS,
    "boolean": BOOLEAN,
    "org_type": ORG_TYPE,
    "session_type": SESSION_TYPE,
    "class_type": CLASS_TYPE,
    "enrollment_role": ENROLLMENT_ROLE,
    "role_type": ROLE_TYPE,
    "sex": SEX,
    # users.role accepts both vocabularies (1.2 values in a 1.1 file give OR-VALUE-ENUM).
    "user_role": tuple(dict.fromkeys(USER_ROLE_11 + ROLE_12)),
    "role": tuple(dict.fromkeys(ROLE_12 + USER_ROLE_11)),
}
#: Values that are in the vocabulary but not in the version's own list (reported, kept).
OFF_VERSION: dict[str, frozenset[str]] = {
    "user_role": frozenset(set(ROLE_12) - set(USER_ROLE_11)),
    "role": frozenset({"administrator"}),
}
#: What OR-VALUE-ROLE-VERSION says of such a value (after the column and the value).
OFF_VERSION_WHY: dict[str, str] = {
    "user_role": "is a OneRoster 1.2 role, not a role of a 1.1 users.csv; it was kept.",
    "role": (
        "is a OneRoster 1.1 role; 1.2 roles.csv has districtAdministrator, "
        "siteAdministrator and systemAdministrator instead (1.2.1 CSV §3.18). It was read "
        "as one of them, by the type of the org."
    ),
}
#: Vocabularies that the spec lets implementers extend with `ext:` values.
EXTENSIBLE = frozenset(
    {"org_type", "session_type", "class_type", "enrollment_role", "sex", "role", "user_role"}
)

#: Legacy status values read as another value (with OR-VALUE-INACTIVE).
STATUS_LEGACY = {"inactive": "tobedeleted"}

#: 1.2 roles grouped into what a family-communication directory needs.
ROLE_GROUP = {
    "student": "student",
    "parent": "guardian",
    "guardian": "guardian",
    "relative": "guardian",
}
GUARDIAN_ROLES = frozenset(r for r, g in ROLE_GROUP.items() if g == "guardian")


def role_group(role: str | None) -> str | None:
    """`student`, `guardian` or `staff` for a normalised role (None stays None)."""
    if role is None:
        return None
    return ROLE_GROUP.get(role, "staff")


#: 1.1 `administrator` becomes a 1.2 role according to the type of the org it is held at.
ADMINISTRATOR_BY_ORG_TYPE = {
    "school": "siteAdministrator",
    "department": "siteAdministrator",
    "district": "districtAdministrator",
    "local": "districtAdministrator",
    "state": "systemAdministrator",
    "national": "systemAdministrator",
}
ADMINISTRATOR_DEFAULT = "siteAdministrator"

#: Which org types each role fits (roles not listed fit any org type).
ROLE_ORG_TYPES: dict[str, frozenset[str]] = {
    "student": frozenset({"school", "department"}),
    "teacher": frozenset({"school", "department"}),
    "aide": frozenset({"school", "department"}),
    "proctor": frozenset({"school", "department"}),
    "counselor": frozenset({"school", "department", "district"}),
    "principal": frozenset({"school"}),
    "siteAdministrator": frozenset({"school"}),
    "districtAdministrator": frozenset({"district", "local"}),
}
