"""The sync pipeline: read → plan → safety → apply → report, one run at a time.

``sync_bundle`` runs the stages; a plan that waits (dry run, held, first sync) is saved and
applied later by ``approve_run`` only if the directory has not changed since it was made.
"""

from __future__ import annotations

import codecs
import gc
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.db.models import Max, Q

from rollbook.directory import audit
from rollbook.directory.models import Account, AuditEntry, District
from rollbook.directory.tenancy import accounts_in_other_districts as foreign_accounts
from rollbook.errors import UserError
from rollbook.oneroster import BundleError, read_bundle

from . import claims, resolution
from . import identity as people
from .models import RunIssue, SyncRun, SyncSchedule, SyncSource
from .plan import EntityPlan, Plan, load, plan_entities, without_archives
from .progress import Progress, as_progress
from .read import Incoming, read_incoming
from .report import amend
from .state import load_states
from .unread import drop_unread

MAX_FINDINGS_KEPT = 200


def get_source(
    district: District, name: str = "SIS", location: str = "", schools: list[str] | None = None
) -> SyncSource:
    source, created = SyncSource.objects.get_or_create(
        district=district,
        name=name,
        defaults={"location": location, "school_sourced_ids": schools or []},
    )
    changed = []
    # A scheduled source reads its schedule's folder: a bundle synced by hand leaves it alone
    # (it changes through 'rollbook source schedule --folder' or the settings form, audited).
    scheduled = SyncSchedule.objects.filter(source=source).exists()
    if location and source.location != location and not scheduled:
        source.location = location
        changed.append("location")
    if schools is not None and source.school_sourced_ids != schools:
        source.school_sourced_ids = schools
        changed.append("school_sourced_ids")
    if changed and not created:
        source.save(update_fields=changed)
    return source


def check_encoding(name: str | None, option: str = "--encoding") -> str:
    """An encoding as given for a bundle's CSV files, stripped ("" when none: UTF-8, as
    always); a UserError naming ``option`` (none: a form's field) with an example when
    Python's codec registry has no text encoding of that name."""
    name = (name or "").strip()
    if not name:
        return ""
    try:
        info = codecs.lookup(name)
        # Codecs that are not text encodings (base64, rot13, ...) are refused as str.decode
        # refuses them; Python marks them so itself.
        if not getattr(info, "_is_text_encoding", True):
            raise LookupError(name)
    except LookupError:
        if option:
            raise UserError(
                f"unknown encoding {name!r} for {option}: give one Python knows, e.g. "
                f"{option} cp1252 (Western European Windows) or {option} cp932 (Japanese)"
            ) from None
        raise UserError(
            f"unknown encoding {name!r}: give one Python knows, e.g. cp1252 (Western "
            "European Windows) or cp932 (Japanese), or leave it blank for UTF-8"
        ) from None
    return name


def set_encoding(source: SyncSource, encoding: str | None, actor: audit.Actor) -> SyncSource:
    """The encoding the source's CSV files are read in from now on ("" or None: UTF-8),
    checked first and audited with before and after."""
    if source.is_rest:
        raise UserError(
            f"source {source.name} is a REST source: its fetch writes UTF-8 files, "
            "an encoding is for CSV bundles"
        )
    encoding = check_encoding(encoding)
    if encoding == source.encoding:
        return source
    audit.change(
        actor, "update_source", source, {"encoding": encoding}, district=source.district_id
    )
    return source


def plan_folder(run: SyncRun) -> Path:
    return Path(settings.ROLLBOOK_HOME) / "plans" / f"run-{run.pk}"


def directory_token(source: SyncSource) -> str:
    """Changes whenever the directory of the district or the source's state changes."""
    last_audit = AuditEntry.objects.filter(
        Q(district=source.district_id) | Q(district__isnull=True)
    ).aggregate(m=Max("id"))["m"]
    last_run = source.runs.filter(status=SyncRun.Status.APPLIED).aggregate(m=Max("id"))["m"]
    return f"{last_audit or 0}:{last_run or 0}"


