"""Commands for sources: ``rollbook source add|list|test|fetch`` for REST sources and
``rollbook secrets rotate`` (docs/rest.md, "In Rollbook"); ``rollbook source edit`` for a CSV
source's encoding (docs/sync.md, "Encodings"). ``rollbook source schedule`` is in ``cli.py``.

A secret is never a command-line argument (it would show in ``ps`` and the shell's history):
it is read from ``--secret-file``, from ``ROLLBOOK_REST_SECRET``, or from a hidden prompt.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rollbook.errors import UserError

out = Console()
secrets_app = typer.Typer(help="The keys that encrypt REST sources' secrets.")
SECRET_ENV = "ROLLBOOK_REST_SECRET"


def _setup() -> None:
    from rollbook.project import setup

    setup()


def _district(district_id: int):
    from rollbook.directory.models import District

    found = District.objects.filter(pk=district_id).first()
    if found is None:
        raise UserError(f"no district with id {district_id}")
    return found


def rest_source_named(name: str, district_id: int):
    """The district's REST source of that name (a UserError naming what to do otherwise)."""
    from rollbook.sync.models import SyncSource

    found = SyncSource.objects.filter(district_id=district_id, name=name).first()
    if found is None:
        raise UserError(
            f"no source {name!r} in district {district_id}; 'rollbook source list --district "
            f"{district_id}' lists them, 'rollbook source add' adds one"
        )
    if not found.is_rest:
        raise UserError(f"source {name!r} reads CSV bundles, not a REST service")
    return found


def _secret(secret_file: Path | None, needed: bool) -> str | None:
    if secret_file is not None:
        try:
            return secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"{secret_file}: cannot be read ({exc.strerror})") from None
    if os.environ.get(SECRET_ENV, "").strip():
        return os.environ[SECRET_ENV].strip()
    if not needed:
        return None
    return typer.prompt("Secret (client secret, consumer secret or token)", hide_input=True)


def add(
    name: Annotated[str, typer.Argument(help="The source's name (e.g. SIS).")],
    district: Annotated[int, typer.Option(help="District id.")],
    rest: Annotated[str, typer.Option(help="The OneRoster service's base URL.")],
    version: Annotated[str, typer.Option(help="OneRoster version: 1.1 or 1.2.")] = "1.2",
    oauth2: Annotated[bool, typer.Option("--oauth2", help="OAuth 2 client credentials.")] = False,
    oauth1: Annotated[bool, typer.Option("--oauth1", help="OAuth 1.0a request signing.")] = False,
    bearer: Annotated[
        bool, typer.Option("--bearer", help="A bearer token from the vendor.")
    ] = False,
    signature: Annotated[
        str, typer.Option(help="OAuth 1.0a signature: HMAC-SHA256 or HMAC-SHA1.")
    ] = "HMAC-SHA256",
    token_url: Annotated[str, typer.Option(help="OAuth 2: the token endpoint.")] = "",
    client_id: Annotated[
        str, typer.Option(help="OAuth 2 client id, or OAuth 1.0a consumer key.")
    ] = "",
    scope: Annotated[
        list[str] | None, typer.Option(help="OAuth 2 scope (repeatable; default: the version's).")
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file",
            "--client-secret-file",
            help=f"Read the secret from this file (else {SECRET_ENV}, else a prompt).",
        ),
    ] = None,
    reconcile_days: Annotated[
        int, typer.Option(help="Fetch everything (and archive what vanished) every N days.")
    ] = 7,
    replace: Annotated[
        bool, typer.Option("--replace", help="Change the source of that name if it exists.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the source as JSON.")] = False,
) -> None:
    """Add a REST source (or change one with --replace): where the SIS serves OneRoster and
    how Rollbook signs in. The secret is kept encrypted; 'rollbook source test' tries it."""
    _setup()
    from rollbook.directory import audit
    from rollbook.sync import credentials
    from rollbook.sync.models import SyncSource

    chosen = [
        flag for flag, on in (("oauth2", oauth2), ("oauth1", oauth1), ("bearer", bearer)) if on
    ]
    if len(chosen) != 1:
        raise UserError("choose how to sign in: one of --oauth2, --oauth1 or --bearer")
    auth = chosen[0]
    if auth == "oauth1":
        methods = {"HMAC-SHA256": "oauth1-sha256", "HMAC-SHA1": "oauth1-sha1"}
        if signature.upper() not in methods:
            raise UserError("--signature is HMAC-SHA256 or HMAC-SHA1")
        auth = methods[signature.upper()]
    wanted = credentials.RestSettings(
        rest, version, auth, token_url, client_id, list(scope or []), reconcile_days
    )
    wanted.check()  # before asking for a secret
    dist = _district(district)
    existing = SyncSource.objects.filter(district=dist, name=name).first()
    needed = existing is None or existing.auth != auth or not existing.secret_encrypted
    source = credentials.save_rest_source(
        dist,
        name,
        wanted,
        _secret(secret_file, needed),
        audit.Actor.command_line(),
        replace=replace,
    )
    if as_json:
        sys.stdout.write(json.dumps(credentials.public(source), indent=2) + "\n")
        return
    out.print(
        f"Source [bold]{source.name}[/] of district {district}: OneRoster {source.rest_version} "
        f"at {source.rest_url} ({source.get_auth_display()}); the secret is kept encrypted.",
        highlight=False,
    )
    out.print(f"Try it: rollbook source test {source.name} --district {district}", highlight=False)


