"""Commands: ``rollbook sync``, ``rollbook runs``, ``rollbook run show|approve|discard``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rollbook import bars
from rollbook.crash import guarded
from rollbook.errors import UserError
from rollbook.sync.report import words

out = Console()
run_app = typer.Typer(help="Look at one sync run, approve it or discard it.")


def _setup() -> None:
    from rollbook.project import setup

    setup()


def _run(run_id: int):
    from rollbook.sync.models import SyncRun

    try:
        return SyncRun.objects.select_related("source", "source__district").get(pk=run_id)
    except SyncRun.DoesNotExist:
        raise UserError(f"no sync run {run_id}; 'rollbook runs' lists them") from None


def run_record(run) -> dict:
    return {
        "id": run.pk,
        "source": run.source.name,
        "district_id": run.source.district_id,
        "status": run.status,
        "bundle": run.bundle,
        "started_by": run.started_by_label or (run.started_by and run.started_by.email),
        "approved_by": run.approved_by_label or (run.approved_by and run.approved_by.email),
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "hold_reasons": run.hold_reasons,
        "stats": run.stats,
        "conflicts": plan_conflicts(run),
        "issues": [
            {
                "code": i.code,
                "severity": i.severity,
                "sourced_id": i.sourced_id,
                "account": i.account_id,
                "message": i.message,
            }
            for i in run.issues.order_by("id")[:1000]
        ],
    }


def plan_conflicts(run, limit: int = 1000) -> list[dict]:
    """The conflicts a planned or held run will record (from its saved plan), so that a dry
    run tells them before approval; an applied run's are among its issues."""
    from rollbook.sync import plan as plans
    from rollbook.sync.services import plan_folder

    folder = plan_folder(run)
    if run.status not in ("planned", "held") or not (folder / "plan.json").exists():
        return []
    conflicts = plans.load(folder).identity["conflicts"]
    wanted = conflicts.select(["code", "field", "person_sourced_id", "message"])
    return wanted.slice(0, limit).to_pylist()


def additions_only_line(run) -> str | None:
    """What an additions-only run left unarchived (None for a run that was not one)."""
    mode = run.report.additions_only
    if mode is None:
        return None
    skipped = mode.get("archives_skipped") or {}
    if not skipped:
        return "Additions only: there was nothing to archive."
    each = ", ".join(f"{n} {entity}" for entity, n in sorted(skipped.items()))
    return (
        f"Additions only: {sum(skipped.values())} archive(s) skipped ({each}); the next run "
        "that is not additions only archives what is still missing then."
    )


def _show(run, as_json: bool) -> None:
    record = run_record(run)
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2, default=str) + "\n")
        return
    out.print(f"Run [bold]{run.pk}[/] of {run.source.name}: [bold]{run.get_status_display()}[/]")
    report = run.report
    if report.note:
        out.print(report.note)
    if report.read_as:
        out.print(f"The CSV files were read as {report.read_as}.", highlight=False)
    if report.retry_of:
        out.print(f"It tries failed run {report.retry_of} again.")
    if run.status == "failed" and not report.retried_as:
        out.print(f"Try it again with 'rollbook run retry {run.pk}'.")
    counts = report.counts
    if counts:
        verb = "did" if run.status == "applied" else "will do"
        table = Table(title=f"What this run {verb}")
        actions = ("created", "adopted", "updated", "reactivated", "archived", "unchanged")
        table.add_column("records")
        for column in actions:
            table.add_column(column, justify="right")
        for entity, c in counts.items():
            table.add_row(words("entity", entity), *(str(c.get(k, 0)) for k in actions))
        out.print(table)
    identity = report.identity
    if identity:
        out.print(
            "People: "
            + ", ".join(f"{v} {words('identity', k)}" for k, v in sorted(identity.items()))
        )
    if report.left_out:
        out.print(
            "Left out of this sync: " + "; ".join(report.left_out) + ".",
            highlight=False,
            soft_wrap=True,
        )
    if (line := additions_only_line(run)) is not None:
        out.print(line, highlight=False)
    for reason in run.hold_reasons if run.status in ("held", "planned") else []:
        out.print(f"[yellow]Held:[/] {reason}")
    if run.status in ("held", "planned"):
        out.print(
            f"Approve with 'rollbook run approve {run.pk}', or discard with "
            f"'rollbook run discard {run.pk}'."
        )
    issues = run.issues.count()
    if issues:
        out.print(f"{issues} issue(s); 'rollbook run show {run.pk} --json' lists them.")