def directory_mark(source: SyncSource) -> str:
    """The last entry and the length of the audit trail of the district's directory (its
    people, students, classes and schools, and entries of no district): every change made
    by a person or a run is audited, so an equal mark means the directory is as it was. A
    bundle is skipped as the last one again only while the mark is the one its apply left
    (``pipeline._same_as_last``): after a hand archive, a merge or an adoption, the same
    bundle is synced, as its preview says. The length catches an entry that commits after a
    later one (PostgreSQL allocates ids before commit)."""
    from django.apps import apps
    from django.db.models import Count

    kinds = [
        m._meta.model_name
        for m in apps.get_app_config("directory").get_models()
        if m is not AuditEntry
    ]
    trail = AuditEntry.objects.filter(
        Q(district=source.district_id) | Q(district__isnull=True), object_type__in=kinds
    ).aggregate(last=Max("id"), length=Count("id"))
    return f"{trail['last'] or 0}:{trail['length']}"


def _lookup_in(district_id: int) -> people.Lookup:
    """The lookup of a district's sync: active accounts holding any of the emails or phones,
    each marked ``foreign`` when it holds an active role in another district (decision 0008:
    such an account may gain this district's role on an exact match, nothing more)."""

    def lookup(emails: pa.Array, phones: pa.Array) -> Iterable[people.KnownAccount]:
        found = _holding(emails, phones)
        foreign = foreign_accounts(district_id, found)
        return [
            people.KnownAccount(a.id, a.given_name, a.family_name, a.email, a.phone, True)
            if a.id in foreign
            else a
            for a in found.values()
        ]

    return lookup


def _holding(emails: pa.Array, phones: pa.Array) -> dict[int, people.KnownAccount]:
    """The active accounts holding any of these emails or phones."""
    found = claims.holders(emails, phones).to_pylist()
    return {
        row["local_id"]: people.KnownAccount(
            row["local_id"], row["given_name"], row["family_name"], row["email"], row["phone"]
        )
        for row in found
    }


def incoming_for(
    source: SyncSource | None, result, digest: str, states: dict[str, pa.Table] | None
) -> Incoming:
    """What the bundle delivers to this source: its chosen schools, plus the schools it
    delivered before (so that their records can be archived when they disappear). What the
    sync does not read of ``result`` is dropped from it first (``read.drop_unread``)."""
    known: set[str] = set()
    if states is not None:
        schools_before = states["school"].filter(states["school"]["active"])
        known = set(schools_before["sourced_id"].to_pylist())
    chosen = set(source.school_sourced_ids) if source is not None else set()
    drop_unread(result)
    return read_incoming(result, digest, chosen or None, known)


def read_for_preview(
    district: District, bundle: str | Path, source_name: str = "SIS", schools=None
) -> Incoming:
    """What a bundle delivers to a district's source, for a preview: read, checked (errors
    are a UserError) and cut to the source's schools. Changes nothing."""
    bundle = Path(bundle)
    if not bundle.exists():
        raise UserError(f"{bundle}: no such file or folder")
    source = SyncSource.objects.filter(district=district, name=source_name).first()
    encoding = source.encoding if source is not None else ""  # read as the sync reads it
    try:
        result = read_bundle(bundle, encoding=encoding or None)
    except BundleError as exc:
        raise UserError(f"the bundle cannot be read: {exc}") from None
    if not result.can_sync:
        raise UserError("the bundle has errors; 'rollbook validate' lists them")
    states = load_states(source, only=("school",)) if source is not None else None
    if schools is not None:
        source = SyncSource(district=district, name=source_name, school_sourced_ids=schools)
    return incoming_for(source, result, "", states)


def diff_entities(
    incoming: Incoming, states: dict[str, pa.Table], progress: Progress | None = None
) -> dict[str, EntityPlan]:
    """The plan's first step: every entity the bundle delivered compared with the state."""
    (progress or Progress()).update(step="comparing with the last delivery")
    return plan_entities(incoming, states)


