"""``rollbook serve``: the web app behind a production-grade WSGI server (waitress)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console


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
) -> None:
    """Serve the web app."""
    from rollbook.project import setup

    setup()
    serve_app(host, port)


def register(app: typer.Typer) -> None:
    app.command()(serve)
