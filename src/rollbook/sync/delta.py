"""Deltas, read time: what a bundle alone cannot decide, kept to be settled at plan time.

A delta (or a bundle without some file) is not the whole set: an enrollment may name a class
delivered last week, a new guardian may name a student whose row is not re-sent, a 1.2 user
may come back without its ``roles.csv`` rows. The reader cannot tell such a reference from a
wrong one (``rollbook validate`` knows no directory). The sync keeps these rows instead of
dropping them, with their file, line and column, and ``resolve.py`` settles them against what
the source delivered before (its state, read on a second thread meanwhile): known, they are
synced; unknown anywhere, they are not written and the run says where and how to fix it.

Every step is a set operation over whole columns (``is_in`` against Arrow arrays). A bundle
whose files are all bulk defers nothing and costs nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.oneroster.model import ReadResult

#: A reference to check against the bundle and the state once the state is known.
REF_SCHEMA = pa.schema(
    [
        ("entity", pa.string()),  # the sync entity holding the reference
        ("sourced_id", pa.string()),  # its row (the incoming table's sourced_id)
        ("target", pa.string()),  # class, user, person, course, session
        ("value", pa.string()),
        ("required", pa.bool_()),  # unresolved: the row is not written
        ("file", pa.string()),
        ("line", pa.int64()),
        ("column", pa.string()),
    ]
)
#: A reference that neither the bundle nor the state resolves (reported by the apply).
UNRESOLVED_SCHEMA = pa.schema(
    [
        ("sourced_id", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
        ("column", pa.string()),
        ("value", pa.string()),
        ("message", pa.string()),
        ("written", pa.bool_()),  # false: the row was not written
    ]
)
#: Guardian links with a side the bundle does not deliver.
PAIR_SCHEMA = pa.schema(
    [
        ("student_sourced_id", pa.string()),
        ("guardian_sourced_id", pa.string()),
        ("relationship", pa.string()),  # null: the guardian's role is not in the bundle
        ("line", pa.int64()),
    ]
)


@dataclass
class Deferred:
    """What read time left for plan time (see the module docstring)."""

    files: dict[str, str]  # reader entity → the file's name in the bundle
    chosen: bool = False  # the source syncs only the schools it chose
    refs: list[pa.Table] = field(default_factory=list)  # REF_SCHEMA
    unresolved: dict[str, list[pa.Table]] = field(default_factory=dict)  # UNRESOLVED_SCHEMA
    # Users the bundle alone makes neither a student nor a person of the sync: the student's
    # and the person's fields, deleted, has_role (then a guardian role), has_birth_row,
    # agents, line.
    candidates: pa.Table | None = None
    pairs: pa.Table | None = None  # PAIR_SCHEMA
    no_birth_row: pa.Array | None = None  # students delivered without a demographics row
    staff_from_directory: bool = False  # 1.2 roles not bulk: staff known from the directory
    guardian_holders: pa.Array | None = None  # users with a guardian role in the bundle
    student_roles: pa.Table | None = None  # 1.2: a student's role row without its user row
    guardian_roles: pa.Table | None = None  # 1.2: a guardian's role row without its user row

    def add_ref(self, table: pa.Table) -> None:
        if table.num_rows:
            self.refs.append(table.cast(REF_SCHEMA))

    def add_unresolved(self, entity: str, table: pa.Table) -> None:
        if table.num_rows:
            self.unresolved.setdefault(entity, []).append(table.cast(UNRESOLVED_SCHEMA))


def constant(value, n: int, type_: pa.DataType | None = None) -> pa.Array:
    """``value`` n times (a string unless ``type_`` says otherwise)."""
    return pa.array([value] * n, type_ or pa.string())


def ref_rows(
    entity: str,
    sourced_ids,
    values,
    lines,
    *,
    target: str,
    required: bool,
    file: str,
    column: str,
) -> pa.Table:
    """REF_SCHEMA rows for ``values`` (one per row, already selected)."""
    n = len(values)
    return pa.table(
        {
            "entity": constant(entity, n),
            "sourced_id": sourced_ids,
            "target": constant(target, n),
            "value": values,
            "required": constant(required, n, pa.bool_()),
            "file": constant(file, n),
            "line": pc.cast(lines, pa.int64()),
            "column": constant(column, n),
        },
        schema=REF_SCHEMA,
    )


def unresolved_rows(
    sourced_ids, values, lines, *, file: str, column: str, message: str, written: bool
) -> pa.Table:
    """UNRESOLVED_SCHEMA rows; ``message`` may hold ``{value}``."""
    values = pc.cast(values, pa.string())
    n = len(values)
    head, _, tail = message.partition("{value}")
    texts = (
        pc.binary_join_element_wise(constant(head, n), values, constant(tail, n), "")
        if "{value}" in message
        else constant(message, n)
    )
    return pa.table(
        {
            "sourced_id": sourced_ids,
            "file": constant(file, n),
            "line": pc.cast(lines, pa.int64()),
            "column": constant(column, n),
            "value": values,
            "message": texts,
            "written": constant(written, n, pa.bool_()),
        },
        schema=UNRESOLVED_SCHEMA,
    )


def _alive(table: pa.Table) -> pa.ChunkedArray:
    status = table["status"]
    return pc.invert(pc.fill_null(pc.equal(status, "tobedeleted"), False))


def _not_in(values, ids) -> pa.ChunkedArray:
    return pc.invert(pc.fill_null(pc.is_in(values, value_set=ids), False))


def open_files(result: ReadResult) -> dict[str, bool]:
    """Reader entity → the bundle does not hold its whole set (a delta, or no file)."""
    modes = result.model.modes
    return {entity: modes.get(entity, "absent") != "bulk" for entity in result.model.tables}


def file_names(result: ReadResult) -> dict[str, str]:
    """Reader entity → the file's name as the bundle spells it."""
    from rollbook.oneroster import schema

    names = {}
    for spec in schema.ROSTER_FILES:
        info = result.files.get(spec.filename)
        names[spec.entity] = (info.found_as if info else None) or spec.filename
    return names