def make_plan(
    incoming: Incoming,
    states: dict[str, pa.Table],
    entities: dict[str, EntityPlan],
    district: District,
    additions_only: bool = False,
    progress: Progress | None = None,
    source: SyncSource | None = None,
) -> Plan:
    """The plan from every entity's diff (:func:`diff_entities`), the changed people resolved
    into accounts. ``additions_only``: archive nothing (``plan.without_archives``); the
    summary says how many were skipped. ``progress``: told each step. ``source``: the source
    planned for (its confirmed adoptions are counted as such; none without it)."""
    region = district.default_region
    progress = progress or Progress()
    skipped = without_archives(entities) if additions_only else None
    person = entities["person"]
    identity = people.Identity()
    changed = [
        people.people_from(table, region, identity, incoming.normalised_people)
        for table in (person.create, person.update, person.reactivate)
    ]
    # People whose email or phone was withheld last time are checked again, changed or not.
    person_state_table = states["person"]
    withheld = person_state_table.filter(
        pc.and_(person_state_table["active"], person_state_table["withheld"])
    )["sourced_id"]
    delivered = incoming.tables["person"]
    planned = pa.concat_tables(changed)["sourced_id"].combine_chunks()
    recheck = delivered.filter(
        pc.and_(
            pc.is_in(delivered["sourced_id"], withheld.combine_chunks()),
            pc.invert(
                pc.or_(
                    pc.is_in(delivered["sourced_id"], planned),
                    delivered["deleted"],
                )
            ),
        )
    )
    changed.append(people.people_from(recheck, region, identity, incoming.normalised_people))
    # In the order resolution takes them, so that it sorts no copy of them (resolution.py).
    changed = resolution.by_sourced_id(pa.concat_tables(changed))
    identity.counts["people_rechecked"] = recheck.num_rows
    archived = set(person.archive["sourced_id"].to_pylist())
    person_state = _accounts_state(person_state_table, changed)
    previous = sorted(
        {
            person_state[sid][0]
            for sid in (changed["sourced_id"].to_pylist() if person_state else ())
            if sid in person_state
        }
    )
    # Accounts the sync may give roles to but never re-describes: those entered by hand, and
    # those holding a role in another district (decision 0008).
    manual = {
        pk
        for i in range(0, len(previous), 900)
        for pk in Account.objects.filter(pk__in=previous[i : i + 900], origin="manual").values_list(
            "pk", flat=True
        )
    } | foreign_accounts(district.pk, previous)
    progress.update(step=f"resolving {changed.num_rows:,} people")
    resolution.resolve(
        changed, person_state, archived, _lookup_in(district.pk), identity, manual=manual
    )
    del changed  # 1.6M normalised people on a first sync, before the tables are built
    plan = Plan(
        entities=entities,
        identity=identity.tables() | {"rechecked": recheck.select(["sourced_id", "fingerprint"])},
    )
    plan.summary = {
        "counts": _with_adoptions(plan.counts(), entities, district, source),
        "identity": dict(identity.counts),
        "version": incoming.version,
        "skipped_outside_schools": incoming.skipped,
    }
    if skipped is not None:
        plan.summary["additions_only"] = {"archives_skipped": skipped}
    return plan


def _with_adoptions(
    counts: dict, entities: dict, district: District, source: SyncSource | None
) -> dict:
    """The plan's counts as the apply will report them: schools entered by hand under exactly
    the SIS school's name, and students whose adoption an administrator confirmed for this
    source, are adopted rather than created (``adoption.py``, which reads the adoptions of the
    run's source) — so the plan says so before approval."""
    from rollbook.directory.contacts import name_key
    from rollbook.directory.models import School

    from .models import StudentAdoption

    names: dict[str, int] = {}
    for name in School.objects.filter(district=district, source__isnull=True).values_list(
        "name", flat=True
    ):
        names[name_key(name)] = names.get(name_key(name), 0) + 1
    creating = entities["school"].create
    schools = sum(1 for n in creating["name"].to_pylist() if names.get(name_key(n or "")) == 1)
    pending = set(
        StudentAdoption.objects.filter(
            source=source if source is not None and source.pk else None,
            source__district=district,
            status=StudentAdoption.Status.PENDING,
            student__origin="manual",
            student__source__isnull=True,
        )
        .exclude(student__status="merged")
        .values_list("sourced_id", flat=True)
    )
    students = (
        sum(1 for sid in entities["student"].create["sourced_id"].to_pylist() if sid in pending)
        if pending
        else 0
    )
    for entity, adopted in (("school", schools), ("student", students)):
        if adopted:
            counts[entity]["created"] -= adopted
            counts[entity]["adopted"] = adopted
    return counts


