"""The Django project: settings, URLs, WSGI entry point, and a setup helper for the CLI."""

import os


def setup() -> None:
    """Configure Django for code that runs outside ``manage.py`` (the CLI, scripts)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollbook.project.settings")
    import django

    django.setup()