def enrollments_kept(
    result: ReadResult, classes: pa.Table, scope: pa.Array, chosen: bool
) -> pa.ChunkedArray:
    """Which enrollments the sync reads: those of the classes it reads and — when classes.csv
    is not the whole set — those of classes the bundle does not hold (they may be known),
    unless their school is one the source does not sync (``chosen``: the source syncs only
    the schools it chose, so any other school is outside)."""
    enrollments = result.model.enrollments
    keep = pc.is_in(enrollments["class_sourced_id"], classes["sourced_id"].combine_chunks())
    if not open_files(result)["classes"]:
        return keep
    elsewhere = _not_in(enrollments["class_sourced_id"], result.model.classes["sourced_id"])
    school = enrollments["school_sourced_id"]
    orgs = result.model.orgs["sourced_id"]
    named = pc.is_valid(school) if chosen else pc.is_in(school, value_set=orgs)
    outside = pc.and_(pc.fill_null(named, False), _not_in(school, scope))
    return pc.or_(keep, pc.and_(elsewhere, pc.invert(outside)))


def defer(
    result: ReadResult, tables: dict[str, pa.Table], scope: pa.Array, chosen: bool
) -> Deferred | None:
    """What the bundle alone cannot decide (None: nothing, every file is the whole set)."""
    opened = open_files(result)
    version = result.version
    roles_open = opened["roles"] if version == "1.2" else opened["users"]
    if not any(opened[e] for e in ("users", "classes", "courses", "academic_sessions")) and not (
        roles_open or opened["demographics"]
    ):
        return None
    model = result.model
    files = file_names(result)
    deferred = Deferred(files=files, chosen=chosen)
    _classes(deferred, result, tables, scope, chosen, opened)
    _enrollment_refs(deferred, result, tables, opened)
    if version == "1.2" and opened["users"]:
        roles = model.roles
        roles = roles.filter(
            pc.is_in(roles["sourced_id"], value_set=tables["staff_role"]["sourced_id"])
        )
        elsewhere = _not_in(roles["user_sourced_id"], model.users["sourced_id"])
        elsewhere = pc.and_(elsewhere, _alive(roles))
        rows = roles.filter(elsewhere)
        deferred.add_ref(
            ref_rows(
                "staff_role",
                rows["sourced_id"],
                rows["user_sourced_id"],
                rows["line"],
                target="person",
                required=True,
                file=files["roles"],
                column="userSourcedId",
            )
        )
    if version == "1.2" and opened["users"]:
        _student_roles(deferred, result, scope)
        _guardian_roles(deferred, result)
    if opened["users"] or roles_open:
        _people(deferred, result, tables, roles_open and version == "1.2")
    if opened["demographics"] and tables["student"].num_rows:
        missing = _not_in(tables["student"]["sourced_id"], model.demographics["sourced_id"])
        deferred.no_birth_row = tables["student"]["sourced_id"].filter(missing).combine_chunks()
    deferred.staff_from_directory = version == "1.2" and roles_open
    return deferred


