"""Stage 1, read: a OneRoster bundle becomes the records this sync delivers, per entity.

Each entity's table has ``sourced_id``, ``fingerprint`` (xxh3 over the SIS-owned fields, see
``fingerprint.py``), ``deleted`` (the SIS marked the row ``tobedeleted``) and the fields the
directory keeps; students and people also their ``line`` of users.csv (null for a record a
delta's resolution took from the directory), which the plan keeps for the records it creates
(``lines.py``). Whether absence from the bundle archives a record depends on the mode of the
file the entity comes from: only a **bulk** file is the complete set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.oneroster.checks import marked, scattered
from rollbook.oneroster.csvread import LINE
from rollbook.oneroster.model import ReadResult
from rollbook.oneroster.threads import side_by_side

from .delta import Deferred, defer, enrollments_kept
from .fingerprint import fingerprints
from .left_out import left_at_other_schools, left_out

#: Entities in the order they are planned and applied (references point backwards).
ENTITIES = (
    "school",
    "session",
    "course",
    "class",
    "student",
    "person",
    "staff_role",
    "guardian_link",
    "enrollment",
)
#: The OneRoster file whose mode decides whether absence archives the entity.
SOURCE_FILE = {
    "school": "orgs",
    "session": "academic_sessions",
    "course": "courses",
    "class": "classes",
    "student": "users",
    "person": "users",
    "staff_role": "roles",
    "guardian_link": "users",
    "enrollment": "enrollments",
}
#: OneRoster 1.2 role vocabulary → the directory's staff roles.
STAFF_ROLES = {
    "teacher": "teacher",
    "aide": "aide",
    "counselor": "counselor",
    "principal": "principal",
    "siteAdministrator": "administrator",
    "districtAdministrator": "administrator",
    "systemAdministrator": "administrator",
    "proctor": "proctor",
}
GUARDIAN_RELATIONSHIPS = ("parent", "guardian", "relative")
#: The SIS-owned fields each entity's fingerprint covers.
FIELDS = {
    "school": ["name", "identifier"],
    "session": ["title", "kind", "start_date", "end_date", "school_year", "parent_sourced_id"],
    "class": [
        "title",
        "class_code",
        "class_type",
        "school_sourced_id",
        "course_sourced_id",
        "term_sourced_ids",
    ],
    "course": ["title", "code", "school_sourced_id"],
    "student": [
        "given_name",
        "middle_name",
        "family_name",
        "preferred_given_name",
        "preferred_family_name",
        "grade",
        "identifier",
        "school_sourced_id",
        "birth_date",
    ],
    "person": ["given_name", "family_name", "email", "phone", "is_staff"],
    "staff_role": ["person_sourced_id", "school_sourced_id", "role"],
    "guardian_link": ["person_sourced_id", "student_sourced_id", "relationship"],
    "enrollment": [
        "class_sourced_id",
        "user_sourced_id",
        "role",
        "is_primary",
        "begin_date",
        "end_date",
    ],
}


@dataclass
class Incoming:
    """What the bundle delivers, per entity, ready to be compared with the source's state."""

    tables: dict[str, pa.Table]
    complete: dict[str, bool]  # entity → absence archives (bulk file)
    delivered: dict[str, bool]  # entity → the file was in the bundle at all
    digest: str
    version: str
    skipped: dict[str, int] = field(default_factory=dict)  # rows outside the source's schools
    # What the bundle alone cannot decide (a delta's references to earlier deliveries), settled
    # against the source's state when planning (delta.py, resolve.py); then what stayed
    # unresolved, per entity (delta.UNRESOLVED_SCHEMA tables).
    deferred: Deferred | None = None
    unresolved: dict[str, list[pa.Table]] = field(default_factory=dict)
    # The delivered people normalised already (the self-check's, identity.Normalised): the
    # plan takes them rather than normalising them again.
    normalised_people: object | None = None

    def rows(self, entity: str) -> int:
        return self.tables[entity].num_rows


def _deleted(table: pa.Table) -> pa.Array:
    return pc.fill_null(pc.equal(table["status"], "tobedeleted"), False)


