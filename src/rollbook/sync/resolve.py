"""Deltas, plan time: what read time deferred (``delta.py``), settled against the source's state.

The state says which sourcedIds the source delivered before (and which are still active); a
few columns more come from the directory, only for the rows that need them: a known
student's school and birth date when the delta does not re-send them, which people are
guardians (and as what) or staff. Rows whose references resolve join the incoming tables
before the diff; the others are kept out of the plan, each with its file, line, column and
fix (``Incoming.unresolved``), and the apply records them as ``SYNC-REFERENCE-MISSING``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.oneroster.csvread import LINE

from .delta import PAIR_SCHEMA, UNRESOLVED_SCHEMA, Deferred, constant, unresolved_rows
from .fingerprint import fingerprints
from .known import Directory
from .read import FIELDS, GUARDIAN_RELATIONSHIPS, Incoming

#: What each reference must name, in words, and how to fix it.
TARGETS = {
    "class": ("class", "Export the class (classes.csv) or correct the reference"),
    "user": ("user", "Export the user (users.csv) or correct the reference"),
    "person": ("user", "Export the user (users.csv) or correct the reference"),
    "course": ("course", "Export the course (courses.csv) or correct the reference"),
    "session": ("academic session", "Export the session (academicSessions.csv) or correct it"),
}
EFFECT = {True: "the {entity} was not written", False: "the {entity} was written without it"}
ENTITY_WORDS = {"enrollment": "enrollment", "staff_role": "role", "class": "class"}


def settle(incoming: Incoming, states: dict[str, pa.Table]) -> None:
    """Resolve what the bundle left open against the state; fill ``incoming.unresolved``."""
    deferred = incoming.deferred
    if deferred is None:
        return
    directory = Directory(states)
    tables = incoming.tables
    for entity, parts in deferred.unresolved.items():
        incoming.unresolved.setdefault(entity, []).extend(parts)
    students_before = states["student"]["sourced_id"].combine_chunks()
    people_before = states["person"]["sourced_id"].combine_chunks()
    candidates = deferred.candidates
    pairs = _pairs(deferred, candidates, students_before, people_before)
    if candidates is not None and incoming.delivered["student"]:
        candidates = _students_without_role(incoming, candidates, students_before, directory)
    if deferred.student_roles is not None:
        _students_by_role(incoming, deferred, states["student"], directory)
    if pairs is not None and incoming.delivered["guardian_link"]:
        guardians = _links(incoming, pairs, states, directory)
    else:
        guardians = pa.array([], pa.string())
    if deferred.guardian_roles is not None:
        _relationships(incoming, deferred, states["person"], directory)
    if candidates is not None and incoming.delivered["person"]:
        _people_without_role(incoming, candidates, people_before, guardians, deferred)
    if deferred.staff_from_directory and tables["person"].num_rows:
        _staff_from_directory(incoming, directory)
    if deferred.no_birth_row is not None and len(deferred.no_birth_row):
        _birth_dates(incoming, deferred.no_birth_row, students_before, directory)
    _references(incoming, deferred, states)
    incoming.deferred = None


def _active(state: pa.Table) -> pa.Array:
    return state["sourced_id"].filter(state["active"]).combine_chunks()


def _delivered(table: pa.Table) -> pa.Array:
    """The sourcedIds a bundle delivers alive (not marked tobedeleted)."""
    return table["sourced_id"].filter(pc.invert(table["deleted"])).combine_chunks()


def _union(*arrays) -> pa.Array:
    return pa.concat_arrays(
        [pc.cast(a.combine_chunks() if hasattr(a, "chunks") else a, pa.string()) for a in arrays]
    )


def _append(incoming: Incoming, entity: str, rows: pa.Table) -> None:
    """Add records to an incoming table (its columns, a fingerprint made as the reader does;
    no file line for records taken from the directory)."""
    if not rows.num_rows:
        return
    table = incoming.tables[entity]
    rows = rows.append_column("fingerprint", fingerprints(rows, FIELDS[entity]))
    if LINE in table.column_names and LINE not in rows.column_names:
        rows = rows.append_column(LINE, pa.nulls(rows.num_rows, table.schema.field(LINE).type))
    rows = rows.select(table.column_names).cast(table.schema)
    incoming.tables[entity] = pa.concat_tables([table, rows])


def _replace(incoming: Incoming, entity: str, name: str, values) -> None:
    """Change one column of an incoming table and its fingerprints."""
    table = incoming.tables[entity]
    table = table.set_column(table.schema.get_field_index(name), name, values)
    index = table.schema.get_field_index("fingerprint")
    incoming.tables[entity] = table.set_column(
        index, "fingerprint", fingerprints(table, FIELDS[entity])
    )


def _report(incoming: Incoming, entity: str, table: pa.Table) -> None:
    if table.num_rows:
        incoming.unresolved.setdefault(entity, []).append(table.cast(UNRESOLVED_SCHEMA))


def _lost_users(incoming, entity: str, lost: pa.Table, file: str, column: str, says: str) -> None:
    """Report users (``lost``: sourced_id, line) the sync could not place: "user X <says>"."""
    _report(
        incoming,
        entity,
        unresolved_rows(
            lost["sourced_id"],
            lost["sourced_id"],
            lost["line"],
            file=file,
            column=column,
            message="user {value} " + says,
            written=False,
        ),
    )


# --- people ------------------------------------------------------------------------------


def _students_without_role(incoming, candidates, students_before, directory) -> pa.Table:
    """A 1.2 user re-sent without its roles.csv rows, known as a student: the student record,
    at the school the directory has. Returns the candidates left."""
    known = pc.and_(
        pc.invert(candidates["has_role"]),
        pc.is_in(candidates["sourced_id"], value_set=students_before),
    )
    rows = candidates.filter(known)
    if rows.num_rows:
        stored = directory.students(rows["sourced_id"])
        at = pc.index_in(rows["sourced_id"], value_set=stored["sourced_id"])
        birth = pc.if_else(rows["has_birth_row"], rows["birth_date"], stored["birth_date"].take(at))
        table = rows.select(
            [n for n in rows.column_names if n not in ("birth_date", "email", "phone")]
        )
        table = table.append_column("school_sourced_id", stored["school_sourced_id"].take(at))
        table = table.append_column("birth_date", birth)
        _append(incoming, "student", table)
    return candidates.filter(pc.invert(known))


def _students_by_role(incoming, deferred, state, directory) -> None:
    """A student's role row sent without the student's users.csv row: the student the
    directory has, at the role's school. A role of a user the source never delivered as an
    active student is reported."""
    roles = deferred.student_roles
    roles = roles.filter(_not_in_table(roles["sourced_id"], incoming.tables["student"]))
    active = pc.is_in(roles["sourced_id"], value_set=_active(state))
    rows = roles.filter(active)
    if rows.num_rows:
        stored = directory.students(rows["sourced_id"])
        at = pc.index_in(rows["sourced_id"], value_set=stored["sourced_id"])
        table = stored.take(at).set_column(
            stored.schema.get_field_index("school_sourced_id"),
            "school_sourced_id",
            rows["school_sourced_id"],
        )
        table = table.append_column("deleted", constant(False, table.num_rows, pa.bool_()))
        _append(incoming, "student", table)
        incoming.delivered["student"] = True  # these records only: the file is no whole set
    lost = roles.filter(pc.invert(active))
    _lost_users(
        incoming,
        "student",
        lost,
        deferred.files["roles"],
        "userSourcedId",
        "is neither in this bundle nor an active student this source delivered before; the "
        "role was not used. Export the user (users.csv) too.",
    )


def _relationships(incoming, deferred, people, directory) -> None:
    """A guardian's role row sent without the guardian's users.csv row: the links the
    directory has for that guardian, with the role's relationship. A role of a user the source
    never delivered as an active person is reported."""
    roles = deferred.guardian_roles
    active = pc.is_in(roles["sourced_id"], value_set=_active(people))
    rows = roles.filter(active)
    links = directory.links(rows["sourced_id"])
    links = links.filter(_not_in_table(links["sourced_id"], incoming.tables["guardian_link"]))
    if links.num_rows:
        at = pc.index_in(links["person_sourced_id"], value_set=rows["sourced_id"])
        relationship = rows["relationship"].take(at)
        relationship = pc.if_else(
            pc.is_in(relationship, pa.array(GUARDIAN_RELATIONSHIPS)), relationship, "guardian"
        )
        links = links.append_column("relationship", relationship)
        links = links.append_column("deleted", constant(False, links.num_rows, pa.bool_()))
        _append(incoming, "guardian_link", links)
        incoming.delivered["guardian_link"] = True  # these records only
    lost = roles.filter(pc.invert(active))
    _lost_users(
        incoming,
        "person",
        lost,
        deferred.files["roles"],
        "userSourcedId",
        "is neither in this bundle nor an active person this source delivered before; the "
        "role was not used. Export the user (users.csv) too.",
    )


def _not_in_table(values, table: pa.Table) -> pa.ChunkedArray:
    return pc.invert(pc.is_in(values, value_set=table["sourced_id"].combine_chunks()))


def _pairs(deferred: Deferred, candidates, students_before, people_before) -> pa.Table | None:
    """The guardian links to settle: those the reader made with a side the bundle lacks, and
    those of users re-sent without their roles (known students list guardians, known people
    list students)."""
    parts = [deferred.pairs] if deferred.pairs is not None else []
    if candidates is not None:
        lone = candidates.filter(pc.invert(candidates["has_role"]))
        agents = lone["agents"].combine_chunks()
        if len(agents) and len(pc.list_flatten(agents)):
            at = pc.list_parent_indices(agents)
            agent = pc.list_flatten(agents)
            user = lone["sourced_id"].take(at)
            line = lone["line"].take(at)
            as_student = pc.is_in(user, value_set=students_before)
            as_guardian = pc.and_(pc.invert(as_student), pc.is_in(user, value_set=people_before))
            known = pc.or_(as_student, as_guardian)
            parts.append(
                pa.table(
                    {
                        "student_sourced_id": pc.if_else(as_student, user, agent).filter(known),
                        "guardian_sourced_id": pc.if_else(as_student, agent, user).filter(known),
                        "relationship": pa.nulls(pc.sum(known).as_py() or 0, pa.string()),
                        "line": line.filter(known),
                    }
                )
            )
    parts = [p.cast(PAIR_SCHEMA) for p in parts if p.num_rows]
    return pa.concat_tables(parts) if parts else None


def _links(incoming, pairs, states, directory) -> pa.Array:
    """Guardian links with a side the bundle lacks: made when the student is one this bundle
    or the source delivers (active) and the guardian a parent, guardian or relative of either;
    the others are reported. Returns the guardians of the links made."""
    tables, deferred = incoming.tables, incoming.deferred
    # One row per link (the first: the reader's, with the bundle's relationship, come first).
    link_ids = pc.binary_join_element_wise(
        pairs["guardian_sourced_id"], pairs["student_sourced_id"], "|"
    )
    unique = pc.unique(link_ids.combine_chunks() if hasattr(link_ids, "chunks") else link_ids)
    if len(unique) < pairs.num_rows:
        first = pc.index_in(unique, value_set=link_ids)
        pairs, link_ids = pairs.take(first), unique
    students = _union(_delivered(tables["student"]), _active(states["student"]))
    known_guardians = directory.guardians(pairs["guardian_sourced_id"])
    holders = deferred.guardian_holders
    guardian_ok = pc.or_(
        pc.fill_null(pc.is_in(pairs["guardian_sourced_id"], value_set=holders), False)
        if holders is not None
        else constant(False, pairs.num_rows, pa.bool_()),
        pc.is_in(pairs["guardian_sourced_id"], value_set=known_guardians["person_sourced_id"]),
    )
    student_ok = pc.is_in(pairs["student_sourced_id"], value_set=students)
    made = pc.and_(student_ok, guardian_ok)
    made = pc.and_(
        made, pc.invert(pc.is_in(link_ids, value_set=tables["guardian_link"]["sourced_id"]))
    )
    good = pairs.filter(made)
    stored = pc.index_in(
        good["guardian_sourced_id"], value_set=known_guardians["person_sourced_id"]
    )
    relationship = pc.coalesce(
        good["relationship"], known_guardians["relationship"].take(stored), pa.scalar("parent")
    )
    relationship = pc.if_else(
        pc.is_in(relationship, pa.array(GUARDIAN_RELATIONSHIPS)), relationship, "guardian"
    )
    _append(
        incoming,
        "guardian_link",
        pa.table(
            {
                "sourced_id": link_ids.filter(made),
                "person_sourced_id": good["guardian_sourced_id"],
                "student_sourced_id": good["student_sourced_id"],
                "relationship": relationship,
                "deleted": constant(False, good.num_rows, pa.bool_()),
            }
        ),
    )
    student_lost = pc.invert(student_ok)
    if deferred.chosen:  # a student not known may be one of a school the source does not sync
        outside = pc.sum(student_lost).as_py() or 0
        incoming.skipped["guardian_link"] = incoming.skipped.get("guardian_link", 0) + outside
        student_lost = constant(False, pairs.num_rows, pa.bool_())
    file = deferred.files["users"]
    for failed, column, side, what in (
        (student_lost, "student_sourced_id", "student", "an active student"),
        (
            pc.and_(student_ok, pc.invert(guardian_ok)),
            "guardian_sourced_id",
            "guardian",
            "a parent, guardian or relative",
        ),
    ):
        bad = pairs.filter(failed)
        _report(
            incoming,
            "guardian_link",
            unresolved_rows(
                pc.binary_join_element_wise(
                    bad["guardian_sourced_id"], bad["student_sourced_id"], "|"
                ),
                bad[column],
                bad["line"],
                file=file,
                column="agentSourcedIds",
                message=f"{side} {{value}} is neither in this bundle nor {what} this source "
                "delivered before; the guardian link was not made. Export that user with its "
                "role, or correct agentSourcedIds.",
                written=False,
            ),
        )
    return good["guardian_sourced_id"].combine_chunks()


def _people_without_role(incoming, candidates, people_before, guardians, deferred) -> None:
    """Guardians whose students are not re-sent, and users re-sent without their roles, known
    as people: their person records. A user without a role that the source never delivered
    is reported."""
    known = pc.or_(
        pc.is_in(candidates["sourced_id"], value_set=people_before),
        pc.is_in(candidates["sourced_id"], value_set=guardians),
    )
    rows = candidates.filter(known)
    _append(
        incoming,
        "person",
        pa.table(
            {
                "sourced_id": rows["sourced_id"],
                "given_name": rows["given_name"],
                "family_name": rows["family_name"],
                "email": rows["email"],
                "phone": rows["phone"],
                "is_staff": constant(False, rows.num_rows, pa.bool_()),
                "deleted": rows["deleted"],
                LINE: rows["line"],
            }
        ),
    )
    lost = candidates.filter(
        pc.and_(
            pc.and_(pc.invert(known), pc.invert(candidates["has_role"])),
            pc.invert(candidates["deleted"]),
        )
    )
    _lost_users(
        incoming,
        "person",
        lost,
        deferred.files["users"],
        "sourcedId",
        "has no role in this bundle and this source never delivered it; it was not synced. "
        "Send its rows of roles.csv too.",
    )


def _staff_from_directory(incoming, directory) -> None:
    """1.2 without the whole roles.csv: a person is staff if the bundle or the directory (an
    active staff role of the source) says so."""
    people = incoming.tables["person"]
    staff = directory.staff(people["sourced_id"])
    is_staff = pc.or_(people["is_staff"], pc.is_in(people["sourced_id"], value_set=staff))
    if not pc.all(pc.equal(is_staff, people["is_staff"])).as_py():
        _replace(incoming, "person", "is_staff", is_staff)


def _birth_dates(incoming, missing, students_before, directory) -> None:
    """A student re-sent without its demographics.csv row keeps the birth date it has."""
    students = incoming.tables["student"]
    known = pc.and_(
        pc.is_in(students["sourced_id"], value_set=missing),
        pc.is_in(students["sourced_id"], value_set=students_before),
    )
    if not pc.any(known).as_py():
        return
    stored = directory.students(students["sourced_id"].filter(known))
    at = pc.index_in(students["sourced_id"], value_set=stored["sourced_id"])
    birth = pc.if_else(
        pc.and_(known, pc.is_valid(at)), stored["birth_date"].take(at), students["birth_date"]
    )
    _replace(incoming, "student", "birth_date", birth)


# --- references ---------------------------------------------------------------------------


def _references(incoming: Incoming, deferred: Deferred, states: dict[str, pa.Table]) -> None:
    """Every deferred reference: in the bundle (as settled above) or active in the state, or
    reported — and its row left out when the reference is required."""
    if not deferred.refs:
        return
    refs = pa.concat_tables(deferred.refs)
    tables = incoming.tables
    known = {
        "class": lambda: _union(_delivered(tables["class"]), _active(states["class"])),
        "course": lambda: _union(_delivered(tables["course"]), _active(states["course"])),
        "session": lambda: _union(_delivered(tables["session"]), _active(states["session"])),
        "person": lambda: _union(_delivered(tables["person"]), _active(states["person"])),
        "user": lambda: _union(
            _delivered(tables["person"]),
            _active(states["person"]),
            _delivered(tables["student"]),
            _active(states["student"]),
        ),
    }
    for target in sorted(set(refs["target"].to_pylist())):
        ids = known[target]()
        mine = refs.filter(pc.equal(refs["target"], target))
        bad = mine.filter(pc.invert(pc.is_in(mine["value"], value_set=ids)))
        for entity in sorted(set(bad["entity"].to_pylist())):
            rows = bad.filter(pc.equal(bad["entity"], entity))
            for required in (True, False):
                part = rows.filter(pc.equal(rows["required"], required))
                if not part.num_rows:
                    continue
                what, fix = TARGETS[target]
                effect = EFFECT[required].format(entity=ENTITY_WORDS.get(entity, entity))
                for file, column in sorted(
                    set(zip(part["file"].to_pylist(), part["column"].to_pylist(), strict=True))
                ):
                    same = part.filter(
                        pc.and_(pc.equal(part["file"], file), pc.equal(part["column"], column))
                    )
                    _report(
                        incoming,
                        entity,
                        unresolved_rows(
                            same["sourced_id"],
                            same["value"],
                            same["line"],
                            file=file,
                            column=column,
                            message=f"{what} {{value}} is neither in this bundle nor active among "
                            f"what this source delivered before; {effect}. {fix} ({column}).",
                            written=not required,
                        ),
                    )
                if required:
                    table = tables[entity]
                    tables[entity] = table.filter(
                        pc.invert(pc.is_in(table["sourced_id"], value_set=part["sourced_id"]))
                    )


def unresolved_issues(run, plan) -> list:
    """The run's record of every reference a delta left unresolved: ``SYNC-REFERENCE-MISSING``
    with the file, line and column (the apply adds them to its issues)."""
    from .models import RunIssue

    issues = []
    for entity, entity_plan in plan.entities.items():
        for row in entity_plan.unresolved.to_pylist():
            issues.append(
                RunIssue(
                    run=run,
                    code="SYNC-REFERENCE-MISSING",
                    severity="warning",
                    entity=entity,
                    sourced_id=row["sourced_id"] or "",
                    message=f"{row['file']} line {row['line']}, {row['column']}: {row['message']}",
                    detail={
                        "file": row["file"],
                        "line": row["line"],
                        "column": row["column"],
                        "value": row["value"],
                    },
                )
            )
    return issues
