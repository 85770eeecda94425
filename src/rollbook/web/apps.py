from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "rollbook.web"
    label = "web"
    verbose_name = "Web app"
