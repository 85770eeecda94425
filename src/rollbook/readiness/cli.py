"""Commands: ``rollbook check``, ``rollbook students archive``,
``rollbook guardians update-contacts``."""

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

out = Console()
students_app = typer.Typer(help="Act on students: archive those entered before the sync.")
guardians_app = typer.Typer(help="Act on guardian accounts before the first sync.")

SHOWN_ROWS = 10
SEVERITY_STYLE = {"warning": "yellow", "error": "red", "info": "cyan"}


def _setup():
    from rollbook.project import setup

    setup()


def _district(district_id: int):
    from rollbook.directory.services import get_district

    return get_district(district_id)


def _schools(value: str | None) -> list[str] | None:
    return [s.strip() for s in value.split(",") if s.strip()] if value else None


def check(
    bundle: Annotated[Path, typer.Argument(help="OneRoster bundle: a .zip or a folder.")],
    district: Annotated[int, typer.Option(help="District id.")],
    source: Annotated[str, typer.Option(help="Name of the sync source.")] = "SIS",
    schools: Annotated[
        str | None, typer.Option(help="Only these schools: comma-separated SIS sourcedIds.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv", help="Write one CSV per finding into this folder.")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="Encoding of the bundle's CSV files when not UTF-8, e.g. cp1252 or cp932 "
            "(default: the source's, as the sync reads them).",
        ),
    ] = None,
    full_rehearsal: Annotated[
        bool,
        typer.Option(
            "--full-rehearsal",
            hidden=True,
            help="Apply the plan in a transaction rolled back instead of foreseeing the apply "
            "(the reference the tests hold the check to; the same report, slower).",
        ),
    ] = False,
) -> None:
    """The self-check before the first sync: what the sync will do, and what to fix first.

    Reads the bundle and the directory and changes nothing."""
    _setup()
    from rollbook.readiness.services import run_check
    from rollbook.sync.services import check_encoding

    district_obj = _district(district)
    encoding = check_encoding(encoding)
    with bars.shown(plain=as_json) as progress:
        report = run_check(
            district_obj,
            bundle,
            source_name=source,
            schools=_schools(schools),
            progress=progress,
            encoding=encoding,
            full=full_rehearsal,
        )
    if csv_dir is not None:
        written = report.write_csv(csv_dir)
        if not as_json:
            out.print(f"Wrote {len(written)} CSV file(s) to {csv_dir}.")
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        _print_report(report)
    if not report.can_sync:
        raise typer.Exit(1)


def _print_report(report) -> None:
    from rollbook.readiness.report import SECTIONS

    out.print(f"[bold]Self-check[/] of {report.bundle} for district {report.district_id}")
    for key, findings in report.sections().items():
        out.rule(SECTIONS[key])
        if not findings:
            out.print("Nothing to report.")
        for f in findings:
            style = SEVERITY_STYLE[f.info.severity]
            out.print(f"[{style}]{f.code}[/] [bold]{f.count}[/] × {f.info.title}")
            if f.summary:
                out.print(f"  {f.summary}")
            out.print(f"  [dim]Why:[/] {f.info.why}")
            out.print(f"  [dim]Fix:[/] {f.info.action}")
            if f.rows:
                table = Table(show_edge=False, pad_edge=False)
                columns = list(f.rows[0])[:8]
                for column in columns:
                    table.add_column(column)
                for row in f.rows[:SHOWN_ROWS]:
                    table.add_row(*(str(row.get(c, "")) for c in columns))
                out.print(table)
                if len(f.rows) > SHOWN_ROWS:
                    out.print(
                        f"  … and {len(f.rows) - SHOWN_ROWS} more: --csv DIR or --json lists "
                        "every one."
                    )
    if report.prediction:
        out.rule("Prediction: what the first sync will do")
        table = Table(show_header=False, show_edge=False)
        table.add_column("what")
        table.add_column("how many", justify="right")
        for key, value in report.prediction.items():
            table.add_row(key.replace("_", " "), str(value))
        out.print(table)
    out.rule("Verdict")
    out.print(report.verdict)
    out.print(f"[dim]({report.seconds:.1f} s; nothing was changed)[/]")


