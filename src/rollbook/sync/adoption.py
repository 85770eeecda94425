"""Adoption, in the apply stage: a school entered by hand with the SIS school's exact name
becomes that school; a student entered by hand that an administrator confirmed to be an SIS
student becomes that SIS student, instead of the sync creating a second record.

Only confirmed, pending adoptions of this source count, and only for a student still entered
by hand and not merged; everything else is created as usual. The adopted row keeps its id,
history and class memberships; it takes the SIS's fields, provenance and status, exactly as a
created row would have them. Once the SIS's guardian links are written, the adopted student
has exactly those active, plus the links entered by hand that the administrator chose to keep
when confirming (``settle_guardians``).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.directory.contacts import name_key
from rollbook.directory.models import GuardianLink, Status, Student
from rollbook.directory.models import School as SchoolModel

from . import bulk
from .models import StudentAdoption
from .plan import rows as _rows


def adopt_schools(writer, table: pa.Table, counts: dict[str, int]) -> pa.Table:
    """A school entered by hand with exactly the SIS school's name becomes that school.

    Schools are places, not people: adopting one keeps its students (who stay manual and
    untouched) in the same school as the synced ones. Returns the schools still to create.
    """
    from .specs import SPECS

    manual: dict[str, list[int]] = {}
    for pk, name in SchoolModel.objects.filter(
        district_id=writer.district_id, source__isnull=True
    ).values_list("pk", "name"):
        manual.setdefault(name_key(name), []).append(pk)
    adopted = []
    for row in _rows(table.select(["sourced_id", "name", "identifier", "fingerprint"])):
        candidates = manual.get(name_key(row["name"]), [])
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
    _wrote(writer, "school", data)
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


def _wrote(writer, entity: str, data: pa.Table) -> None:
    """The adopted rows (sourced_id, sis_fingerprint, id) in the state the run leaves."""
    writer.wrote(
        entity,
        pa.table({"sourced_id": data["sourced_id"], "local_id": data["id"]}),
        pa.table({"sourced_id": data["sourced_id"], "fingerprint": data["sis_fingerprint"]}),
    )


def adopt_students(writer, table: pa.Table, counts: dict[str, int]) -> pa.Table:
    """Adopt the confirmed students among ``table`` (the students to create); return the rest."""
    from .specs import SPECS

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
    _wrote(writer, "student", data)
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


def settle_guardians(writer) -> None:
    """The guardian links entered by hand of the students this run adopted, once the SIS's
    links are written: exactly the SIS's links stay active, plus those kept by hand.

    A link entered by hand to an account the SIS also links to the student is folded into the
    SIS's link (archived); one to a guardian the SIS does not list for the student is archived
    unless the administrator who confirmed the adoption chose to keep it (``kept_guardians``),
    and then it is kept by hand. Each is audited and tied to the run; archived links count as
    lost, so an account left with no active role is deactivated (``settle_activity``).
    """
    adoptions = {
        row[0]: row[1:]
        for row in StudentAdoption.objects.filter(
            run=writer.run, status=StudentAdoption.Status.ADOPTED
        ).values_list(
            "student_id",
            "pk",
            "kept_guardians",
            "confirmed_by__given_name",
            "confirmed_by__family_name",
            "confirmed_by_label",
            "created_at",
        )
    }
    if not adoptions:
        return
    students = sorted(adoptions)
    sis: dict[tuple[int, int], int] = {}  # (student, account) → the SIS's link
    by_hand: list[tuple[int, int, int]] = []  # (link, student, account)
    for start in range(0, len(students), 900):
        for pk, student, account, source in (
            GuardianLink.objects.filter(
                student_id__in=students[start : start + 900], status=Status.ACTIVE
            )
            .order_by("pk")
            .values_list("pk", "student_id", "account_id", "source_id")
        ):
            if source is None:
                by_hand.append((pk, student, account))
            else:
                sis.setdefault((student, account), pk)
    archived, counts = [], {"folded": 0, "hand_entered_archived": 0, "kept_by_hand": 0}
    for pk, student, account in by_hand:
        adoption, kept, given, family, label, confirmed_at = adoptions[student]
        into = sis.get((student, account))
        if into is not None:
            archived.append(pk)
            counts["folded"] += 1
            writer.note(
                "archive",
                "guardianlink",
                pk,
                {"status": "active"},
                {"status": "archived", "folded_into": into, "adoption": adoption},
                note=f"entered by hand; folded into the SIS's guardian link {into} to the same "
                f"account when the sync adopted student {student} (adoption {adoption})",
            )
        elif account in set(kept or ()):
            counts["kept_by_hand"] += 1
            chooser = f"{given} {family}" if given is not None else label
            writer.note(
                "keep_by_hand",
                "guardianlink",
                pk,
                None,
                {"kept_by": chooser, "chosen_at": confirmed_at.isoformat(), "adoption": adoption},
                note=f"kept by hand: the SIS does not list this guardian for student {student}; "
                f"{chooser} chose to keep the link when confirming adoption {adoption}",
            )
        else:
            archived.append(pk)
            counts["hand_entered_archived"] += 1
            writer.note(
                "archive",
                "guardianlink",
                pk,
                {"status": "active"},
                {"status": "archived", "adoption": adoption},
                note=f"entered by hand; the SIS does not list this guardian for student "
                f"{student}, adopted by the sync, and nobody chose to keep the link "
                f"(adoption {adoption})",
            )
    for start in range(0, len(archived), 900):
        GuardianLink.objects.filter(pk__in=archived[start : start + 900]).update(
            status=Status.ARCHIVED, last_run_id=writer.run.pk
        )
    writer.touch("guardian_link", "lost", archived)
    writer.outcome.counts.setdefault("guardian_link", {}).update(counts)
