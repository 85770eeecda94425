"""Adoption, in the apply stage: a school entered by hand with the SIS school's exact name
becomes that school; a student entered by hand that an administrator confirmed to be an SIS
student becomes that SIS student, instead of the sync creating a second record.

Only confirmed, pending adoptions of this source count, and only for a student still entered
by hand and not merged; everything else is created as usual. The adopted row keeps its id,
history, guardian links and class memberships; it takes the SIS's fields, provenance and
status, exactly as a created row would have them.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.directory.models import School as SchoolModel
from rollbook.directory.models import Student

from . import bulk
from .models import StudentAdoption
from .plan import rows as _rows


def adopt_schools(writer, table: pa.Table, counts: dict[str, int]) -> pa.Table:
    """A school entered by hand with exactly the SIS school's name becomes that school.

    Schools are places, not people: adopting one keeps its students (who stay manual and
    untouched) in the same school as the synced ones. Returns the schools still to create.
    """
    from .apply import SPECS

    manual: dict[str, list[int]] = {}
    for pk, name in SchoolModel.objects.filter(
        district_id=writer.district_id, source__isnull=True
    ).values_list("pk", "name"):
        manual.setdefault(name.casefold(), []).append(pk)
    adopted = []
    for row in _rows(table.select(["sourced_id", "name", "identifier", "fingerprint"])):
        candidates = manual.get(row["name"].casefold(), [])
        if len(candidates) == 1:
            adopted.append({**row, "id": candidates.pop()})
    if not adopted:
        return table
    data = pa.Table.from_pylist(adopted).rename_columns(
        ["sourced_id", "name", "identifier", "sis_fingerprint", "id"]
    )
    bulk.update(
        SPECS["school"].table,
        data,
        constants={"source_id": writer.source.pk, "last_run_id": writer.run.pk, "status": "active"},
    )
    for row in adopted:
        writer.note(
            "adopt",
            "school",
            row["id"],
            {"source": None},
            {"source": writer.source.pk, "sourced_id": row["sourced_id"]},
            note="a school entered by hand became the SIS school of the same name",
        )
    writer.remember(
        "school",
        pa.table(
            {
                "sourced_id": [r["sourced_id"] for r in adopted],
                "local_id": pa.array([r["id"] for r in adopted], pa.int64()),
            }
        ),
    )
    counts["adopted"] = len(adopted)
    return table.filter(
        pc.invert(pc.is_in(table["sourced_id"], pa.array([r["sourced_id"] for r in adopted])))
    )


def adopt_students(writer, table: pa.Table, counts: dict[str, int]) -> pa.Table:
    """Adopt the confirmed students among ``table`` (the students to create); return the rest."""
    from .apply import SPECS

    pending = {
        sid: (adoption, student)
        for adoption, student, sid in StudentAdoption.objects.filter(
            source=writer.source,
            status=StudentAdoption.Status.PENDING,
            student__origin="manual",
            student__source__isnull=True,
            student__district_id=writer.district_id,
        )
        .exclude(student__status="merged")
        .values_list("pk", "student_id", "sourced_id")
    }
    if not pending or table.num_rows == 0:
        return table
    chosen = table.filter(pc.is_in(table["sourced_id"], pa.array(sorted(pending), pa.string())))
    spec = SPECS["student"]
    values, kept, _ = writer._values(spec, chosen)  # rows whose school resolves
    if values.num_rows == 0:
        return table
    sids = kept["sourced_id"].to_pylist()
    ids = [pending[s][1] for s in sids]
    before = {
        row["id"]: row
        for row in Student.objects.filter(pk__in=ids).values(
            "id", "given_name", "family_name", "grade", "school_id", "status", "origin"
        )
    }
    data = (
        values.append_column("sourced_id", kept["sourced_id"])
        .append_column("sis_fingerprint", kept["fingerprint"])
        .append_column("id", pa.array(ids, pa.int64()))
    )
    bulk.update(
        spec.table,
        data,
        constants={
            "source_id": writer.source.pk,
            "last_run_id": writer.run.pk,
            "status": "active",
            "origin": "synced",
            "archived_at": None,
            "updated_at": writer.now,
        },
    )
    adopted = pa.table({"sourced_id": pa.array(sids, pa.string()), "local_id": pa.array(ids)})
    writer.remember("student", adopted)
    writer.touch("student", "gained", ids)
    for sid, pk in zip(sids, ids, strict=True):
        writer.note(
            "adopt",
            "student",
            pk,
            {k: v for k, v in before.get(pk, {}).items() if k != "id"},
            {"origin": "synced", "source": writer.source.pk, "sourced_id": sid},
            note="a student entered by hand, confirmed by an administrator to be this SIS "
            "student, was adopted by the sync (history and guardians kept)",
        )
    StudentAdoption.objects.filter(pk__in=[pending[s][0] for s in sids]).update(
        status=StudentAdoption.Status.ADOPTED, run=writer.run
    )
    counts["adopted"] = len(sids)
    return table.filter(pc.invert(pc.is_in(table["sourced_id"], pa.array(sids, pa.string()))))
