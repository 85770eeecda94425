"""A small valid OneRoster 1.2 bundle, and single-defect mutants of it: one per rule of the
1.2.1 CSV binding added in issue 16 (rulecodes.py), joined to the registry-wide TRIGGERS of
test_findings.py; and spec-valid edge bundles that strict mode must not call wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .conftest import BASE_11, MANIFEST_11, USERS_11, base_files, manifest_text, write_bundle

Builder = Callable[[Path], tuple[Path, dict[str, object]]]

MANIFEST_12 = {
    "manifest.version": "1.0",
    "oneroster.version": "1.2",
    **{f"file.{n}": "absent" for n in ("categories", "classResources", "courseResources")},
    **{f"file.{n}": "absent" for n in ("demographics", "lineItems", "resources", "results")},
    **{f"file.{n}": "absent" for n in ("userResources", "scoreScales", "lineItemScoreScales")},
    "file.resultScoreScales": "absent",
    "file.lineItemLearningObjectiveIds": "absent",
    "file.resultLearningObjectiveIds": "absent",
    **{
        f"file.{n}": "bulk"
        for n in (
            "academicSessions",
            "classes",
            "courses",
            "enrollments",
            "orgs",
            "users",
            "roles",
            "userProfiles",
        )
    },
}
H_USERS = (
    "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,"
    "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
    "userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,"
    "primaryOrgSourcedId,pronouns\n"
)
H_ROLES = (
    "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
    "orgSourcedId,userProfileSourcedId\n"
)
H_PROFILES = (
    "sourcedId,status,dateLastModified,userSourcedId,profileType,vendorId,applicationId,"
    "description,credentialType,username,password\n"
)
STU = "stu1,,,true,stu1,,Ann,Lee,,,ann@example.org,,,par1,09,,,,,,sch,"
PAR = "par1,,,true,par1,,Bob,Lee,,,bob@example.org,,,,,,,,,,sch,"
TEA = "tea1,,,true,tea1,,Cy,Ray,,,cy@example.org,,,,,,,,,,sch,"
R_STU = "r1,,,stu1,primary,student,,,sch,"
R_PAR = "r2,,,par1,primary,parent,,,sch,"
R_TEA = "r3,,,tea1,primary,teacher,,,sch,up1"
COURSES = (
    "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,"
    "orgSourcedId,subjects,subjectCodes\ncrs1,,,sy,Math,M1,09,sch,Mathematics,MA\n"
)
SESSIONS = (
    "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,"
    "schoolYear\nsy,,,2025-26,schoolYear,2025-08-01,2026-07-01,,2026\n"
    "term1,,,Fall,term,2025-08-01,2026-01-01,sy,2026\n"
)
CLASSES = BASE_11["classes.csv"]
CLASS_ROW = "cls1,,,Math 1,09,crs1,M1-1,scheduled,,sch,term1,,,1"


def rows(header: str, *lines: str) -> str:
    return header + "".join(line + "\n" for line in lines)


def v12(manifest: dict[str, str] | None = None, **changes: str | bytes | None) -> dict:
    """The valid 1.2 bundle, with files replaced (value) or removed (None)."""
    files: dict[str, str | bytes | None] = {
        **base_files(),
        "manifest.csv": manifest_text(manifest or MANIFEST_12),
        "academicSessions.csv": SESSIONS,
        "courses.csv": COURSES,
        "users.csv": rows(H_USERS, STU, PAR, TEA),
        "roles.csv": rows(H_ROLES, R_STU, R_PAR, R_TEA),
        "userProfiles.csv": rows(H_PROFILES, "up1,,,tea1,lms,v1,,,password,cray,"),
    }
    for key, value in changes.items():
        files[key.replace("__", ".")] = value
    return {k: v for k, v in files.items() if v is not None}


def folder(files: dict, **kw: object) -> Builder:
    return lambda tmp: (write_bundle(tmp / "b", files), kw)


def classes_with(row: str | bytes) -> bytes:
    """classes.csv whose only row is ``row`` (bytes: written as they are)."""
    raw = row if isinstance(row, bytes) else row.encode()
    return CLASSES.split("\n", 1)[0].encode() + b"\n" + raw + b"\n"


def delta_users(stamp: str) -> dict:
    users = rows(H_USERS, *(u.replace(",,,", f",active,{stamp},", 1) for u in (STU, PAR, TEA)))
    return v12({**MANIFEST_12, "file.users": "delta"}, users__csv=users)


#: code -> a bundle with that one defect (strict: the code and nothing else is an error).
RULE_TRIGGERS: dict[str, Builder] = {
    "OR-MANIFEST-FORMAT-VERSION": folder(v12({**MANIFEST_12, "manifest.version": "1.1"})),
    "OR-MANIFEST-CASE": folder(v12({**MANIFEST_12, "file.users": "Bulk"})),
    "OR-MANIFEST-DUPLICATE": folder(
        v12(manifest__csv=manifest_text(MANIFEST_12) + "file.users,bulk\n")
    ),
    "OR-CSV-BARE-QUOTE": folder(v12(classes__csv=classes_with(CLASS_ROW.replace("Math 1", 'M"1')))),
    "OR-CSV-AFTER-QUOTE": folder(
        v12(classes__csv=classes_with(CLASS_ROW.replace("Math 1", '"Math"1')))
    ),
    "OR-CSV-CR-IN-FIELD": folder(
        v12(classes__csv=classes_with(CLASS_ROW.replace("Math 1", '"Math\r1"')))
    ),
    "OR-HEADER-CASE": folder(
        v12(users__csv=rows(H_USERS, STU, PAR, TEA).replace("givenName", "GivenName", 1))
    ),
    "OR-VALUE-ROLE-VERSION": folder(
        v12(roles__csv=rows(H_ROLES, R_STU, R_PAR, R_TEA.replace("teacher", "administrator")))
    ),
    "OR-VALUE-DATETIME-RESOLUTION": folder(delta_users("2025-01-31T08:05:00Z")),
    "OR-VALUE-SUBJECT-CODES": folder(
        v12(courses__csv=COURSES.replace("Mathematics,MA", '"Mathematics,Algebra",MA'))
    ),
    "OR-ROLE-PRIMARY-TWICE": folder(
        v12(roles__csv=rows(H_ROLES, R_STU, R_PAR, R_TEA, "r4,,,tea1,primary,aide,,,sch,"))
    ),
    "OR-USER-PRIMARY-ORG": folder(
        v12(users__csv=rows(H_USERS, STU.replace(",sch,", ",dist,"), PAR, TEA))
    ),
    "OR-REF-ROLE-PROFILE": folder(
        v12(roles__csv=rows(H_ROLES, R_STU, R_PAR, R_TEA.replace("up1", "up9")))
    ),
    "OR-ROLE-PROFILE-USER": folder(
        v12(userProfiles__csv=rows(H_PROFILES, "up1,,,par1,lms,v1,,,password,bob,"))
    ),
    "OR-COURSE-SCHOOLYEAR-TYPE": folder(v12(courses__csv=COURSES.replace(",sy,", ",term1,"))),
}

#: Further single-defect bundles of the same rules (another file, another version).
MORE_DEFECTS: dict[str, tuple[str, Builder]] = {
    "metadata prefix in the wrong case": (
        "OR-HEADER-CASE",
        folder(
            v12(
                orgs__csv=BASE_11["orgs.csv"]
                .replace("parentSourcedId\n", "parentSourcedId,Metadata.region\n")
                .replace(",,\n", ",,,north\n")
                .replace(",dist\n", ",dist,south\n")
            )
        ),
    ),
    "manifest property in the wrong case": (
        "OR-MANIFEST-CASE",
        folder(
            v12(
                manifest__csv=manifest_text(MANIFEST_12).replace(
                    "file.users,bulk", "File.Users,bulk"
                )
            )
        ),
    ),
    "a 1.2 role in a 1.1 users.csv": (
        "OR-VALUE-ROLE-VERSION",
        folder(
            base_files(
                users__csv=USERS_11
                + "".join(
                    r + "\n"
                    for r in (
                        "stu1,,,true,sch,student,stu1,,Ann,Lee,,,,,,par1,09,",
                        "par1,,,true,sch,parent,par1,,Bob,Lee,,,,,,,,",
                        "tea1,,,true,sch,principal,tea1,,Cy,Ray,,,,,,,,",
                    )
                )
            )
        ),
    ),
    "a bare quote in a 1.1 users.csv": (
        "OR-CSV-BARE-QUOTE",
        folder(
            base_files(users__csv=BASE_11["users.csv"].replace(",Bob,Lee,", ',Bob "Bobby",Lee,'))
        ),
    ),
    "a CR inside quotes spanning a CRLF line end": (
        "OR-CSV-CR-IN-FIELD",
        folder(v12(classes__csv=classes_with(CLASS_ROW.replace("Math 1", '"Math\r\n1"')))),
    ),
    "a 1.2 bulk users.csv without roles.csv": (
        "OR-BULK-INCOMPLETE",
        folder(v12({**MANIFEST_12, "file.roles": "absent"}, roles__csv=None)),
    ),
}

#: Bundles the standard allows: strict mode reports no error on them.
VALID_EDGES: dict[str, dict] = {
    "the base bundle": v12(),
    "ext: role and ext: org type": v12(
        orgs__csv=BASE_11["orgs.csv"] + "camp,,,North Campus,ext:campus,,dist\n",
        roles__csv=rows(H_ROLES, R_STU, R_PAR, R_TEA, "r4,,,tea1,secondary,ext:busDriver,,,camp,"),
    ),
    "a site administrator at the district": v12(
        users__csv=rows(H_USERS, STU, PAR, TEA, TEA.replace("tea1", "adm1").replace("sch", "dist")),
        roles__csv=rows(
            H_ROLES, R_STU, R_PAR, R_TEA, "r4,,,adm1,primary,siteAdministrator,,,dist,"
        ),
    ),
    "a teacher as a student's agent": v12(
        users__csv=rows(H_USERS, STU.replace("par1", '"par1,tea1"'), PAR, TEA)
    ),
    "a term that ends before it begins": v12(
        academicSessions__csv=SESSIONS.replace("2025-08-01,2026-01-01", "2026-01-01,2025-08-01")
    ),
    "a line feed inside a quoted field": v12(
        classes__csv=classes_with(CLASS_ROW.replace(",scheduled,,", ',scheduled,"Room 1\nWest",'))
    ),
    "metadata columns, a BOM and CRLF line ends": v12(
        orgs__csv=b"\xef\xbb\xbf"
        + BASE_11["orgs.csv"]
        .replace("parentSourcedId\n", "parentSourcedId,metadata.region\n")
        .replace(",,\n", ",,,north\n")
        .replace(",dist\n", ",dist,south\n")
        .replace("\n", "\r\n")
        .encode()
    ),
    "every field quoted, a doubled quote inside": v12(
        classes__csv=classes_with(
            ",".join(f'"{v}"' for v in CLASS_ROW.replace("Math 1", 'Math ""1""').split(","))
        )
    ),
    "the June 2022 users.csv with resourceSourcedIds": v12(
        users__csv=rows(
            H_USERS.replace("userMasterIdentifier,", "userMasterIdentifier,resourceSourcedIds,"),
            *(u.replace(",,,,sch,", ",,,,,sch,") for u in (STU, PAR, TEA)),
        )
    ),
    "a delta to the millisecond": delta_users("2025-01-31T08:05:00.000Z"),
    "a grades list with spaces": v12(
        users__csv=rows(H_USERS, STU.replace(",09,", ',"09, 10",'), PAR, TEA)
    ),
    "a primary and a secondary role at one org": v12(
        roles__csv=rows(H_ROLES, R_STU, R_PAR, R_TEA, "r4,,,tea1,secondary,aide,,,sch,")
    ),
    "manifest rows in another order, with the source": v12(
        manifest__csv=manifest_text(
            {"source.systemName": "SIS", **dict(sorted(MANIFEST_12.items(), reverse=True))}
        )
    ),
}

__all__ = ["MANIFEST_11", "MORE_DEFECTS", "RULE_TRIGGERS", "VALID_EDGES", "v12"]
