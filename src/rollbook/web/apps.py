from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "rollbook.web"
    label = "web"
    verbose_name = "Web app"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import throttling  # noqa: F401  (connects the audit of sign-in lockouts)
        from .search import ensure_name_indexes

        # SQLite: a migration that rebuilds a table drops its triggers (web/search.py).
        post_migrate.connect(ensure_name_indexes, dispatch_uid="rollbook-name-indexes")
