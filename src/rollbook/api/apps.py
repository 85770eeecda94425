from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "rollbook.api"
    label = "api"
    verbose_name = "JSON API"