def _finish(table: pa.Table, fields: list[str], may_repeat: bool = False) -> pa.Table:
    """Add the fingerprint over ``fields``; where ids ``may_repeat`` (ids made here, not a
    file's sourcedIds, which the reader already keeps unique by rejecting repeated rows), keep
    one row per id (the last one)."""
    table = table.append_column("fingerprint", fingerprints(table, fields))
    if may_repeat and table.num_rows:
        counts = pc.value_counts(table["sourced_id"])
        if pc.max(counts.field("counts")).as_py() > 1:
            indices = (
                pa.table({"i": pa.array(range(table.num_rows)), "k": table["sourced_id"]})
                .group_by("k")
                .aggregate([("i", "max")])["i_max"]
            )
            table = table.take(pc.sort_indices(indices))
    # The canonical texts hashed above are freed: hand their pages back (jemalloc keeps them
    # otherwise, and the reader's model is still held).
    pa.default_memory_pool().release_unused()
    return table


def keep_rows(table: pa.Table, mask: pa.ChunkedArray | pa.Array) -> pa.Table:
    """The rows of ``table`` where ``mask`` is true; the table itself when it is true on every
    row (the usual case: every class in scope). A filter always copies, and these tables share
    their columns with the reader's model while both are held."""
    if pc.all(mask, skip_nulls=False).as_py() is True:
        return table
    return table.filter(mask)


def _text(table: pa.Table, name: str) -> pa.ChunkedArray:
    column = table[name]
    return pc.fill_null(column, "") if column.null_count else column


