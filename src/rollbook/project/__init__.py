"""The Django project: settings, URLs, WSGI entry point, and a setup helper for the CLI."""

from __future__ import annotations

import os


def setup(require_database: bool = True) -> None:
    """Configure Django for code that runs outside ``manage.py`` (the CLI, scripts).

    Args:
        require_database: refuse, with the command that fixes it, when the database has not
            been created or has migrations still to apply.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollbook.project.settings")
    import django

    django.setup()
    if require_database:
        _check_database()


def pending_migrations() -> list[str]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, _ in plan]


def _check_database() -> None:
    from django.db import DatabaseError, connection

    from rollbook.errors import UserError

    where = connection.settings_dict["NAME"]
    try:
        pending = pending_migrations()
        fresh = "directory_district" not in connection.introspection.table_names()
    except DatabaseError as exc:
        raise UserError(f"cannot open the database {where}: {exc}") from None
    if fresh:
        raise UserError(f"the database {where} is not set up yet; run 'rollbook init' first")
    if pending:
        raise UserError(
            f"the database {where} needs {len(pending)} migration(s) for this version of "
            "Rollbook; run 'rollbook migrate' (take a backup first)"
        )


def migrate() -> list[str]:
    """Apply pending migrations; returns what was applied."""
    from django.core.management import call_command

    pending = pending_migrations()
    call_command("migrate", interactive=False, verbosity=0)
    return pending