def archive(
    district: Annotated[int, typer.Option(help="District id.")],
    origin: Annotated[
        str, typer.Option(help="Which students: 'manual' (entered before the sync).")
    ] = "manual",
    school: Annotated[
        list[int] | None, typer.Option(help="Only this school id (repeat for several).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Archive the active students entered by hand (all or nothing, audited)."""
    _setup()
    from rollbook.directory import actions, audit
    from rollbook.directory.models import School, Status, Student

    if origin != "manual":
        raise UserError("only students entered by hand are archived this way: --origin manual")
    district_obj = _district(district)
    students = Student.objects.filter(district=district_obj, origin="manual", status=Status.ACTIVE)
    if school:
        known = set(
            School.objects.filter(district=district_obj, pk__in=school).values_list("pk", flat=True)
        )
        missing = sorted(set(school) - known)
        if missing:
            raise UserError(f"no school {missing[0]} in district {district}")
        students = students.filter(school_id__in=school)
    preview = actions.preview_archive(students)
    if not as_json:
        out.print(
            f"{preview.changed} active student(s) entered by hand will be archived "
            "(not deleted: their history and guardians stay, and they can be merged into "
            "their synced twins after the first sync)."
        )
    if preview.changed == 0:
        if as_json:
            sys.stdout.write(json.dumps({"archived": 0}) + "\n")
        return
    if not yes and not as_json and not typer.confirm("Archive them?"):
        raise typer.Exit(1)
    if not yes and as_json:
        raise UserError("--json needs --yes: the command does not ask in JSON mode")
    with bars.shown(plain=as_json) as progress:
        done = actions.archive_students(
            students,
            audit.Actor.command_line(),
            note="archived before the first sync (self-check)",
            progress=progress,
        )
    if as_json:
        sys.stdout.write(json.dumps({"archived": done.changed}) + "\n")
    else:
        out.print(f"Archived {done.changed} student(s); the audit log records each one.")


def update_contacts(
    bundle: Annotated[Path, typer.Argument(help="The OneRoster bundle the first sync will read.")],
    district: Annotated[int, typer.Option(help="District id.")],
    account: Annotated[
        list[int] | None, typer.Option(help="This account id (repeat for several).")
    ] = None,
    all_listed: Annotated[
        bool, typer.Option("--all", help="Every guardian the self-check lists as fixable.")
    ] = False,
    source: Annotated[str, typer.Option(help="Name of the sync source.")] = "SIS",
    schools: Annotated[
        str | None, typer.Option(help="Only these schools: comma-separated SIS sourcedIds.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Give existing guardians the SIS's name, email and phone so the first sync keeps their
    accounts (all or nothing, audited)."""
    _setup()
    from rollbook.directory import audit
    from rollbook.readiness.services import guardian_near_matches, update_guardian_contacts

    if bool(account) == all_listed:
        raise UserError("name the accounts with --account ID, or use --all")
    district_obj = _district(district)
    chosen_schools = _schools(schools)
    if not yes:
        if as_json:
            raise UserError("--json needs --yes: the command does not ask in JSON mode")
        near = guardian_near_matches(
            district_obj, bundle, source_name=source, schools=chosen_schools
        )
        rows = [r for r in near if (r["account_id"] in account if account else r["fixable"])]
        table = Table(title="Contact details to change")
        for column in ("account", "field", "now", "SIS"):
            table.add_column(column)
        for r in rows:
            for name in ("given_name", "family_name", "email", "phone"):
                if r[f"{name}_current"] != r[f"{name}_sis"]:
                    table.add_row(
                        str(r["account_id"]), name, r[f"{name}_current"], r[f"{name}_sis"]
                    )
        if not rows:
            out.print("Nothing to update: no listed guardian can take the SIS values.")
            raise typer.Exit(0)
        out.print(table)
        if not typer.confirm(f"Update {len(rows)} account(s)?"):
            raise typer.Exit(1)
    done = update_guardian_contacts(
        district_obj,
        bundle,
        audit.Actor.command_line(),
        accounts=account or None,
        source_name=source,
        schools=chosen_schools,
    )
    if as_json:
        sys.stdout.write(json.dumps({"updated": done}, ensure_ascii=False) + "\n")
    else:
        out.print(f"Updated the contact details of {len(done)} account(s); the audit log says so.")


def register(app: typer.Typer) -> None:
    app.command("check")(guarded("check")(check))  # a crash: exit 70, never 1 (crash.py)
    students_app.command("archive")(archive)
    guardians_app.command("update-contacts")(update_contacts)
    app.add_typer(students_app, name="students")
    app.add_typer(guardians_app, name="guardians")
