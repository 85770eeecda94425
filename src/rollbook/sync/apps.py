from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "rollbook.sync"
    label = "sync"
    verbose_name = "Sync"
