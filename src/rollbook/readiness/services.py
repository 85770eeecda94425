"""The self-check: the founding guideline's checklist, run against the real SIS data and the
real directory, and the fixes it offers.

The prediction is not an estimate. The check **rehearses the sync**: it reads the bundle, plans
and applies the run with the sync's own code inside a database transaction, reads what the
run did, and rolls the transaction back. What the check predicts is therefore what
``rollbook sync`` does on the same bundle and the same directory. The rehearsal holds the
database's write lock while it runs, like a sync (docs/self-check.md).
"""

from __future__ import annotations

import contextlib
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
    StaffRole,
    Status,
    Student,
)
from rollbook.directory.tenancy import accounts_in_other_districts, refuse_outside
from rollbook.errors import UserError
from rollbook.oneroster import BundleError, read_bundle
from rollbook.oneroster.model import ReadResult
from rollbook.sync import services as sync
from rollbook.sync.apply import apply_plan
from rollbook.sync.models import RunIssue, SyncRun, SyncSource
from rollbook.sync.progress import Progress, as_progress, reading
from rollbook.sync.read import bundle_digest
from rollbook.sync.state import StatePrefetch
from rollbook.work.locks import holding as holding_source

from . import corners, sections
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

REHEARSAL_LABEL = "self-check rehearsal (rolled back)"


class _Rollback(Exception):
    """Raised to leave the rehearsal's transaction without keeping anything."""


def _read(bundle: Path, progress: Progress) -> ReadResult:
    if not bundle.exists():
        raise UserError(f"{bundle}: no such file or folder")
    try:
        return read_bundle(bundle, on_file=reading(progress))
    except BundleError as exc:
        raise UserError(f"the bundle cannot be read: {exc}") from None


def run_check(
    district,
    bundle: str | Path,
    *,
    source_name: str = "SIS",
    schools: list[str] | None = None,
    progress: Progress | Callable[[str], None] | None = None,
) -> Report:
    """Read the bundle and the directory, rehearse the sync, and report. Changes nothing.
    ``progress``: the stages "read" (bytes) and "rehearse" (the plan's rows, steps)."""
    progress = as_progress(progress)
    started = time.perf_counter()
    bundle = Path(bundle)
    progress.stage("read")
    source = SyncSource.objects.filter(district=district, name=source_name).first()
    # A rehearsal writes (and rolls back) what a sync of the source would: never beside a run
    # of the same source (rollbook.work.locks). A source made by the rehearsal itself is new.
    with holding_source(source) if source is not None else contextlib.nullcontext():
        # The source's state is read on a second thread meanwhile, as by the sync.
        prefetch = StatePrefetch(source)
        try:
            return _check(district, bundle, source_name, schools, prefetch, progress, started)
        finally:
            prefetch.discard()


def _check(district, bundle, source_name, schools, prefetch, progress, started) -> Report:
    result = _read(bundle, progress)
    report = Report(district.pk, str(bundle), result.can_sync)
    sections.data_quality(report, result)
    manual = _manual_students(district)
    existing = _existing_guardians(district)
    if not result.can_sync:
        report.verdict = (
            "The sync cannot run: the bundle has errors ('rollbook validate' lists them). "
            "Fix them and run the check again."
        )
        sections.existing_families(report, manual, _school_names(district), {})
        report.seconds = time.perf_counter() - started
        return report
    digest = bundle_digest(bundle)
    held = [result]  # handed over: the rehearsal frees the reader's model before planning
    del result
    # Other processes see "rehearse" and the time it began, then the report: the rehearsal is
    # one transaction, reported to this process only.
    progress.stage("rehearse")
    with sync.no_cyclic_gc():
        try:
            with transaction.atomic(), progress.unseen():
                _rehearse(
                    report,
                    district,
                    held,
                    digest,
                    (source_name, schools, prefetch),
                    manual,
                    existing,
                    progress,
                )
                raise _Rollback
        except _Rollback:
            pass
    report.seconds = time.perf_counter() - started
    return report


