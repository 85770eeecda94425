"""Generating a whole bundle: tables per OneRoster version, enrollments, roles, summary."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from . import layout, write
from .arrays import INT, Rng, fmt_ids, mod, rank_in_group, repeat_index
from .people import GUARDIAN_ROLES, People, build_people
from .relations import split_list
from .schools import MAX_OPTIONS, SLOTS, STAFF_ROLE_11, Plan, build_plan, to_table

DEFAULT_SEED = 1
DEFAULT_SCHOOL_YEAR = 2027
MAX_STUDENTS = 2_000_000  # the fictional 555 phone space holds ~3.5M people


@dataclass
class GeneratorSummary:
    """Counts describing a generated bundle (also written as ``OUT.summary.json``)."""

    out: str
    version: str
    seed: int
    school_year: int
    students: int = 0
    families: int = 0
    guardian_rows: int = 0
    guardian_people: int = 0
    duplicate_guardian_rows_same: int = 0
    duplicate_guardian_rows_differing: dict[str, int] = field(default_factory=dict)
    staff: int = 0
    staff_by_role: dict[str, int] = field(default_factory=dict)
    staff_also_guardians_same: int = 0
    staff_also_guardians_differing: dict[str, int] = field(default_factory=dict)
    planted_differing_people: int = 0
    guardians_without_contact: int = 0
    users: int = 0
    enrollments: int = 0
    student_enrollments: int = 0
    teacher_enrollments: int = 0
    classes: int = 0
    courses: int = 0
    schools: int = 0
    schools_by_level: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    zip: str | None = None
    planted: dict[str, list] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise as indented JSON."""
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)


def student_enrollments(
    plan: Plan, st: dict, rng: Rng, stu_ids: pa.Array, class_ids: pa.Array, school_ids: pa.Array
) -> pa.Table:
    """One homeroom per elementary student, seven scheduled classes per secondary student."""
    group = st["group"]
    slots = pc.take(pa.array(plan.group_slots, INT), group)
    parent = repeat_index(slots)
    slot = rank_in_group(slots)
    gs = pc.add(pc.multiply(pc.take(group, parent), SLOTS), slot)
    nopt = pc.take(pa.array(plan.slot_options, INT), gs)
    # balanced: options and sections are dealt round-robin over the students of a grade
    pos = pc.take(st["pos"], parent)
    opt = mod(pc.add(pos, slot), nopt)
    key = pc.add(pc.multiply(gs, MAX_OPTIONS), opt)
    base = pc.take(pa.array(plan.option_base, INT), key)
    nsec = pc.take(pa.array(plan.option_sections, INT), key)
    cls = pc.add(base, mod(pc.add(pc.divide(pos, nopt), slot), nsec))
    return enrollment_rows(
        pc.take(class_ids, cls),
        pc.take(school_ids, pc.take(st["school"], parent)),
        pc.take(stu_ids, parent),
        "student",
        None,
    )


def enrollment_rows(
    class_ids: pa.Array,
    school_ids: pa.Array,
    user_ids: pa.Array,
    role: str,
    primary: pa.Array | None,
) -> pa.Table:
    """Enrollment rows with sourcedIds derived from (class, user), hence stable across days."""
    n = len(class_ids)
    cls_num = pc.utf8_slice_codeunits(class_ids, 4)
    return pa.table(
        {
            "sourcedId": pc.binary_join_element_wise("enr-", cls_num, "-", user_ids, ""),
            "classSourcedId": class_ids,
            "schoolSourcedId": school_ids,
            "userSourcedId": user_ids,
            "role": pa.repeat(pa.scalar(role), n),
            "primary": primary if primary is not None else pa.nulls(n, pa.string()),
        }
    )


def teacher_enrollments(
    plan: Plan, class_ids: pa.Array, school_ids: pa.Array, staff_ids: pa.Array
) -> pa.Table:
    """Primary teachers (one per class) and co-teachers (primary=false)."""
    cls = pa.array([c for c, _, _ in plan.teaching], INT)
    stf = pa.array([s for _, s, _ in plan.teaching], INT)
    primary = pa.array(["true" if p else "false" for _, _, p in plan.teaching])
    school = pc.take(school_ids, pa.array([plan.class_school[c] for c, _, _ in plan.teaching], INT))
    return enrollment_rows(
        pc.take(class_ids, cls), school, pc.take(staff_ids, stf), "teacher", primary
    )


def users_table(canonical: pa.Table, version: str) -> pa.Table:
    """Lay canonical user rows out as users.csv columns for ``version``."""
    cols = {name: canonical[name] for name in canonical.column_names}
    if version == "1.1":
        keys = pa.array(list(STAFF_ROLE_11))
        vals = pa.array(list(STAFF_ROLE_11.values()))
        role = canonical["role"]
        mapped = pc.take(vals, pc.index_in(role, value_set=keys))
        cols["role"] = pc.coalesce(mapped, role)
        cols["orgSourcedIds"] = canonical["orgs"]
    else:
        first = pc.list_element(pc.split_pattern(canonical["orgs"], ",", max_splits=1), 0)
        cols["primaryOrgSourcedId"] = first
    return write.conform(pa.table(cols), layout.columns(version, "users"))