def _classes(deferred, result, tables, scope, chosen, opened) -> None:
    """Classes: a school the bundle and the source do not know; courses and terms that may be
    known (checked at plan time)."""
    files, model = deferred.files, result.model
    classes = model.classes
    if opened["orgs"] and not chosen and classes.num_rows:
        lost = pc.and_(
            pc.and_(_not_in(classes["school_sourced_id"], scope), _alive(classes)),
            _not_in(classes["school_sourced_id"], model.orgs["sourced_id"]),
        )
        rows = classes.filter(lost)
        deferred.add_unresolved(
            "class",
            unresolved_rows(
                rows["sourced_id"],
                rows["school_sourced_id"],
                rows["line"],
                file=files["classes"],
                column="schoolSourcedId",
                message="school {value} is neither in this bundle nor a school this source "
                "delivered before; the class was not written. Export the school (orgs.csv) or "
                "correct schoolSourcedId.",
                written=False,
            ),
        )
    if model.modes.get("classes") != "delta":
        return  # a bulk classes.csv naming an absent file: the reader said so (OR-BULK-INCOMPLETE)
    kept = classes.filter(pc.is_in(classes["sourced_id"], value_set=tables["class"]["sourced_id"]))
    kept = kept.filter(_alive(kept))
    if opened["courses"] and kept.num_rows:
        rows = kept.filter(
            pc.and_(
                pc.is_valid(kept["course_sourced_id"]),
                _not_in(kept["course_sourced_id"], model.courses["sourced_id"]),
            )
        )
        deferred.add_ref(
            ref_rows(
                "class",
                rows["sourced_id"],
                rows["course_sourced_id"],
                rows["line"],
                target="course",
                required=False,
                file=files["classes"],
                column="courseSourcedId",
            )
        )
    if opened["academic_sessions"] and kept.num_rows:
        terms = kept["term_sourced_ids"].combine_chunks()
        parents = pc.list_parent_indices(terms)
        values = pc.list_flatten(terms)
        missing = pc.and_(
            pc.is_valid(values), _not_in(values, model.academic_sessions["sourced_id"])
        )
        at = parents.filter(missing)
        deferred.add_ref(
            ref_rows(
                "class",
                kept["sourced_id"].take(at),
                values.filter(missing),
                kept["line"].take(at),
                target="session",
                required=False,
                file=files["classes"],
                column="termSourcedIds",
            )
        )