def _accounts_state(state: pa.Table, changed: pa.Table) -> dict[str, tuple[int, bool]]:
    """sourcedId → (account, active) of the person records on the accounts of the changed
    people: all that resolving them looks at (their own records, and who else stays on those
    accounts). A re-sync that changes a few people then leaves the other 1.6M alone."""
    if not state.num_rows:  # the source's first sync
        return {}
    ids = changed["sourced_id"].combine_chunks()
    accounts = state.filter(pc.is_in(state["sourced_id"], ids))["local_id"].combine_chunks()
    related = state.filter(pc.is_in(state["local_id"], pc.unique(accounts)))
    return dict(
        zip(
            related["sourced_id"].to_pylist(),
            zip(related["local_id"].to_pylist(), related["active"].to_pylist(), strict=True),
            strict=True,
        )
    )


def record_findings(run: SyncRun, result) -> None:
    amend(run, findings=result.findings.counts(), can_sync=result.can_sync)
    RunIssue.objects.bulk_create(
        [
            RunIssue(
                run=run,
                code=f.code,
                severity=str(f.severity),
                entity=f.file or "",
                sourced_id=f.sourced_id or "",
                message=f.message,
                detail={"file": f.file, "line": f.line, "column": f.column},
            )
            for f in list(result.findings.all())[:MAX_FINDINGS_KEPT]
        ]
    )


