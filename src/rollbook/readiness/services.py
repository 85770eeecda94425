"""The self-check: the founding guideline's checklist, run against the real SIS data and the
real directory, and the fixes it offers.

The prediction is not an estimate. The check **rehearses the sync**: it reads the bundle and
plans the run with the sync's own code, then foresees the apply (``sync/forecast.py``: what
the apply writes, worked out from the plan and the directory, nothing written). The full
rehearsal — the sync's own apply in a transaction rolled back — is the reference the tests
hold it to (``run_check(..., full=True)``, ``rollbook check --full-rehearsal``).
What the check predicts is what ``rollbook sync`` does on the same bundle and the same
directory (docs/self-check.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from rollbook.directory import audit
from rollbook.directory.models import (
    Account,
    GuardianLink,
    HistoryRecord,
    School,
    Status,
    Student,
)
from rollbook.directory.tenancy import accounts_in_other_districts, refuse_outside
from rollbook.errors import UserError
from rollbook.oneroster.model import ReadResult
from rollbook.sync import pipeline
from rollbook.sync import services as sync
from rollbook.sync.identity import Normalised
from rollbook.sync.progress import Progress, as_progress

from . import aftermath, corners, sections, wording
from .people import (
    ExistingGuardian,
    GuardianComparison,
    SisPeople,
    compare_guardians,
    holding,
    people_of,
    sis_table,
)
from .report import Report


def run_check(
    district,
    bundle: str | Path,
    *,
    source_name: str = "SIS",
    schools: list[str] | None = None,
    progress: Progress | Callable[[str], None] | None = None,
    extract: pipeline.Extract | None = None,
    encoding: str | None = None,
    full: bool = False,
) -> Report:
    """Read the bundle and the directory, rehearse the sync, and report. Changes nothing.
    ``progress``: the stages "read" (bytes) and "rehearse" (the plan's rows, steps).
    ``encoding``: the CSV files' encoding for this check (none: the source's, as the sync).
    ``full``: apply the plan in a transaction rolled back instead of foreseeing the apply
    (the reference; the same report, slower).

    The rehearsal is the sync's own pipeline (``sync.pipeline.drive`` in its rehearsal mode):
    this module only watches its stages and writes the report."""
    progress = as_progress(progress)
    started = time.perf_counter()
    check = _Check(district, Path(bundle), progress)
    pipeline.drive(
        pipeline.Target(district, source_name, schools),
        # A REST source's: its fetch (into ``bundle``).
        extract or pipeline.bundle(bundle, encoding=sync.check_encoding(encoding)),
        audit.Actor(label=pipeline.REHEARSAL_LABEL),
        mode=pipeline.Mode.FULL_REHEARSAL if full else pipeline.Mode.REHEARSAL,
        progress=progress,
        observer=check,
    )
    report = check.report
    if not report.can_sync:
        report.verdict = (
            "The sync cannot run: the bundle has errors ('rollbook validate' lists them). "
            "Fix them and run the check again."
        )
        sections.existing_families(report, check.manual, _school_names(district), {})
    report.seconds = time.perf_counter() - started
    return report


class _Check(pipeline.Observer):
    """The report, written from what each stage of the rehearsed sync gives."""

    def __init__(self, district, bundle: Path, progress: Progress):
        self.district, self.bundle, self.progress = district, bundle, progress
        # The directory as it is before the sync: what the founding guideline calls existing.
        self.manual = _manual_students(district)
        self.existing = _existing_guardians(district)
        self.report: Report | None = None

    def read(self, result: ReadResult) -> None:
        self.report = Report(self.district.pk, str(self.bundle), result.can_sync)
        sections.data_quality(self.report, result)

    def delivered(self, incoming, source) -> None:
        self.progress.update(step="people and their roles")
        tables = incoming.tables
        self.sis = sis_table(
            tables["person"],
            tables["guardian_link"],
            tables["staff_role"],
            self.district.default_region,
        )
        # The plan takes the people normalised here rather than normalising them again.
        incoming.normalised_people = Normalised(self.district.default_region, self.sis)
        self.split = sections.multiple_roles(self.report, self.sis)
        sections.contactability(self.report, self.sis, tables["student"], tables["guardian_link"])
        # The sections' intermediate columns are freed: their pages go back to the OS now,
        # before the queries below (Arrow's allocator returns them only when it is next
        # busy; see oneroster/validate._release).
        pa.default_memory_pool().release_unused()
        self.kept = {name: tables[name] for name in ("student", "person", "guardian_link")}
        self.outside = dict(incoming.skipped)
        self.near = _near(self.existing, self.sis)
        # As the directory is now, before the rehearsal applies anything.
        self.holders = _holders(self.existing, self.near)
        self.returning = corners.returning_rows(self.district, self.sis)

    def applied(self, run, plan, outcome, source) -> None:
        """The full rehearsal (the reference): the directory as its apply left it."""
        self._write(plan, outcome, aftermath.Applied(run, source))

    def foreseen(self, run, plan, foreseen, source) -> None:
        """The rehearsal: the apply foreseen from the plan and the directory."""
        self._write(plan, foreseen.outcome, foreseen)

    def _write(self, plan, outcome, after: aftermath.After) -> None:
        report, district, manual = self.report, self.district, self.manual
        self.progress.update(step="the report")
        schools = after.schools()
        school_ids = {sid: pk for pk, (sid, _) in schools.items()}
        syncing = {pk: name for pk, (_, name) in schools.items()}
        likely = _likely_twins(
            district, manual, syncing, self.kept, school_ids, after.adopted_students
        )
        untouched = sections.existing_families(report, manual, syncing, likely)
        corners.school_near_matches(report, district, manual, syncing, after.adopted_schools)
        report.add("CHECK-GUARDIAN-RETURNS", self.returning)
        reused = after.reused({a.id for a in self.existing})
        comparison = compare_guardians(
            self.existing, self.near, reused, self.holders, _outside(district, self.existing)
        )
        sections.existing_guardians(report, comparison)
        conflicts = plan.identity["conflicts"]
        holders = {a for a in conflicts["holder_account"].to_pylist() if a}
        sections.sign_in_conflicts(report, conflicts, self.sis, after.names(holders))
        sections.sync_skips(report, after.skips(), self.outside)
        report.outcome = {
            "counts": dict(outcome.counts),
            "identity": dict(outcome.identity),
            "issues": outcome.issues,
        }
        report.prediction = _prediction(outcome, self.split, manual, untouched, comparison)
        report.verdict = _verdict(report)


def _likely_twins(district, manual, syncing, tables, school_ids, adopted=frozenset()) -> dict:
    """For the students entered by hand in the syncing schools: the merge process's own
    matcher against the incoming SIS students — what the merge after the first sync will find
    (student id → (bucket, SIS sourcedId, score)). ``syncing``: the source's schools after the
    sync, id → name; ``adopted``: students the sync adopts (no longer entered by hand)."""
    from types import SimpleNamespace

    from rollbook.merge.adoption import sis_kids
    from rollbook.merge.matching import suggest
    from rollbook.merge.services import _kids

    if not any(s["school_id"] in syncing for s in manual):
        return {}
    sis, sourced_ids = sis_kids(district, SimpleNamespace(tables=tables), school_ids)
    for kid in sis:  # the schools' names as the sync leaves them
        kid.school_name = syncing.get(kid.school_id, kid.school_name)
    old = _kids(
        Student.objects.filter(
            district=district, origin="manual", status=Status.ACTIVE, school_id__in=list(syncing)
        ).exclude(pk__in=sorted(adopted))
    )
    return {
        s.old.id: (
            s.bucket,
            sourced_ids[s.best.student.id] if s.best else "",
            s.best.score if s.best else 0,
        )
        for s in suggest(old, sis)
    }


def _prediction(outcome, split, manual, untouched, comparison: GuardianComparison) -> dict:
    counts, identity = outcome.counts, outcome.identity

    def c(entity: str, what: str) -> int:
        return counts.get(entity, {}).get(what, 0)

    return {
        "students_created": c("student", "created"),
        "students_adopted": c("student", "adopted"),
        "students_updated": c("student", "updated"),
        "students_archived": c("student", "archived"),
        "students_left_untouched": len(manual),
        "students_entered_by_hand_in_syncing_schools": untouched,
        "accounts_created": identity.get("accounts_created", 0),
        "accounts_reused": identity.get("accounts_matched", 0),
        "existing_guardian_accounts_reused": len(comparison.reused),
        "accounts_kept": identity.get("accounts_same", 0) + identity.get("accounts_kept", 0),
        "people_split": split["people_split"],
        "accounts_from_split": split["accounts_from_split"],
        "roles_added": sum(
            c(e, "created") + c(e, "reactivated") for e in ("staff_role", "guardian_link")
        ),
        "staff_roles_added": c("staff_role", "created") + c("staff_role", "reactivated"),
        "guardian_links_added": c("guardian_link", "created") + c("guardian_link", "reactivated"),
        "class_enrollments_added": c("enrollment", "created") + c("enrollment", "reactivated"),
        "identifiers_withheld": identity.get("identifiers_withheld", 0),
        "records_skipped": sum(v.get("skipped", 0) for v in counts.values()),
        "schools_adopted": c("school", "adopted"),
        # Adopted students keep exactly the SIS's guardian links (docs/merge.md).
        "adopted_guardian_links_folded": c("guardian_link", "folded"),
        "adopted_guardian_links_archived": c("guardian_link", "hand_entered_archived"),
        "adopted_guardian_links_kept_by_hand": c("guardian_link", "kept_by_hand"),
    }


def _verdict(report: Report) -> str:
    """The verdict the command line and the JSON give (the page writes the same sentence,
    ``wording.verdict``), and what to look at before the first sync, each count in words."""
    parts = [wording.verdict({"can_sync": True, "prediction": report.prediction})]
    todo = [
        f"{f.info.title.lower()} ({wording.counted(f.code, f.count)})"
        for f in report.findings
        if f.info.severity == "warning" and f.info.section != "data_quality"
    ]
    if todo:
        parts.append("Before the first sync, look at: " + "; ".join(todo) + ".")
    return " ".join(parts)


# --- the directory's side ---------------------------------------------------------------------


def _manual_students(district) -> list[dict]:
    """Active students entered by hand, with their guardian links and history counted."""
    rows = list(
        Student.objects.filter(district=district, origin="manual", status=Status.ACTIVE)
        .order_by("id")
        .values("id", "given_name", "family_name", "school_id", "grade", "birth_date")
    )
    links = dict(
        GuardianLink.objects.filter(
            student__district=district,
            student__origin="manual",
            student__status=Status.ACTIVE,
            status=Status.ACTIVE,
        )
        .values_list("student_id")
        .annotate(n=Count("id"))
    )
    history = dict(
        HistoryRecord.objects.filter(
            student__district=district, student__origin="manual", student__status=Status.ACTIVE
        )
        .values_list("student_id")
        .annotate(n=Count("id"))
    )
    for row in rows:
        row["guardian_links"] = links.get(row["id"], 0)
        row["history"] = history.get(row["id"], 0)
    return rows


def _school_names(district) -> dict[int, str]:
    return dict(School.objects.filter(district=district).values_list("id", "name"))


def _existing_guardians(district) -> list[ExistingGuardian]:
    """Active accounts with an active guardian link entered by hand (not by a sync) to a
    student of the district: the guardians the founding guideline calls existing."""
    links = Q(
        guardian_links__status=Status.ACTIVE,
        guardian_links__source__isnull=True,
        guardian_links__student__district=district,
    )
    return [
        ExistingGuardian(*row)
        for row in Account.objects.filter(links, is_active=True)
        .annotate(n=Count("guardian_links", filter=links))
        .order_by("id")
        .values_list("id", "given_name", "family_name", "email", "phone", "n")
    ]


def _outside(district, existing: list[ExistingGuardian]) -> set[int]:
    """The existing guardians who also hold a role in another district (decision 0008)."""
    return accounts_in_other_districts(district.pk, [a.id for a in existing])


def _near(existing: list[ExistingGuardian], sis) -> SisPeople:
    """The SIS records that share an email or a phone with an existing guardian."""
    emails = {a.email for a in existing if a.email}
    phones = {a.phone for a in existing if a.phone}
    return people_of(holding(sis, emails, phones))


def _holders(existing: list[ExistingGuardian], people: SisPeople) -> dict[tuple[str, str], int]:
    """Active accounts holding the emails and phones of SIS people near an existing guardian."""
    emails, phones = set(), set()
    for account in existing:
        for p in (
            *(people.by_email.get(account.email, []) if account.email else []),
            *(people.by_phone.get(account.phone, []) if account.phone else []),
        ):
            if p.email:
                emails.add(p.email)
            if p.phone:
                phones.add(p.phone)
    found: dict[tuple[str, str], int] = {}
    for name, values in (("email", sorted(emails)), ("phone", sorted(phones))):
        for i in range(0, len(values), 900):
            for pk, value in Account.objects.filter(
                is_active=True, **{f"{name}__in": values[i : i + 900]}
            ).values_list("pk", name):
                found[(name, value)] = pk
    return found


# --- fixes ------------------------------------------------------------------------------------


def _sis_of(district, bundle: Path, source_name: str, schools: list[str] | None):
    incoming = sync.read_for_preview(district, bundle, source_name, schools)
    return sis_table(
        incoming.tables["person"],
        incoming.tables["guardian_link"],
        incoming.tables["staff_role"],
        district.default_region,
    )


def guardian_near_matches(
    district, bundle: str | Path, *, source_name: str = "SIS", schools: list[str] | None = None
) -> list[dict]:
    """The existing guardians that resemble an SIS person without matching it exactly."""
    existing = _existing_guardians(district)
    near = _near(existing, _sis_of(district, Path(bundle), source_name, schools))
    return compare_guardians(
        existing, near, None, _holders(existing, near), _outside(district, existing)
    ).near


def update_guardian_contacts(
    district,
    bundle: str | Path,
    actor: audit.Actor,
    *,
    accounts: list[int] | None = None,
    source_name: str = "SIS",
    schools: list[str] | None = None,
) -> list[dict]:
    """Give existing guardian accounts the SIS's name, email and phone, so that the first sync
    keeps them. ``accounts``: these (each must be a fixable near match); None: every fixable
    near match. All or nothing, one audit entry per account. Returns the rows applied."""
    near = {
        row["account_id"]: row
        for row in guardian_near_matches(district, bundle, source_name=source_name, schools=schools)
    }
    if accounts is None:
        chosen = [row for row in near.values() if row["fixable"]]
    else:
        chosen = []
        for pk in accounts:
            row = near.get(pk)
            if row is None:
                raise UserError(
                    f"account {pk} is not an existing guardian that resembles an SIS person; "
                    "'rollbook check' lists them (CHECK-GUARDIAN-NEAR-MATCH)"
                )
            if not row["fixable"]:
                raise UserError(
                    f"account {pk} cannot take the SIS values: {row['not_fixable_because']}"
                )
            chosen.append(row)
    if not chosen:
        return []
    try:
        with transaction.atomic():
            refuse_outside(
                district.pk, [row["account_id"] for row in chosen], "updating these contacts"
            )
            entries = []
            for row in chosen:
                account = Account.objects.select_for_update().get(pk=row["account_id"])
                fields = ["given_name", "family_name", "email", "phone"]
                before = audit.snapshot(account, fields)
                account.given_name = row["given_name_sis"]
                account.family_name = row["family_name_sis"]
                account.email = row["email_sis"] or None
                account.phone = row["phone_sis"] or None
                account.save(update_fields=[*fields, "updated_at"])
                entries.append(
                    audit.entry(
                        actor,
                        "update_contacts",
                        account,
                        district=district,
                        before=before,
                        after=audit.snapshot(account, fields),
                        note=f"contact details set to the SIS values of {row['sis_sourced_id']} "
                        "before the first sync, so that the sync keeps this account (self-check)",
                    )
                )
            audit.record(entries)
    except IntegrityError:
        raise UserError(
            "another account took one of these emails or phones meanwhile; nothing was "
            "changed. Run the check again."
        ) from None
    return chosen
