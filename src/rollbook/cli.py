"""The ``rollbook`` command. Each package adds its commands from its own ``cli.py``."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from rollbook.errors import UserError

app = typer.Typer(
    name="rollbook",
    help="Rollbook: the school directory and the OneRoster sync that keeps it true.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)


def _register_commands() -> None:
    from rollbook.directory import cli as directory_cli
    from rollbook.merge import cli as merge_cli
    from rollbook.oneroster import cli as oneroster_cli
    from rollbook.oneroster.generator import cli as generator_cli
    from rollbook.readiness import cli as readiness_cli
    from rollbook.sync import cli as sync_cli
    from rollbook.web import cli as web_cli
    from rollbook.work import cli as work_cli

    directory_cli.register(app)
    oneroster_cli.register(app)
    generator_cli.register(app)
    sync_cli.register(app)
    readiness_cli.register(app)
    merge_cli.register(app)
    web_cli.register(app)
    work_cli.register(app)


_register_commands()


def main() -> None:
    """Run the CLI; a user's mistake is a message and exit code 2, never a traceback."""
    try:
        app()  # usage errors are click's: a message and exit code 2
    except UserError as exc:
        err.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
