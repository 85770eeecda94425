"""Commands for the directory: init, demo, roster import, export."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rollbook.errors import UserError

out = Console()
roster_app = typer.Typer(help="Enter families by hand, the way schools did before a sync.")
schools_app = typer.Typer(help="A district's schools: list them, add or rename one by hand.")
admins_app = typer.Typer(help="Administrators of a district and of its schools.")


class ExportKind(StrEnum):
    districts = "districts"
    accounts = "accounts"
    students = "students"


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"


def _setup(migrate: bool = False) -> None:
    from rollbook import project

    project.setup(require_database=not migrate)
    if migrate:
        project.migrate()


def migrate() -> None:
    """Create or upgrade the database to this version of Rollbook."""
    from rollbook import project

    project.setup(require_database=False)
    applied = project.migrate()
    out.print(f"Applied {len(applied)} migration(s)." if applied else "The database is up to date.")


def _district(district_id: int | None):
    from rollbook.directory.services import get_district

    return get_district(district_id)


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def init(
    district_name: Annotated[str | None, typer.Option(help="The district's name.")] = None,
    admin_email: Annotated[str | None, typer.Option(help="The administrator's email.")] = None,
    admin_password: Annotated[
        str | None,
        typer.Option(
            help="The administrator's password (or env ROLLBOOK_ADMIN_PASSWORD).",
            envvar="ROLLBOOK_ADMIN_PASSWORD",
        ),
    ] = None,
    region: Annotated[str, typer.Option(help="Default phone region of the district.")] = "US",
    no_input: Annotated[bool, typer.Option("--no-input", help="Never ask; fail instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create the database, a district and its first administrator sign-in."""
    _setup(migrate=True)
    from rollbook.directory import audit, services

    def ask(value: str | None, prompt: str, hide: bool = False) -> str:
        if value:
            return value
        if no_input:
            raise UserError(f"{prompt} is required with --no-input")
        return typer.prompt(prompt, hide_input=hide, confirmation_prompt=hide)

    name = ask(district_name, "District name")
    email = ask(admin_email, "Administrator email")
    password = ask(admin_password, "Administrator password", hide=True)
    actor = audit.Actor.command_line()
    from django.db import transaction

    with transaction.atomic():
        district = services.create_district(name, actor, default_region=region)
        services.create_administrator(district, email, password, actor)
    if as_json:
        _print_json(
            {
                "district_id": district.pk,
                "district": district.name,
                "administrator": email.strip().lower(),
            }
        )
    else:
        out.print(
            f"Created district [bold]{district.name}[/] (id {district.pk}) and "
            f"administrator {email.strip().lower()}."
        )


