from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "rollbook.web"
    label = "web"
    verbose_name = "Web app"

    def ready(self) -> None:
        from . import throttling  # noqa: F401  (connects the audit of sign-in lockouts)
