"""The district's structure: schools, academic sessions, courses, classes and staffing plan.

Everything here is per school or per class (at most a few hundred thousand Python iterations at
the L scale); per-student work happens vectorised in :mod:`.people` and :mod:`.bundle`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import pyarrow as pa

from . import names

GRADE_CODES = ["KG"] + [f"{g:02d}" for g in range(1, 13)]
LEVEL_GRADES = {"E": list(range(0, 6)), "M": [6, 7, 8], "H": [9, 10, 11, 12]}
LEVEL_NAME = {"E": "Elementary School", "M": "Middle School", "H": "High School"}
MEAN_SIZE = {"E": 450, "M": 800, "H": 1500}
HOMEROOM_SIZE = 24
SECTION_MAX = 32  # sections of a course: ceil(students / 32) → ~25-30 each
SECTIONS_PER_TEACHER = 5
STAFF_PER_STUDENT = 0.15
SLOTS = 7  # class periods per secondary student
MAX_OPTIONS = 4

DISTRICT_ID = "dist-0001"

# SCED subject areas used for subjects/subjectCodes.
SUBJECTS = {
    "ela": ("English Language and Literature", "01"),
    "math": ("Mathematics", "02"),
    "sci": ("Life and Physical Sciences", "03"),
    "soc": ("Social Sciences and History", "04"),
    "art": ("Fine and Performing Arts", "05"),
    "lang": ("Foreign Language and Literature", "06"),
    "pe": ("Physical Health and Safety Education", "08"),
    "cs": ("Computer and Information Sciences", "10"),
    "comm": ("Communication and Audio/Visual Technology", "11"),
}

_MS_ELECT_A = [
    ("Spanish I", "SPA1", "lang"),
    ("French I", "FRE1", "lang"),
    ("Band", "BAND", "art"),
    ("Art", "ART", "art"),
]
_MS_ELECT_B = [
    ("Technology", "TECH", "cs"),
    ("Choir", "CHOIR", "art"),
    ("Drama", "DRAMA", "art"),
    ("Orchestra", "ORCH", "art"),
]
_HS_ELECT = [
    ("Art I", "ART1", "art"),
    ("Computer Science Principles", "CSP", "cs"),
    ("Concert Band", "BAND", "art"),
    ("Journalism", "JOUR", "comm"),
]

# grade -> 7 slots -> options (title, code, subject key)
CATALOG: dict[int, list[list[tuple[str, str, str]]]] = {
    6: [
        [("English Language Arts 6", "ELA", "ela")],
        [("Math 6", "MATH", "math")],
        [("Science 6", "SCI", "sci")],
        [("World Geography", "GEO", "soc")],
        [("Physical Education 6", "PE", "pe")],
        _MS_ELECT_A,
        _MS_ELECT_B,
    ],
    7: [
        [("English Language Arts 7", "ELA", "ela")],
        [("Math 7", "MATH", "math"), ("Pre-Algebra", "PALG", "math")],
        [("Life Science", "LSCI", "sci")],
        [("World History", "WHIS", "soc")],
        [("Physical Education 7", "PE", "pe")],
        _MS_ELECT_A,
        _MS_ELECT_B,
    ],
    8: [
        [("English Language Arts 8", "ELA", "ela")],
        [("Math 8", "MATH", "math"), ("Algebra I", "ALG1", "math")],
        [("Physical Science", "PSCI", "sci")],
        [("U.S. History", "USH", "soc")],
        [("Physical Education 8", "PE", "pe")],
        _MS_ELECT_A,
        _MS_ELECT_B,
    ],
    9: [
        [("English 9", "ENG", "ela"), ("Honors English 9", "HENG", "ela")],
        [("Algebra I", "ALG1", "math"), ("Geometry", "GEOM", "math")],
        [("Biology", "BIO", "sci")],
        [("World History", "WHIS", "soc")],
        [("Health & Physical Education", "HPE", "pe")],
        [
            ("Spanish I", "SPA1", "lang"),
            ("French I", "FRE1", "lang"),
            ("Mandarin Chinese I", "CHN1", "lang"),
        ],
        _HS_ELECT,
    ],
    10: [
        [("English 10", "ENG", "ela"), ("Honors English 10", "HENG", "ela")],
        [("Geometry", "GEOM", "math"), ("Algebra II", "ALG2", "math")],
        [("Chemistry", "CHEM", "sci")],
        [("Modern World History", "MWH", "soc")],
        [("Physical Education II", "PE2", "pe")],
        [
            ("Spanish II", "SPA2", "lang"),
            ("French II", "FRE2", "lang"),
            ("Mandarin Chinese II", "CHN2", "lang"),
        ],
        _HS_ELECT,
    ],
    11: [
        [("English 11", "ENG", "ela"), ("AP English Language", "APLANG", "ela")],
        [("Algebra II", "ALG2", "math"), ("Precalculus", "PCAL", "math")],
        [("Physics", "PHYS", "sci"), ("AP Biology", "APBIO", "sci")],
        [("U.S. History", "USH", "soc"), ("AP U.S. History", "APUSH", "soc")],
        [
            ("Psychology", "PSY", "soc"),
            ("Statistics", "STAT", "math"),
            ("Economics", "ECON", "soc"),
        ],
        [("Spanish III", "SPA3", "lang"), ("French III", "FRE3", "lang")],
        _HS_ELECT,
    ],
    12: [
        [("English 12", "ENG", "ela"), ("AP English Literature", "APLIT", "ela")],
        [
            ("Precalculus", "PCAL", "math"),
            ("AP Calculus AB", "APCALC", "math"),
            ("AP Statistics", "APSTAT", "math"),
        ],
        [
            ("Environmental Science", "ENVS", "sci"),
            ("AP Chemistry", "APCHEM", "sci"),
            ("Anatomy & Physiology", "ANAT", "sci"),
        ],
        [("U.S. Government", "GOV", "soc"), ("AP Government & Politics", "APGOV", "soc")],
        [("Economics", "ECON", "soc"), ("Psychology", "PSY", "soc"), ("Sociology", "SOC", "soc")],
        [("Spanish IV", "SPA4", "lang"), ("AP Spanish Language", "APSPA", "lang")],
        _HS_ELECT,
    ],
}

# Staff roles in the OneRoster 1.2 vocabulary, and their 1.1 users.role mapping.
STAFF_ROLE_11 = {
    "teacher": "teacher",
    "aide": "aide",
    "counselor": "administrator",
    "principal": "administrator",
    "siteAdministrator": "administrator",
    "districtAdministrator": "administrator",
}


@dataclass
class School:
    """One school org and its student counts per grade."""

    index: int
    sourced_id: str
    name: str
    level: str
    region: int
    identifier: str
    grade_counts: dict[int, int]

    @property
    def size(self) -> int:
        """Number of students."""
        return sum(self.grade_counts.values())


@dataclass
class Plan:
    """The district's structure and the lookup arrays used to enrol students vectorised."""

    school_year: int
    schools: list[School]
    orgs: dict[str, list]
    sessions: dict[str, list]
    courses: dict[str, list] = field(default_factory=dict)
    classes: dict[str, list] = field(default_factory=dict)
    # one entry per (school, grade) group, in student order
    group_school: list[int] = field(default_factory=list)
    group_grade: list[int] = field(default_factory=list)
    group_count: list[int] = field(default_factory=list)
    group_slots: list[int] = field(default_factory=list)
    # per (group, slot): number of options; per (group, slot, option): first class and sections
    slot_options: list[int] = field(default_factory=list)
    option_base: list[int] = field(default_factory=list)
    option_sections: list[int] = field(default_factory=list)
    class_school: list[int] = field(default_factory=list)
    # staff: role and school index (-1 = district office) in stf- order
    staff_role: list[str] = field(default_factory=list)
    staff_school: list[int] = field(default_factory=list)
    # teacher enrollments: (class index, staff index, primary)
    teaching: list[tuple[int, int, bool]] = field(default_factory=list)

    @property
    def term_ids(self) -> tuple[str, str, str]:
        """Ids of the school year and its two semesters."""
        y = self.school_year
        return f"as-{y}", f"as-{y}-s1", f"as-{y}-s2"