def demo(
    students: Annotated[int, typer.Option(help="How many students the demo district has.")] = 2000,
    serve: Annotated[bool, typer.Option(help="Serve the web app afterwards.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    first_sync: Annotated[
        bool,
        typer.Option(
            help="Schedule the first sync, due at once (a worker runs it: the one beside the "
            "web server, or with --no-serve one in this process). --no-first-sync leaves the "
            "district as it is before it, to walk through the self-check ('rollbook check')."
        ),
    ] = True,
) -> None:
    """Build the synthetic demo district (once) and serve the web app."""
    _setup(migrate=True)
    from rollbook.directory import demo as demo_data
    from rollbook.directory.models import District

    if District.objects.filter(name=demo_data.DEMO_DISTRICT).exists():
        out.print("The demo district exists already; keeping it.")
    else:
        with out.status("Building the demo district…"):
            summary = demo_data.build_demo(students=students, first_sync=first_sync)
        if first_sync and not serve:  # no server, so no worker beside it: one in this process
            with out.status("Running the scheduled first sync (a worker in this process)…"):
                demo_data.run_queue()
            district = District.objects.get(pk=summary.district_id)
            summary = demo_data.summarize(district, summary.bundle, summary.history_records)
        _report_demo(summary, first_sync, serve)
    out.print(
        f"Sign in as [bold]{demo_data.DEMO_ADMIN_EMAIL}[/] with password "
        f"[bold]{demo_data.DEMO_ADMIN_PASSWORD}[/]"
    )
    if serve:
        from rollbook.web.cli import serve_with_worker

        serve_with_worker(host, port, worker=True)


def _report_demo(summary, first_sync: bool, serve: bool) -> None:
    from rollbook.directory import demo as demo_data

    built = (
        f"Built [bold]{demo_data.DEMO_DISTRICT}[/] (id {summary.district_id}): "
        f"{summary.manual_students} existing students entered by hand (with "
        f"{summary.history_records} history records)"
    )
    if not first_sync:
        out.print(
            f"{built}, as it is before its first sync. Its SIS bundle is {summary.bundle}, in "
            "the district's own import folder (the folder 'demo' in the web app's Sync and "
            f"Self-check tabs): try 'rollbook check {summary.bundle} --district "
            f"{summary.district_id}'."
        )
    elif serve:
        out.print(
            f"{built}. Its first sync is scheduled now: the worker started beside the web "
            "server runs it in a few seconds — held for approval like every first sync, and "
            f"approved by {demo_data.DEMO_APPROVER}. The district's Sync tab shows the run."
        )
    elif summary.synced_students:
        out.print(
            f"{built}; then its scheduled first sync, run {summary.run_id} (approved by "
            f"{demo_data.DEMO_APPROVER}), created {summary.synced_students} students: "
            f"{summary.accounts} active accounts, {summary.staff_also_guardians} staff who "
            f"are also parents, {summary.guardians_kept_their_account} existing guardians "
            f"kept their accounts, {summary.conflicts} contact details withheld as conflicts."
        )
    else:
        raise UserError(
            f"the demo's scheduled first sync did not apply (run {summary.run_id}); "
            f"'rollbook run show {summary.run_id}' says why"
        )


def roster_import(
    file: Annotated[Path, typer.Argument(help="The roster CSV file.")],
    school: Annotated[int | None, typer.Option(help="School id for rows without one.")] = None,
    district: Annotated[int | None, typer.Option(help="District id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Import students and guardians from a CSV, all or nothing."""
    _setup()
    from rollbook.directory import audit
    from rollbook.directory.models import School
    from rollbook.directory.roster_import import RosterImportError, import_roster

    school_obj = None
    if school is not None:
        try:
            school_obj = School.objects.select_related("district").get(pk=school)
        except School.DoesNotExist:
            raise UserError(
                f"no school with id {school}; 'rollbook export districts' lists "
                "the schools of each district"
            ) from None
    district_obj = school_obj.district if school_obj else _district(district)
    try:
        result = import_roster(file, district_obj, school_obj, audit.Actor.command_line())
    except RosterImportError as exc:
        if as_json:
            _print_json(
                {
                    "imported": False,
                    "problems": [
                        {
                            "file": str(file),
                            "line": p.line,
                            "column": p.column_number,
                            "column_name": p.column,
                            "message": p.message,
                        }
                        for p in exc.problems
                    ],
                }
            )
            raise typer.Exit(2) from None
        raise
    if as_json:
        _print_json({"imported": True, **result.as_dict()})
        return
    table = Table(title=f"Imported {file}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in result.as_dict().items():
        table.add_row(key.replace("_", " "), str(value))
    out.print(table)


def export(
    kind: Annotated[ExportKind, typer.Argument(help="What to export.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = (
        ExportFormat.json
    ),
    district: Annotated[int | None, typer.Option(help="Only this district.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write.")] = None,
) -> None:
    """Export districts, accounts (with their roles) or students as JSON or CSV."""
    _setup()
    from rollbook.directory import export as exporter
    from rollbook.directory.models import District

    district_obj = None
    if district is not None:
        district_obj = District.objects.filter(pk=district).first()
        if district_obj is None:
            raise UserError(f"no district with id {district}")
    records = {
        ExportKind.districts: exporter.district_records,
        ExportKind.accounts: exporter.account_records,
        ExportKind.students: exporter.student_records,
    }[kind](district_obj)
    if output is None:
        exporter.write(records, sys.stdout, fmt.value)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        count = exporter.write(records, handle, fmt.value)
    Console(stderr=True).print(f"Wrote {count} {kind.value} to {output}")


def rename_school(
    school: Annotated[int, typer.Argument(help="The school's id.")],
    name: Annotated[str, typer.Argument(help="Its new name.")],
    district: Annotated[int | None, typer.Option(help="District id.")] = None,
) -> None:
    """Rename a school entered by hand (audited), e.g. to the SIS school's exact name before
    the first sync, so that the sync adopts it (self-check: CHECK-SCHOOL-NEAR-MATCH)."""
    _setup()
    from rollbook.directory import audit
    from rollbook.directory.services import rename_school as rename

    done = rename(_district(district), school, name, audit.Actor.command_line())
    out.print(f"School {done.pk} is now named {done.name!r}.")


def add_school(
    name: Annotated[str, typer.Argument(help="The school's name, exactly as in the SIS.")],
    identifier: Annotated[str, typer.Option(help="e.g. its NCES id or SIS code.")] = "",
    district: Annotated[int | None, typer.Option(help="District id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Add a school by hand (audited): before the first sync, with the SIS school's exact
    name, so that the sync adopts it instead of creating a second one."""
    _setup()
    from rollbook.directory import audit
    from rollbook.directory.services import add_school as add

    school = add(_district(district), name, audit.Actor.command_line(), identifier=identifier)
    if as_json:
        _print_json({"id": school.pk, "name": school.name, "identifier": school.identifier})
    else:
        out.print(f"Added school {school.name!r} (id {school.pk}).", highlight=False)


def list_schools(
    district: Annotated[int | None, typer.Option(help="District id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List a district's schools: id, name, identifier, where each comes from, students."""
    _setup()
    from django.db.models import Count, Q

    from rollbook.directory.models import School, Status

    the_district = _district(district)
    schools = (
        School.objects.filter(district=the_district)
        .annotate(active_students=Count("students", filter=Q(students__status=Status.ACTIVE)))
        .order_by("name", "pk")
    )
    records = [
        {
            "id": s.pk,
            "name": s.name,
            "identifier": s.identifier,
            "origin": "sis" if s.is_synced else "manual",
            "sis_sourced_id": s.sourced_id,
            "status": s.status,
            "active_students": s.active_students,
        }
        for s in schools
    ]
    if as_json:
        _print_json(records)
        return
    table = Table(title=f"Schools of {the_district.name}")
    for column in ("id", "name", "identifier", "from", "status", "active students"):
        table.add_column(column, justify="right" if column in ("id", "active students") else "left")
    for r in records:
        origin = "the SIS" if r["origin"] == "sis" else "entered by hand"
        row = (r["id"], r["name"], r["identifier"], origin, r["status"], r["active_students"])
        table.add_row(*map(str, row))
    out.print(table)


def _role_record(role) -> dict:
    account = role.account
    return {
        "id": role.pk,
        "account_id": account.pk,
        "name": account.name,
        "email": account.email,
        "school_id": role.school_id,
        "administers": role.school.name if role.school_id else "whole district",
        "status": "active" if role.status == "active" else "deactivated",
        "password_chosen": account.has_usable_password(),
        "last_sign_in": account.last_login.isoformat() if account.last_login else None,
    }


def add_admin(
    email: Annotated[str, typer.Argument(help="Their email: the invitation goes there.")],
    given_name: Annotated[str, typer.Option(help="Their given name.")],
    family_name: Annotated[str, typer.Option(help="Their family name.")],
    school: Annotated[
        int | None, typer.Option(help="Administrator of this school only (its id).")
    ] = None,
    district: Annotated[int | None, typer.Option(help="District id.")] = None,
    send_email: Annotated[
        bool,
        typer.Option(
            "--send-email/--print-link",
            help="Email the invitation, or print the link to choose a password (default).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make someone administrator of a district (or of one of its schools, --school): prints
    the link to choose their password, or emails it (audited)."""
    _setup()
    from rollbook.directory import admins, audit
    from rollbook.directory.models import School

    the_district = _district(district)
    place = None
    if school is not None:
        place = School.objects.filter(pk=school, district=the_district).first()
        if place is None:
            raise UserError(
                f"no school {school} in {the_district.name}; 'rollbook schools list' lists them"
            )
    actor = audit.Actor.command_line()
    invitation = admins.invite(
        the_district,
        email=email,
        given_name=given_name,
        family_name=family_name,
        school=place,
        actor=actor,
    )
    role = invitation.role
    if send_email:
        admins.send(role.account, *admins.invitation_email(invitation, "Your IT administrator"))
    if as_json:
        shown = None if send_email else invitation.link
        _print_json({**_role_record(role), "emailed": send_email, "password_link": shown})
        return
    out.print(f"{role.account.name} is now {admins.title(role)}.", highlight=False)
    if send_email:
        out.print(f"The invitation went to {role.account.email}.", highlight=False)
    elif invitation.link:
        out.print(
            f"Give them this link to choose a password (it works once, for "
            f"{admins.link_days()} days):",
            highlight=False,
        )
        out.print(invitation.link, highlight=False, soft_wrap=True)
    else:
        out.print("They sign in with the password they already have.", highlight=False)


def list_admins(
    district: Annotated[int | None, typer.Option(help="District id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List a district's administrators: what each administers, status, last sign-in."""
    _setup()
    from rollbook.directory import admins

    the_district = _district(district)
    records = [_role_record(r) for r in admins.administrators(the_district)]
    if as_json:
        _print_json(records)
        return
    table = Table(title=f"Administrators of {the_district.name}")
    for column in ("name", "email", "administers", "status", "last sign-in"):
        table.add_column(column)
    for r in records:
        status = r["status"]
        if status == "active" and not r["password_chosen"]:
            status = "invited (no password yet)"
        last = (r["last_sign_in"] or "never")[:16].replace("T", " ")
        table.add_row(r["name"], r["email"] or "", r["administers"], status, last)
    out.print(table)


def _change_admin(email: str, school: int | None, district: int | None, change: str) -> None:
    _setup()
    from rollbook.directory import admins, audit

    the_district = _district(district)
    roles = admins.roles_for_email(the_district, email, school)
    if school is None:  # the whole district's role if they have one, else their only one
        roles = [r for r in roles if r.school_id is None] or roles
    if len(roles) > 1:
        places = ", ".join(f"{r.school.name} (--school {r.school_id})" for r in roles)
        raise UserError(
            f"{email} administers several schools of {the_district.name}: {places}; name one "
            "with --school ID"
        )
    role = roles[0]
    actor = audit.Actor.command_line()
    if change == "deactivate":
        admins.deactivate(role, actor)
        out.print(f"{role.account.name} is no longer {admins.title(role)}.", highlight=False)
    else:
        admins.reactivate(role, actor)
        out.print(f"{role.account.name} is {admins.title(role)} again.", highlight=False)


def deactivate_admin(
    email: Annotated[str, typer.Argument(help="The administrator's email.")],
    school: Annotated[
        int | None,
        typer.Option(
            help="Their role at this school (without it: their whole-district role, or their "
            "only one)."
        ),
    ] = None,
    district: Annotated[int | None, typer.Option(help="District id.")] = None,
) -> None:
    """End an administrator role (audited); the account and its other roles stay. The
    district's last active district administrator cannot be deactivated."""
    _change_admin(email, school, district, "deactivate")


def reactivate_admin(
    email: Annotated[str, typer.Argument(help="The administrator's email.")],
    school: Annotated[
        int | None,
        typer.Option(
            help="Their role at this school (without it: their whole-district role, or their "
            "only one)."
        ),
    ] = None,
    district: Annotated[int | None, typer.Option(help="District id.")] = None,
) -> None:
    """Give a deactivated administrator their role back (audited)."""
    _change_admin(email, school, district, "reactivate")


def password_link(
    email: Annotated[str, typer.Argument(help="The administrator's email.")],
    district: Annotated[int | None, typer.Option(help="District id.")] = None,
    send_email: Annotated[
        bool,
        typer.Option(
            "--send-email/--print-link",
            help="Email the link, or print it (default).",
        ),
    ] = False,
) -> None:
    """A new link for an administrator to choose a password (audited): printed, or emailed.
    Their current password keeps working until they choose a new one."""
    _setup()
    from rollbook.directory import admins, audit

    the_district = _district(district)
    role = admins.roles_for_email(the_district, email)[0]
    link = admins.password_reset(role, audit.Actor.command_line())
    if send_email:
        admins.send(role.account, *admins.reset_email(role.account, link))
        out.print(f"The link went to {role.account.email}.", highlight=False)
        return
    out.print(
        f"Give {role.account.name} this link (it works once, for {admins.link_days()} days):",
        highlight=False,
    )
    out.print(link, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(migrate)
    app.command()(demo)
    app.command()(export)
    roster_app.command("import")(roster_import)
    app.add_typer(roster_app, name="roster")
    schools_app.command("rename")(rename_school)
    schools_app.command("add")(add_school)
    schools_app.command("list")(list_schools)
    app.add_typer(schools_app, name="schools")
    admins_app.command("add")(add_admin)
    admins_app.command("list")(list_admins)
    admins_app.command("deactivate")(deactivate_admin)
    admins_app.command("reactivate")(reactivate_admin)
    admins_app.command("password-link")(password_link)
    app.add_typer(admins_app, name="admins")
