from django.apps import AppConfig


class WorkConfig(AppConfig):
    name = "rollbook.work"
    label = "work"
    verbose_name = "Background work"
