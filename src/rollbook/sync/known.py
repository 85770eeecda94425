"""The few columns of a source's directory rows that a delta needs (``resolve.py``).

Read only for the rows that need them — a known student's SIS-owned fields, who is a guardian
(and as what) or staff, a guardian's links — by sourcedId, in chunks; when many are wanted
(a bulk users.csv beside a roles.csv delta, say) the source's whole set, read as Arrow.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

FEW = 20_000  # at most this many sourcedIds: looked up by value, else the source's whole set


class Directory:
    """A few columns of the source's directory rows, read only when a delta needs them."""

    STUDENTS = pa.schema(
        [
            ("sourced_id", pa.string()),
            ("given_name", pa.string()),
            ("middle_name", pa.string()),
            ("family_name", pa.string()),
            ("preferred_given_name", pa.string()),
            ("preferred_family_name", pa.string()),
            ("grade", pa.string()),
            ("identifier", pa.string()),
            ("school_sourced_id", pa.string()),
            ("birth_date", pa.date32()),
        ]
    )
    GUARDIANS = pa.schema([("person_sourced_id", pa.string()), ("relationship", pa.string())])
    STAFF = pa.schema([("person_sourced_id", pa.string())])
    LINKS = pa.schema(
        [
            ("sourced_id", pa.string()),
            ("person_sourced_id", pa.string()),
            ("student_sourced_id", pa.string()),
        ]
    )

    def __init__(self, states: dict[str, pa.Table]):
        self.states = states
        self._source: int | None | bool = False

    def source(self) -> int | None:
        """The source's id, from one of its schools (None: it has delivered nothing yet)."""
        if self._source is False:
            from rollbook.directory.models import School

            schools = self.states["school"]["local_id"]
            self._source = (
                School.objects.filter(pk=schools[0].as_py())
                .values_list("source_id", flat=True)
                .first()
                if len(schools)
                else None
            )
        return self._source

    def _select(
        self, table: str, key: str, columns: str, where: str, ids, schema: pa.Schema
    ) -> pa.Table:
        """``columns`` of the source's rows of ``table`` whose ``key`` is among ``ids`` (few:
        by value; many: the source's whole set, read as Arrow). ``key`` ``person_sourced_id``
        is looked up through the people's accounts (an indexed column; the people's state maps
        each sourcedId to its account), then kept exact."""
        from . import bulk

        source = self.source()
        if source is None:
            return schema.empty_table()
        ids = pc.unique(pc.drop_null(pc.cast(ids, pa.string())))
        if len(ids) > FEW:
            found = bulk.select_rows(
                table, columns.split("; "), f"source_id = %s AND {where}", [source], schema
            )
        else:
            values, column, by_source = ids, key, "source_id = %s"
            if key == "person_sourced_id":
                people = self.states["person"]
                mine = people.filter(pc.is_in(people["sourced_id"], value_set=ids))
                values, column = pc.unique(mine["local_id"].combine_chunks()), "account_id"
                # "+ 0": SQLite would otherwise walk the source's whole index, not the accounts'
                by_source = "source_id + 0 = %s"
            values = values.to_pylist()
            parts = []
            for start in range(0, len(values), 900):
                chunk = values[start : start + 900]
                sql = (
                    f"SELECT {columns.replace('; ', ', ')} FROM {table} WHERE {by_source} "
                    f"AND {where} AND {column} IN ({', '.join(['%s'] * len(chunk))})"
                )
                parts.append(bulk.select(sql, [source, *chunk], schema))
            found = pa.concat_tables(parts) if parts else schema.empty_table()
        if key == "person_sourced_id":
            found = found.filter(pc.is_in(found["person_sourced_id"], value_set=ids))
        return found

    def students(self, ids) -> pa.Table:
        """The SIS-owned fields of the source's students among ``ids`` (their school's
        sourcedId for the school)."""
        return self._select(
            "directory_student",
            "sourced_id",
            "sourced_id; given_name; middle_name; family_name; preferred_given_name; "
            "preferred_family_name; grade; sis_identifier; "
            "(SELECT s.sourced_id FROM directory_school s WHERE s.id = school_id); birth_date",
            "1 = 1",
            ids,
            self.STUDENTS,
        )

    def guardians(self, ids) -> pa.Table:
        """The people among ``ids`` that the source delivered as a guardian of a student, with
        the relationship of their latest link."""
        return self._select(
            "directory_guardianlink",
            "person_sourced_id",
            "person_sourced_id; relationship",
            "1 = 1",
            ids,
            self.GUARDIANS,
        )

    def links(self, ids) -> pa.Table:
        """The source's active guardian links of the people among ``ids``."""
        return self._select(
            "directory_guardianlink",
            "person_sourced_id",
            "sourced_id; person_sourced_id; "
            "(SELECT s.sourced_id FROM directory_student s WHERE s.id = student_id)",
            "status = 'active'",
            ids,
            self.LINKS,
        )

    def staff(self, ids) -> pa.Array:
        """The people among ``ids`` holding an active staff role of the source."""
        return self._select(
            "directory_staffrole",
            "person_sourced_id",
            "person_sourced_id",
            "status = 'active'",
            ids,
            self.STAFF,
        )["person_sourced_id"].combine_chunks()