def _first(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """The first item of each list (null for an empty or missing list)."""
    if values.null_count:
        values = pc.fill_null(values, pa.scalar([], values.type))
    return pc.list_flatten(pc.list_slice(values, 0, 1, return_fixed_size_list=True))


def read_incoming(
    result: ReadResult,
    digest: str,
    schools: set[str] | None = None,
    known_schools: set[str] | None = None,
) -> Incoming:
    """Turn the reader's model into the records of each entity.

    Args:
        result: the reader's result.
        digest: the bundle's digest.
        schools: only these schools (the source's choice), or all.
        known_schools: schools the source delivered before; a delta without orgs.csv still
            refers to them.
    """
    model = result.model
    modes = model.modes
    tables: dict[str, pa.Table] = {}
    skipped: dict[str, int] = {}

    orgs = model.orgs
    # Schools: orgs of type school, and orgs the classes use as their school whatever their
    # type (real exports put classes in "departments"; the reader warns, the sync follows).
    used_as_school = pc.unique(model.classes["school_sourced_id"].combine_chunks())
    school_rows = orgs.filter(
        pc.or_(
            pc.fill_null(pc.equal(orgs["type"], "school"), False),
            pc.is_in(orgs["sourced_id"], used_as_school),
        )
    )
    every_school = school_rows["sourced_id"].combine_chunks()
    if schools:
        keep = pc.is_in(school_rows["sourced_id"], pa.array(sorted(schools)))
        skipped["school"] = school_rows.num_rows - (pc.sum(keep).as_py() or 0)
        school_rows = school_rows.filter(keep)
    in_scope = school_rows["sourced_id"].combine_chunks()
    if known_schools:
        earlier = {s for s in known_schools if not schools or s in schools}
        in_scope = pa.array(sorted(set(in_scope.to_pylist()) | earlier), pa.string())
    tables["school"] = _finish(
        pa.table(
            {
                "sourced_id": school_rows["sourced_id"],
                "name": _text(school_rows, "name"),
                "identifier": _text(school_rows, "identifier"),
                "deleted": _deleted(school_rows),
            }
        ),
        FIELDS["school"],
    )

    sessions = model.academic_sessions
    tables["session"] = _finish(
        pa.table(
            {
                "sourced_id": sessions["sourced_id"],
                "title": _text(sessions, "title"),
                "kind": _text(sessions, "type"),
                "start_date": sessions["start_date"],
                "end_date": sessions["end_date"],
                "school_year": sessions["school_year"],
                "parent_sourced_id": sessions["parent_sourced_id"],
                "deleted": _deleted(sessions),
            }
        ),
        FIELDS["session"],
    )

    classes = model.classes
    classes = keep_rows(classes, pc.is_in(classes["school_sourced_id"], in_scope))
    terms = pc.binary_join(
        pc.fill_null(classes["term_sourced_ids"], pa.scalar([], pa.list_(pa.string()))), ","
    )
    tables["class"] = _finish(
        pa.table(
            {
                "sourced_id": classes["sourced_id"],
                "title": _text(classes, "title"),
                "class_code": _text(classes, "class_code"),
                "class_type": _text(classes, "class_type"),
                "school_sourced_id": classes["school_sourced_id"],
                "course_sourced_id": classes["course_sourced_id"],
                "term_sourced_ids": terms,
                "deleted": _deleted(classes),
            }
        ),
        FIELDS["class"],
    )

    courses = model.courses
    used = pc.unique(classes["course_sourced_id"].combine_chunks())
    courses = keep_rows(
        courses,
        pc.or_(
            pc.is_in(courses["org_sourced_id"], in_scope), pc.is_in(courses["sourced_id"], used)
        ),
    )
    tables["course"] = _finish(
        pa.table(
            {
                "sourced_id": courses["sourced_id"],
                "title": _text(courses, "title"),
                "code": _text(courses, "course_code"),
                "school_sourced_id": pc.if_else(
                    pc.is_in(courses["org_sourced_id"], in_scope), courses["org_sourced_id"], None
                ),
                "deleted": _deleted(courses),
            }
        ),
        FIELDS["course"],
    )

    # People and enrollments side by side on two threads (Arrow releases the GIL).
    kept = enrollments_kept(result, tables["class"], in_scope, bool(schools))
    people, enrollment = side_by_side(
        partial(_people, model, in_scope), partial(_enrollments, model, kept)
    )
    tables["student"], tables["person"], tables["staff_role"], tables["guardian_link"] = people
    tables["enrollment"] = enrollment

    def mode(entity: str) -> str:
        file = SOURCE_FILE[entity]
        if file == "roles" and result.version != "1.2":
            file = "users"
        return modes.get(file, "absent")

    skipped |= left_out(model, in_scope, every_school)
    if schools:
        skipped |= left_at_other_schools(model, tables, in_scope, every_school, kept)
    return Incoming(
        tables=tables,
        complete={e: mode(e) == "bulk" for e in ENTITIES},
        delivered={e: mode(e) != "absent" for e in ENTITIES},
        digest=digest,
        version=result.version,
        skipped=skipped,
        deferred=defer(result, tables, in_scope, bool(schools)),
    )


def _enrollments(model, kept: pa.ChunkedArray) -> pa.Table:
    enrollments = keep_rows(model.enrollments, kept)
    return _finish(
        pa.table(
            {
                "sourced_id": enrollments["sourced_id"],
                "class_sourced_id": enrollments["class_sourced_id"],
                "user_sourced_id": enrollments["user_sourced_id"],
                "role": _text(enrollments, "role"),
                "is_primary": pc.fill_null(enrollments["primary"], False),
                "begin_date": enrollments["begin_date"],
                "end_date": enrollments["end_date"],
                "deleted": _deleted(enrollments),
            }
        ),
        FIELDS["enrollment"],
    )


def _people(model, in_scope: pa.Array) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """The students, people (staff, parents and guardians), staff roles and guardian links."""
    users = model.users
    all_roles = model.user_roles
    first = _student_schools(all_roles, in_scope)
    staff_roles = all_roles.filter(
        pc.and_(
            pc.equal(all_roles["role_group"], "staff"),
            pc.is_in(all_roles["org_sourced_id"], in_scope),
        )
    )
    # Every user id the records refer to — the students', the guardian links' both ends, the
    # staff's, the guardian roles' — looked up in users.csv at once: one hash table of its
    # sourcedIds (2.65M at L), where set tests of one column against another built nine. The
    # reader keeps the sourcedIds unique, so a row number stands for an id; null: no such user.
    links = model.guardian_links
    guardian_roles = all_roles.select(["user_sourced_id", "role", "line"]).filter(
        pc.equal(all_roles["role_group"], "guardian")
    )
    at_student, at_link_student, at_link_guardian, at_staff, at_guardian_role = _rows_in(
        users["sourced_id"],
        first["user_sourced_id"],
        links["student_sourced_id"],
        links["guardian_sourced_id"],
        staff_roles["user_sourced_id"],
        guardian_roles["user_sourced_id"],
    )
    n = users.num_rows
    # Each guardian's relationship, made first so that the guardian roles are let go (the
    # tables made on the way are let go as soon as they are used: this lane's peak, beside
    # the enrollments', is the sync's at a million students).
    relationship = _relationships(guardian_roles, at_guardian_role, n)
    del guardian_roles, at_guardian_role
    flat = users.select(
        [
            "sourced_id",
            "status",
            "given_name",
            "middle_name",
            "family_name",
            "preferred_given_name",
            "preferred_family_name",
            "identifier",
            "grades",
            LINE,
        ]
    )
    # Each student's row of users.csv, then of demographics.csv (by a hash lookup of the
    # sourcedId: cheaper than joins, and lists can be carried along). Students are in the
    # order of ``first`` (by sourcedId).
    known = pc.is_valid(at_student)
    first = first.filter(known)
    student_rows = at_student.filter(known)
    students = flat.take(student_rows).append_column(
        "org_sourced_id_first", first["org_sourced_id_first"]
    )
    students = students.append_column("grade", pc.fill_null(_first(students["grades"]), ""))
    demographics = model.demographics
    birth = pc.index_in(
        students["sourced_id"], value_set=demographics["sourced_id"].combine_chunks()
    )
    students = students.append_column("birth_date", demographics["birth_date"].take(birth))
    del first, birth, flat
    # Names come from the reader in Unicode NFC without hidden characters (rowchecks._name),
    # so the fingerprints below do not depend on how the SIS encodes an accent.
    student_table = _finish(
        pa.table(
            {
                "sourced_id": students["sourced_id"],
                "given_name": _text(students, "given_name"),
                "middle_name": _text(students, "middle_name"),
                "family_name": _text(students, "family_name"),
                "preferred_given_name": _text(students, "preferred_given_name"),
                "preferred_family_name": _text(students, "preferred_family_name"),
                "grade": students["grade"],
                "identifier": _text(students, "identifier"),
                "school_sourced_id": students["org_sourced_id_first"],
                "birth_date": students["birth_date"],
                "deleted": _deleted(students),
                LINE: students[LINE],
            }
        ),
        FIELDS["student"],
    )
    del students

    role_names = pc.fill_null(_map(staff_roles["role"], STAFF_ROLES), "staff")
    role_ids = pc.coalesce(
        staff_roles["role_sourced_id"],
        pc.binary_join_element_wise(
            staff_roles["user_sourced_id"], staff_roles["org_sourced_id"], staff_roles["role"], "|"
        ),
    )
    staff_table = _finish(
        pa.table(
            {
                "sourced_id": role_ids,
                "person_sourced_id": staff_roles["user_sourced_id"],
                "school_sourced_id": staff_roles["org_sourced_id"],
                "role": role_names,
                "deleted": _deleted(staff_roles),
            }
        ),
        FIELDS["staff_role"],
        may_repeat=True,  # ids made of user, org and role when the roles have none
    )
    del staff_roles, role_names, role_ids

    # Per row of users.csv: a student synced, staff, a guardian of a student synced.
    is_student = marked(student_rows, n)
    of_students = pc.fill_null(is_student.take(at_link_student), False)
    is_staff = marked(at_staff, n)
    is_guardian = marked(at_link_guardian.filter(of_students), n)
    is_person = pc.and_(pc.or_(is_staff, is_guardian), pc.invert(is_student))
    # Only the columns the person table uses are copied by the filter (users has twenty).
    people = users.select(
        ["sourced_id", "given_name", "family_name", "email", "phone", "sms", "status", LINE]
    ).filter(is_person)
    person_table = _finish(
        pa.table(
            {
                "sourced_id": people["sourced_id"],
                "given_name": _text(people, "given_name"),
                "family_name": _text(people, "family_name"),
                "email": people["email"],
                "phone": pc.coalesce(people["phone"], people["sms"]),
                "is_staff": is_staff.filter(is_person),
                "deleted": _deleted(people),
                LINE: people[LINE],
            }
        ),
        FIELDS["person"],
    )
    del people
    # The links between a student and a person synced.
    linked = pc.and_(of_students, pc.fill_null(is_person.take(at_link_guardian), False))
    link_table = _guardian_links(
        keep_rows(links, linked), relationship.take(at_link_guardian.filter(linked))
    )
    return student_table, person_table, staff_table, link_table


def _student_schools(all_roles: pa.Table, in_scope: pa.Array) -> pa.Table:
    """Each student's school (``user_sourced_id``, ``org_sourced_id_first``, by sourcedId):
    a role not being deleted, at the primary org, else the first one by line."""
    student_roles = all_roles.filter(
        pc.and_(
            pc.equal(all_roles["role_group"], "student"),
            pc.is_in(all_roles["org_sourced_id"], in_scope),
        )
    )
    rank = pc.add(
        pc.multiply(pc.cast(_deleted(student_roles), pa.int8()), 2),
        pc.if_else(pc.fill_null(student_roles["is_primary_org"], False), 0, 1),
    )
    ranked = student_roles.append_column("rank", rank).sort_by(
        [("user_sourced_id", "ascending"), ("rank", "ascending"), ("line", "ascending")]
    )
    return ranked.group_by("user_sourced_id", use_threads=False).aggregate(
        [("org_sourced_id", "first")]
    )


def _relationships(guardian_roles: pa.Table, rows: pa.ChunkedArray, n: int) -> pa.Array:
    """Per row of users.csv, the relationship of a guardian: their first guardian role by line
    (``rows``: each role's user as a row number, null for a user not in users.csv); "parent"
    for a user with none."""
    ranked = (
        pa.table({"row": rows, "role": guardian_roles["role"], "line": guardian_roles["line"]})
        .filter(pc.is_valid(rows))
        .sort_by([("row", "ascending"), ("line", "ascending")])
    )
    first = ranked.group_by("row", use_threads=False).aggregate([("role", "first")])
    role = pc.fill_null(first["role_first"], "parent").combine_chunks()
    role = pc.if_else(pc.is_in(role, pa.array(GUARDIAN_RELATIONSHIPS)), role, "guardian")
    return scattered(role, first["row"].combine_chunks(), n, "parent")


def _rows_in(ids: pa.ChunkedArray, *columns: pa.ChunkedArray) -> list[pa.ChunkedArray]:
    """Each column's values as row numbers of ``ids`` (unique), null where absent: one hash
    table of ``ids`` for them all."""
    probes = pa.chunked_array(
        [chunk for column in columns for chunk in column.chunks], type=ids.type
    )
    rows = pc.index_in(probes, value_set=ids.combine_chunks())
    found, offset = [], 0
    for column in columns:
        found.append(rows.slice(offset, len(column)))
        offset += len(column)
    return found


def _map(values: pa.ChunkedArray, mapping: dict[str, str]) -> pa.ChunkedArray:
    keys = pa.array(list(mapping))
    index = pc.index_in(values, keys)
    return pc.take(pa.array(list(mapping.values())), index)


def _guardian_links(links: pa.Table, relationship: pa.Array) -> pa.Table:
    """The guardian links of the students and people synced, with each guardian's
    relationship (``links``: the reader's rows kept)."""
    return _finish(
        pa.table(
            {
                "sourced_id": pc.binary_join_element_wise(
                    links["guardian_sourced_id"], links["student_sourced_id"], "|"
                ),
                "person_sourced_id": links["guardian_sourced_id"],
                "student_sourced_id": links["student_sourced_id"],
                "relationship": relationship,
                "deleted": pa.array([False] * links.num_rows, pa.bool_()),
            }
        ),
        FIELDS["guardian_link"],
    )