def list_cmd(
    district: Annotated[int, typer.Option(help="District id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List a district's sources: what each reads, and for a REST source how it signs in."""
    _setup()
    from rollbook.sync import credentials
    from rollbook.sync.models import SyncSource

    found = SyncSource.objects.filter(district=_district(district)).order_by("name")
    records = [credentials.public(s) for s in found]
    if as_json:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    table = Table(title=f"Sources of district {district}")
    for column in ("name", "kind", "reads", "sign-in"):
        table.add_column(column)
    for source, record in zip(found, records, strict=True):
        if source.is_rest:
            reads = f"OneRoster {source.rest_version} at {source.rest_url}"
            sign_in = source.get_auth_display() + ("" if record["secret_set"] else " (no secret)")
        else:
            reads, sign_in = source.location or "(a bundle given at each sync)", ""
            if source.encoding:
                reads += f" (read as {source.encoding})"
        table.add_row(source.name, source.get_kind_display(), reads, sign_in)
    out.print(table, highlight=False)


def edit(
    name: Annotated[str, typer.Argument(help="The source's name (e.g. SIS).")],
    district: Annotated[int, typer.Option(help="District id.")],
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="Encoding of the source's CSV files when not UTF-8, e.g. cp1252 or cp932; "
            '"" for UTF-8 again. Every sync, dry run, self-check and scheduled run reads '
            "them so.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the source as JSON.")] = False,
) -> None:
    """Change a CSV source's settings (audited): the encoding its files are read in."""
    _setup()
    from rollbook.directory import audit
    from rollbook.sync import credentials, services
    from rollbook.sync.models import SyncSource

    source = SyncSource.objects.filter(district=_district(district), name=name).first()
    if source is None:
        raise UserError(
            f"no source {name!r} in district {district}; a first 'rollbook sync' creates it"
        )
    if encoding is not None:
        source = services.set_encoding(source, encoding, audit.Actor.command_line())
    if as_json:
        sys.stdout.write(json.dumps(credentials.public(source), indent=2) + "\n")
        return
    if source.is_rest:
        out.print(f"Source {source.name} is a REST source: its fetch writes UTF-8.")
        return
    how = source.encoding or "UTF-8 (a byte-order mark naming its own)"
    out.print(f"Source {source.name} reads its CSV files as {how}.", highlight=False)


def test_cmd(
    name: Annotated[str, typer.Argument(help="The source's name.")],
    district: Annotated[int, typer.Option(help="District id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Test a REST source: sign in and read one page of each collection. Exit 0 when
    everything needed can be read, 1 otherwise."""
    _setup()
    from rollbook.sync import rest

    report = rest.check_connection(rest_source_named(name, district))
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        for line in rest.connection_lines(report):
            out.print(line, highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def fetch_cmd(
    name: Annotated[str, typer.Argument(help="The source's name.")],
    out_folder: Annotated[Path, typer.Argument(metavar="OUT", help="A new folder.")],
    district: Annotated[int, typer.Option(help="District id.")],
    changes_only: Annotated[
        bool,
        typer.Option("--changes-only", help="Only what changed since the last successful fetch."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the fetch's report as JSON.")
    ] = False,
) -> None:
    """Fetch a REST source into a OneRoster CSV bundle folder, by hand (nothing is synced):
    to look at, validate, or sync later with 'rollbook sync OUT'."""
    _setup()
    from rollbook.sync import rest

    if out_folder.exists():
        raise UserError(f"{out_folder} already exists; name a new folder")
    source = rest_source_named(name, district)
    report = rest.fetch_to(source, out_folder, full=not changes_only)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return
    out.print(
        f"Fetched {report.records:,} records ({report.mode}) into {out_folder} in "
        f"{report.seconds:.1f} s; check it with 'rollbook validate {out_folder}'.",
        highlight=False,
    )


def rotate_cmd(
    no_new_key: Annotated[
        bool,
        typer.Option(
            "--no-new-key",
            help="Re-encrypt with the newest key there is (keys in ROLLBOOK_SECRET_KEYS "
            "never get a new one from here).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Re-encrypt every REST source's secret with the newest key (audited). With the key file
    (ROLLBOOK_HOME/rest_secret_keys) a new key is made first; with ROLLBOOK_SECRET_KEYS, put
    the new key first there, run this, then remove the old key."""
    _setup()
    from rollbook.directory import audit
    from rollbook.sync import credentials

    outcome = credentials.rotate(audit.Actor.command_line(), new_key=not no_new_key)
    if as_json:
        sys.stdout.write(json.dumps(outcome, indent=2) + "\n")
        return
    made = "a new key was made; " if outcome["new_key"] else ""
    out.print(
        f"{made}{outcome['sources']} secret(s) re-encrypted with the newest of "
        f"{outcome['keys']} key(s). Older keys can be removed now.",
        highlight=False,
    )


def register(source_app: typer.Typer, app: typer.Typer) -> None:
    source_app.command("add")(add)
    source_app.command("edit")(edit)
    source_app.command("list")(list_cmd)
    source_app.command("test")(test_cmd)
    source_app.command("fetch")(fetch_cmd)
    secrets_app.command("rotate")(rotate_cmd)
    app.add_typer(secrets_app, name="secrets")
