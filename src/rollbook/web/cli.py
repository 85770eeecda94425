"""``rollbook serve``: the web app behind a production-grade WSGI server (waitress)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console


def serve_app(host: str, port: int) -> None:
    from django.core.management import call_command

    from rollbook.project.wsgi import application

    call_command("migrate", interactive=False, verbosity=0)
    import waitress

    Console().print(f"Rollbook is serving at [bold]http://{host}:{port}/[/] (Ctrl+C stops it)")
    waitress.serve(application, host=host, port=port, threads=8, ident="rollbook")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web app."""
    from rollbook.project import setup

    setup()
    serve_app(host, port)


def register(app: typer.Typer) -> None:
    app.command()(serve)