def _enrollment_refs(deferred, result, tables, opened) -> None:
    """Enrollments whose class or user the bundle does not hold: known, or not written."""
    model, files = result.model, deferred.files
    delivered = tables["enrollment"]
    if not delivered.num_rows or not (opened["classes"] or opened["users"]):
        return
    rows = model.enrollments
    rows = rows.filter(pc.is_in(rows["sourced_id"], value_set=delivered["sourced_id"]))
    rows = rows.filter(_alive(rows))
    for is_open, column, header, target, ids in (
        (opened["classes"], "class_sourced_id", "classSourcedId", "class", model.classes),
        (opened["users"], "user_sourced_id", "userSourcedId", "user", model.users),
    ):
        if not is_open:
            continue
        lacking = rows.filter(_not_in(rows[column], ids["sourced_id"]))
        deferred.add_ref(
            ref_rows(
                "enrollment",
                lacking["sourced_id"],
                lacking[column],
                lacking["line"],
                target=target,
                required=True,
                file=files["enrollments"],
                column=header,
            )
        )


def _student_roles(deferred: Deferred, result: ReadResult, scope: pa.Array) -> None:
    """1.2: role rows of students whose users.csv row is not in the bundle (a school move sent
    as a roles delta): each student's role at a synced school — the primary one, else the
    first — to be applied to the student the directory has."""
    model = result.model
    roles = model.user_roles
    rows = roles.filter(
        pc.and_(
            pc.and_(
                pc.fill_null(pc.equal(roles["role_group"], "student"), False),
                pc.is_in(roles["org_sourced_id"], value_set=scope),
            ),
            pc.and_(_alive(roles), _not_in(roles["user_sourced_id"], model.users["sourced_id"])),
        )
    )
    if not rows.num_rows:
        return
    rank = pc.if_else(pc.fill_null(pc.equal(rows["role_type"], "primary"), False), 0, 1)
    rows = rows.append_column("rank", rank).sort_by(
        [("user_sourced_id", "ascending"), ("rank", "ascending"), ("line", "ascending")]
    )
    first = pc.index_in(
        pc.unique(rows["user_sourced_id"].combine_chunks()), value_set=rows["user_sourced_id"]
    )
    deferred.student_roles = pa.table(
        {
            "sourced_id": rows["user_sourced_id"].take(first),
            "school_sourced_id": rows["org_sourced_id"].take(first),
            "line": pc.cast(rows["line"].take(first), pa.int64()),
        }
    )


def _guardian_roles(deferred: Deferred, result: ReadResult) -> None:
    """1.2: guardian role rows of users whose users.csv row is not in the bundle (a parent who
    is now a guardian, say): each user's first, to be given to the links the directory has."""
    model = result.model
    roles = model.user_roles
    rows = roles.filter(
        pc.and_(
            pc.fill_null(pc.equal(roles["role_group"], "guardian"), False),
            pc.and_(_alive(roles), _not_in(roles["user_sourced_id"], model.users["sourced_id"])),
        )
    ).sort_by("line")
    if rows.num_rows:
        first = pc.index_in(
            pc.unique(rows["user_sourced_id"].combine_chunks()),
            value_set=rows["user_sourced_id"],
        )
        deferred.guardian_roles = pa.table(
            {
                "sourced_id": rows["user_sourced_id"].take(first),
                "relationship": rows["role"].take(first),
                "line": pc.cast(rows["line"].take(first), pa.int64()),
            }
        )


def _first(values: pa.ChunkedArray) -> pa.ChunkedArray:
    if values.null_count:
        values = pc.fill_null(values, pa.scalar([], values.type))
    return pc.list_flatten(pc.list_slice(values, 0, 1, return_fixed_size_list=True))


