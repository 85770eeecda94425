"""Every registered finding code: documented, and triggered by a small bundle."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from rollbook.oneroster.findings import CODES, Findings, Severity
from rollbook.oneroster.validate import read_bundle

from .conftest import BASE_11, MANIFEST_11, USERS_11, base_files, manifest_text, write_bundle
from .reader_triggers import READER_TRIGGERS
from .rule_bundles import RULE_TRIGGERS

DOCS = Path(__file__).parents[2] / "docs" / "oneroster-findings.md"
U = USERS_11
M12 = {
    **{k: v for k, v in MANIFEST_11.items()},
    "oneroster.version": "1.2",
    "file.roles": "bulk",
    "file.userProfiles": "absent",
    "file.userResources": "absent",
    "file.scoreScales": "absent",
    "file.lineItemScoreScales": "absent",
    "file.resultScoreScales": "absent",
    "file.lineItemLearningObjectiveIds": "absent",
    "file.resultLearningObjectiveIds": "absent",
}
USERS_12 = (
    "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,"
    "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
    "userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,"
    "primaryOrgSourcedId,pronouns\n"
)
ROLES = (
    "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
    "orgSourcedId,userProfileSourcedId\n"
)


def v12(users: str = "", roles: str = "", **more: str) -> dict[str, str | bytes]:
    """A 1.2 bundle from the base one."""
    u = users or (
        USERS_12 + "stu1,,,true,stu1,,Ann,Lee,,,,,,par1,09,,,,,,sch,\n"
        "par1,,,true,par1,,Bob,Lee,,,,,,,,,,,,,sch,\n"
    )
    r = roles or (ROLES + "r1,,,stu1,primary,student,,,sch,\nr2,,,par1,primary,parent,,,sch,\n")
    return base_files(
        manifest__csv=manifest_text(M12),
        users__csv=u,
        roles__csv=r,
        enrollments__csv=BASE_11["enrollments.csv"].replace("tea1", "stu1"),
        **more,
    )


def users(*rows: str) -> str:
    return U + "".join(r + "\n" for r in rows)


STU = "stu1,,,true,sch,student,stu1,,Ann,Lee,,,ann@example.org,,,par1,09,"
PAR = "par1,,,true,sch,parent,par1,,Bob,Lee,,,bob@example.org,,,,,"
TEA = "tea1,,,true,sch,teacher,tea1,,Cy,Ray,,,cy@example.org,,,,,"
ENR = BASE_11["enrollments.csv"]
CLS = BASE_11["classes.csv"]
m_without = {k: v for k, v in MANIFEST_11.items() if k != "file.demographics"}


def zipped(tmp: Path, files: dict[str, str | bytes], folder: str = "") -> Path:
    path = tmp / "b.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(folder + name, content)
    return path


Builder = Callable[[Path], tuple[Path, dict[str, object]]]


def files(f: dict[str, str | bytes], **kw: object) -> Builder:
    return lambda tmp: (write_bundle(tmp / "b", f), kw)


TRIGGERS: dict[str, Builder] = {
    "OR-MANIFEST-MISSING": files(base_files(manifest__csv=None)),
    "OR-MANIFEST-HEADER": files(
        base_files(manifest__csv=manifest_text(MANIFEST_11).split("\n", 1)[1])
    ),
    "OR-MANIFEST-VERSION": files(
        base_files(manifest__csv=manifest_text({**MANIFEST_11, "oneroster.version": "1.5"}))
    ),
    "OR-MANIFEST-PROPERTY": files(
        base_files(manifest__csv=manifest_text({**m_without, "fiel.demographics": "absent"}))
    ),
    "OR-MANIFEST-INCOMPLETE": files(base_files(manifest__csv=manifest_text(m_without))),
    "OR-MANIFEST-MODE": files(
        base_files(manifest__csv=manifest_text({**MANIFEST_11, "file.courses": "full"}))
    ),
    "OR-FILE-UNDECLARED": files(
        base_files(manifest__csv=manifest_text({**MANIFEST_11, "file.courses": "absent"}))
    ),
    "OR-FILE-MISSING": files(base_files(courses__csv=None)),
    "OR-FILE-UNKNOWN": files(base_files(**{"notes.csv": "a,b\n1,2\n"})),
    "OR-FILE-NAME-CASE": files(
        {
            **{k: v for k, v in base_files().items() if k != "users.csv"},
            "Users.csv": BASE_11["users.csv"],
        }
    ),
    "OR-FILE-NESTED": lambda tmp: (zipped(tmp, base_files(), "export/"), {}),
    "OR-FILE-EMPTY": files(base_files(courses__csv=BASE_11["courses.csv"].split("\n")[0])),
    "OR-FILE-ENCODING": files(
        base_files(users__csv=users(STU, PAR).replace("Bob", "ボブ").encode("cp932"))
    ),
    "OR-FILE-NUL": files(base_files(users__csv=users(STU, PAR).encode() + b"\x00\x00\n")),
    "OR-FILE-TOO-LONG": files(base_files(users__csv=users(STU, PAR) + "x" * (17 * 1024**2))),
    "OR-FILE-UNREADABLE": files(base_files(), _unreadable=True),
    "OR-HEADER-MISSING-KEY": files(
        base_files(enrollments__csv=ENR.replace("userSourcedId", "learner"))
    ),
    "OR-HEADER-MISSING": files(
        base_files(
            users__csv=users(STU, PAR, TEA)
            .replace(",password\n", "\n", 1)
            .replace(",09,\n", ",09\n")
            .replace(",,,,,\n", ",,,,\n")
        )
    ),
    "OR-HEADER-ORDER": files(
        base_files(
            enrollments__csv="sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role,status,"
            "dateLastModified,primary,beginDate,endDate\nenr1,cls1,sch,stu1,student,,,,,\n"
        )
    ),
    "OR-HEADER-ALIAS": files(
        base_files(users__csv=users(STU, PAR, TEA).replace("agentSourcedIds", "agents", 1))
    ),
    "OR-HEADER-UNKNOWN": files(
        base_files(
            users__csv=users(STU + ",x", PAR + ",", TEA + ",").replace(
                "password\n", "password,ext_x\n", 1
            )
        )
    ),
    "OR-HEADER-EMPTY": files(base_files(enrollments__csv=ENR.replace("endDate", "endDate,,"))),
    "OR-HEADER-DUPLICATE": files(
        base_files(
            users__csv=users(STU + ",", PAR + ",", TEA + ",").replace(
                "password\n", "password,email\n", 1
            )
        )
    ),
    "OR-HEADER-METADATA-POSITION": files(
        base_files(
            orgs__csv="sourcedId,metadata.x,status,dateLastModified,name,type,identifier,"
            "parentSourcedId\ndist,1,,,District,district,,\nsch,2,,,School,school,,dist\n"
        )
    ),
    "OR-ROW-FIELD-COUNT": files(base_files(enrollments__csv=ENR + "enr3,cls1,sch\n")),
    "OR-ROW-KEY-MISSING": files(base_files(enrollments__csv=ENR + ",,,cls1,sch,stu1,student,,,\n")),
    "OR-ROW-REQUIRED": files(base_files(users__csv=users(STU.replace("Ann", ""), PAR, TEA))),
    "OR-ROW-DUPLICATE-ID": files(base_files(users__csv=users(STU, PAR, TEA, TEA))),
    "OR-VALUE-GUID": files(
        base_files(courses__csv=BASE_11["courses.csv"] + "crs 2,,,,Art,A1,,sch,,\n")
    ),
    "OR-VALUE-CASE": files(base_files(classes__csv=CLS.replace("scheduled", "Scheduled"))),
    "OR-VALUE-ENUM": files(base_files(classes__csv=CLS.replace("scheduled", "lecture"))),
    "OR-VALUE-ROLE": files(base_files(users__csv=users(STU, PAR, TEA.replace("teacher", "boss")))),
    "OR-VALUE-INACTIVE": files(
        base_files(
            manifest__csv=manifest_text({**MANIFEST_11, "file.users": "delta"}),
            users__csv=users(STU.replace(",,,", ",inactive,2025-01-01T00:00:00.000Z,", 1)),
        )
    ),
    "OR-VALUE-DATE": files(
        base_files(
            academicSessions__csv=BASE_11["academicSessions.csv"].replace("2025-08-01", "8/1/2025")
        )
    ),
    "OR-VALUE-DATETIME": files(
        base_files(
            manifest__csv=manifest_text({**MANIFEST_11, "file.users": "delta"}),
            users__csv=users(STU.replace(",,,", ",active,2025-01-01,", 1)),
        )
    ),
    "OR-VALUE-EMAIL": files(
        base_files(users__csv=users(STU.replace("ann@example.org", "ann"), PAR, TEA))
    ),
    "OR-VALUE-HIDDEN-CHARACTER": files(
        base_files(users__csv=users(STU.replace("Ann", "Ann\u202efdp.exe"), PAR, TEA))
    ),
    "OR-VALUE-LIST-SPACES": files(base_files(classes__csv=CLS.replace(",1\n", ',"1, 2"\n'))),
    "OR-VALUE-DATE-ORDER": files(
        base_files(
            academicSessions__csv=BASE_11["academicSessions.csv"].replace(
                "2026-01-01", "2025-01-01"
            )
        )
    ),
    "OR-BULK-HAS-STATUS": files(
        base_files(users__csv=users(STU.replace(",,,", ",active,,", 1), PAR, TEA))
    ),
    "OR-DELTA-NO-STATUS": files(
        base_files(manifest__csv=manifest_text({**MANIFEST_11, "file.users": "delta"}))
    ),
    "OR-BULK-INCOMPLETE": files(
        base_files(
            manifest__csv=manifest_text({**MANIFEST_11, "file.courses": "absent"}),
            courses__csv=None,
        )
    ),
    "OR-REF-ENROLLMENT-CLASS": files(
        base_files(enrollments__csv=ENR.replace("cls1,sch,stu1", "clsX,sch,stu1"))
    ),
    "OR-REF-ENROLLMENT-USER": files(base_files(enrollments__csv=ENR.replace("stu1", "nobody"))),
    "OR-REF-ENROLLMENT-SCHOOL": files(
        base_files(enrollments__csv=ENR.replace("cls1,sch,stu1", "cls1,schX,stu1"))
    ),
    "OR-REF-CLASS-COURSE": files(base_files(classes__csv=CLS.replace("crs1", "crsX"))),
    "OR-REF-CLASS-SCHOOL": files(base_files(classes__csv=CLS.replace(",sch,", ",schX,"))),
    "OR-REF-CLASS-TERM": files(base_files(classes__csv=CLS.replace("term1", '"term1,t9"'))),
    "OR-REF-COURSE-ORG": files(
        base_files(courses__csv=BASE_11["courses.csv"].replace(",sch,", ",schX,"))
    ),
    "OR-REF-COURSE-SCHOOLYEAR": files(
        base_files(courses__csv=BASE_11["courses.csv"].replace("crs1,,,,", "crs1,,,sy9,"))
    ),
    "OR-REF-ORG-PARENT": files(
        base_files(orgs__csv=BASE_11["orgs.csv"].replace(",dist\n", ",distX\n"))
    ),
    "OR-REF-SESSION-PARENT": files(
        base_files(
            academicSessions__csv=BASE_11["academicSessions.csv"].replace(",,2026", ",sy9,2026")
        )
    ),
    "OR-REF-USER-ORG": files(
        base_files(users__csv=users(STU.replace(",sch,", ",schX,"), PAR, TEA))
    ),
    "OR-REF-USER-AGENT": files(base_files(users__csv=users(STU.replace("par1", "par9"), PAR, TEA))),
    "OR-REF-ROLE-USER": files(
        v12(
            roles=ROLES + "r1,,,stu1,primary,student,,,sch,\n"
            "r2,,,par1,primary,parent,,,sch,\n"
            "r3,,,ghost,primary,student,,,sch,\n"
        )
    ),
    "OR-REF-ROLE-ORG": files(
        v12(roles=ROLES + "r1,,,stu1,primary,student,,,sch,\nr2,,,par1,primary,parent,,,schX,\n")
    ),
    "OR-REF-DEMOGRAPHICS-USER": files(
        base_files(
            manifest__csv=manifest_text({**MANIFEST_11, "file.demographics": "bulk"}),
            demographics__csv="sourcedId,status,dateLastModified,birthDate,sex\nghost,,,,\n",
        )
    ),
    "OR-REF-PROFILE-USER": files(
        v12(
            **{
                "manifest.csv": manifest_text({**M12, "file.userProfiles": "bulk"}),
                "userProfiles.csv": "sourcedId,status,dateLastModified,userSourcedId,profileType,"
                "vendorId,applicationId,description,credentialType,username,password\n"
                "p1,,,ghost,app,v1,,,login,g,\n",
            }
        )
    ),
    "OR-AGENT-NOT-GUARDIAN": files(
        base_files(users__csv=users(STU.replace("par1", "tea1"), PAR, TEA))
    ),
    "OR-ROLE-ORG-TYPE": files(
        base_files(users__csv=users(STU.replace(",sch,", ",dist,"), PAR, TEA))
    ),
    "OR-SCHOOL-NOT-SCHOOL": files(base_files(classes__csv=CLS.replace(",sch,", ",dist,"))),
    "OR-USER-NO-ROLE": files(v12(roles=ROLES + "r1,,,stu1,primary,student,,,sch,\n")),
}


TRIGGERS.update(READER_TRIGGERS)  # the reader's robustness codes (readercodes.py)


TRIGGERS.update(RULE_TRIGGERS)  # the rules of the 1.2.1 CSV binding (rulecodes.py)


def test_every_code_has_a_trigger() -> None:
    assert set(TRIGGERS) == set(CODES)


def test_every_code_is_documented() -> None:
    text = DOCS.read_text()
    missing = [c for c in CODES if f"`{c}`" not in text]
    assert not missing


@pytest.mark.parametrize("code", sorted(CODES))
def test_code_is_triggered(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, kw = TRIGGERS[code](tmp_path)
    if kw.pop("_unreadable", False):
        import pyarrow as pa

        def broken(*a: object, **k: object) -> None:
            raise pa.ArrowInvalid("CSV parse error: simulated")

        monkeypatch.setattr("rollbook.oneroster.csvread.pacsv.open_csv", broken)
    for strict in (False, True):
        result = read_bundle(path, strict=strict, **kw)  # type: ignore[arg-type]
        assert code in result.findings.counts(), result.findings.counts()
        spec = CODES[code]
        assert result.findings.by_code[code].severity is spec.severity(strict)
        if spec.severity(strict) is Severity.ERROR:
            assert not result.can_sync


def test_aggregation_keeps_count_but_bounds_instances() -> None:
    f = Findings(max_instances=3)
    f.add_rows(
        "OR-VALUE-EMAIL",
        1_000_000,
        ((i, str(i), "m") for i in range(10**9)),
        file="users.csv",
        column="email",
    )
    assert f.counts() == {"OR-VALUE-EMAIL": 1_000_000}
    assert len(f.all()) == 3


def test_unregistered_code_is_refused() -> None:
    with pytest.raises(KeyError):
        Findings().add("OR-NOPE", "x")


def test_clean_base_bundle_has_no_findings(tmp_path: Path) -> None:
    result = read_bundle(write_bundle(tmp_path / "b", base_files()), strict=True)
    assert result.findings.counts() == {}
    assert result.can_sync


def test_encoding_option_reads_shift_jis(tmp_path: Path) -> None:
    data = users(STU, PAR.replace("Bob", "ボブ"), TEA).encode("cp932")
    path = write_bundle(tmp_path / "b", base_files(users__csv=data))
    result = read_bundle(path, encoding="cp932")
    assert "OR-FILE-ENCODING" not in result.findings.counts()
    assert "ボブ" in result.model.users["given_name"].to_pylist()
    msg = read_bundle(path).findings.by_code["OR-FILE-ENCODING"].instances[0].message
    assert "--encoding cp932" in msg