@contextmanager
def no_cyclic_gc():
    """Millions of short-lived records create no reference cycles, but they make Python's
    cyclic garbage collector run again and again over them: pause it for a run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def sync_bundle(
    source: SyncSource,
    bundle: str | Path,
    actor: audit.Actor,
    *,
    dry_run: bool = False,
    approve: bool = False,
    progress=None,
    encoding: str | None = None,
) -> SyncRun:
    """Run the pipeline (``pipeline.drive``) on a bundle. Returns the run, whatever its
    outcome. ``encoding``: the CSV files' encoding for this run (none: the source's)."""
    from . import pipeline

    mode = pipeline.Mode.DRY_RUN if dry_run else pipeline.Mode.SYNC
    extract = pipeline.bundle(bundle, encoding=check_encoding(encoding))
    return pipeline.drive(source, extract, actor, mode=mode, approve=approve, progress=progress)


def sync_source(
    source: SyncSource,
    actor: audit.Actor,
    *,
    dry_run: bool = False,
    approve: bool = False,
    progress=None,
    full: bool | None = None,
    options=None,
) -> SyncRun:
    """Run the pipeline on a source's own data, the extract chosen by its kind: a REST source
    fetches (``rest.RestExtract``: changes only, or everything for a reconcile — ``full``
    forces either; ``options``: the fetch's ``FetchOptions``), a CSV source reads its folder."""
    from . import pipeline, rest

    if not source.is_rest:
        if not source.location:
            raise UserError(f"source {source.name} has no folder to read; give a bundle")
        return sync_bundle(
            source, source.location, actor, dry_run=dry_run, approve=approve, progress=progress
        )
    mode = pipeline.Mode.DRY_RUN if dry_run else pipeline.Mode.SYNC
    progress = as_progress(progress)
    extract = rest.extract_for(source, full=full, options=options, progress=progress)
    return pipeline.drive(source, extract, actor, mode=mode, approve=approve, progress=progress)


TAKEN = ("SYNC-EMAIL-TAKEN", "SYNC-PHONE-TAKEN")


def withheld_free(source: SyncSource) -> bool:
    """Has an email or phone that the last applied run withheld (another account held it)
    become free since? Then a byte-identical bundle is not skipped: the sync attaches it, as
    the self-check and a dry run predict. Every run re-checks every withheld person, so the
    last applied run's conflicts are all the withheld identifiers there are."""
    last = source.runs.filter(status=SyncRun.Status.APPLIED).order_by("-pk").first()
    if last is None:
        return False
    wanted: dict[str, set[str]] = {"email": set(), "phone": set()}
    for detail in RunIssue.objects.filter(run=last, entity="person", code__in=TAKEN).values_list(
        "detail", flat=True
    ):
        value, field = (detail or {}).get("value"), (detail or {}).get("field")
        if not value or field not in wanted:
            return True  # recorded before values were kept: sync to be sure
        wanted[field].add(value)
    for field, values in wanted.items():
        ordered = sorted(values)
        for i in range(0, len(ordered), 900):
            chunk = ordered[i : i + 900]
            held = Account.objects.filter(is_active=True, **{f"{field}__in": chunk})
            if held.values(field).distinct().count() < len(chunk):
                return True
    return False


def approve_run(run: SyncRun, actor: audit.Actor, progress=None) -> SyncRun:
    """Apply a planned or held run, if the directory is still as it was when planned."""
    from rollbook.work.locks import holding

    with holding(run.source, run):
        run.refresh_from_db()
        return _approve_held(run, actor, progress)


def _approve_held(run: SyncRun, actor: audit.Actor, progress) -> SyncRun:
    if run.status not in (SyncRun.Status.PLANNED, SyncRun.Status.HELD):
        raise UserError(
            f"run {run.pk} is {run.get_status_display().lower()}; only a planned "
            "or held run can be approved"
        )
    if directory_token(run.source) != run.plan_token:
        raise UserError(
            f"the directory changed since run {run.pk} was planned; its plan no "
            "longer says what would happen. Discard it and sync again."
        )
    if run.source.runs.filter(pk__gt=run.pk, status=SyncRun.Status.APPLIED).exists():
        raise UserError(f"a later run of this source was applied; run {run.pk} is out of date")
    plan = load(plan_folder(run))
    run.approved_by, run.approved_by_label = actor.account, actor.label
    with no_cyclic_gc():
        return _approve(run, plan, actor, progress)


def _approve(run: SyncRun, plan: Plan, actor: audit.Actor, progress) -> SyncRun:
    from .pipeline import apply

    progress = as_progress(progress)
    progress.attach(run)
    return apply(run, plan, load_states(run.source), actor, dict(run.report.timings), progress)


def retry_run(run: SyncRun, actor: audit.Actor, progress=None) -> SyncRun:
    """A failed run tried again: its source's bundle read and planned afresh (the directory may
    have changed since), in the failed run's mode — a dry run plans again, a sync syncs — with
    every safety rule of a new run (a first sync or one that changes too much is held).
    Returns the new run; each run names the other."""
    if run.status != SyncRun.Status.FAILED:
        raise UserError(
            f"run {run.pk} is {run.get_status_display().lower()}; only a failed run can be "
            "tried again"
        )
    if again := run.report.retried_as:
        raise UserError(f"run {run.pk} was already tried again, as run {again}")
    if run.source.is_rest:  # a REST source fetches afresh (sync/rest.py)
        again = sync_source(run.source, actor, dry_run=run.report.dry_run, progress=progress)
    elif not run.bundle or not Path(run.bundle).exists():
        raise UserError(
            f"the bundle run {run.pk} read is no longer there; sync the district's newest "
            "export instead"
        )
    else:
        again = sync_bundle(
            run.source,
            run.bundle,
            actor,
            dry_run=run.report.dry_run,
            progress=progress,
            encoding=run.report.encoding_given,  # as the failed run read it (none: the source's)
        )
    amend(run, retried_as=again.pk)
    SyncRun.objects.filter(pk=run.pk).update(stats=run.stats)
    amend(again, retry_of=run.pk)
    SyncRun.objects.filter(pk=again.pk).update(stats=again.stats)
    return again


def discard_run(run: SyncRun, actor: audit.Actor) -> SyncRun:
    if run.status not in (SyncRun.Status.PLANNED, SyncRun.Status.HELD):
        raise UserError(
            f"run {run.pk} is {run.get_status_display().lower()}; only a planned "
            "or held run can be discarded"
        )
    run.approved_by, run.approved_by_label = actor.account, actor.label
    return _finish(run, SyncRun.Status.DISCARDED, run.report.timings)


def settle_interrupted_runs(source: SyncSource, keep: SyncRun | None = None) -> None:
    """Runs of the source left reading, planning or applying by a process that is gone: the
    database rolled an interrupted apply back (a run that committed says "applied", which is
    written inside the apply's own transaction). Called by whoever holds the source's lock
    (``rollbook.work.locks``), so no live process can be working on them."""
    stuck = source.runs.filter(status__in=[SyncRun.Status.PLANNING, SyncRun.Status.APPLYING])
    if keep is not None:
        stuck = stuck.exclude(pk=keep.pk)
    for run in stuck:
        note = (
            "interrupted: the process stopped while applying; the database rolled the whole "
            "run back, nothing of it was kept"
            if run.status == SyncRun.Status.APPLYING
            else "interrupted: the process stopped while reading or planning; nothing changed"
        )
        _finish(run, SyncRun.Status.FAILED, run.report.timings, note)


def _finish(run: SyncRun, status: str, timings: dict, note: str = "") -> SyncRun:
    from .pipeline import finish

    return finish(run, status, timings, note)