def _school_names(rng: random.Random, count: int, level: str) -> list[str]:
    bases = [p.replace("-", " ") for p in names.SCHOOL_PLACES]
    bases += [a + b for a in names.PLACE_PREFIXES for b in names.PLACE_SUFFIXES]
    rng.shuffle(bases)
    out = []
    for i in range(count):
        base = bases[i % len(bases)]
        lap = i // len(bases)
        suffix = LEVEL_NAME[level]
        out.append(f"{base} {suffix}" if lap == 0 else f"{base} {suffix} No. {lap + 1}")
    return out


def _split(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def build_plan(students: int, school_year: int, seed: int) -> Plan:
    """Lay out schools, sessions, courses, classes and staff for ``students`` students."""
    rng = random.Random(f"{seed}:plan")
    level_totals = dict(zip("EMH", _split(students, [6, 3, 4]), strict=True))
    n_high = max(1, round(level_totals["H"] / MEAN_SIZE["H"]))
    schools: list[School] = []
    for level in "EMH":
        total = level_totals[level]
        count = max(1, round(total / MEAN_SIZE[level]))
        sizes = _split(total, [rng.uniform(0.7, 1.3) for _ in range(count)])
        for k, (name, size) in enumerate(zip(_school_names(rng, count, level), sizes, strict=True)):
            grades = LEVEL_GRADES[level]
            counts = _split(size, [rng.uniform(0.9, 1.1) for _ in grades])
            idx = len(schools)
            schools.append(
                School(
                    index=idx,
                    sourced_id=f"sch-{idx + 1:04d}",
                    name=name,
                    level=level,
                    region=k * n_high // count,
                    identifier=f"0612340{idx + 1:05d}",
                    grade_counts=dict(zip(grades, counts, strict=True)),
                )
            )
    plan = Plan(
        school_year=school_year,
        schools=schools,
        orgs=_orgs(schools),
        sessions=_sessions(school_year),
    )
    _courses_and_classes(plan, rng)
    _staff(plan, rng)
    return plan


def _orgs(schools: list[School]) -> dict[str, list]:
    cols: dict[str, list] = {
        "sourcedId": [DISTRICT_ID],
        "name": [names.DISTRICT_NAME],
        "type": ["district"],
        "identifier": ["0612340"],
        "parentSourcedId": [None],
    }
    for s in schools:
        cols["sourcedId"].append(s.sourced_id)
        cols["name"].append(s.name)
        cols["type"].append("school")
        cols["identifier"].append(s.identifier)
        cols["parentSourcedId"].append(DISTRICT_ID)
    return cols


def _sessions(y: int) -> dict[str, list]:
    p = y - 1
    rows = [
        (f"as-{y}", f"{p}-{y} School Year", "schoolYear", f"{p}-08-17", f"{y}-06-12", None),
        (f"as-{y}-s1", f"Fall Semester {p}", "semester", f"{p}-08-17", f"{y}-01-16", f"as-{y}"),
        (f"as-{y}-s2", f"Spring Semester {y}", "semester", f"{y}-01-19", f"{y}-06-12", f"as-{y}"),
        (f"as-{y}-q1", f"Quarter 1 {p}-{y}", "term", f"{p}-08-17", f"{p}-10-24", f"as-{y}-s1"),
        (f"as-{y}-q2", f"Quarter 2 {p}-{y}", "term", f"{p}-10-26", f"{y}-01-16", f"as-{y}-s1"),
        (f"as-{y}-q3", f"Quarter 3 {p}-{y}", "term", f"{y}-01-19", f"{y}-03-27", f"as-{y}-s2"),
        (f"as-{y}-q4", f"Quarter 4 {p}-{y}", "term", f"{y}-03-29", f"{y}-06-12", f"as-{y}-s2"),
    ]
    keys = ["sourcedId", "title", "type", "startDate", "endDate", "parentSourcedId"]
    cols = {k: [r[i] for r in rows] for i, k in enumerate(keys)}
    cols["schoolYear"] = [str(y)] * len(rows)
    return cols


def _courses_and_classes(plan: Plan, rng: random.Random) -> None:
    year_id, s1, s2 = plan.term_ids
    course_cols: dict[str, list] = {
        k: []
        for k in (
            "sourcedId",
            "schoolYearSourcedId",
            "title",
            "courseCode",
            "grades",
            "orgSourcedId",
            "subjects",
            "subjectCodes",
        )
    }
    class_cols: dict[str, list] = {
        k: []
        for k in (
            "sourcedId",
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
        )
    }

    def add_course(school: School, grade: int, title: str, code: str, subject: str | None) -> str:
        cid = f"crs-{len(course_cols['sourcedId']) + 1:06d}"
        course_cols["sourcedId"].append(cid)
        course_cols["schoolYearSourcedId"].append(year_id)
        course_cols["title"].append(title)
        course_cols["courseCode"].append(f"{code}-{GRADE_CODES[grade]}")
        course_cols["grades"].append(GRADE_CODES[grade])
        course_cols["orgSourcedId"].append(school.sourced_id)
        subj = SUBJECTS[subject] if subject else (None, None)
        course_cols["subjects"].append(subj[0])
        course_cols["subjectCodes"].append(subj[1])
        return cid

    for school in plan.schools:
        room = 100
        for grade, count in school.grade_counts.items():
            plan.group_school.append(school.index)
            plan.group_grade.append(grade)
            plan.group_count.append(count)
            if school.level == "E":
                plan.group_slots.append(1)
                label = "Kindergarten" if grade == 0 else f"Grade {grade}"
                cid = add_course(school, grade, f"{label} Homeroom", "HR", None)
                sections = max(1, math.ceil(count / HOMEROOM_SIZE))
                plan.slot_options.append(1)
                plan.option_base.append(len(class_cols["sourcedId"]))
                plan.option_sections.append(sections)
                plan.option_base.extend([0] * (MAX_OPTIONS - 1))
                plan.option_sections.extend([1] * (MAX_OPTIONS - 1))
                plan.slot_options.extend([1] * (SLOTS - 1))
                plan.option_base.extend([0] * (MAX_OPTIONS * (SLOTS - 1)))
                plan.option_sections.extend([1] * (MAX_OPTIONS * (SLOTS - 1)))
                for sec in range(sections):
                    room += 1
                    _add_class(
                        plan,
                        class_cols,
                        school,
                        grade,
                        cid,
                        f"{label} Homeroom",
                        f"HR-{GRADE_CODES[grade]}-{sec + 1:02d}",
                        "homeroom",
                        f"Room {room}",
                        year_id,
                        (None, None),
                        None,
                    )
                continue
            plan.group_slots.append(SLOTS)
            for slot, options in enumerate(CATALOG[grade]):
                plan.slot_options.append(len(options))
                per_option = count / len(options)
                for title, code, subject in options:
                    cid = add_course(school, grade, title, code, subject)
                    sections = max(1, math.ceil(per_option / SECTION_MAX))
                    plan.option_base.append(len(class_cols["sourcedId"]))
                    plan.option_sections.append(sections)
                    for sec in range(sections):
                        period = (slot + sec) % SLOTS + 1
                        room = 100 + rng.randrange(1, 260)
                        _add_class(
                            plan,
                            class_cols,
                            school,
                            grade,
                            cid,
                            f"{title} - Period {period}",
                            f"{code}-{sec + 1:02d}",
                            "scheduled",
                            f"Room {room}",
                            f"{s1},{s2}",
                            SUBJECTS[subject],
                            str(period),
                        )
                pad = MAX_OPTIONS - len(options)
                plan.option_base.extend([0] * pad)
                plan.option_sections.extend([1] * pad)
    plan.courses = course_cols
    plan.classes = class_cols


def _add_class(
    plan: Plan,
    cols: dict[str, list],
    school: School,
    grade: int,
    course_id: str,
    title: str,
    code: str,
    class_type: str,
    location: str,
    terms: str,
    subject: tuple[str | None, str | None],
    periods: str | None,
) -> None:
    cols["sourcedId"].append(f"cls-{len(cols['sourcedId']) + 1:07d}")
    cols["title"].append(title)
    cols["grades"].append(GRADE_CODES[grade])
    cols["courseSourcedId"].append(course_id)
    cols["classCode"].append(code)
    cols["classType"].append(class_type)
    cols["location"].append(location)
    cols["schoolSourcedId"].append(school.sourced_id)
    cols["termSourcedIds"].append(terms)
    cols["subjects"].append(subject[0])
    cols["subjectCodes"].append(subject[1])
    cols["periods"].append(periods)
    plan.class_school.append(school.index)


def _staff(plan: Plan, rng: random.Random) -> None:
    """Staff every school (≈0.15 per student) and assign teachers to its classes."""
    classes_by_school: dict[int, list[int]] = {}
    for c, s in enumerate(plan.class_school):
        classes_by_school.setdefault(s, []).append(c)
    total_students = sum(s.size for s in plan.schools)
    district_staff = max(2, round(total_students * STAFF_PER_STUDENT * 0.004))
    for _ in range(district_staff):
        plan.staff_role.append("districtAdministrator")
        plan.staff_school.append(-1)
    for school in plan.schools:
        classes = classes_by_school.get(school.index, [])
        per_teacher = 1 if school.level == "E" else SECTIONS_PER_TEACHER
        needed = max(1, math.ceil(len(classes) / per_teacher))
        total = max(3, round(school.size * STAFF_PER_STUDENT))
        admins = school.size // 700
        counselors = max(1, round(school.size / 400))
        teachers = max(needed, round(total * 0.55))
        aides = max(0, total - 1 - admins - counselors - teachers)
        roles = (
            ["principal"]
            + ["siteAdministrator"] * admins
            + ["counselor"] * counselors
            + ["teacher"] * teachers
            + ["aide"] * aides
        )
        first = len(plan.staff_role)
        plan.staff_role.extend(roles)
        plan.staff_school.extend([school.index] * len(roles))
        first_teacher = first + 1 + admins + counselors
        # primary teachers: consecutive classes (same course) go to the same teacher
        for j, c in enumerate(classes):
            plan.teaching.append((c, first_teacher + j * needed // len(classes), True))
        # the remaining teachers co-teach up to three classes each
        extra = teachers - needed
        if extra > 0 and classes:
            offset = rng.randrange(len(classes))
            for k in range(extra):
                seen: set[int] = set()
                for i in range(3):
                    j = (offset + k + i * extra) % len(classes)
                    if j in seen:
                        break
                    seen.add(j)
                    plan.teaching.append((classes[j], first_teacher + needed + k, False))


def to_table(cols: dict[str, list]) -> pa.Table:
    """Convert a dict of Python columns to a table of (nullable) strings."""
    return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