def _rehearse(report, district, held, digest, wanted, manual, existing, progress):
    source_name, schools, prefetch = wanted
    source = SyncSource.objects.filter(district=district, name=source_name).first()
    if source is None:
        source = sync.get_source(district, source_name, schools=schools)
    elif schools is not None and source.school_sourced_ids != schools:
        source.school_sourced_ids = schools
        source.save(update_fields=["school_sourced_ids"])
    region = district.default_region
    schools = sync.load_states(source, only=("school",))
    incoming = sync.incoming_for(source, result := held.pop(), digest, schools)
    del result
    pa.default_memory_pool().release_unused()
    # The state as committed before the rehearsal began (nothing of the source has changed
    # inside it but its chosen schools, which are not part of the state).
    # A source made just now by the rehearsal has no state: result() gives empty tables.
    states = prefetch.result()
    progress.update(step="people and their roles")
    sis = sis_table(
        incoming.tables["person"],
        incoming.tables["guardian_link"],
        incoming.tables["staff_role"],
        region,
    )
    split = sections.multiple_roles(report, sis)
    sections.contactability(
        report, sis, incoming.tables["student"], incoming.tables["guardian_link"]
    )
    kept = {name: incoming.tables[name] for name in ("student", "person", "guardian_link")}
    outside = dict(incoming.skipped)
    near = _near(existing, sis)
    holders = _holders(existing, near)  # as the directory is now, before the rehearsal
    plan = sync.make_plan(incoming, states, district, progress=progress)
    del incoming
    run = SyncRun.objects.create(
        source=source, started_by_label=REHEARSAL_LABEL, status=SyncRun.Status.APPLYING
    )
    outcome = apply_plan(run, plan, states, progress)
    progress.update(step="the report")
    school_ids = dict(
        School.objects.filter(source=source, status=Status.ACTIVE).values_list("sourced_id", "id")
    )
    syncing = dict(School.objects.filter(pk__in=school_ids.values()).values_list("id", "name"))
    likely = _likely_twins(district, manual, syncing, kept, school_ids)
    untouched = sections.existing_families(report, manual, syncing, likely)
    corners.school_near_matches(report, district, manual, syncing)
    corners.returning_guardians(report, district, sis)
    comparison = _compare(district, existing, near, holders, source)
    sections.existing_guardians(report, comparison)
    conflicts = plan.identity["conflicts"]
    holders = {a for a in conflicts["holder_account"].to_pylist() if a}
    names = {a.pk: a.name for a in Account.objects.filter(pk__in=sorted(holders))}
    sections.sign_in_conflicts(report, conflicts, sis, names)
    skips = [
        {"entity": i.entity, "sourced_id": i.sourced_id, "message": i.message}
        for i in RunIssue.objects.filter(run=run, code="SYNC-REFERENCE-MISSING").order_by("id")
    ]
    sections.sync_skips(report, skips, outside)
    report.outcome = {
        "counts": dict(outcome.counts),
        "identity": dict(outcome.identity),
        "issues": outcome.issues,
    }
    report.prediction = _prediction(outcome, split, manual, untouched, comparison)
    report.verdict = _verdict(report)


def _likely_twins(district, manual, syncing, tables, school_ids) -> dict:
    """For the students entered by hand in the syncing schools: the merge process's own
    matcher against the incoming SIS students — what the merge after the first sync will find
    (student id → (bucket, SIS sourcedId, score))."""
    from types import SimpleNamespace

    from rollbook.merge.adoption import sis_kids
    from rollbook.merge.matching import suggest
    from rollbook.merge.services import _kids

    if not any(s["school_id"] in syncing for s in manual):
        return {}
    sis, sourced_ids = sis_kids(district, SimpleNamespace(tables=tables), school_ids)
    old = _kids(
        Student.objects.filter(
            district=district, origin="manual", status=Status.ACTIVE, school_id__in=list(syncing)
        )
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
    p = report.prediction
    parts = [
        f"The sync can run. It will create {p['students_created']} students and "
        f"{p['accounts_created']} accounts, reuse {p['accounts_reused']} existing accounts, "
        f"and leave the {p['students_left_untouched']} students entered by hand untouched."
    ]
    todo = [
        f"{f.count} × {f.info.title.lower()}"
        for f in report.findings
        if f.info.severity == "warning" and f.info.section != "data_quality"
    ]
    if todo:
        parts.append("Before the first sync, look at: " + "; ".join(todo) + ".")
    if p["records_skipped"]:
        parts.append(f"{p['records_skipped']} records will be skipped (see data quality).")
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


def _compare(
    district,
    existing: list[ExistingGuardian],
    people: SisPeople,
    holders: dict[tuple[str, str], int],
    source: SyncSource | None,
) -> GuardianComparison:
    reused = None
    if source is not None:
        # After the rehearsal: an existing account holding an active role of this source is
        # one the sync (re)uses.
        reused = set(
            GuardianLink.objects.filter(source=source, status=Status.ACTIVE).values_list(
                "account_id", flat=True
            )
        ) | set(
            StaffRole.objects.filter(source=source, status=Status.ACTIVE).values_list(
                "account_id", flat=True
            )
        )
    return compare_guardians(existing, people, reused, holders, _outside(district, existing))


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