def roles_table(canonical: pa.Table) -> pa.Table:
    """roles.csv rows (1.2): one per (user, org); primary for the user's first org."""
    parent, org = split_list(canonical["orgs"])
    user = pc.take(canonical["sourcedId"], parent)
    first = pc.equal(
        rank_in_group(
            pc.list_value_length(pc.split_pattern(canonical["orgs"].combine_chunks(), ","))
        ),
        0,
    )
    return pa.table(
        {
            "sourcedId": pc.binary_join_element_wise("rol-", user, "-", org, ""),
            "userSourcedId": user,
            "roleType": pc.if_else(first, "primary", "secondary"),
            "role": pc.take(canonical["role"], parent),
            "orgSourcedId": org,
        }
    )


def generate_bundle(
    out: Path,
    students: int,
    version: str = "1.2",
    seed: int = DEFAULT_SEED,
    zip: bool = False,
    school_year: int = DEFAULT_SCHOOL_YEAR,
) -> GeneratorSummary:
    """Generate a deterministic OneRoster bulk bundle for ``students`` students into ``out``.

    Args:
        out: bundle folder (created or replaced); the summary goes to ``OUT.summary.json``.
        students: number of students (1 ≤ students ≤ 2,000,000).
        version: OneRoster version, ``"1.1"`` or ``"1.2"`` (users.csv in the 1.2.1 layout).
        seed: the same seed gives byte-identical files.
        zip: also write ``OUT.zip`` (the CSV files at the zip root).
        school_year: the year the school year ends (``2027`` = 2026-2027).

    Returns:
        The summary of what was generated and planted.
    """
    if version not in layout.VERSIONS:
        raise ValueError(f"version must be one of {layout.VERSIONS}")
    if not 1 <= students <= MAX_STUDENTS:
        raise ValueError(f"students must be between 1 and {MAX_STUDENTS}")
    started = time.perf_counter()
    out = Path(out)
    rng = Rng(seed, "bundle")
    plan = build_plan(students, school_year, seed)
    people, st = build_people(plan, rng.child("people"), version)
    tables = assemble(plan, people, st, rng, version)
    write.prepare_dir(out)
    rows = {}
    for name, table in tables.items():
        rows[name] = write.write_csv(out / f"{name}.csv", table, layout.columns(version, name))
    write.write_manifest(out / "manifest.csv", version, {name: "bulk" for name in tables})
    summary = _summary(out, plan, people, tables, version, seed, rows)
    if zip:
        summary.zip = str(write.zip_bundle(out))
    summary.seconds = round(time.perf_counter() - started, 2)
    write.summary_path(out).write_text(summary.to_json(), encoding="utf-8")
    return summary


def assemble(plan: Plan, people: People, st: dict, rng: Rng, version: str) -> dict[str, pa.Table]:
    """Build every CSV table of the bundle (in write order)."""
    class_ids = to_table(plan.classes)["sourcedId"].combine_chunks()
    school_ids = pa.array([s.sourced_id for s in plan.schools])
    canonical = pa.concat_tables([people.students, people.guardians, people.staff])
    enr = pa.concat_tables(
        [
            student_enrollments(
                plan, st, rng.child("enrol"), people.students["sourcedId"], class_ids, school_ids
            ),
            teacher_enrollments(plan, class_ids, school_ids, people.staff["sourcedId"]),
        ]
    )
    tables = {
        "orgs": to_table(plan.orgs),
        "academicSessions": to_table(plan.sessions),
        "courses": to_table(plan.courses),
        "classes": to_table(plan.classes),
        "users": users_table(canonical, version),
    }
    if version == "1.2":
        tables["roles"] = roles_table(canonical)
    tables["enrollments"] = enr
    tables["demographics"] = people.demographics
    return tables


def _summary(
    out: Path,
    plan: Plan,
    people: People,
    tables: dict[str, pa.Table],
    version: str,
    seed: int,
    rows: dict[str, int],
) -> GeneratorSummary:
    p = people.planted
    staff_roles = people.staff["role"].value_counts().to_pylist()
    enr_roles = {
        d["values"]: d["counts"] for d in tables["enrollments"]["role"].value_counts().to_pylist()
    }
    guardian_rows = people.guardians.num_rows
    n_dup = p.duplicate_guardian_same + sum(p.duplicate_guardian_differing.values())
    return GeneratorSummary(
        out=str(out),
        version=version,
        seed=seed,
        school_year=plan.school_year,
        students=people.students.num_rows,
        families=people.families,
        guardian_rows=guardian_rows,
        guardian_people=guardian_rows - n_dup,
        duplicate_guardian_rows_same=p.duplicate_guardian_same,
        duplicate_guardian_rows_differing=p.duplicate_guardian_differing,
        staff=people.staff.num_rows,
        staff_by_role={d["values"]: d["counts"] for d in staff_roles},
        staff_also_guardians_same=p.staff_guardian_same,
        staff_also_guardians_differing=p.staff_guardian_differing,
        planted_differing_people=sum(p.duplicate_guardian_differing.values())
        + sum(p.staff_guardian_differing.values()),
        guardians_without_contact=people.guardians_without_contact,
        users=rows["users"],
        enrollments=rows["enrollments"],
        student_enrollments=enr_roles.get("student", 0),
        teacher_enrollments=enr_roles.get("teacher", 0),
        classes=rows["classes"],
        courses=rows["courses"],
        schools=len(plan.schools),
        schools_by_level={lv: sum(1 for s in plan.schools if s.level == lv) for lv in "EMH"},
        rows=rows,
        planted={
            "staff_also_guardian": [list(x) for x in p.staff_guardian_ids],
            "duplicate_guardian": [list(x) for x in p.duplicate_guardian_ids],
        },
    )


__all__ = ["GUARDIAN_ROLES", "GeneratorSummary", "generate_bundle", "fmt_ids"]