# Exit codes of `rollbook sync` and `rollbook run approve`, for cron and scripts (docs/sync.md):
# 0 applied, skipped (the same bundle as the last one applied) or planned (--dry-run); 3 held for
# approval; 1 failed; 2 refused (bad input, a UserError: rollbook/cli.py).
EXIT_CODES = {"held": 3, "failed": 1}


def exit_for(run) -> None:
    """End the command with the run's exit code (nothing for 0)."""
    if code := EXIT_CODES.get(run.status, 0):
        raise typer.Exit(code)


def sync(
    bundle: Annotated[
        Path | None,
        typer.Argument(help="OneRoster bundle: a .zip or a folder (none: fetch a REST source)."),
    ] = None,
    district: Annotated[int, typer.Option(help="District id.")] = ...,
    source: Annotated[str, typer.Option(help="Name of the sync source.")] = "SIS",
    full: Annotated[
        bool | None,
        typer.Option(
            "--full/--changes-only",
            help="A REST source: fetch everything (a reconcile) or only changes (default: "
            "changes, and everything every reconcile-days days).",
        ),
    ] = None,
    schools: Annotated[
        str | None, typer.Option(help="Only these schools: comma-separated SIS sourcedIds.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; change nothing.")] = False,
    approve: Annotated[
        bool, typer.Option("--approve", help="Apply even if the run would be held.")
    ] = False,
    archive_threshold: Annotated[
        float | None,
        typer.Option(help="Hold runs archiving more than this share (saved on the source)."),
    ] = None,
    update_threshold: Annotated[
        float | None,
        typer.Option(help="Hold runs updating more than this share (saved on the source)."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="Encoding of the bundle's CSV files when not UTF-8, e.g. cp1252 or cp932, "
            "for this run (default: the source's, 'rollbook source edit --encoding').",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
) -> None:
    """Sync a OneRoster bundle into a district's directory (without BUNDLE: fetch the
    source's REST service, 'rollbook source add --rest').

    Exit codes: 0 applied, skipped (the same bundle as the last one) or planned (--dry-run);
    3 held for approval; 1 failed; 2 bad input.
    """
    _setup()
    from rollbook.directory import audit
    from rollbook.directory.models import District
    from rollbook.sync import services

    district_obj = District.objects.filter(pk=district).first()
    if district_obj is None:
        raise UserError(f"no district with id {district}")
    if bundle is not None and not bundle.exists():
        raise UserError(f"{bundle}: no such file or folder")
    encoding = services.check_encoding(encoding)  # before anything is changed
    if bundle is None and encoding:
        raise UserError(
            "--encoding is for a CSV bundle: a REST source's fetch writes and reads UTF-8"
        )
    school_list = [s.strip() for s in schools.split(",") if s.strip()] if schools else None
    if bundle is None:  # a REST source (cli_sources.py), fetched by the run
        from .cli_sources import rest_source_named

        rest_source_named(source, district)
    location = str(bundle.resolve()) if bundle is not None else ""
    sync_source = services.get_source(district_obj, source, location, school_list)
    for name, value in (
        ("archive_threshold", archive_threshold),
        ("update_threshold", update_threshold),
    ):
        if value is not None:
            if not 0 <= value <= 1:
                raise UserError(f"--{name.replace('_', '-')} is a share between 0 and 1")
            setattr(sync_source, name, value)
            sync_source.save(update_fields=[name])
    with bars.shown(plain=as_json) as progress:
        if bundle is None:
            run = services.sync_source(
                sync_source,
                audit.Actor.command_line(),
                dry_run=dry_run,
                approve=approve,
                progress=progress,
                full=full,
            )
        else:
            run = services.sync_bundle(
                sync_source,
                bundle,
                audit.Actor.command_line(),
                dry_run=dry_run,
                approve=approve,
                progress=progress,
                encoding=encoding,
            )
    _show(run, as_json)
    exit_for(run)


def runs(
    district: Annotated[int | None, typer.Option(help="Only this district.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List sync runs, newest first: first the runs reading, planning or applying now (with
    how far they got) and the web's work waiting in the queue or running besides them."""
    _setup()
    from rollbook.sync import retention
    from rollbook.sync.models import SyncRun

    retention.expire_plans()  # a dry run older than the plan days is shown expired
    qs = SyncRun.objects.select_related("source").order_by("-id")
    if district is not None:
        qs = qs.filter(source__district_id=district)
    busy = list(qs.filter(status__in=[SyncRun.Status.PLANNING, SyncRun.Status.APPLYING]))
    items = busy + [r for r in qs[:limit] if r not in busy]
    waiting = _queued_work(district)
    if as_json:
        records = [_job_record(j) for j in waiting] + [
            {
                "kind": "run",
                "id": r.pk,
                "source": r.source.name,
                "status": r.status,
                "created_at": r.created_at.isoformat(),
                "bundle": r.bundle,
                "stage": r.stage,
                "done": r.done,
                "total": r.total,
                "progress_at": r.progress_at.isoformat() if r.progress_at else None,
            }
            for r in items
        ]
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    table = Table(title="Sync runs (and the work waiting in the queue)")
    for column in ("id", "source", "status", "started", "progress", "bundle"):
        table.add_column(column)
    for j in waiting:
        table.add_row(
            f"job {j.pk}",
            j.get_kind_display(),
            j.get_status_display(),
            j.created_at.strftime("%Y-%m-%d %H:%M"),
            j.stage or "waiting for a worker",
            j.bundle,
        )
    for r in items:
        table.add_row(
            str(r.pk),
            r.source.name,
            r.get_status_display(),
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            _run_progress(r) if r in busy else "",
            r.bundle,
        )
    out.print(table, highlight=False)


def _run_progress(run) -> str:
    """How far a run got, as its row says: 'Reading the bundle — 4.5 of 9.0 MB (as of
    12:03:05)', or for an apply 'Applying, one transaction since 12:03:05'."""
    from rollbook.sync.progress import Snapshot

    snapshot = Snapshot.of_run(run)
    at = run.progress_at.strftime("%H:%M:%S") if run.progress_at else "?"
    if not run.stage:
        return ""
    if snapshot.kind.sealed:
        return f"{snapshot.label}, one transaction since {at}"
    return f"{snapshot.text()} (as of {at})"


def _queued_work(district: int | None) -> list:
    """The web's work waiting for a worker, and the work running that is not a sync run (a
    self-check, merge suggestions, a bulk action): what a sync may be queued behind."""
    from django.db.models import Q

    from rollbook.web.models import Job

    jobs = Job.objects.filter(
        Q(status=Job.Status.QUEUED)
        | (Q(status=Job.Status.RUNNING) & ~Q(kind__in=[Job.Kind.PLAN, Job.Kind.APPROVE]))
    ).order_by("id")
    if district is not None:
        jobs = jobs.filter(district_id=district)
    return list(jobs)


def _job_record(job) -> dict:
    return {
        "kind": "job",
        "id": job.pk,
        "job_kind": job.kind,
        "status": job.status,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "bundle": job.bundle,
        "stage": job.stage,
        "done": job.done,
        "total": job.total,
    }


def show(
    run_id: Annotated[int, typer.Argument(help="The run's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """What a run did (or will do), its findings and conflicts."""
    _setup()
    _show(_run(run_id), as_json)


def approve_cmd(
    run_id: Annotated[int, typer.Argument(help="The run's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Apply a planned or held run."""
    _setup()
    from rollbook.directory import audit
    from rollbook.sync import services

    with bars.shown(plain=as_json) as progress:
        run = services.approve_run(_run(run_id), audit.Actor.command_line(), progress)
    _show(run, as_json)
    exit_for(run)


def retry_cmd(
    run_id: Annotated[int, typer.Argument(help="The failed run's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the new run as JSON.")] = False,
) -> None:
    """Try a failed run again: its bundle read and planned afresh, in the same mode (a dry run
    plans, a sync syncs; held when a new run would be). Exit codes as for ``sync``."""
    _setup()
    from rollbook.directory import audit
    from rollbook.sync import services

    with bars.shown(plain=as_json) as progress:
        run = services.retry_run(_run(run_id), audit.Actor.command_line(), progress)
    _show(run, as_json)
    exit_for(run)


def discard_cmd(run_id: Annotated[int, typer.Argument(help="The run's id.")]) -> None:
    """Discard a planned or held run; nothing is applied."""
    _setup()
    from rollbook.directory import audit
    from rollbook.sync import services

    run = services.discard_run(_run(run_id), audit.Actor.command_line())
    out.print(f"Run {run.pk} discarded.")


def plan_cmd(
    run_id: Annotated[int, typer.Argument(help="The run's id.")],
    entity: Annotated[
        str,
        typer.Option(
            help="school, session, course, class, student, "
            "person, staff_role, guardian_link, enrollment, "
            "or accounts (new) / matches (existing accounts given records) / conflicts"
        ),
    ] = "student",
    action: Annotated[str, typer.Option(help="create, update, reactivate or archive")] = "create",
    limit: Annotated[int, typer.Option(help="How many rows to print.")] = 20,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Write every row here.")] = None,
) -> None:
    """List what a run's plan does to one entity, record by record."""
    _setup()
    from rollbook.sync import plan as plans
    from rollbook.sync.services import plan_folder

    run = _run(run_id)
    folder = plan_folder(run)
    if not (folder / "plan.json").exists():
        raise UserError(f"run {run_id} has no saved plan (it failed or was skipped)")
    try:
        table = plans.listing(plans.load(folder), entity, action)
    except KeyError:
        raise UserError(
            f"no {entity!r}/{action!r} in a plan; see 'rollbook run plan --help'"
        ) from None
    if csv_file is not None:
        import csv as csvlib

        from rollbook.csvsafe import safe_row

        with csv_file.open("w", newline="", encoding="utf-8") as handle:
            writer = csvlib.DictWriter(handle, fieldnames=table.column_names)
            writer.writeheader()
            for row in plans.rows(table):
                writer.writerow(safe_row(row))
        out.print(f"Wrote {table.num_rows} rows to {csv_file}")
        return
    view = Table(title=f"Run {run_id}: {entity} {action} ({table.num_rows} in all)")
    for column in table.column_names:
        view.add_column(column)
    for row in table.slice(0, limit).to_pylist():
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(view)


source_app = typer.Typer(help="A district's sync sources: when they sync by themselves.")


def schedule_cmd(
    source: Annotated[str, typer.Argument(help="The source's name (e.g. SIS).")],
    district: Annotated[int, typer.Option(help="District id.")],
    daily: Annotated[
        str | None, typer.Option(help="Sync every day at this time (HH:MM, district's time).")
    ] = None,
    every_hours: Annotated[
        int | None, typer.Option(help="Sync every N hours (1, 2, 3, 4, 6, 8, 12 or 24).")
    ] = None,
    starting: Annotated[
        str | None, typer.Option(help="With --every-hours: the first of the day's times.")
    ] = None,
    pause: Annotated[bool, typer.Option("--pause", help="No run starts until --resume.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Run again from the next slot.")] = False,
    blackout: Annotated[
        list[str] | None,
        typer.Option(help="No run starts on these days: FIRST..LAST (repeatable; added)."),
    ] = None,
    clear_blackouts: Annotated[
        bool, typer.Option("--clear-blackouts", help="Remove every blackout range first.")
    ] = False,
    rollover: Annotated[
        str | None, typer.Option(help="The rollover pause, FIRST..LAST (e.g. the summer).")
    ] = None,
    no_rollover: Annotated[
        bool, typer.Option("--no-rollover", help="Remove the rollover pause.")
    ] = False,
    additions_only: Annotated[
        bool | None,
        typer.Option(
            "--additions-only/--no-additions-only",
            help="Create and update, never archive (for rollover weeks).",
        ),
    ] = None,
    folder: Annotated[
        Path | None, typer.Option(help="The folder (or zip) each scheduled run reads.")
    ] = None,
    alert_after_hours: Annotated[
        int | None, typer.Option(help="Alert after this long without a successful run.")
    ] = None,
    time_zone: Annotated[
        str | None,
        typer.Option(help="The district's time zone, e.g. America/Chicago (all its schedules)."),
    ] = None,
    show: Annotated[bool, typer.Option("--show", help="Show the schedule (the default).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the schedule as JSON.")] = False,
) -> None:
    """Set when a source syncs by itself: daily or every few hours, pauses, blackout dates."""
    _setup()
    from rollbook.directory import audit
    from rollbook.sync import schedules
    from rollbook.sync.models import SyncSchedule, SyncSource

    found = SyncSource.objects.select_related("district").filter(district_id=district, name=source)
    sync_source = found.first()
    if sync_source is None:
        raise UserError(
            f"no source {source!r} in district {district}; a first 'rollbook sync' creates it"
        )
    if pause and resume:
        raise UserError("choose one: --pause or --resume")
    if folder is not None and not folder.exists():
        raise UserError(f"{folder}: no such file or folder")
    change = schedules.Change(
        daily=schedules.parse_time(daily) if daily else None,
        every_hours=every_hours,
        starting=schedules.parse_time(starting) if starting else None,
        paused=True if pause else False if resume else None,
        blackouts=[] if clear_blackouts else None,
        add_blackouts=[schedules.parse_range(b) for b in blackout or []],
        rollover=() if no_rollover else schedules.parse_range(rollover) if rollover else None,
        additions_only=additions_only,
        location=str(folder.resolve()) if folder is not None else None,
        alert_after_hours=alert_after_hours,
        time_zone=time_zone,
    )
    if change != schedules.Change():
        schedules.change(sync_source, change, audit.Actor.command_line())
    schedule = SyncSchedule.objects.filter(source=sync_source).first()
    if schedule is None:
        sync_source.refresh_from_db()
        if as_json:
            data = {"source": source, "district_id": district, "schedule": None}
            data["additions_only"] = sync_source.additions_only
            sys.stdout.write(json.dumps(data, indent=2) + "\n")
            return
        mode = " (additions only)" if sync_source.additions_only else ""
        out.print(
            f"Source {source}{mode} has no schedule: it syncs when someone starts a sync. "
            "Give it one with --daily 02:30 or --every-hours 6, and --folder.",
            highlight=False,
        )
        return
    record = schedules.record(schedule)
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2) + "\n")
        return
    out.print(f"Source [bold]{source}[/]: {record['summary']}", highlight=False)
    out.print(f"Reads: {record['folder'] or '(no folder yet: --folder)'}", highlight=False)
    if record["folder"] and not record["folder_exists"]:
        out.print("[yellow]That folder does not exist now: scheduled runs will fail.[/]")
    out.print(
        f"Next run: {record['next_run_local'] or 'none (paused)'}; alert after "
        f"{record['alert_after_hours']} hours without a successful run.",
        highlight=False,
    )
    for slot in record["slots"]:
        run = f" run {slot['run']} ({slot['run_status']})" if slot["run"] else ""
        note = f": {slot['note']}" if slot["note"] else ""
        out.print(f"  {slot['at_local']}: {slot['status']}{run}{note}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("sync")(guarded("sync")(sync))  # a crash: exit 70, never 1 (crash.py)
    app.command()(runs)
    run_app.command("show")(show)
    run_app.command("approve")(approve_cmd)
    run_app.command("discard")(discard_cmd)
    run_app.command("retry")(retry_cmd)
    run_app.command("plan")(plan_cmd)
    app.add_typer(run_app, name="run")
    source_app.command("schedule")(schedule_cmd)
    from .cli_sources import register as register_sources

    register_sources(source_app, app)
    app.add_typer(source_app, name="source")
