"""What the bundle holds that a source does not sync, counted so that the plan says so (never
a silent skip): staff roles at an org that is not a school, and — for a source limited to the
schools it chose — the students, guardian links, guardians, staff roles and enrollments of the
other schools (``report.LEFT_OUT`` words them)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def left_out(model, in_scope: pa.Array, every_school: pa.Array) -> dict[str, int]:
    """What the bundle holds that this source does not sync, counted so that the plan says
    so (never a silent skip): staff roles at an org that is not a school (district-level
    staff: the directory keeps roles at schools) and, for a source limited to chosen schools,
    staff roles at the other schools. What else such a source leaves out — students, their
    guardian links and guardians, enrollments — is :func:`left_at_other_schools`."""
    roles = model.user_roles
    outside = pc.invert(pc.is_in(roles["org_sourced_id"], in_scope))
    at_school = pc.is_in(roles["org_sourced_id"], every_school)
    counted = {}
    for key, where in (
        ("staff_role_not_at_a_school", pc.invert(at_school)),
        ("staff_role_at_other_schools", at_school),
    ):
        mask = pc.and_(pc.and_(outside, pc.equal(roles["role_group"], "staff")), where)
        counted[key] = _count(mask)
    return {k: v for k, v in counted.items() if v}


def left_at_other_schools(
    model,
    tables: dict[str, pa.Table],
    in_scope: pa.Array,
    every_school: pa.Array,
    kept: pa.ChunkedArray,
) -> dict[str, int]:
    """For a source limited to chosen schools, what the bundle holds of the other schools and
    the source does not sync (``report.LEFT_OUT`` words them), each a set operation over whole
    columns:

    - ``student_at_other_schools``: students with a student role at another school of the
      bundle and none at the source's (a student with a role at a chosen school too is synced
      there);
    - ``guardian_link``: the links of those students to their parents and guardians;
    - ``guardian_at_other_schools``: parents and guardians left out with them — people with
      a guardian role and no other, linked to no student the source syncs;
    - ``enrollment_at_other_schools``: class enrollments the sync does not read because their
      class (or, for a class the bundle does not hold, the enrollment's school) is at a school
      outside the source's (``delta.enrollments_kept``).
    """
    counted: dict[str, int] = {}
    roles = model.user_roles
    group = roles["role_group"]
    synced = tables["student"]["sourced_id"].combine_chunks()
    people = tables["person"]["sourced_id"].combine_chunks()
    outside = pc.and_(
        pc.fill_null(pc.equal(group, "student"), False),
        pc.and_(
            _not_in(roles["org_sourced_id"], in_scope),
            pc.is_in(roles["org_sourced_id"], value_set=every_school),
        ),
    )
    elsewhere = roles["user_sourced_id"].filter(outside)
    students = pc.unique(elsewhere.filter(_not_in(elsewhere, synced)).combine_chunks())
    counted["student_at_other_schools"] = len(students)

    links = model.guardian_links
    theirs = pc.is_in(links["student_sourced_id"], value_set=students)
    counted["guardian_link"] = _count(theirs)
    guardians = pc.unique(links["guardian_sourced_id"].filter(theirs).combine_chunks())
    as_guardian = pc.fill_null(pc.equal(group, "guardian"), False)
    guardian_roles = roles["user_sourced_id"].filter(as_guardian)
    other_roles = roles["user_sourced_id"].filter(pc.invert(as_guardian))
    alone = pc.and_(
        pc.is_in(guardians, value_set=guardian_roles),
        pc.and_(_not_in(guardians, other_roles), _not_in(guardians, people)),
    )
    counted["guardian_at_other_schools"] = _count(alone)

    # Only the two columns read are copied by the filter (enrollments are the largest file).
    enrollments = model.enrollments.select(["class_sourced_id", "school_sourced_id"]).filter(
        pc.invert(pc.fill_null(kept, False))
    )
    classes = model.classes
    at = pc.index_in(enrollments["class_sourced_id"], value_set=classes["sourced_id"])
    school = pc.coalesce(classes["school_sourced_id"].take(at), enrollments["school_sourced_id"])
    counted["enrollment_at_other_schools"] = _count(
        pc.and_(pc.is_valid(school), _not_in(school, in_scope))
    )
    return {k: v for k, v in counted.items() if v}


def _count(mask) -> int:
    return pc.sum(pc.fill_null(mask, False)).as_py() or 0


def _not_in(values, value_set) -> pa.Array | pa.ChunkedArray:
    return pc.invert(pc.is_in(values, value_set=value_set))