def _people(deferred: Deferred, result: ReadResult, tables: dict, roles_open: bool) -> None:
    """Users the bundle alone does not make a student or a person of the sync — a 1.2 user
    without roles.csv rows, a guardian whose students are not re-sent — and guardian links
    with a side the bundle does not deliver."""
    model = result.model
    users, roles = model.users, model.user_roles
    students = tables["student"]["sourced_id"].combine_chunks()
    people = tables["person"]["sourced_id"].combine_chunks()
    holders = roles["user_sourced_id"].filter(pc.equal(roles["role_group"], "guardian"))
    deferred.guardian_holders = pc.unique(holders.combine_chunks())
    with_role = pc.is_in(users["sourced_id"], value_set=roles["user_sourced_id"])
    guardian = pc.is_in(users["sourced_id"], value_set=deferred.guardian_holders)
    wanted = pc.or_(guardian, pc.invert(with_role)) if roles_open else guardian
    wanted = pc.and_(
        wanted,
        pc.and_(_not_in(users["sourced_id"], students), _not_in(users["sourced_id"], people)),
    )
    rows = users.filter(wanted)
    if rows.num_rows:
        demographics = model.demographics
        birth_at = pc.index_in(rows["sourced_id"], value_set=demographics["sourced_id"])

        def text(name: str) -> pa.ChunkedArray:
            return pc.fill_null(rows[name], "")

        deferred.candidates = pa.table(
            {
                "sourced_id": rows["sourced_id"],
                "given_name": text("given_name"),
                "middle_name": text("middle_name"),
                "family_name": text("family_name"),
                "preferred_given_name": text("preferred_given_name"),
                "preferred_family_name": text("preferred_family_name"),
                "grade": pc.fill_null(_first(rows["grades"]), ""),
                "identifier": text("identifier"),
                "birth_date": demographics["birth_date"].take(birth_at),
                "email": rows["email"],
                "phone": pc.coalesce(rows["phone"], rows["sms"]),
                "deleted": pc.invert(_alive(rows)),
                "has_role": pc.is_in(rows["sourced_id"], value_set=roles["user_sourced_id"]),
                "has_birth_row": pc.is_valid(birth_at),
                "agents": rows["agent_sourced_ids"],
                "line": pc.cast(rows["line"], pa.int64()),
            }
        )
    # A side is settled at plan time when the bundle lacks its role (it may be known), or —
    # a guardian — when none of its students is in the bundle; a student the bundle gives a
    # role outside the source's schools stays out, as in a bulk bundle.
    links = model.guardian_links
    student_in = pc.is_in(links["student_sourced_id"], value_set=students)
    guardian_in = pc.is_in(links["guardian_sourced_id"], value_set=people)
    student_open = pc.or_(
        student_in, _not_in(links["student_sourced_id"], roles["user_sourced_id"])
    )
    guardian_open = pc.or_(
        guardian_in,
        pc.or_(
            _not_in(links["guardian_sourced_id"], roles["user_sourced_id"]),
            pc.is_in(links["guardian_sourced_id"], value_set=deferred.guardian_holders),
        ),
    )
    pending = pc.and_(
        pc.and_(student_open, guardian_open), pc.invert(pc.and_(student_in, guardian_in))
    )
    links = links.filter(pending)
    if not links.num_rows:
        return
    # The row that declared the link, for the finding: the student's, else the guardian's.
    by_student = pc.not_equal(links["declared_by"], "guardian")
    declarer = pc.if_else(by_student, links["student_sourced_id"], links["guardian_sourced_id"])
    line = users["line"].take(pc.index_in(declarer, value_set=users["sourced_id"]))
    guardian_roles = (
        roles.select(["user_sourced_id", "role", "line", "role_group"])
        .filter(pc.equal(roles["role_group"], "guardian"))
        .sort_by("line")
    )
    first = pc.index_in(links["guardian_sourced_id"], value_set=guardian_roles["user_sourced_id"])
    deferred.pairs = pa.table(
        {
            "student_sourced_id": links["student_sourced_id"],
            "guardian_sourced_id": links["guardian_sourced_id"],
            "relationship": guardian_roles["role"].take(first),
            "line": pc.cast(line, pa.int64()),
        },
        schema=PAIR_SCHEMA,
    )
