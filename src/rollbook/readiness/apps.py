from django.apps import AppConfig


class ReadinessConfig(AppConfig):
    name = "rollbook.readiness"
    label = "readiness"
