from django.apps import AppConfig


class MergeConfig(AppConfig):
    name = "rollbook.merge"
    label = "merge"
