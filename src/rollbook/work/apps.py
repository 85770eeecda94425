"""Work that runs itself: the task queue, the workers, the source locks (decision 0009)."""

from django.apps import AppConfig


class WorkConfig(AppConfig):
    name = "rollbook.work"
    label = "work"
    verbose_name = "Background work"

    def ready(self) -> None:
        from . import alerts, worker

        # Each worker child looks for stale sources and unsent alert emails every few seconds.
        if alerts.check_stale not in worker.housekeepers:
            worker.housekeepers.append(alerts.check_stale)
