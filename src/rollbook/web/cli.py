"""``rollbook serve``: the web app behind a production-grade WSGI server (waitress);
``rollbook accounts locked|unlock``: sign-ins locked out after failed tries (web/throttling.py)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

out = Console()
accounts_app = typer.Typer(help="Administrator sign-ins locked out after failed tries.")


def serve_app(host: str, port: int) -> None:
    import waitress

    from rollbook.project.wsgi import application
    from rollbook.web.bundles import max_upload_bytes

    Console().print(f"Rollbook is serving at [bold]http://{host}:{port}/[/] (Ctrl+C stops it)")
    waitress.serve(
        application,
        host=host,
        port=port,
        threads=8,
        ident="rollbook",
        # Bundles are uploaded as one zip: the cap is ROLLBOOK_MAX_UPLOAD_MB, plus the form.
        max_request_body_size=max_upload_bytes() + 1024 * 1024,
    )


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[
        bool,
        typer.Option(
            help="Start one worker process beside the web server (the default setup); "
            "production runs 'rollbook worker' separately and passes --no-worker."
        ),
    ] = True,
) -> None:
    """Serve the web app (and, by default, one worker for its background work)."""
    from rollbook.project import setup

    setup()
    serve_with_worker(host, port, worker)


def serve_with_worker(host: str, port: int, worker: bool) -> None:
    child = None
    if worker:
        from rollbook.work.worker import embedded

        child = embedded()
    try:
        serve_app(host, port)
    finally:
        if child is not None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except Exception:
                child.kill()


def _lockout_data(lock) -> dict:
    return {
        "email": lock.email,
        "ip_address": lock.ip_address,
        "failures": lock.failures,
        "until": lock.until.isoformat(),
    }


def locked(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List the sign-ins locked out now: email, client address, failures, until when."""
    from rollbook.project import setup

    setup()
    from rollbook.web.throttling import lockouts

    found = lockouts()
    if as_json:
        sys.stdout.write(json.dumps([_lockout_data(lock) for lock in found], indent=2) + "\n")
        return
    if not found:
        out.print("No sign-in is locked out.")
        return
    table = Table("Email", "From address", "Failed tries", "Locked until (UTC)")
    for lock in found:
        table.add_row(
            lock.email,
            lock.ip_address or "unknown",
            str(lock.failures),
            lock.until.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


def unlock(
    email: Annotated[str, typer.Argument(help="The email whose sign-in to unlock.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Unlock a sign-in locked out after failed tries (from every address); audited."""
    from rollbook.project import setup

    setup()
    from rollbook.directory.audit import Actor
    from rollbook.web.throttling import unlock as unlock_sign_in

    lifted = unlock_sign_in(email, Actor.command_line())
    if as_json:
        sys.stdout.write(json.dumps([_lockout_data(lock) for lock in lifted], indent=2) + "\n")
        return
    addresses = ", ".join(sorted({lock.ip_address or "unknown" for lock in lifted}))
    out.print(
        f"Unlocked the sign-in of {lifted[0].email} (locked out from {addresses}): "
        "it can sign in again now.",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
    accounts_app.command()(locked)
    accounts_app.command()(unlock)
    app.add_typer(accounts_app, name="accounts")
