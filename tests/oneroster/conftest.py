"""Shared helpers: the shared sample folder and a small valid bundle to mutate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MANIFEST_11 = {
    "manifest.version": "1.0",
    "oneroster.version": "1.1",
    **{
        f"file.{n}": "bulk"
        for n in ("academicSessions", "classes", "courses", "enrollments", "orgs", "users")
    },
    **{
        f"file.{n}": "absent"
        for n in (
            "categories",
            "classResources",
            "courseResources",
            "demographics",
            "lineItems",
            "resources",
            "results",
        )
    },
}
USERS_11 = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
    "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,"
    "password\n"
)
BASE_11 = {
    "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
    "dist,,,District,district,,\nsch,,,School,school,,dist\n",
    "academicSessions.csv": "sourcedId,status,dateLastModified,title,type,startDate,endDate,"
    "parentSourcedId,schoolYear\nterm1,,,Fall,term,2025-08-01,2026-01-01,,2026\n",
    "courses.csv": "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,"
    "grades,orgSourcedId,subjects,subjectCodes\ncrs1,,,,Math,M1,09,sch,,\n",
    "classes.csv": "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,"
    "classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n"
    "cls1,,,Math 1,09,crs1,M1-1,scheduled,,sch,term1,,,1\n",
    "users.csv": USERS_11 + "stu1,,,true,sch,student,stu1,,Ann,Lee,,,ann@example.org,,,par1,09,\n"
    "par1,,,true,sch,parent,par1,,Bob,Lee,,,bob@example.org,,,,,\n"
    "tea1,,,true,sch,teacher,tea1,,Cy,Ray,,,cy@example.org,,,,,\n",
    "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,"
    "userSourcedId,role,primary,beginDate,endDate\n"
    "enr1,,,cls1,sch,stu1,student,,,\nenr2,,,cls1,sch,tea1,teacher,true,,\n",
}


def manifest_text(props: dict[str, str]) -> str:
    """manifest.csv text for ``props``."""
    return "propertyName,value\n" + "".join(f"{k},{v}\n" for k, v in props.items())


def write_bundle(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (name -> text or bytes) into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return folder


def base_files(**changes: str | bytes | None) -> dict[str, str | bytes]:
    """The valid 1.1 bundle, with files replaced (value) or removed (None)."""
    files: dict[str, str | bytes] = {"manifest.csv": manifest_text(MANIFEST_11), **BASE_11}
    for key, value in changes.items():
        name = key.replace("__", ".")
        if value is None:
            files.pop(name, None)
        else:
            files[name] = value
    return files


def samples_dir() -> Path | None:
    """The shared sample folder, or None when absent."""
    env = os.environ.get("ROLLBOOK_SAMPLES")
    path = Path(env) if env else Path(__file__).parents[2] / ".." / "shared" / "oneroster-samples"
    return path if path.is_dir() else None


@pytest.fixture
def samples() -> Path:
    """The shared samples folder (skips when absent)."""
    path = samples_dir()
    if path is None:
        pytest.skip("shared OneRoster samples not present (set ROLLBOOK_SAMPLES)")
    return path
