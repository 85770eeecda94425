"""Small OneRoster 1.1 bundles written by tests, one situation at a time.

A bundle is described with plain Python: schools, students (with their guardians' sourcedIds),
guardians and staff as dicts; ``write`` fills in every other column and file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from rollbook.oneroster import schema

USERS = [c.header for c in schema.USERS.columns_for("1.1")]
FILES = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments", "demographics")


@dataclass
class Bundle:
    schools: list[str] = field(default_factory=lambda: ["sch-1"])
    students: list[dict] = field(default_factory=list)
    guardians: list[dict] = field(default_factory=list)
    staff: list[dict] = field(default_factory=list)
    classes: list[dict] = field(default_factory=list)
    enrollments: list[dict] = field(default_factory=list)
    modes: dict[str, str] = field(default_factory=dict)  # file → bulk | delta | absent

    def student(
        self,
        sid: str,
        given: str,
        family: str,
        school: str = "sch-1",
        grade: str = "03",
        guardians: tuple[str, ...] = (),
        **extra,
    ) -> Bundle:
        self.students.append(
            {
                "sourcedId": sid,
                "givenName": given,
                "familyName": family,
                "orgSourcedIds": school,
                "grades": grade,
                "agentSourcedIds": ",".join(guardians),
                **extra,
            }
        )
        return self

    def guardian(
        self,
        sid: str,
        given: str,
        family: str,
        email: str = "",
        phone: str = "",
        role: str = "parent",
        school: str = "sch-1",
        **extra,
    ) -> Bundle:
        self.guardians.append(
            {
                "sourcedId": sid,
                "givenName": given,
                "familyName": family,
                "email": email,
                "phone": phone,
                "role": role,
                "orgSourcedIds": school,
                **extra,
            }
        )
        return self

    def teacher(
        self,
        sid: str,
        given: str,
        family: str,
        email: str = "",
        phone: str = "",
        school: str = "sch-1",
        role: str = "teacher",
        **extra,
    ) -> Bundle:
        self.staff.append(
            {
                "sourcedId": sid,
                "givenName": given,
                "familyName": family,
                "email": email,
                "phone": phone,
                "role": role,
                "orgSourcedIds": school,
                **extra,
            }
        )
        return self

    def klass(self, sid: str, school: str = "sch-1", title: str = "Class") -> Bundle:
        self.classes.append({"sourcedId": sid, "schoolSourcedId": school, "title": title})
        return self

    def enroll(
        self, sid: str, class_sid: str, user_sid: str, role: str = "student", school: str = "sch-1"
    ) -> Bundle:
        self.enrollments.append(
            {
                "sourcedId": sid,
                "classSourcedId": class_sid,
                "schoolSourcedId": school,
                "userSourcedId": user_sid,
                "role": role,
            }
        )
        return self

    def write(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.csv"):
            old.unlink()
        modes = {f: "bulk" for f in FILES} | self.modes
        manifest = [["manifest.version", "1.0"], ["oneroster.version", "1.1"]]
        for key in schema.MANIFEST_FILES["1.1"]:
            name = key.removeprefix("file.")
            manifest.append([f"file.{name}", modes.get(name, "absent")])
        _csv(path / "manifest.csv", ["propertyName", "value"], manifest)
        delta = {f for f, m in modes.items() if m == "delta"}

        def status(file: str, row: dict) -> list[str]:
            if file in delta:
                return [row.get("status", "active"), "2027-01-15T06:00:00.000Z"]
            return ["", ""]

        orgs = [["dst-1", "", "", "District", "district", "", ""]]
        orgs += [[s, "", "", f"School {s}", "school", "", "dst-1"] for s in self.schools]
        self._file(
            path,
            "orgs",
            modes,
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "name",
                "type",
                "identifier",
                "parentSourcedId",
            ],
            orgs,
        )
        self._file(
            path,
            "academicSessions",
            modes,
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "type",
                "startDate",
                "endDate",
                "parentSourcedId",
                "schoolYear",
            ],
            [["term-1", "", "", "2026-2027", "schoolYear", "2026-08-15", "2027-06-15", "", "2027"]],
        )
        courses = sorted({c["schoolSourcedId"] for c in self.classes})
        self._file(
            path,
            "courses",
            modes,
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "schoolYearSourcedId",
                "title",
                "courseCode",
                "grades",
                "orgSourcedId",
                "subjects",
                "subjectCodes",
            ],
            [[f"crs-{s}", "", "", "term-1", "Homeroom", "HR", "", s, "", ""] for s in courses],
        )
        self._file(
            path,
            "classes",
            modes,
            [
                "sourcedId",
                "status",
                "dateLastModified",
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
            [
                [
                    c["sourcedId"],
                    *status("classes", c),
                    c["title"],
                    "",
                    f"crs-{c['schoolSourcedId']}",
                    "",
                    "homeroom",
                    "",
                    c["schoolSourcedId"],
                    "term-1",
                    "",
                    "",
                    "",
                ]
                for c in self.classes
            ],
        )
        users = []
        for kind, rows in (
            ("student", self.students),
            ("guardian", self.guardians),
            ("staff", self.staff),
        ):
            for row in rows:
                values = {
                    "enabledUser": "true",
                    "username": row["sourcedId"],
                    "role": "student" if kind == "student" else row.get("role"),
                    **row,
                }
                users.append(
                    [values.get(c, "") for c in USERS[:1]]
                    + status("users", row)
                    + [values.get(c, "") for c in USERS[3:]]
                )
        self._file(path, "users", modes, USERS, users)
        self._file(
            path,
            "enrollments",
            modes,
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "classSourcedId",
                "schoolSourcedId",
                "userSourcedId",
                "role",
                "primary",
                "beginDate",
                "endDate",
            ],
            [
                [
                    e["sourcedId"],
                    *status("enrollments", e),
                    e["classSourcedId"],
                    e["schoolSourcedId"],
                    e["userSourcedId"],
                    e["role"],
                    "",
                    "",
                    "",
                ]
                for e in self.enrollments
            ],
        )
        demographics = [
            [s["sourcedId"], "", "", s["birthDate"]] for s in self.students if s.get("birthDate")
        ]
        self._file(
            path,
            "demographics",
            modes,
            ["sourcedId", "status", "dateLastModified", "birthDate"],
            demographics,
        )
        return path

    @staticmethod
    def _file(path: Path, name: str, modes: dict, header: list[str], rows: list) -> None:
        if modes.get(name, "bulk") == "absent" or (not rows and name != "users"):
            if modes.get(name) != "absent" and not rows:
                modes[name] = "absent"  # an empty file may not be declared bulk
                _rewrite_manifest(path, name)
            return
        _csv(path / f"{name}.csv", header, rows)


def _rewrite_manifest(path: Path, name: str) -> None:
    manifest = path / "manifest.csv"
    lines = manifest.read_text().splitlines()
    lines = [f"file.{name},absent" if line.startswith(f"file.{name},") else line for line in lines]
    manifest.write_text("\n".join(lines) + "\n")


def _csv(path: Path, header: list[str], rows: list) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
